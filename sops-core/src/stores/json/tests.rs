//! Golden tests against files written by sops 3.11 (testdata/vectors), the
//! parser's errors and edge cases, and property tests.

use super::JsonStore;
use crate::ops::decrypt_docs;
use crate::stores::{Store, StoreError};
use crate::test_vectors::{data_key, vector};
use crate::tree::{Branch, Item, Value};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn store() -> JsonStore {
    JsonStore::default()
}

const CASES: [&str; 4] = ["json_types", "json_numbers", "key_groups", "all_keystores"];

#[test]
fn encrypted_files_reemit_byte_identical() {
    for case in CASES {
        let enc = vector(&format!("{case}.enc.json"));
        let (docs, meta) = store().load_encrypted(&enc).unwrap();
        assert_eq!(docs.len(), 1);
        let out = store().emit_encrypted(&docs, &meta).unwrap();
        assert_eq!(text(&out), text(&enc), "{case}");
    }
}

#[test]
fn decrypted_files_match_sops() {
    for case in CASES {
        let enc = vector(&format!("{case}.enc.json"));
        let (mut docs, meta) = store().load_encrypted(&enc).unwrap();
        decrypt_docs(&mut docs, &data_key(case), &meta, false).unwrap();
        let out = store().emit_plain(&docs).unwrap();
        let want = vector(&format!("{case}.decrypted.json"));
        assert_eq!(text(&out), text(&want), "{case}");
    }
}

/// Plain input re-emitted equals what sops printed after decryption,
/// except where we keep integers exact on purpose.
#[test]
fn plain_files_reemit_as_sops_decrypted_them() {
    for case in ["json_numbers", "key_groups"] {
        let docs = store()
            .load(&vector(&format!("{case}.plain.json")))
            .unwrap();
        let out = store().emit_plain(&docs).unwrap();
        let want = vector(&format!("{case}.decrypted.json"));
        assert_eq!(text(&out), text(&want), "{case}");
    }
    let docs = store().load(&vector("json_types.plain.json")).unwrap();
    assert_eq!(docs[0].get("big_int"), Some(&Value::Int(9007199254740993)));
    assert_eq!(docs[0].get("int"), Some(&Value::Int(42)));
    assert_eq!(docs[0].get("float_integral"), Some(&Value::Float(2.0)));
    let out = text(&store().emit_plain(&docs).unwrap());
    // sops 3.11 read big_int as a float64 and printed 9007199254740992.
    let want = text(&vector("json_types.decrypted.json")).replace(
        "\"big_int\": 9007199254740992,",
        "\"big_int\": 9007199254740993,",
    );
    assert_ne!(want, text(&vector("json_types.decrypted.json")));
    assert_eq!(out, want);
}

#[test]
fn json_numbers_types() {
    let docs = store().load(&vector("json_numbers.plain.json")).unwrap();
    let d = &docs[0];
    let keys: Vec<&str> = d.entries().map(|(k, _)| k).collect();
    assert_eq!(&keys[..3], ["dup", "dup", "ctl"]);
    assert_eq!(d.0[1], Item::Entry("dup".into(), Value::Int(2)));
    assert_eq!(d.get("n6"), Some(&Value::Int(100)));
    assert_eq!(d.get("n7"), Some(&Value::Float(100.0)));
    assert!(matches!(d.get("n5"), Some(Value::Float(f)) if *f == 0.0 && f.is_sign_negative()));
    assert_eq!(d.get("n9"), Some(&Value::Float(5e-324)));
    assert_eq!(
        d.get("big"),
        Some(&Value::Float(123456789012345678901234567890.0))
    );
    assert_eq!(d.get("uni"), Some(&Value::Str("é😀".into())));
}

fn load_err(input: &[u8]) -> StoreError {
    match store().load(input) {
        Ok(_) => panic!("accepted {}", text(input)),
        Err(e) => e,
    }
}

fn syntax(input: &str) -> (usize, String) {
    match load_err(input.as_bytes()) {
        StoreError::Syntax { line, message, .. } => (line, message),
        e => panic!("{input}: {e:?}"),
    }
}

#[test]
fn go_error_messages() {
    for (input, want) in [
        (
            r#"{"a": tru}"#,
            "invalid character '}' in literal true (expecting 'e')",
        ),
        (
            r#"{"a":1,}"#,
            "invalid character '}' looking for beginning of object key string",
        ),
        (r#"{"a" 1}"#, "invalid character '1' after object key"),
        (r#"{"a": 1"#, "unexpected EOF"),
        (r#"{"a": "x"#, "unexpected EOF"),
        (r#"{"a": "\q"}"#, "invalid character in string escape code"),
        (
            r#"{"a": "\u12G4"}"#,
            "invalid character in \\u hexadecimal character escape",
        ),
        (
            r#"{"a": 01}"#,
            "invalid character '1' after object key:value pair",
        ),
        (r#"{"a": -}"#, "invalid character '}' in numeric literal"),
        (
            r#"{"a": 1.}"#,
            "invalid character '}' after decimal point in numeric literal",
        ),
        (
            r#"{"a": 1e}"#,
            "invalid character '}' in exponent of numeric literal",
        ),
        (
            r#"{"a": [1 2]}"#,
            "invalid character '2' after array element",
        ),
        (
            r#"{"a": [1,]}"#,
            "invalid character ']' looking for beginning of value",
        ),
        ("{", "unexpected EOF"),
        ("}", "invalid character '}' looking for beginning of value"),
        ("x", "invalid character 'x' looking for beginning of value"),
        (
            r#"{"a": 1 "b": 2}"#,
            "invalid character '\"' after object key:value pair",
        ),
        (
            "{1: 2}",
            "invalid character '1' looking for beginning of object key string",
        ),
        ("{\"a\": \"x\u{1}\"}", "invalid character in string literal"),
        ("{\"a\": \"x\ny\"}", "invalid character in string literal"),
        (
            r#"{"a": 1e400}"#,
            "json: cannot unmarshal number into Go value of type float64",
        ),
        (
            "{\"a\": /* c */ 1}",
            "invalid character '/' looking for beginning of value",
        ),
        (
            r#"{"a": NaN}"#,
            "invalid character 'N' looking for beginning of value",
        ),
        (
            "\u{feff}{}",
            "invalid character 'ï' looking for beginning of value",
        ),
    ] {
        assert_eq!(syntax(input).1, want, "{input}");
    }
    assert_eq!(syntax("{\n\"a\": 1,\n\n}").0, 4);
    assert_eq!(syntax("{\"a\":\n  [1,\n  2,,]}").0, 3);
}

#[test]
fn shape_errors() {
    for (input, want) in [
        ("", "EOF"),
        (" \n\t", "EOF"),
        (
            " [42] ",
            "SOPS only supports JSON files with a top-level object (starting with '{'), not arrays or other types. Got delimiter [ instead. To encrypt this file, wrap it in an object, e.g., {\"data\": [...]}",
        ),
        (
            "42",
            "SOPS only supports JSON files with a top-level object (starting with '{'), not other JSON types. Got a value of type int instead",
        ),
        (
            "4.5",
            "SOPS only supports JSON files with a top-level object (starting with '{'), not other JSON types. Got a value of type float64 instead",
        ),
        (
            "\"secret\"",
            "SOPS only supports JSON files with a top-level object (starting with '{'), not other JSON types. Got a value of type string instead",
        ),
        (
            "null",
            "SOPS only supports JSON files with a top-level object (starting with '{'), not other JSON types. Got a value of type <nil> instead",
        ),
    ] {
        match load_err(input.as_bytes()) {
            StoreError::Shape(m) => assert_eq!(m, want, "{input:?}"),
            e => panic!("{input:?}: {e:?}"),
        }
    }
}

#[test]
fn errors_never_show_string_contents() {
    for input in [
        "{\"k\": \"hunter2\u{1}\"}",
        "{\"k\": \"hunter2\\x\"}",
        "{\"k\": \"hunter2\\u12x4\"}",
        "{\"k\": \"hunter2",
        "\"hunter2\"",
    ] {
        let e = load_err(input.as_bytes()).to_string();
        assert!(!e.contains("hunter"), "{e}");
    }
}

#[test]
fn trailing_text_ignored_on_plain_load_refused_on_encrypted_load() {
    let docs = store().load(br#"{"a": 1}} trailing"#).unwrap();
    assert_eq!(
        docs,
        vec![Branch(vec![Item::Entry("a".into(), Value::Int(1))])]
    );
    let mut enc = vector("json_types.enc.json");
    enc.extend_from_slice(b"\n x");
    match store().load_encrypted(&enc) {
        Err(StoreError::Syntax { line, message, .. }) => {
            assert_eq!(message, "invalid character 'x' after top-level value");
            assert_eq!(line, 57);
        }
        other => panic!("{other:?}"),
    }
    let mut enc = vector("json_types.enc.json");
    enc.extend_from_slice(b"\n \t\r\n");
    assert!(store().load_encrypted(&enc).is_ok());
}

#[test]
fn metadata_errors() {
    assert!(matches!(
        store().load_encrypted(br#"{"hello": 2}"#),
        Err(StoreError::MetadataNotFound)
    ));
    assert!(matches!(
        store().load_encrypted(br#"{"hello": 2, "sops": null}"#),
        Err(StoreError::MetadataNotFound)
    ));
    let old = br#"{"sops": {"version": 1.0, "lastmodified": "2020-01-01T00:00:00Z"}}"#;
    match store().load_encrypted(old) {
        Err(StoreError::Shape(m)) => assert!(m.starts_with("SOPS versions higher than 2.0.10")),
        other => panic!("{other:?}"),
    }
    match store().load_encrypted(b"") {
        Err(StoreError::Syntax { message, .. }) => assert_eq!(message, "unexpected EOF"),
        other => panic!("{other:?}"),
    }
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

fn branch(items: Vec<(&str, Value)>) -> Branch {
    Branch(
        items
            .into_iter()
            .map(|(k, v)| Item::Entry(k.into(), v))
            .collect(),
    )
}

fn emit_text(store: &JsonStore, b: &Branch) -> String {
    text(&store.emit_plain(std::slice::from_ref(b)).unwrap())
}

#[test]
fn string_escapes_on_load() {
    let input = "{\"a\": \"x\\by\\fz\\u0000\\u007f\\ud800\\udc00\\ud800x\\udc00 \u{7f}\\/\\\"\\\\\\t\\r\\n\\u00e9\\uD83D\\uDE00\\ud83d\\ud83d\\ude00\"}";
    let docs = store().load(input.as_bytes()).unwrap();
    assert_eq!(
        docs[0].get("a"),
        Some(&s(
            "x\u{8}y\u{c}z\u{0}\u{7f}\u{10000}\u{fffd}x\u{fffd} \u{7f}/\"\\\t\r\né😀\u{fffd}😀"
        ))
    );
    // Invalid UTF-8 in the input: one U+FFFD per bad byte, as Go.
    let docs = store()
        .load(b"{\"a\": \"\xff\xe2\x82A\", \"b\\n\": \"\xc3\xa9\\n\xff\"}")
        .unwrap();
    assert_eq!(docs[0].get("a"), Some(&s("\u{fffd}\u{fffd}\u{fffd}A")));
    assert_eq!(docs[0].get("b\n"), Some(&s("é\n\u{fffd}")));
}

#[test]
fn string_escapes_on_emit() {
    // Checked against sops 3.11 (Go 1.22+ writes \b and \f).
    let b = branch(vec![
        (
            "a",
            s("x\u{8}y\u{c}z\u{0}\u{1f}\u{7f}<>&\u{2028}\u{2029}\u{2027}\u{202a}é😀\"\\\t\r\n/"),
        ),
        (
            "k<\"",
            Value::Bytes(b"ok\xff\xe2\x82A\xe2\x80\xa8".to_vec()),
        ),
    ]);
    assert_eq!(
        emit_text(&store(), &b),
        "{\n\t\"a\": \"x\\by\\fz\\u0000\\u001f\u{7f}\\u003c\\u003e\\u0026\\u2028\\u2029\u{2027}\u{202a}é😀\\\"\\\\\\t\\r\\n/\",\n\t\"k\\u003c\\\"\": \"ok\\ufffd\\ufffd\\ufffdA\\u2028\"\n}\n"
    );
}

fn sample() -> Branch {
    branch(vec![
        (
            "foo",
            Value::Seq(vec![
                Value::Map(branch(vec![
                    ("foo", Value::Int(3)),
                    ("bar", Value::Bool(false)),
                ])),
                Value::Comment("dropped".into()),
                Value::Float(2.0),
            ]),
        ),
        ("e", Value::Map(Branch(vec![Item::Comment("x".into())]))),
        ("l", Value::Seq(vec![Value::Comment("x".into())])),
    ])
}

#[test]
fn indentation() {
    let b = sample();
    assert_eq!(
        emit_text(&store(), &b),
        "{\n\t\"foo\": [\n\t\t{\n\t\t\t\"foo\": 3,\n\t\t\t\"bar\": false\n\t\t},\n\t\t2\n\t],\n\t\"e\": {},\n\t\"l\": []\n}\n"
    );
    let two = JsonStore {
        indent: Some(2),
        ..JsonStore::default()
    };
    assert_eq!(
        emit_text(&two, &b),
        "{\n  \"foo\": [\n    {\n      \"foo\": 3,\n      \"bar\": false\n    },\n    2\n  ],\n  \"e\": {},\n  \"l\": []\n}\n"
    );
    let zero = JsonStore {
        indent: Some(0),
        ..JsonStore::default()
    };
    assert_eq!(
        emit_text(&zero, &b),
        "{\n\"foo\": [\n{\n\"foo\": 3,\n\"bar\": false\n},\n2\n],\n\"e\": {},\n\"l\": []\n}\n"
    );
    assert_eq!(emit_text(&store(), &Branch::new()), "{}\n");
    assert_eq!(text(&store().emit_plain(&[]).unwrap()), "{}\n");
}

#[test]
fn comments_and_extra_documents_are_dropped() {
    let doc = Branch(vec![
        Item::Comment("top".into()),
        Item::Entry("a".into(), s("b")),
        Item::Comment("end".into()),
    ]);
    let other = branch(vec![("x", s("y"))]);
    let out = store().emit_plain(&[doc, other]).unwrap();
    assert_eq!(text(&out), "{\n\t\"a\": \"b\"\n}\n");
}

#[test]
fn metadata_is_the_last_member() {
    let meta = branch(vec![("version", s("3.11.0"))]);
    let out = store().emit_docs(&[Branch::new()], Some(&meta)).unwrap();
    assert_eq!(
        text(&out),
        "{\n\t\"sops\": {\n\t\t\"version\": \"3.11.0\"\n\t}\n}\n"
    );
    let doc = branch(vec![("a", Value::Null)]);
    let out = store().emit_docs(&[doc], Some(&meta)).unwrap();
    assert_eq!(
        text(&out),
        "{\n\t\"a\": null,\n\t\"sops\": {\n\t\t\"version\": \"3.11.0\"\n\t}\n}\n"
    );
}

#[test]
fn scalars() {
    let time = crate::tree::Time::parse_rfc3339("2001-12-14t21:59:43.10-05:00").unwrap();
    let b = branch(vec![
        ("i", Value::Int(i64::MIN)),
        ("j", Value::Int(i64::MAX)),
        ("z", Value::Int(0)),
        ("f", Value::Float(1e21)),
        ("g", Value::Float(-1e-7)),
        ("t", Value::Time(time)),
        ("n", Value::Null),
    ]);
    assert_eq!(
        emit_text(&store(), &b),
        "{\n\t\"i\": -9223372036854775808,\n\t\"j\": 9223372036854775807,\n\t\"z\": 0,\n\t\"f\": 1e+21,\n\t\"g\": -1e-7,\n\t\"t\": \"2001-12-14T21:59:43.1-05:00\",\n\t\"n\": null\n}\n"
    );
    let docs = store()
        .load(
            br#"{"i": -9223372036854775808, "j": 9223372036854775808, "k": -0, "l": 0, "m": 1E2}"#,
        )
        .unwrap();
    assert_eq!(docs[0].get("i"), Some(&Value::Int(i64::MIN)));
    assert_eq!(docs[0].get("j"), Some(&Value::Float(9223372036854775808.0)));
    assert_eq!(docs[0].get("l"), Some(&Value::Int(0)));
    assert_eq!(docs[0].get("m"), Some(&Value::Float(100.0)));
    assert_eq!(
        text(&store().emit_plain(&docs).unwrap()),
        "{\n\t\"i\": -9223372036854775808,\n\t\"j\": 9223372036854776000,\n\t\"k\": -0,\n\t\"l\": 0,\n\t\"m\": 100\n}\n"
    );
}

#[test]
fn unsupported_floats() {
    for (f, name) in [
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (f64::NAN, "NaN"),
    ] {
        let b = branch(vec![("x", Value::Seq(vec![Value::Float(f)]))]);
        match store().emit_plain(&[b]) {
            Err(StoreError::Emit(m)) => assert_eq!(m, format!("json: unsupported value: {name}")),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn emit_value_has_no_newline() {
    let st = store();
    assert_eq!(st.emit_value(&Value::Int(1)).unwrap(), b"1");
    assert_eq!(st.emit_value(&s("hello")).unwrap(), b"\"hello\"");
    assert_eq!(
        st.emit_value(&Value::Seq(vec![Value::Int(1), s("two")]))
            .unwrap(),
        b"[\n\t1,\n\t\"two\"\n]"
    );
    assert_eq!(
        st.emit_value(&Value::Map(branch(vec![("a", Value::Seq(vec![]))])))
            .unwrap(),
        b"{\n\t\"a\": []\n}"
    );
    assert_eq!(st.emit_value(&Value::Map(Branch::new())).unwrap(), b"{}");
}

fn nested(depth: usize) -> String {
    let mut s = String::from("{\"a\": ");
    s.push_str(&"[".repeat(depth - 1));
    s.push_str(&"]".repeat(depth - 1));
    s.push('}');
    s
}

#[test]
fn depth_limit() {
    let max = crate::stores::DEFAULT_MAX_DEPTH;
    let ok = nested(max);
    let docs = store().load(ok.as_bytes()).unwrap();
    let out = store().emit_plain(&docs).unwrap();
    assert_eq!(out.iter().filter(|&&b| b == b'[').count(), max - 1);
    let deep = nested(max + 1);
    let err = store().load(deep.as_bytes()).unwrap_err();
    assert!(
        matches!(err, StoreError::TooDeep { format: "json", line: 1, max_depth } if max_depth == max),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("json: line 1: exceeded max depth of {max}")
    );
    // Both loads count the top-level object as one level.
    let err = store().load_encrypted(deep.as_bytes()).unwrap_err();
    assert!(matches!(err, StoreError::TooDeep { .. }), "{err:?}");
    // Dropping the deep tree must not overflow the test thread's stack.
    drop(docs);
}

#[test]
fn custom_depth_limit() {
    let strict = JsonStore {
        limits: crate::stores::StoreLimits {
            max_depth: 3,
            ..Default::default()
        },
        ..JsonStore::default()
    };
    strict.load(b"{\"a\": [{\"b\": 1}]}").unwrap();
    let err = strict.load(b"{\"a\": [{\"b\": []}]}").unwrap_err();
    assert!(
        matches!(err, StoreError::TooDeep { max_depth: 3, .. }),
        "{err:?}"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>()
                .prop_filter("finite, not integral", |f| f.is_finite()
                    && f.fract() != 0.0)
                .prop_map(Value::Float),
            any::<String>().prop_map(Value::Str),
        ]
    }

    fn tree() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Seq),
                prop::collection::vec((any::<String>(), inner), 0..6).prop_map(|items| {
                    Value::Map(Branch(
                        items.into_iter().map(|(k, v)| Item::Entry(k, v)).collect(),
                    ))
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn emit_load_emit_is_stable(v in tree(), indent in prop::option::of(0usize..5)) {
            let st = JsonStore {
                indent,
                ..JsonStore::default()
            };
            let doc = match v {
                Value::Map(b) => b,
                other => branch(vec![("v", other)]),
            };
            let once = st.emit_plain(std::slice::from_ref(&doc)).unwrap();
            let loaded = st.load(&once).unwrap();
            prop_assert_eq!(&loaded[0], &doc);
            let twice = st.emit_plain(&loaded).unwrap();
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn strings_round_trip(key in any::<String>(), value in any::<String>()) {
            let doc = branch(vec![(key.as_str(), Value::Str(value))]);
            let out = store().emit_plain(std::slice::from_ref(&doc)).unwrap();
            prop_assert!(std::str::from_utf8(&out).is_ok());
            prop_assert_eq!(&store().load(&out).unwrap()[0], &doc);
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = store().load(&input);
            let _ = store().load_encrypted(&input);
        }

        #[test]
        fn arbitrary_json_like_never_panics(input in "[{}\\[\\]\",:0-9a-z\\\\. \n-]{0,40}") {
            // Integral floats (`1e5`) come back as ints: compare the text.
            if let Ok(docs) = store().load(input.as_bytes()) {
                let out = store().emit_plain(&docs).unwrap();
                let again = store().emit_plain(&store().load(&out).unwrap()).unwrap();
                prop_assert_eq!(out, again);
            }
        }
    }
}

/// `sops decrypt --output-type json` of files in other formats: the other
/// store loads and decrypts, this one writes (comments dropped, first
/// document only, YAML types kept).
#[test]
fn other_formats_decrypted_as_json() {
    use crate::stores::Format;
    for (case, enc, format) in [
        ("yaml_comments", "yaml_comments.enc.yaml", Format::Yaml),
        ("yaml_structure", "yaml_structure.enc.yaml", Format::Yaml),
        ("dotenv_quirks", "dotenv_quirks.enc.env", Format::Dotenv),
        ("ini_quirks", "ini_quirks.enc.ini", Format::Ini),
    ] {
        let input = format.store().unwrap();
        let (mut docs, meta) = input.load_encrypted(&vector(enc)).unwrap();
        decrypt_docs(&mut docs, &data_key(case), &meta, false).unwrap();
        let out = store().emit_plain(&docs).unwrap();
        let want = vector(&format!("{case}.decrypted-as.json"));
        assert_eq!(text(&out), text(&want), "{case}");
    }
}

// Mutation-testing tests (issue 10): each pins behaviour a surviving mutant
// of parse.rs/emit.rs changed.

/// A comment-valued entry (no store makes one) is dropped like a comment
/// item, so no comment text is written as a value and `branch_is_empty`
/// agrees with the walk.
#[test]
fn m10_comment_valued_entries_are_dropped() {
    let b = Branch(vec![
        Item::Entry("a".into(), Value::Int(1)),
        Item::Entry("c".into(), Value::Comment("note".into())),
    ]);
    assert_eq!(emit_text(&store(), &b), "{\n\t\"a\": 1\n}\n");
}

/// sops 3.13: "... not other JSON types. Got true of type bool instead";
/// we name the Go type only, as for the other scalars.
#[test]
fn m10_top_level_bool_names_its_type() {
    for input in ["true", " false "] {
        match load_err(input.as_bytes()) {
            StoreError::Shape(m) => assert_eq!(
                m,
                "SOPS only supports JSON files with a top-level object (starting with '{'), not other JSON types. Got a value of type bool instead"
            ),
            e => panic!("{input}: {e:?}"),
        }
    }
}

/// The writer's buffer is sized by `estimate_size`: it must cover the
/// output whenever strings need at most one two-byte escape per 16 bytes
/// (per 8 for byte strings), at any indentation, so that emitting does not
/// reallocate; for string-heavy documents it stays close to the output
/// (the slack for escapes: 1/16 of a string, 1/8 of a byte string).
#[test]
fn m10_size_estimate_covers_the_output() {
    use super::emit::estimate_size;
    let time = crate::tree::Time::parse_rfc3339("2001-12-14T21:59:43.123456789-05:00").unwrap();
    let many = |v: &dyn Fn(usize) -> (String, Value)| {
        Branch(
            (0..40)
                .map(|i| {
                    let (k, v) = v(i);
                    Item::Entry(k, v)
                })
                .collect(),
        )
    };
    // One `"` per 16 bytes (strings) or per 8 bytes (byte strings).
    let escaped16 = format!("{}\"", "x".repeat(15)).repeat(8);
    let escaped8 = format!("{}\n", "y".repeat(7)).repeat(16).into_bytes();
    let mut deep = Value::Str("leaf".into());
    for level in 0..8 {
        deep = if level % 2 == 0 {
            Value::Seq(vec![deep, s("x")])
        } else {
            Value::Map(branch(vec![("", deep), ("k", s(""))]))
        };
    }
    // (document, d: when given, the estimate is at most the output + 1/d)
    let docs: Vec<(Branch, Option<usize>)> = vec![
        (many(&|_| (String::new(), s(""))), None),
        (many(&|i| ("k".repeat(200 + i), s("x"))), Some(4)),
        (
            many(&|i| (String::new(), s(&"v".repeat(200 + i)))),
            Some(10),
        ),
        (many(&|_| ("t".into(), s(&escaped16))), Some(4)),
        (
            many(&|_| ("b".into(), Value::Bytes(escaped8.clone()))),
            Some(4),
        ),
        (
            many(&|_| ("b".into(), Value::Bytes(b"z".repeat(300)))),
            Some(6),
        ),
        (many(&|_| ("t".into(), Value::Time(time.clone()))), Some(4)),
        (branch(vec![("d", deep.clone()), ("e", deep)]), None),
        (sample(), None),
    ];
    for indent in [None, Some(0), Some(2), Some(4), Some(8)] {
        let st = JsonStore {
            indent,
            ..JsonStore::default()
        };
        for (n, (doc, close)) in docs.iter().enumerate() {
            let len = st.emit_plain(std::slice::from_ref(doc)).unwrap().len();
            let est = estimate_size(doc, indent.unwrap_or(1));
            assert!(est >= len, "doc {n}, indent {indent:?}: {est} < {len}");
            if let Some(d) = close {
                assert!(
                    est <= len + len / d + 64,
                    "doc {n}, indent {indent:?}: {est} vs {len}"
                );
            }
        }
    }
}

/// Go's `quoteChar` for a byte outside strings, checked against sops 3.11
/// (`{"a": t<byte>}`).
#[test]
fn m10_offending_bytes_quoted_as_go() {
    for (byte, want) in [
        (b'\'', r"'\''"),
        (b'"', "'\"'"),
        (b'\n', r"'\n'"),
        (b'\r', r"'\r'"),
        (b'\t', r"'\t'"),
        (0x07, r"'\a'"),
        (0x08, r"'\b'"),
        (0x0c, r"'\f'"),
        (0x0b, r"'\v'"),
        (0x00, r"'\x00'"),
        (0x01, r"'\x01'"),
        (0x1f, r"'\x1f'"),
        (0x7f, r"'\x7f'"),
        (0x80, r"'\u0080'"),
        (0x9f, r"'\u009f'"),
        (0xa0, r"'\u00a0'"),
        (0xad, r"'\u00ad'"),
        (0xa1, "'¡'"),
        (0xe9, "'é'"),
        (b'~', "'~'"),
    ] {
        let mut input = b"{\"a\": t".to_vec();
        input.push(byte);
        input.push(b'}');
        match load_err(&input) {
            StoreError::Syntax { message, .. } => assert_eq!(
                message,
                format!("invalid character {want} in literal true (expecting 'r')"),
                "{byte:#x}"
            ),
            e => panic!("{byte:#x}: {e:?}"),
        }
    }
}

/// Errors inside a `\u` escape report the line of the string.
#[test]
fn m10_unicode_escape_errors_report_their_line() {
    for input in [
        "{\n\"a\":\n\"\\u",
        "{\n\"a\":\n\"\\u12",
        "{\n\"a\":\n\"\\uZ\"}\n\n",
        "{\n\"a\":\n\"\\u1Z\"}\n\n",
    ] {
        assert_eq!(syntax(input).0, 3, "{input:?}");
    }
}

/// issue 10: a time offset by a day or more (YAML loads `+24:00`) cannot be
/// written as JSON: sops 3.11 exits 4 with "Error dumping file: … json:
/// error calling MarshalJSON for type time.Time: Time.MarshalJSON: timezone
/// hour outside of range [0,23]" (checked decrypting a YAML file holding one
/// outside the MAC with `--output-type json`).
#[test]
fn r10_time_offset_by_a_day_or_more_is_refused() {
    use crate::tree::{Time, time::TimeParts};
    let at = |offset_minutes| {
        Value::Time(Time::from_parts(TimeParts {
            year: 2001,
            month: 12,
            day: 14,
            hour: 21,
            minute: 59,
            second: 43,
            nanos: 0,
            offset_minutes: Some(offset_minutes),
        }))
    };
    let mut doc = Branch::new();
    doc.push("t", at(23 * 60 + 59));
    assert_eq!(
        text(&store().emit_plain(&[doc]).unwrap()),
        "{\n\t\"t\": \"2001-12-14T21:59:43+23:59\"\n}\n"
    );
    let mut doc = Branch::new();
    doc.push("t", at(-24 * 60));
    let err = store().emit_plain(&[doc]).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("Time.MarshalJSON: timezone hour outside of range [0,23]"),
        "{err}"
    );
    assert!(!err.to_string().contains("2001"));
}

/// The output buffer is sized once, from the estimates of the document and
/// of the metadata (their sum), and an extracted mapping from its own
/// estimate: it is never regrown while writing.
#[test]
fn m10_output_buffers_are_sized_once_from_the_estimate() {
    use super::emit::estimate_size;
    let store = store();
    let unit = store.indent_unit().len();
    let doc = branch(vec![("a", s(&"x".repeat(300))), ("b", s("y"))]);
    let meta = branch(vec![("version", s("3.11.0")), ("mac", s(&"m".repeat(200)))]);
    let out = store.emit_document(&doc, Some(&meta)).unwrap();
    let expected = estimate_size(&doc, unit) + estimate_size(&meta, unit);
    assert!(out.len() <= expected, "{} > {expected}", out.len());
    assert_eq!(out.capacity(), expected);
    let out = store.emit_value(&Value::Map(doc.clone())).unwrap();
    assert!(out.len() > 64);
    assert_eq!(out.capacity(), estimate_size(&doc, unit));
}

/// A document written in runs of its members, cut anywhere, gives the text
/// it gives written whole (indents, nesting, empty containers, nothing).
#[test]
fn a_document_written_in_runs_is_written_as_a_whole() {
    for (input, indent) in [
        (r#"{"a": 1, "b": {"c": [1, {"d": null}, []], "e": {}}, "f": "<x>"}"#, None),
        (r#"{"a": [[1], [2, 3]], "b": true}"#, Some(3)),
        (r#"{"a": {"b": {"c": 1}}}"#, Some(0)),
        ("{}", None),
    ] {
        let store = JsonStore {
            indent,
            ..store()
        };
        crate::stores::tests::assert_written_in_runs_as_whole(&store, input);
    }
}
