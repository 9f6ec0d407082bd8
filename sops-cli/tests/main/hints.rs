//! Issue 15: errors are "kind + detail + hint", and never show a value.
//!
//! A corpus of failing invocations (malformed inputs, tampered files, wrong
//! keys, a bad `.sops.yaml`, bad `set` values and `--extract` paths), each
//! with [`SECRET`] somewhere in its input: neither the secret nor any part
//! of it of 4 characters or more may appear on stdout or stderr, hints
//! included. The hint lines themselves are checked where we promise one.

use crate::support::{Bin, Output, Sandbox, testdata};

/// The known secret value. Its 4-character parts are neither English, nor
/// hex, nor bech32 (age recipients), so none turns up in a message by chance.
const SECRET: &str = "Zxq_Vwk_Jqzp_Xvb";

/// Every part of `secret` of at least 4 characters, lower-cased.
fn secret_parts(secret: &str) -> Vec<String> {
    let chars: Vec<char> = secret.chars().collect();
    let mut parts = Vec::new();
    for len in 4..=chars.len() {
        for start in 0..=chars.len() - len {
            parts.push(
                chars[start..start + len]
                    .iter()
                    .collect::<String>()
                    .to_lowercase(),
            );
        }
    }
    parts
}

/// Asserts the run failed and shows no part of [`SECRET`] anywhere.
#[track_caller]
fn assert_no_value(out: &Output) {
    assert_ne!(out.code, 0, "{} should fail:\n{}", out.what, out.raw_stderr);
    let stdout = out.stdout_str().to_lowercase();
    let stderr = out.raw_stderr.to_lowercase();
    for part in secret_parts(SECRET) {
        assert!(
            !stderr.contains(&part),
            "{}: stderr shows {part:?} of the secret:\n{}",
            out.what,
            out.raw_stderr
        );
        assert!(
            !stdout.contains(&part),
            "{}: stdout shows {part:?} of the secret",
            out.what
        );
    }
}

/// Asserts a hint line whose text contains `fragment`, printed after the
/// message (the message's lines come first, as the reference prints them).
#[track_caller]
fn assert_hint(out: &Output, fragment: &str) {
    assert!(
        out.hints.iter().any(|h| h.contains(fragment)),
        "{}: no hint with {fragment:?}:\n{}",
        out.what,
        out.raw_stderr
    );
    let first_hint = out.raw_stderr.find("\nhint: ").expect("a hint line");
    assert!(
        !out.raw_stderr[first_hint + 1..]
            .lines()
            .any(|l| !l.starts_with("hint: ")),
        "{}: hints must come last:\n{}",
        out.what,
        out.raw_stderr
    );
}

/// A sandbox with identity A (testdata/vectors/keys.txt) and a file
/// encrypted for it holding the secret.
struct Corpus {
    sb: Sandbox,
    recipient: String,
}

impl Corpus {
    fn new() -> Self {
        let mut sb = Sandbox::new();
        let key = sb.age_keygen("a");
        sb.use_identity(&key);
        Self {
            sb,
            recipient: key.recipient,
        }
    }

    /// Encrypts `plain` (named `name`) with our sops and writes the result
    /// as `enc_name`.
    fn encrypted(&self, name: &str, plain: &str, enc_name: &str) -> std::path::PathBuf {
        let plain_path = self.sb.write(name, plain);
        let out = self.sb.run(
            Bin::Ours,
            [
                "encrypt",
                "--unencrypted-suffix",
                "_unencrypted",
                "--age",
                self.recipient.as_str(),
                plain_path.to_str().unwrap(),
            ],
        );
        self.sb.write(enc_name, out.ok())
    }

    fn run(&self, args: &[&str]) -> Output {
        self.sb.run(Bin::Ours, args.iter().copied())
    }
}

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn failures_never_show_a_value_and_hint_what_to_try() {
    let c = Corpus::new();
    let plain = format!("password: {SECRET}\nother: plain\nother_unencrypted: plain\n");
    let enc = c.encrypted("p.yaml", &plain, "e.yaml");
    let enc_text = std::fs::read_to_string(&enc).unwrap();

    // Wrong key: no identity can decrypt.
    let out =
        c.sb.cmd(Bin::Ours, ["decrypt", s(&enc)])
            .env("SOPS_AGE_KEY_FILE", testdata("vectors/keys.txt"))
            .run();
    assert_no_value(&out);
    assert_eq!(out.code, 128);
    assert_hint(&out, "SOPS_AGE_KEY_FILE");
    assert_hint(&out, "sops doctor");

    // A key service that is not there.
    let out = c.run(&[
        "decrypt",
        "--enable-local-keyservice=false",
        "--keyservice",
        "tcp://127.0.0.1:1",
        s(&enc),
    ]);
    assert_no_value(&out);
    assert_hint(&out, "key service could not be reached");

    // The MAC no longer matches: a plaintext-side edit (a value left in clear).
    let line = enc_text
        .lines()
        .find(|l| l.starts_with("other_unencrypted:"))
        .unwrap();
    let tampered = enc_text.replace(line, "other_unencrypted: changed");
    let t = c.sb.write("mac.yaml", &tampered);
    let out = c.run(&["decrypt", s(&t)]);
    assert_no_value(&out);
    assert_hint(&out, "--ignore-mac");

    // A value that should be encrypted replaced by the secret in clear
    // (sops 3.11 echoes it: "Input string … does not match").
    let line = enc_text.lines().find(|l| l.starts_with("other:")).unwrap();
    let t = c.sb.write(
        "clear.yaml",
        enc_text.replace(line, &format!("other: {SECRET}")),
    );
    let out = c.run(&["decrypt", s(&t)]);
    assert_no_value(&out);
    assert_hint(&out, "not an ENC[");

    // A ciphertext edited: authentication fails.
    let line = enc_text
        .lines()
        .find(|l| l.starts_with("password:"))
        .unwrap();
    let data_at = line.find("data:").unwrap() + 5;
    let mut bad = line.to_owned();
    let flip = if &bad[data_at..=data_at] == "A" {
        "B"
    } else {
        "A"
    };
    bad.replace_range(data_at..=data_at, flip);
    let t = c.sb.write("cipher.yaml", enc_text.replace(line, &bad));
    let out = c.run(&["decrypt", s(&t)]);
    assert_no_value(&out);
    assert_hint(&out, "sops set");

    // A value's type changed to one its text cannot be parsed as.
    let retyped = enc_text.replacen("type:str]", "type:int]", 1);
    let t = c.sb.write("retyped.yaml", retyped);
    assert_no_value(&c.run(&["decrypt", s(&t)]));

    // The sops block edited by hand.
    let t = c.sb.write(
        "meta.yaml",
        enc_text.replacen("    version:", "    version: x\n    v0:", 1),
    );
    assert_no_value(&c.run(&["decrypt", s(&t)]));

    // --extract paths: missing key, malformed path, a path into a value.
    for path in [r#"["nope"]"#, r#"["password"#, r#"["password"][0]"#] {
        let out = c.run(&["decrypt", "--extract", path, s(&enc)]);
        assert_no_value(&out);
    }
    let out = c.run(&["decrypt", "--extract", r#"["nope"]"#, s(&enc)]);
    assert_hint(&out, "--extract");

    // Encrypting an encrypted file.
    let out = c.run(&["encrypt", "--age", &c.recipient, s(&enc)]);
    assert_no_value(&out);
    assert_eq!(out.code, 203);
    assert_hint(&out, "sops edit");

    // Malformed plaintext in every format, the secret on the bad line.
    for (name, text) in [
        ("bad.yaml", format!("password: \"{SECRET}\n  - [x\n")),
        ("bad2.yaml", format!("a: b\n{SECRET}: [\n")),
        ("bad.json", format!("{{\"password\": {SECRET}}}\n")),
        ("bad2.json", format!("{{\"password\": \"{SECRET}\",}}\n")),
        ("bad.env", format!("{SECRET}\n")),
        ("bad.ini", format!("[s\npassword = {SECRET}\n")),
        ("top.yaml", format!("- {SECRET}\n")),
    ] {
        let p = c.sb.write(name, text);
        let out = c.run(&["encrypt", "--age", &c.recipient, s(&p)]);
        assert_no_value(&out);
    }
    let p =
        c.sb.write("hint.json", format!("{{\"password\": {SECRET}}}\n"));
    let out = c.run(&["encrypt", "--age", &c.recipient, s(&p)]);
    assert_hint(&out, "--input-type");

    // A plain file given to decrypt: no sops metadata.
    let p = c.sb.write("plain.yaml", &plain);
    let out = c.run(&["decrypt", s(&p)]);
    assert_no_value(&out);
    assert_hint(&out, "sops encrypt");

    // No keys and no .sops.yaml; then a .sops.yaml that is broken, and one
    // without a matching rule.
    let p = c.sb.write("new/p.yaml", &plain);
    let out = c.run(&["encrypt", s(&p)]);
    assert_no_value(&out);
    assert_hint(&out, "creation rule");
    c.sb.write("new/.sops.yaml", "creation_rules:\n  - path_regex: [\n");
    let out = c.run(&["encrypt", s(&p)]);
    assert_no_value(&out);
    assert_hint(&out, ".sops.yaml");
    c.sb.write(
        "new/.sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: nothing-matches\n    age: {}\n",
            c.recipient
        ),
    );
    let out = c.run(&["encrypt", s(&p)]);
    assert_no_value(&out);
    assert_hint(&out, "creation rule");

    // `set`: values that are not JSON, or JSON of the wrong shape, holding
    // the secret; an index that is not one.
    for value in [
        SECRET.to_owned(),
        format!("{{\"a\": {SECRET}}}"),
        format!("[\"{SECRET}\","),
        format!("\"{SECRET}"),
        format!("{{\"{SECRET}\": 1,}}"),
    ] {
        let out = c.run(&["set", s(&enc), r#"["password"]"#, &value]);
        assert_no_value(&out);
        let legacy = format!(r#"["password"] {value}"#);
        let out = c.run(&["--set", &legacy, s(&enc)]);
        assert_no_value(&out);
    }
    let out = c.run(&["set", s(&enc), r#"["password"]"#, SECRET]);
    assert_hint(&out, "JSON");
    let out = c.run(&["set", s(&enc), &format!("[{SECRET}]"), "\"x\""]);
    assert_no_value(&out);
    // Setting into a tampered file.
    let t = c.sb.write("mac2.yaml", &tampered);
    assert_no_value(&c.run(&["set", s(&t), r#"["other"]"#, "\"y\""]));

    // exec-env / exec-file / replace / doctor / filestatus on broken files.
    let t = c.sb.write("mac3.yaml", &tampered);
    assert_no_value(&c.run(&["exec-env", s(&t), "true"]));
    assert_no_value(&c.run(&["exec-file", s(&t), "true"]));
    let out = c.run(&["exec-file", "--filename", "../x", s(&enc), "true"]);
    assert_no_value(&out);
    assert_hint(&out, "--filename");
    let bad_plain =
        c.sb.write("bad-plain.json", format!("{{\"password\": {SECRET}}}"));
    let target = c.sb.write("replace.yaml", &enc_text);
    let out = c.run(&[
        "replace",
        "--plaintext-type",
        "json",
        s(&target),
        s(&bad_plain),
    ]);
    assert_no_value(&out);
    let out = c.run(&["doctor", s(&t)]);
    if out.code != 0 {
        assert_no_value(&out);
    }
    let p = c.sb.write("plain2.yaml", &plain);
    let out = c.run(&["filestatus", "--check", s(&p)]);
    if out.code != 0 {
        assert_no_value(&out);
    }

    // A read-only file written in place.
    let ro = c.encrypted("ro-plain.yaml", &plain, "ro.yaml");
    let mut perms = std::fs::metadata(&ro).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&ro, perms).unwrap();
    let out = c.run(&["set", s(&ro), r#"["other"]"#, "\"y\""]);
    if out.code != 0 {
        // (root may write a read-only file.)
        assert_no_value(&out);
        assert_hint(&out, "permissions");
    }
}

/// What the shared test helper strips is exactly our hint lines.
#[test]
fn split_hints_keeps_everything_else() {
    let (rest, hints) =
        crate::support::split_hints("Error: x\n  hint: indented stays\nhint: one\nhint: two\n");
    assert_eq!(rest, "Error: x\n  hint: indented stays\n");
    assert_eq!(hints, ["one", "two"]);
}
