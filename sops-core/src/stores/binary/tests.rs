//! Golden tests against sops 3.11's binary vectors and sops' own store tests.

use super::BinaryStore;
use crate::data_key::DataKey;
use crate::ops::decrypt_docs;
use crate::stores::{Store, StoreError};
use crate::test_vectors::vector;
use crate::tree::{Branch, Item, Value};

/// From vectors.json, case `binary`.
const DATA_KEY_HEX: &str = "650ea81ce196d6961416915768c2d6ece0f2d89bebbf45c22da6c19ff4576b16";

#[test]
fn data_key_matches_the_index() {
    let index = String::from_utf8(vector("vectors.json")).unwrap();
    assert!(index.contains(DATA_KEY_HEX));
}

#[test]
fn envelope_reemits_byte_identical() {
    let enc = vector("binary.enc.bin");
    let (docs, meta) = BinaryStore::default().load_encrypted(&enc).unwrap();
    assert!(meta.rule.is_none());
    let out = BinaryStore::default().emit_encrypted(&docs, &meta).unwrap();
    assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&enc));
}

#[test]
fn decrypts_to_the_raw_bytes() {
    let store = BinaryStore::default();
    let (mut docs, meta) = store.load_encrypted(&vector("binary.enc.bin")).unwrap();
    let key = DataKey::from_slice(&hex::decode(DATA_KEY_HEX).unwrap()).unwrap();
    decrypt_docs(&mut docs, &key, &meta, false).unwrap();
    assert!(matches!(docs[0].get("data"), Some(Value::Bytes(_))));
    assert_eq!(
        store.emit_plain(&docs).unwrap(),
        vector("binary.decrypted.bin")
    );
}

#[test]
fn plain_round_trip() {
    let store = BinaryStore::default();
    let plain = vector("binary.plain.bin");
    assert!(std::str::from_utf8(&plain).is_err());
    let docs = store.load(&plain).unwrap();
    assert_eq!(docs[0].get("data"), Some(&Value::Bytes(plain.clone())));
    assert!(!store.looks_encrypted(&docs));
    assert_eq!(store.emit_plain(&docs).unwrap(), plain);

    // JSON input is just bytes to the binary store.
    let docs = store.load(br#"{"hello": 2, "sops": {}}"#).unwrap();
    assert_eq!(docs[0].0.len(), 1);
    assert_eq!(
        docs[0].get("data").and_then(Value::as_str),
        Some(r#"{"hello": 2, "sops": {}}"#)
    );
    assert!(!store.looks_encrypted(&docs));

    let docs = store.load(b"").unwrap();
    assert_eq!(docs[0].get("data"), Some(&Value::Str(String::new())));
    assert_eq!(store.emit_plain(&docs).unwrap(), b"");
}

fn emit_message(docs: &[Branch]) -> String {
    match BinaryStore::default().emit_plain(docs) {
        Err(StoreError::Emit(m)) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn emit_errors() {
    let data = |v: Value| Branch(vec![Item::Entry("data".into(), v)]);
    assert_eq!(
        emit_message(&[Branch(vec![Item::Entry(
            "foo".into(),
            Value::Str("bar".into())
        )])]),
        "error emitting binary store: no binary data found in tree"
    );
    assert_eq!(
        emit_message(&[data(Value::Int(1))]),
        "error emitting binary store: 'data' key in tree does not have a string value"
    );
    let two = [data(Value::Str("a".into())), data(Value::Str("b".into()))];
    assert_eq!(
        emit_message(&two),
        "error emitting binary store: there must be exactly one tree branch"
    );
    assert_eq!(
        emit_message(&[]),
        "error emitting binary store: there must be exactly one tree branch"
    );
    let first_wins = Branch(vec![
        Item::Comment("c".into()),
        Item::Entry("data".into(), Value::Str("one".into())),
        Item::Entry("data".into(), Value::Str("two".into())),
    ]);
    assert_eq!(
        BinaryStore::default().emit_plain(&[first_wins]).unwrap(),
        b"one"
    );
    assert!(BinaryStore::default().emit_value(&Value::Int(1)).is_err());
}

#[test]
fn envelope_indent() {
    let store = BinaryStore { indent: Some(2) };
    let docs = store.load(b"x").unwrap();
    let meta = Branch(vec![Item::Entry(
        "version".into(),
        Value::Str("3.11.0".into()),
    )]);
    let out = store.emit_docs(&docs, Some(&meta)).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\n  \"data\": \"x\",\n  \"sops\": {\n    \"version\": \"3.11.0\"\n  }\n}\n"
    );
}
