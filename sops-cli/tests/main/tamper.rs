//! Tampering with a file we encrypted must be detected: non-zero exit with
//! the reference's exit code (value decryption errors 25, MAC problems 51)
//! and nothing on stdout. `--ignore-mac` lets the MAC-only cases through.
//! Every case is also run through the reference, so the expected codes
//! document what sops 3.11 really does.

use crate::support::{AgeKey, Bin, Output, Sandbox, assert_same_bytes};

const PLAINTEXT: &str = "\
db:
    user: admin
    password: hunter2
list:
    - first
    - second
note_unencrypted: visible
";

/// Exit code of sops for a value that fails to decrypt.
const DECRYPT_ERROR: i32 = 25;
/// Exit code of sops for a MAC mismatch or an undecryptable MAC.
const MAC_ERROR: i32 = 51;

struct Fixture {
    sb: Sandbox,
    key: AgeKey,
    /// The file as our binary encrypted it.
    encrypted: String,
}

impl Fixture {
    fn new(extra_root_flags: &[&str]) -> Self {
        let mut sb = Sandbox::new();
        let key = sb.age_keygen("tamper");
        sb.use_identity(&key);
        let plain = sb.write("plain.yaml", PLAINTEXT);
        let mut args: Vec<String> = extra_root_flags.iter().map(|s| (*s).to_owned()).collect();
        args.extend([
            "--age".to_owned(),
            key.recipient.clone(),
            "-e".to_owned(),
            plain.to_str().unwrap().to_owned(),
        ]);
        let encrypted = String::from_utf8(sb.run(Bin::Ours, &args).ok()).expect("UTF-8 output");
        assert!(
            encrypted.contains("ENC[AES256_GCM,"),
            "not encrypted:\n{encrypted}"
        );
        Self { sb, key, encrypted }
    }

    /// Writes `text` and decrypts it with `bin` (plus `extra` flags).
    fn decrypt(&self, bin: Bin, name: &str, text: &str, extra: &[&str]) -> Output {
        let file = self.sb.write(&format!("{name}.enc.yaml"), text);
        let mut args = vec!["decrypt"];
        args.extend(extra);
        args.push(file.to_str().unwrap());
        self.sb.run(bin, args)
    }
}

/// Index of the line holding `marker`, panicking if there is none or more
/// than one.
fn line_index(lines: &[String], marker: &str) -> usize {
    let hits: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains(marker))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "expected one line containing {marker:?}, got {hits:?}"
    );
    hits[0]
}

fn lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_owned).collect()
}

/// Changes the first base64 character of `field` (`data:`, `iv:`, `tag:`)
/// in the `ENC[…]` value on the line containing `marker`.
fn flip_field(text: &str, marker: &str, field: &str) -> String {
    let mut ls = lines(text);
    let i = line_index(&ls, marker);
    let line = &ls[i];
    let enc = line
        .find("ENC[AES256_GCM,")
        .expect("line holds an ENC value");
    let at = enc + line[enc..].find(field).expect("field present") + field.len();
    let old = line.as_bytes()[at] as char;
    assert!(
        old.is_ascii_alphanumeric() || old == '+' || old == '/',
        "odd char {old:?}"
    );
    let new = if old == 'A' { 'B' } else { 'A' };
    let mut changed = line.clone();
    changed.replace_range(at..=at, &new.to_string());
    ls[i] = changed;
    ls.concat()
}

/// Replaces the text `from` by `to` in the line containing `marker`.
fn edit_line(text: &str, marker: &str, from: &str, to: &str) -> String {
    let mut ls = lines(text);
    let i = line_index(&ls, marker);
    assert!(ls[i].contains(from), "{from:?} not in {:?}", ls[i]);
    ls[i] = ls[i].replacen(from, to, 1);
    ls.concat()
}

/// Swaps the values after `: ` / `- ` of the two lines holding the markers.
fn swap_values(text: &str, marker_a: &str, marker_b: &str) -> String {
    let mut ls = lines(text);
    let (a, b) = (line_index(&ls, marker_a), line_index(&ls, marker_b));
    let split = |l: &str| {
        let at = l.find("ENC[").expect("encrypted value");
        (l[..at].to_owned(), l[at..].to_owned())
    };
    let (pa, va) = split(&ls[a]);
    let (pb, vb) = split(&ls[b]);
    assert_ne!(va, vb);
    ls[a] = format!("{pa}{vb}");
    ls[b] = format!("{pb}{va}");
    ls.concat()
}

fn remove_line(text: &str, marker: &str) -> String {
    let mut ls = lines(text);
    let i = line_index(&ls, marker);
    ls.remove(i);
    ls.concat()
}

/// Runs the tampered file through the reference and ours: both must exit
/// with `code` and print nothing; with `--ignore-mac` both must succeed
/// (if `mac_only`) or still fail with `code`.
fn check(fx: &Fixture, name: &str, tampered: &str, code: i32, mac_only: bool) {
    assert_ne!(tampered, fx.encrypted, "{name}: tampering changed nothing");
    for bin in [Bin::Reference, Bin::Ours] {
        fx.decrypt(bin, name, tampered, &[]).fails_with(code, &[]);
        let ignored = fx.decrypt(bin, name, tampered, &["--ignore-mac"]);
        if mac_only {
            let out = ignored.ok();
            assert!(
                !out.is_empty(),
                "{bin} {name}: --ignore-mac printed nothing"
            );
        } else {
            ignored.fails_with(code, &[]);
        }
    }
}

#[test]
fn untampered_file_decrypts() {
    let fx = Fixture::new(&[]);
    for bin in [Bin::Reference, Bin::Ours] {
        let got = fx.decrypt(bin, "untouched", &fx.encrypted, &[]).ok();
        assert_same_bytes(
            &format!("{bin}: decrypt of untouched file"),
            &got,
            PLAINTEXT.as_bytes(),
        );
    }
    assert!(fx.key.recipient.starts_with("age1"));
}

#[test]
fn changed_ciphertext_byte() {
    let fx = Fixture::new(&[]);
    let t = flip_field(&fx.encrypted, "password: ENC[", "data:");
    check(&fx, "ciphertext", &t, DECRYPT_ERROR, false);
    let out = fx.decrypt(Bin::Ours, "ciphertext", &t, &[]);
    assert!(
        out.stderr.contains("Could not decrypt value"),
        "{}",
        out.stderr
    );
}

#[test]
fn changed_iv() {
    let fx = Fixture::new(&[]);
    let t = flip_field(&fx.encrypted, "password: ENC[", "iv:");
    check(&fx, "iv", &t, DECRYPT_ERROR, false);
}

#[test]
fn changed_tag() {
    let fx = Fixture::new(&[]);
    let t = flip_field(&fx.encrypted, "password: ENC[", "tag:");
    check(&fx, "tag", &t, DECRYPT_ERROR, false);
}

/// The key path is the AES-GCM additional data: a renamed key no longer
/// decrypts.
#[test]
fn renamed_key_of_encrypted_value() {
    let fx = Fixture::new(&[]);
    let t = edit_line(&fx.encrypted, "password: ENC[", "password:", "passwort:");
    check(&fx, "renamed", &t, DECRYPT_ERROR, false);
}

/// Unencrypted values are covered by the MAC.
#[test]
fn changed_unencrypted_value() {
    let fx = Fixture::new(&[]);
    let t = edit_line(&fx.encrypted, "note_unencrypted:", "visible", "altered");
    check(&fx, "unencrypted", &t, MAC_ERROR, true);
    let out = fx.decrypt(Bin::Ours, "unencrypted", &t, &[]);
    assert!(out.stderr.contains("MAC mismatch"), "{}", out.stderr);
    // With --ignore-mac the altered value comes through.
    let got = fx
        .decrypt(Bin::Ours, "unencrypted", &t, &["--ignore-mac"])
        .ok();
    assert_same_bytes(
        "ours --ignore-mac",
        &got,
        PLAINTEXT.replace("visible", "altered").as_bytes(),
    );
}

/// With `mac_only_encrypted` the MAC covers only encrypted values, so an
/// altered unencrypted value goes undetected (sops 3.11 behaviour).
#[test]
fn changed_unencrypted_value_with_mac_only_encrypted() {
    let fx = Fixture::new(&["--mac-only-encrypted"]);
    assert!(
        fx.encrypted.contains("mac_only_encrypted: true"),
        "{}",
        fx.encrypted
    );
    let t = edit_line(&fx.encrypted, "note_unencrypted:", "visible", "altered");
    for bin in [Bin::Reference, Bin::Ours] {
        let got = fx.decrypt(bin, "mac_only", &t, &[]).ok();
        assert_same_bytes(
            &format!("{bin}: mac-only-encrypted file with altered clear value"),
            &got,
            PLAINTEXT.replace("visible", "altered").as_bytes(),
        );
    }
}

/// Two encrypted map values swapped: each is now under a key path that is
/// not its additional data.
#[test]
fn swapped_encrypted_values() {
    let fx = Fixture::new(&[]);
    let t = swap_values(&fx.encrypted, "user: ENC[", "password: ENC[");
    check(&fx, "swapped", &t, DECRYPT_ERROR, false);
}

/// Two list items swapped: list items share their parent's path, so they
/// decrypt, and only the MAC (over the values in order) catches it.
#[test]
fn swapped_list_items() {
    let fx = Fixture::new(&[]);
    let items: Vec<&str> = fx
        .encrypted
        .lines()
        .filter(|l| l.trim_start().starts_with("- ENC["))
        .collect();
    assert_eq!(items.len(), 2, "two list items expected:\n{}", fx.encrypted);
    let (a, b) = (items[0].to_owned(), items[1].to_owned());
    let t = swap_values(&fx.encrypted, &a, &b);
    check(&fx, "swapped_list", &t, MAC_ERROR, true);
}

#[test]
fn removed_entry() {
    let fx = Fixture::new(&[]);
    let t = remove_line(&fx.encrypted, "user: ENC[");
    check(&fx, "removed", &t, MAC_ERROR, true);
}

#[test]
fn changed_mac() {
    let fx = Fixture::new(&[]);
    let t = flip_field(&fx.encrypted, "mac: ENC[", "data:");
    check(&fx, "mac", &t, MAC_ERROR, true);
    let out = fx.decrypt(Bin::Ours, "mac", &t, &[]);
    assert!(out.stderr.contains("Cannot decrypt MAC"), "{}", out.stderr);
}

/// One metadata edit: the field and its new value as written in the
/// format; a field already in the file is replaced in place, another one
/// added at the top of the `sops` block.
struct MetaEdit<'a> {
    field: &'a str,
    value: &'a str,
}

/// `text` (the reference's encrypted output) with `edit` applied.
fn edit_metadata(format: &str, text: &str, edit: &MetaEdit<'_>) -> String {
    let MetaEdit { field, value } = edit;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let (prefix, head, new_line) = match format {
        "yaml" => (
            format!("    {field}:"),
            "sops:",
            format!("    {field}: {value}"),
        ),
        "json" => (
            format!("\t\t\"{field}\":"),
            "\t\"sops\": {",
            format!("\t\t\"{field}\": {value},"),
        ),
        "env" => (
            format!("sops_{field}="),
            "",
            format!("sops_{field}={value}"),
        ),
        _ => (format!("{field} "), "[sops]", format!("{field} = {value}")),
    };
    if let Some(i) = lines.iter().position(|l| l.starts_with(&prefix)) {
        let comma = if lines[i].ends_with(',') { "," } else { "" };
        lines[i] = format!("{}{comma}", new_line.trim_end_matches(','));
    } else {
        let at = lines.iter().position(|l| l == head).map_or(0, |i| i + 1);
        lines.insert(at, new_line);
    }
    lines.join("\n") + "\n"
}

/// issue 10: metadata fields are read with sops 3.11's types in each
/// format (go-yaml v3 into a typed struct for YAML, `encoding/json` for
/// JSON, strings converted by `DecodeNonStrings` for dotenv and INI): the
/// same files are refused, and the others decrypt alike. A file with an
/// unencrypted value tells `mac_only_encrypted: true` (MAC mismatch, 51)
/// from false. Both binaries run on every case.
#[test]
fn r10_metadata_field_types_as_sops_reads_them() {
    let mut sb = Sandbox::new();
    let key = sb.age_keygen("types");
    sb.use_identity(&key);
    let plains = [
        ("yaml", "a: b\nc_unencrypted: d\n"),
        ("json", "{\"a\": \"b\", \"c_unencrypted\": \"d\"}"),
        ("env", "a=b\nc_unencrypted=d\n"),
        ("ini", "[s]\na = b\nc_unencrypted = d\n"),
    ];
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "yaml",
            &[
                ("version", "[3, 11]"),
                ("version", "3.11"),
                ("version", "{a: 1}"),
                ("version", "null"),
                ("shamir_threshold", "\"2\""),
                ("shamir_threshold", "2.0"),
                ("shamir_threshold", "-1"),
                ("shamir_threshold", "true"),
                ("key_groups", "{}"),
                ("key_groups", "\"x\""),
                ("key_groups", "[\"x\"]"),
                ("key_groups", "[null]"),
                ("mac_only_encrypted", "yes"),
                ("mac_only_encrypted", "\"yes\""),
                ("mac_only_encrypted", "on"),
                ("mac_only_encrypted", "\"true\""),
                ("mac_only_encrypted", "1"),
                ("mac_only_encrypted", "no"),
                ("mac_only_encrypted", "[true]"),
                ("unencrypted_suffix", "[x]"),
                ("lastmodified", "[x]"),
                ("mac", "[x]"),
            ],
        ),
        (
            "json",
            &[
                ("version", "[3, 11]"),
                ("version", "3"),
                ("version", "true"),
                ("shamir_threshold", "\"2\""),
                ("shamir_threshold", "2.0"),
                ("shamir_threshold", "-1"),
                ("key_groups", "{}"),
                ("key_groups", "[\"x\"]"),
                ("mac_only_encrypted", "\"true\""),
                ("mac_only_encrypted", "1"),
                ("mac_only_encrypted", "true"),
                ("unencrypted_suffix", "1"),
            ],
        ),
        (
            "env",
            &[
                ("version", "3.11"),
                ("shamir_threshold", "2.0"),
                ("shamir_threshold", "1e3"),
                ("shamir_threshold", "2.5"),
                ("shamir_threshold", "x"),
                ("mac_only_encrypted", "yes"),
                ("mac_only_encrypted", "true"),
            ],
        ),
        (
            "ini",
            &[
                ("version", "x"),
                ("shamir_threshold", "2.0"),
                ("shamir_threshold", "-1"),
                ("mac_only_encrypted", "1"),
                ("mac_only_encrypted", "true"),
            ],
        ),
    ];
    for (format, plain) in plains {
        let plain = sb.write(&format!("plain.{format}"), plain);
        let encrypted = sb
            .run(
                Bin::Reference,
                ["encrypt", "--age", &key.recipient, plain.to_str().unwrap()],
            )
            .ok();
        let encrypted = String::from_utf8(encrypted).unwrap();
        let edits = cases.iter().find(|(f, _)| *f == format).unwrap().1;
        for (field, value) in edits {
            let edited = edit_metadata(format, &encrypted, &MetaEdit { field, value });
            let file = sb.write(&format!("edited.{format}"), &edited);
            let args = ["decrypt", file.to_str().unwrap()];
            let reference = sb.run(Bin::Reference, args);
            let ours = sb.run(Bin::Ours, args);
            let what = format!("{format} {field}: {value}");
            assert_eq!(
                ours.code, reference.code,
                "{what}\nreference: {}\nours: {}",
                reference.stderr, ours.stderr
            );
            assert_same_bytes(&what, &ours.stdout, &reference.stdout);
        }
    }
}
