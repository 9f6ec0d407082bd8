//! Exit codes and messages of common failures (spec sops-cli.md §7). Each
//! case runs the reference too, so the expected code documents what sops
//! 3.11 really does; our binary must give the same code and message
//! fragments, with nothing on stdout.

use crate::support::{AgeKey, Bin, Sandbox};

const PLAIN_YAML: &str = "\
# settings
name: demo
password: hunter2
";

/// A sandbox with one age key (also the identity) and an encrypted file
/// `enc.yaml` written by the reference.
fn fixture() -> (Sandbox, AgeKey) {
    let mut sb = Sandbox::new();
    let key = sb.age_keygen("errors");
    sb.use_identity(&key);
    let plain = sb.write("plain.yaml", PLAIN_YAML);
    let enc = sb
        .run(
            Bin::Reference,
            ["encrypt", "--age", &key.recipient, plain.to_str().unwrap()],
        )
        .ok();
    sb.write("enc.yaml", enc);
    (sb, key)
}

fn p(sb: &Sandbox, name: &str) -> String {
    sb.path(name).to_str().unwrap().to_owned()
}

/// Runs `args` with both binaries, asserting `code`, empty stdout and the
/// fragments for each.
fn both_fail(sb: &Sandbox, args: &[&str], code: i32, fragments: &[&str]) {
    for bin in [Bin::Reference, Bin::Ours] {
        sb.run(bin, args).fails_with(code, fragments);
    }
}

#[test]
fn file_not_found() {
    let (sb, key) = fixture();
    let missing = p(&sb, "missing.yaml");
    let msg = format!("Error: cannot operate on non-existent file \"{missing}\"");
    both_fail(&sb, &["decrypt", &missing], 100, &[&msg]);
    both_fail(
        &sb,
        &["encrypt", "--age", &key.recipient, &missing],
        100,
        &[&msg],
    );
    both_fail(&sb, &["-d", &missing], 100, &[&msg]);
    both_fail(
        &sb,
        &["--age", &key.recipient, "-e", &missing],
        100,
        &[&msg],
    );
}

/// The root form needs a FILE (stdin is only for the subcommands).
#[test]
fn no_file_specified() {
    let (sb, _) = fixture();
    both_fail(&sb, &["-d"], 100, &["Error: no file specified"]);
}

#[test]
fn decrypt_plain_file() {
    let (sb, _) = fixture();
    both_fail(
        &sb,
        &["decrypt", &p(&sb, "plain.yaml")],
        1,
        &["sops metadata not found"],
    );
    let json = sb.write("plain.json", "{\"a\": 1}\n");
    both_fail(
        &sb,
        &["decrypt", json.to_str().unwrap()],
        1,
        &["sops metadata not found"],
    );
    // sops 3.13 (#2055) reports flat files without metadata the same way.
    for (name, text) in [("plain.env", "A=1\n"), ("plain.ini", "a=1\n")] {
        let path = sb.write(name, text);
        both_fail(
            &sb,
            &["decrypt", path.to_str().unwrap()],
            1,
            &["sops metadata not found"],
        );
    }
}

#[test]
fn encrypt_already_encrypted() {
    let (sb, key) = fixture();
    both_fail(
        &sb,
        &["encrypt", "--age", &key.recipient, &p(&sb, "enc.yaml")],
        203,
        &[
            "contains a top-level entry called 'sops'",
            "If this is an unencrypted file, rename the 'sops' entry.",
        ],
    );
}

/// No key flag, no `SOPS_AGE_RECIPIENTS`, no `.sops.yaml` anywhere up
/// from the working directory (checked by `Sandbox::new`).
#[test]
fn encrypt_without_keys() {
    let (sb, _) = fixture();
    both_fail(
        &sb,
        &["encrypt", &p(&sb, "plain.yaml")],
        1,
        &[
            "config file not found, or has no creation rules, and no keys provided through command line options",
        ],
    );
    both_fail(
        &sb,
        &["-e", &p(&sb, "plain.yaml")],
        1,
        &[
            "config file not found, or has no creation rules, and no keys provided through command line options",
        ],
    );
}

#[test]
fn mac_mismatch() {
    let (sb, _) = fixture();
    let enc = std::fs::read_to_string(sb.path("enc.yaml")).unwrap();
    // Add an unencrypted top-level entry: values still decrypt, the MAC does
    // not match.
    let tampered = enc.replacen("sops:\n", "extra_unencrypted: x\nsops:\n", 1);
    assert_ne!(tampered, enc);
    sb.write("mac.yaml", tampered);
    both_fail(
        &sb,
        &["decrypt", &p(&sb, "mac.yaml")],
        51,
        &["MAC mismatch. File has "],
    );
}

/// No identity matches the recipient: 128, the report lists the recipient.
#[test]
fn no_matching_identity() {
    let (mut sb, key) = fixture();
    let other = sb.age_keygen("other");
    sb.use_identity(&other);
    both_fail(
        &sb,
        &["decrypt", &p(&sb, "enc.yaml")],
        128,
        &[
            "Failed to get the data key required to decrypt the SOPS file.",
            "Group 0: FAILED",
            &format!("{}: FAILED", key.recipient),
            "no master key was able to decrypt the file",
        ],
    );
}

/// No identity at all (no key file, empty HOME): also 128.
#[test]
fn no_identity_at_all() {
    let (mut sb, key) = fixture();
    sb.remove_env("SOPS_AGE_KEY_FILE");
    both_fail(
        &sb,
        &["decrypt", &p(&sb, "enc.yaml")],
        128,
        &[
            "Failed to get the data key",
            &format!("{}: FAILED", key.recipient),
            "failed to load age identities",
        ],
    );
}

#[test]
fn bad_yaml_on_encrypt() {
    let (sb, key) = fixture();
    let bad = sb.write("bad.yaml", "a: 1\nb: 2\nc: d: e\nf: 3\n");
    both_fail(
        &sb,
        &["encrypt", "--age", &key.recipient, bad.to_str().unwrap()],
        2,
        &["Error unmarshalling file: ", "line 3"],
    );
}

/// sops 3.11 (Go encoding/json) does not name the line of a JSON syntax
/// error; ours must, and both must exit 2 with `Error unmarshalling file`.
#[test]
fn bad_json_on_encrypt() {
    let (sb, key) = fixture();
    let bad = sb.write("bad.json", "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3,\n}\n");
    let args = ["encrypt", "--age", &key.recipient, bad.to_str().unwrap()];
    sb.run(Bin::Reference, args)
        .fails_with(2, &["Error unmarshalling file: "]);
    sb.run(Bin::Ours, args)
        .fails_with(2, &["Error unmarshalling file: ", "line 5"]);
}

#[test]
fn in_place_with_output() {
    let (sb, _) = fixture();
    let out = p(&sb, "out.yaml");
    both_fail(
        &sb,
        &["decrypt", "-i", "--output", &out, &p(&sb, "enc.yaml")],
        8,
        &["Error: cannot operate on both --output and --in-place"],
    );
    assert!(!sb.path("out.yaml").exists());
}

#[test]
fn extract_parse_error() {
    let (sb, _) = fixture();
    both_fail(
        &sb,
        &["decrypt", "--extract", r#"["a""#, &p(&sb, "enc.yaml")],
        91,
        &[r#"error parsing --extract path: component "a" doesn't end with ]"#],
    );
}

#[test]
fn extract_missing_key() {
    let (sb, _) = fixture();
    both_fail(
        &sb,
        &["decrypt", "--extract", r#"["nope"]"#, &p(&sb, "enc.yaml")],
        1,
        &["error truncating tree: component ['nope'] not found"],
    );
}

#[test]
fn empty_yaml_file() {
    let (sb, key) = fixture();
    let empty = sb.write("empty.yaml", "");
    both_fail(
        &sb,
        &["encrypt", "--age", &key.recipient, empty.to_str().unwrap()],
        92,
        &["File cannot be completely empty, it must contain at least one document"],
    );
}

/// Malformed dotenv and INI input, and a JSON top-level array (which sops
/// refuses and so do we: no sops reader could open such a file): exit 2 from
/// both, ours names the line instead of echoing its content, and the input
/// file is left as it was.
#[test]
fn bad_flat_files_and_json_arrays_on_encrypt() {
    let (sb, key) = fixture();
    for (name, content, ours_fragment) in [
        ("bad.env", "A=1\nnot a pair: secret-ish\n", "line 2"),
        ("bad.ini", "[sec\nk = v\n", "line 1"),
        ("bad2.ini", "justtext\n", "line 1"),
        (
            "arr.json",
            "[1, 2]\n",
            // sops 3.13's text (#2138); the reference (3.11) says
            // "Expected JSON object start, got delimiter [ instead".
            "not arrays or other types. Got delimiter [ instead. To encrypt this file, wrap it in an object",
        ),
    ] {
        let file = sb.write(name, content);
        let args = ["encrypt", "--age", &key.recipient, file.to_str().unwrap()];
        sb.run(Bin::Reference, args)
            .fails_with(2, &["Error unmarshalling file: "]);
        let out = sb.run(Bin::Ours, args);
        out.fails_with(2, &["Error unmarshalling file: ", ours_fragment]);
        assert!(
            !out.stderr.contains("secret-ish"),
            "{name}: the line's content was echoed: {}",
            out.stderr
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            content,
            "{name} changed"
        );
    }
}

/// Malformed Azure Key Vault key URLs in flags are refused before any
/// call and before anything is written, by both binaries, with sops'
/// message (every keystore is built in, so no flag is refused as "not
/// supported" any more).
#[test]
fn malformed_azure_key_urls_are_refused() {
    let (sb, _key) = fixture();
    let plain = p(&sb, "plain.yaml");
    let enc = p(&sb, "enc.yaml");
    let before = std::fs::read(&enc).unwrap();
    let refusal = "could not parse \"x\" into a valid Azure Key Vault MasterKey []";
    for args in [
        vec!["encrypt", "--azure-kv", "x", &plain],
        vec!["rotate", "-i", "--add-azure-kv", "x", &enc],
    ] {
        both_fail(&sb, &args, 1, &[refusal]);
    }
    // The reference's `groups add` logs "Failed to add key" and writes the
    // file with an empty key group; ours refuses, as for any bad key.
    sb.run(
        Bin::Ours,
        ["groups", "add", "--file", &enc, "--azure-kv", "x"],
    )
    .fails_with(1, &[refusal]);
    assert_eq!(std::fs::read(&enc).unwrap(), before, "enc.yaml changed");
}

/// issue 10: 400 aliases of a 1 MB scalar in a 1 MB file made `sops
/// decrypt` build 400 MB (1.1 GB of memory). Ours refuses the expansion
/// while loading, on encrypt and on decrypt. The reference decrypts such a
/// file (a deliberate deviation, see the README's compatibility notes), so
/// this test runs ours only.
#[test]
fn r10_alias_bomb_of_a_large_scalar_is_refused() {
    let (sb, key) = fixture();
    let big = "x".repeat(1_000_000);
    let mut plain = format!("a:\n  - &x {big}\n");
    plain.push_str(&"  - *x\n".repeat(400));
    let bomb = sb.write("bomb.yaml", &plain);
    let refused = "Error unmarshalling file: yaml: aliases expand to more than";
    sb.run(
        Bin::Ours,
        ["encrypt", "--age", &key.recipient, bomb.to_str().unwrap()],
    )
    .fails_with(2, &[refused, "bytes"]);
    // An encrypted file whose one value is aliased 400 times (values in one
    // sequence share their authenticated path, so each copy would decrypt).
    let one = sb.write("one.yaml", format!("a:\n  - {big}\n"));
    let enc = sb
        .run(
            Bin::Ours,
            ["encrypt", "--age", &key.recipient, one.to_str().unwrap()],
        )
        .ok();
    let enc = String::from_utf8(enc).unwrap();
    let (head, sops) = enc.split_once("sops:\n").unwrap();
    let head = head.replacen("- ENC[", "- &x ENC[", 1);
    let enc_bomb = format!("{head}{}sops:\n{sops}", "    - *x\n".repeat(400));
    let path = sb.write("bomb.enc.yaml", enc_bomb);
    sb.run(Bin::Ours, ["decrypt", path.to_str().unwrap()])
        .fails_with(
            1,
            &["Error unmarshalling input yaml: yaml: aliases expand to more than"],
        );
}

/// issue 10: YAML loads a timestamp offset by a day or more
/// (`+24:00`, `-23:60`) as a time, as go-yaml does, but sops 3.11 cannot
/// turn it into bytes: encrypting fails with exit 23, and decrypting a file
/// that holds one in the clear under the MAC fails with exit 25, even with
/// `--ignore-mac`. Outside the MAC (`mac_only_encrypted`) it stays as it is.
#[test]
fn r10_time_offset_by_a_day_or_more_is_refused() {
    let (sb, key) = fixture();
    let marshal = "timezone hour outside of range [0,23]";
    for offset in ["+24:00", "-23:60", "+24:60"] {
        let plain = sb.write("t.yaml", format!("a: 2001-12-14T21:59:43{offset}\n"));
        both_fail(
            &sb,
            &["encrypt", "--age", &key.recipient, plain.to_str().unwrap()],
            23,
            &["Error encrypting tree: ", marshal],
        );
    }
    let plain = sb.write("u.yaml", "b: x\na_unencrypted: 2001-12-14T21:59:43+24:00\n");
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - age: {}\n    mac_only_encrypted: true\n",
            key.recipient
        ),
    );
    let enc = sb
        .run(Bin::Reference, ["encrypt", plain.to_str().unwrap()])
        .ok();
    let enc = String::from_utf8(enc).unwrap();
    let mac_only = sb.write("mac_only.yaml", &enc);
    for bin in [Bin::Reference, Bin::Ours] {
        let out = sb.run(bin, ["decrypt", mac_only.to_str().unwrap()]).ok();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "b: x\na_unencrypted: 2001-12-14T21:59:43+24:00\n"
        );
    }
    // JSON cannot hold it (Go's Time.MarshalJSON refuses it too).
    both_fail(
        &sb,
        &[
            "decrypt",
            "--output-type",
            "json",
            mac_only.to_str().unwrap(),
        ],
        4,
        &[
            "Error dumping file: ",
            "Time.MarshalJSON: timezone hour outside of range [0,23]",
        ],
    );
    let hashed = sb.write(
        "hashed.yaml",
        enc.replace("    mac_only_encrypted: true\n", ""),
    );
    for flags in [&[][..], &["--ignore-mac"][..]] {
        let mut args = vec!["decrypt"];
        args.extend_from_slice(flags);
        args.push(hashed.to_str().unwrap());
        both_fail(&sb, &args, 25, &["Error decrypting tree: ", marshal]);
    }
}

/// `updatekeys` on a directory: the reference refuses it with its message
/// before any "Syncing keys" line; ours walks it (issue 14), here finding
/// no file to update.
#[test]
fn updatekeys_on_a_directory_is_refused_by_sops_and_walked_by_ours() {
    let (sb, key) = fixture();
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {}\n", key.recipient),
    );
    std::fs::create_dir_all(sb.path("d")).unwrap();
    let out = sb.run(Bin::Reference, ["updatekeys", "-y", "d"]);
    out.fails_with(1, &["can't operate on a directory"]);
    assert!(!out.stderr.contains("Syncing"), "{}", out.stderr);
    let out = sb.run(Bin::Ours, ["updatekeys", "-y", "d"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("updatekeys: 0 updated, 0 unchanged, 0 failed"),
        "{}",
        out.stderr
    );
}

/// A clear value that is not a string where an encrypted one is expected:
/// sops 3.13.2's error (#2227) and exit 25; the reference (3.11) panics
/// ("interface conversion: interface {} is int, not string", exit 2).
#[test]
fn clear_non_string_value_gives_sops_3_13_error() {
    let (sb, _key) = fixture();
    let enc = std::fs::read_to_string(sb.path("enc.yaml")).unwrap();
    let start = enc.find("password: ENC[").unwrap() + "password: ".len();
    let end = start + enc[start..].find('\n').unwrap();
    for (clear, go_type) in [("42", "int"), ("4.5", "float64"), ("true", "bool")] {
        let file = sb.write(
            "nonstr.yaml",
            format!("{}{clear}{}", &enc[..start], &enc[end..]),
        );
        let args = ["decrypt", file.to_str().unwrap()];
        let reference = sb.run(Bin::Reference, args);
        assert_eq!(reference.code, 2, "{}", reference.stderr);
        assert!(reference.stderr.contains("panic: interface conversion"));
        sb.run(Bin::Ours, args).fails_with(
            25,
            &[&format!(
                "Error decrypting tree: Error walking tree: Expected encrypted value as string, but got {go_type}"
            )],
        );
    }
}
