use std::collections::HashMap;

use super::*;
use crate::keys::KeyContext;
use crate::metadata::PartialRule;
use crate::ops::{self, DecryptOptions, EncryptOptions, EncryptedFile};
use crate::stores::Format;
use crate::test_vectors::{TestIdentity as Identity, context_of as ctx, group_of as group};

/// `plain` encrypted for a fresh identity in `format`, and the context that decrypts it.
fn encrypted(format: Format, plain: &str, opts: &EncryptOptions) -> (Vec<u8>, KeyContext) {
    let id = Identity::generate();
    let store = format.store().unwrap();
    let docs = store.load(plain.as_bytes()).unwrap();
    let file = ops::encrypt(docs, &[group(&[&id])], &ctx(&[]), opts).unwrap();
    (file.emit(store.as_ref()).unwrap(), ctx(&[&id]))
}

/// Replaces the plaintext of `input` with `plain`; `None` when unchanged.
fn replace(format: Format, input: &[u8], plain: &str, ctx: &KeyContext) -> Option<Vec<u8>> {
    let store = format.store().unwrap();
    let mut file = EncryptedFile::open(store.as_ref(), input)
        .unwrap()
        .decrypt(ctx, &DecryptOptions::default())
        .unwrap();
    let docs = store.load(plain.as_bytes()).unwrap();
    if !file.replace_plaintext(docs, store.as_ref()).unwrap() {
        return None;
    }
    Some(file.encrypt().unwrap().emit(store.as_ref()).unwrap())
}

/// The lines of `text` keyed by what precedes the first `ENC[` (or the
/// whole line), for comparing two files line by line.
fn by_key(text: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(text)
        .lines()
        .map(|l| {
            let key = l.split("ENC[").next().unwrap_or(l).to_owned();
            (key, l.to_owned())
        })
        .collect()
}

fn decrypted(format: Format, bytes: &[u8], ctx: &KeyContext) -> Vec<u8> {
    let store = format.store().unwrap();
    let d = ops::decrypt(store.as_ref(), bytes, ctx, &DecryptOptions::default()).unwrap();
    store.emit_plain(&d.docs).unwrap()
}

const YAML: &str = "# top comment\nuser: admin\npassword: hunter2\nport: 8080\nlist:\n    - a\n    - b\ngone: bye\n";

#[test]
fn yaml_keeps_the_ciphertext_of_unchanged_values() {
    let (input, ctx) = encrypted(Format::Yaml, YAML, &EncryptOptions::default());
    let new = "# top comment\nuser: admin\npassword: changed\nport: 8080\nlist:\n    - a\n    - c\nadded: new\n";
    let out = replace(Format::Yaml, &input, new, &ctx).unwrap();
    assert_eq!(decrypted(Format::Yaml, &out, &ctx), new.as_bytes());
    let (before, after) = (by_key(&input), by_key(&out));
    // Byte-identical lines: the comment, user, port and the first list item.
    let kept: Vec<String> = String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| l.contains("ENC[") && input_has(&input, l))
        .map(|l| l.split("ENC[").next().unwrap_or(l).to_owned())
        .collect();
    assert_eq!(kept, ["#", "user: ", "port: ", "    - "], "kept lines");
    assert_ne!(before["password: "], after["password: "]);
    assert!(after.contains_key("added: "));
    assert!(!after.contains_key("gone: "));
    // The list's second item changed: exactly one `    - ` line is new.
    let items = |t: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(t)
            .lines()
            .filter(|l| l.starts_with("    - "))
            .map(str::to_owned)
            .collect()
    };
    let (old_items, new_items) = (items(&input), items(&out));
    assert_eq!(old_items[0], new_items[0]);
    assert_ne!(old_items[1], new_items[1]);
}

fn input_has(input: &[u8], line: &str) -> bool {
    String::from_utf8_lossy(input).lines().any(|l| l == line)
}

#[test]
fn an_unchanged_plaintext_is_reported_and_nothing_changes() {
    let (input, ctx) = encrypted(Format::Yaml, YAML, &EncryptOptions::default());
    assert!(replace(Format::Yaml, &input, YAML, &ctx).is_none());
    // A changed comment alone is a change.
    let comment = YAML.replace("# top comment", "# other comment");
    let out = replace(Format::Yaml, &input, &comment, &ctx).unwrap();
    assert_eq!(decrypted(Format::Yaml, &out, &ctx), comment.as_bytes());
}

#[test]
fn the_file_partial_encryption_rule_and_mac_only_encrypted_are_kept() {
    let opts = EncryptOptions {
        rule: Some(PartialRule::EncryptedRegex("^pass".into())),
        mac_only_encrypted: true,
        shamir_threshold: 0,
    };
    let (input, ctx) = encrypted(Format::Yaml, "user: admin\npassword: a\n", &opts);
    let out = replace(
        Format::Yaml,
        &input,
        "user: root\npassword: a\npassphrase: b\n",
        &ctx,
    )
    .unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.contains("user: root\n"), "{text}");
    assert!(text.contains("passphrase: ENC["), "{text}");
    assert!(text.contains("encrypted_regex: ^pass"), "{text}");
    assert!(text.contains("mac_only_encrypted: true"), "{text}");
    assert_eq!(by_key(&input)["password: "], by_key(&out)["password: "]);
    assert_eq!(
        decrypted(Format::Yaml, &out, &ctx),
        b"user: root\npassword: a\npassphrase: b\n"
    );
}

#[test]
fn json_dotenv_and_ini_keep_unchanged_values() {
    for (format, old, new, kept, changed) in [
        (
            Format::Json,
            "{\"a\": \"1\", \"b\": \"2\"}",
            "{\"a\": \"1\", \"b\": \"3\", \"c\": true}",
            "\t\"a\": \"ENC[",
            "\t\"b\": \"ENC[",
        ),
        (
            Format::Dotenv,
            "A=1\nB=2\n",
            "A=1\nB=3\nC=4\n",
            "A=ENC[",
            "B=ENC[",
        ),
        (
            Format::Ini,
            "[s]\na = 1\nb = 2\n",
            "[s]\na = 1\nb = 3\n",
            "a = ENC[",
            "b = ENC[",
        ),
    ] {
        let (input, ctx) = encrypted(format, old, &EncryptOptions::default());
        let out = replace(format, &input, new, &ctx).unwrap();
        let (before, after) = (by_key(&input), by_key(&out));
        let key = |k: &str| k.trim_end_matches("ENC[").to_owned();
        assert_eq!(before[&key(kept)], after[&key(kept)], "{format:?}");
        assert_ne!(before[&key(changed)], after[&key(changed)], "{format:?}");
        let store = format.store().unwrap();
        assert_eq!(
            store.load(&decrypted(format, &out, &ctx)).unwrap(),
            store.load(new.as_bytes()).unwrap(),
            "{format:?}"
        );
    }
}

#[test]
fn a_plaintext_with_the_metadata_key_or_without_documents_is_refused() {
    for (format, plain) in [
        (Format::Yaml, "a: 1\nsops:\n    version: x\n"),
        (Format::Json, "{\"sops\": {}}"),
        (Format::Dotenv, "sops_version=3\n"),
    ] {
        let (input, ctx) = encrypted(
            format,
            if format == Format::Json {
                "{\"a\": 1}"
            } else if format == Format::Dotenv {
                "A=1\n"
            } else {
                "a: 1\n"
            },
            &EncryptOptions::default(),
        );
        let store = format.store().unwrap();
        let mut file = EncryptedFile::open(store.as_ref(), &input)
            .unwrap()
            .decrypt(&ctx, &DecryptOptions::default())
            .unwrap();
        let before = file.docs().to_vec();
        let err = file
            .replace_plaintext(store.load(plain.as_bytes()).unwrap(), store.as_ref())
            .unwrap_err();
        assert!(matches!(err, Error::AlreadyEncrypted), "{format:?}: {err}");
        assert_eq!(file.docs(), before.as_slice());
        let err = file
            .replace_plaintext(Vec::new(), store.as_ref())
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Store {
                    source: StoreError::Empty,
                    ..
                }
            ),
            "{err}"
        );
    }
}
