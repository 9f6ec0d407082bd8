//! Files in the forms sops 3.13 writes (testdata/sops-3.13/, made by
//! scripts/make-3.13-fixtures.py): we decrypt them with their MAC checked,
//! and so does the reference (3.11), to the same text.

use crate::support::{Bin, Sandbox, testdata};

/// Public key of identity A of testdata/vectors/keys.txt (test-only).
const RECIPIENT_A: &str = "age1mq23p4ppx7lvcvntp7sn5k7flqfd2cql4nuyld2em3yjtvqcmeqqm9c5ck";

fn sandbox() -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set_env("SOPS_AGE_KEY_FILE", testdata("vectors/keys.txt"));
    sb
}

/// Decrypts `name` with both binaries: the same text, `want`.
#[track_caller]
fn both_decrypt_to(name: &str, want: &str) {
    let sb = sandbox();
    let path = testdata(&format!("sops-3.13/{name}"));
    let args = ["decrypt".into(), path.into_os_string()];
    let ours = sb.run(Bin::Ours, args.clone()).ok();
    assert_eq!(String::from_utf8_lossy(&ours), want, "ours: {name}");
    let reference = sb.run(Bin::Reference, args).ok();
    assert_eq!(
        String::from_utf8_lossy(&reference),
        want,
        "reference: {name}"
    );
}

/// sops 3.13's YAML line comments (#2131): `key: ENC[…] #ENC[…]`. Decrypted
/// comments go on lines of their own (3.13.2 does this too: its cipher
/// returns a new comment, not inline), so 3.11 and we print the same.
#[test]
fn yaml_with_line_comments_written_by_3_13() {
    let enc = std::fs::read_to_string(testdata("sops-3.13/inline-comments.enc.yaml")).unwrap();
    assert!(enc.contains(",type:int] #ENC[AES256_GCM,"), "{enc}");
    both_decrypt_to(
        "inline-comments.enc.yaml",
        "# head comment\n# inline on a value\nkey: value\nnested:\n    # inline on an int\n    a: 1\n    b: two\n    list:\n        # inline on an item\n        - x\n        - w\n    # inline on a block header\n    block: |\n        line one\n        line two\n# foot comment\n",
    );
}

/// What we write: line comments at the end of the line in the encrypted
/// file (sequence items' become items, as in every sops); with
/// `--unencrypted-comment-regex` (a flag of the root command) they stay in the clear and so stay at the
/// end of the line when decrypted too (3.13), where 3.11 moves them above.
#[test]
fn yaml_line_comments_we_write() {
    let sb = sandbox();
    let plain = testdata("sops-3.13/inline-comments.plain.yaml");
    let recipient = RECIPIENT_A;
    let enc = sb
        .run(
            Bin::Ours,
            ["encrypt", "--age", recipient, plain.to_str().unwrap()],
        )
        .ok();
    let text = String::from_utf8(enc).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("key: ENC[") && l.contains(",type:str] #ENC[")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("        - ENC[") && l.ends_with(",type:comment]")),
        "{text}"
    );
    let clear = sb
        .run(
            Bin::Ours,
            [
                "--age",
                recipient,
                "--unencrypted-comment-regex",
                "inline",
                "-e",
                plain.to_str().unwrap(),
            ],
        )
        .ok();
    let clear = String::from_utf8(clear).unwrap();
    // (A matching comment also leaves its value in the clear.)
    assert!(
        clear.contains("\nkey: value # inline on a value\n"),
        "{clear}"
    );
    let file = sb.write("clear.enc.yaml", &clear);
    let args = ["decrypt", file.to_str().unwrap()];
    let ours = String::from_utf8(sb.run(Bin::Ours, args).ok()).unwrap();
    assert_eq!(
        ours,
        std::fs::read_to_string(&plain).unwrap(),
        "clear comments keep their place"
    );
    let reference = String::from_utf8(sb.run(Bin::Reference, args).ok()).unwrap();
    assert!(
        reference.contains("# inline on a value\nkey: value\n"),
        "{reference}"
    );
}

/// INI metadata escaped once (sops 3.13.0 and 3.13.1: a multi-line value
/// in `"""`); 3.13.2 and we write 3.11's `\n` text, and read both.
#[test]
fn ini_metadata_escaped_once_by_3_13_0() {
    let enc = std::fs::read_to_string(testdata("sops-3.13/metadata-escaped-once.enc.ini")).unwrap();
    assert!(
        enc.contains("= \"\"\"-----BEGIN AGE ENCRYPTED FILE-----\n"),
        "{enc}"
    );
    both_decrypt_to(
        "metadata-escaped-once.enc.ini",
        "[database]\n; the user\nuser     = admin\npassword = hunter2\n",
    );
}

/// JSON integers as sops 3.13.2 writes them (#2222; and we since before):
/// `type:int` for every integer that fits int64, so no digit is lost; 3.11
/// reads them back exactly. Beyond int64 every sops has a float64.
#[test]
fn json_large_integers_as_3_13_2_writes_them() {
    let enc = std::fs::read_to_string(testdata("sops-3.13/large-integers.enc.json")).unwrap();
    assert_eq!(enc.matches(",type:int]").count(), 7, "{enc}");
    assert_eq!(enc.matches(",type:float]").count(), 2, "{enc}");
    both_decrypt_to(
        "large-integers.enc.json",
        "{\n\t\"small\": 42,\n\t\"above_2_53\": 9007199254740993,\n\t\"int64_max\": 9223372036854775807,\n\t\"int64_min\": -9223372036854775808,\n\t\"below_minus_2_53\": -9007199254740993,\n\t\"above_int64\": 9223372036854776000,\n\t\"float\": 1.5,\n\t\"list\": [\n\t\t9007199254740995,\n\t\t-1\n\t]\n}\n",
    );
}
