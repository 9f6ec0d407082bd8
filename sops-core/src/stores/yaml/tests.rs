//! YAML store tests: scalar typing, comment placement, emission rules and
//! byte-exact golden files written by sops 3.11 (`testdata/vectors`).

use super::*;
use crate::ops::decrypt_docs;
use crate::test_vectors::{VECTORS, data_key, vector as read};
use crate::tree::{Comment, Time};

fn store() -> YamlStore {
    YamlStore::default()
}

fn load_str(s: &str) -> Result<Vec<Branch>, StoreError> {
    store().load(s.as_bytes())
}

fn roundtrip(s: &str) -> String {
    let docs = load_str(s).unwrap();
    String::from_utf8(store().emit_plain(&docs).unwrap()).unwrap()
}

#[track_caller]
fn assert_text_eq(actual: &[u8], expected: &[u8], what: &str) {
    if actual != expected {
        let a = String::from_utf8_lossy(actual);
        let e = String::from_utf8_lossy(expected);
        for (i, (la, le)) in a.lines().zip(e.lines()).enumerate() {
            if la != le {
                panic!(
                    "{what}: first difference at line {}:\n  got:      {la:?}\n  expected: {le:?}",
                    i + 1
                );
            }
        }
        panic!(
            "{what}: lengths differ ({} vs {} bytes)\n--- got ---\n{a}\n--- expected ---\n{e}",
            actual.len(),
            expected.len()
        );
    }
}

const YAML_CASES: &[&str] = &[
    "yaml_comments",
    "yaml_scalars",
    "yaml_structure",
    "yaml_types",
    "multidoc",
    "encrypted_regex",
    "unencrypted_suffix",
    "mac_only_encrypted",
    "encrypted_comment_regex",
    "shamir",
    "pgp",
    "all_keystores",
];

#[test]
fn golden_reemit_encrypted() {
    for case in YAML_CASES {
        let enc = read(&format!("{case}.enc.yaml"));
        let (docs, meta) = store().load_encrypted(&enc).unwrap();
        let out = store().emit_encrypted(&docs, &meta).unwrap();
        assert_text_eq(&out, &enc, case);
    }
}

#[test]
fn golden_decrypt() {
    for case in YAML_CASES {
        let enc = read(&format!("{case}.enc.yaml"));
        let (mut docs, meta) = store().load_encrypted(&enc).unwrap();
        decrypt_docs(&mut docs, &data_key(case), &meta, false)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let out = store().emit_plain(&docs).unwrap();
        assert_text_eq(&out, &read(&format!("{case}.decrypted.yaml")), case);
    }
}

fn clear_line_comments(b: &mut Branch) {
    fn value(v: &mut Value) {
        match v {
            Value::Map(b) => clear_line_comments(b),
            Value::Seq(items) => items.iter_mut().for_each(value),
            Value::Comment(c) => c.inline = false,
            _ => {}
        }
    }
    for item in &mut b.0 {
        match item {
            Item::Comment(c) => c.inline = false,
            Item::Entry(_, v) => value(v),
        }
    }
}

#[test]
fn golden_plain_canonicalised() {
    for case in YAML_CASES {
        let Ok(plain) = std::fs::read(format!("{VECTORS}{case}.plain.yaml")) else {
            continue;
        };
        let mut docs = store().load(&plain).unwrap();
        // Decrypting writes every comment it decrypts on a line of its
        // own (sops 3.13.2 as 3.11), so the plain text matches the
        // decrypted golden file once its line comments are made so.
        for doc in &mut docs {
            clear_line_comments(doc);
        }
        let out = store().emit_plain(&docs).unwrap();
        assert_text_eq(&out, &read(&format!("{case}.decrypted.yaml")), case);
    }
}

/// sops 3.11 `decrypt --output-type yaml` of JSON files: the JSON is read
/// through our YAML parser (JSON is YAML flow syntax), decrypted, emitted.
#[test]
fn golden_json_decrypted_as_yaml() {
    for case in ["json_types", "json_numbers"] {
        let enc = read(&format!("{case}.enc.json"));
        let mut docs = load::load_with(&enc, &StoreLimits::default(), false)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let meta = match docs[0].remove("sops") {
            Some(Value::Map(b)) => {
                crate::stores::metadata_serde::from_branch(&b, crate::stores::Format::Yaml).unwrap()
            }
            _ => panic!("{case}: no metadata"),
        };
        decrypt_docs(&mut docs, &data_key(case), &meta, false)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let out = store().emit_plain(&docs).unwrap();
        assert_text_eq(&out, &read(&format!("{case}.decrypted-as.yaml")), case);
    }
}

/// sops cannot decrypt this file of its own (sops-format §6 item 19): the
/// MAC must fail the same way here.
#[test]
fn golden_encrypted_comment_regex_bug() {
    let case = "encrypted_comment_regex_bug";
    let enc = read(&format!("{case}.enc.yaml"));
    let (mut docs, meta) = store().load_encrypted(&enc).unwrap();
    assert_text_eq(&store().emit_encrypted(&docs, &meta).unwrap(), &enc, case);
    let err = decrypt_docs(&mut docs, &data_key(case), &meta, false).unwrap_err();
    assert!(
        matches!(
            err,
            crate::ops::TreeError::Mac(crate::mac::MacError::Mismatch { .. })
        ),
        "expected a MAC mismatch, got {err}"
    );
}

fn only_doc(s: &str) -> Branch {
    let mut docs = load_str(s).unwrap();
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

fn value_of(s: &str) -> Value {
    only_doc(&format!("v: {s}\n")).get("v").unwrap().clone()
}

#[test]
fn scalar_typing() {
    assert_eq!(value_of("~"), Value::Null);
    assert_eq!(value_of(""), Value::Null);
    assert_eq!(value_of("True"), Value::Bool(true));
    assert_eq!(value_of("yes"), Value::Str("yes".into()));
    assert_eq!(value_of("0x1F"), Value::Int(31));
    assert_eq!(value_of("017"), Value::Int(15));
    assert_eq!(value_of("0o17"), Value::Int(15));
    assert_eq!(value_of("0b11"), Value::Int(3));
    assert_eq!(value_of("1_000"), Value::Int(1000));
    assert_eq!(value_of("1e3"), Value::Float(1000.0));
    assert_eq!(value_of("99999999999999999999"), Value::Float(1e20));
    assert_eq!(value_of("-.inf"), Value::Float(f64::NEG_INFINITY));
    assert!(matches!(value_of(".nan"), Value::Float(f) if f.is_nan()));
    assert_eq!(
        value_of("2024-05-01"),
        Value::Time(Time::parse_rfc3339("2024-05-01T00:00:00Z").unwrap())
    );
    assert_eq!(
        value_of("2001-12-14 21:59:43.10 -5"),
        Value::Str("2001-12-14 21:59:43.10 -5".into())
    );
    assert_eq!(value_of("'123'"), Value::Str("123".into()));
    assert_eq!(value_of("!!str 123"), Value::Str("123".into()));
    assert_eq!(value_of("!custom 123"), Value::Str("123".into()));
    assert_eq!(value_of("!!binary aGVsbG8="), Value::Str("hello".into()));
    assert_eq!(value_of("!!binary /w=="), Value::Bytes(vec![0xFF]));
    assert_eq!(value_of("!!float 1"), Value::Float(1.0));
    assert_eq!(
        value_of("[1, a]"),
        Value::Seq(vec![Value::Int(1), Value::Str("a".into())])
    );
    assert_eq!(
        value_of("{a: 1}"),
        Value::Map(Branch(vec![Item::Entry("a".into(), Value::Int(1))]))
    );
}

fn err_text(s: &str) -> String {
    load_str(s).unwrap_err().to_string()
}

#[test]
fn load_errors() {
    assert!(matches!(load_str(""), Err(StoreError::Empty)));
    assert!(matches!(load_str("# only a comment\n"), Err(StoreError::Shape(m)) if m == "EOF"));
    // An encrypted file without a document has no metadata (sops 3.11).
    for text in ["", "\n\n", " \n", "# only a comment\n"] {
        assert!(
            matches!(
                YamlStore::default().load_encrypted(text.as_bytes()),
                Err(StoreError::MetadataNotFound)
            ),
            "{text:?}"
        );
    }
    assert_eq!(
        err_text("a: 18446744073709551615\n"),
        "Cannot walk value, unknown type: uint64"
    );
    assert_eq!(
        err_text("a: 1\nb: 2\na: 3\n"),
        "yaml: unmarshal errors:\n  line 3: mapping key \"a\" already defined at line 1"
    );
    assert!(err_text("x:\n  a: 1\n  a: 2\n").contains("mapping key \"a\" already defined"));
    // sops only checks the first document for duplicates.
    assert_eq!(load_str("a: 1\n---\nb: 1\nb: 2\n").unwrap()[1].0.len(), 2);
    for s in [
        "1: a\n",
        "true: a\n",
        "null: a\n",
        "x:\n  2024-01-01: a\n",
        "[a]: b\n",
        "? {a: 1}\n: b\n",
    ] {
        assert_eq!(err_text(s), "Tree contains a non-string key", "{s}");
    }
    assert_eq!(
        err_text("- a\n- b\n"),
        "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!seq into map[string]interface {}"
    );
    let scalar = err_text("secret-value\n");
    assert!(
        scalar.contains("cannot unmarshal !!str into map"),
        "{scalar}"
    );
    assert!(!scalar.contains("secret-value"));
    assert_eq!(
        err_text("%YAML 1.2\n---\na: 1\n"),
        "yaml: line 2: found incompatible YAML document"
    );
    assert!(load_str("%YAML 1.1\n---\na: 1\n").is_ok());
    match load_str("a: 1\nb: [1, 2\nc: 3\n") {
        Err(StoreError::Syntax { line, .. }) => assert!((2..=4).contains(&line), "{line}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        load_str("a: *nope\n"),
        Err(StoreError::Syntax { line: 1, .. })
    ));
    assert!(load_str("a: !!binary '!!'\n").is_err());
    // Messages name positions, never values.
    for bad in ["a: 'secret\n", "a: [secret\n", "a: \"sec\\qret\"\n"] {
        assert!(!err_text(bad).contains("secret"), "{bad}");
    }
}

#[test]
fn alias_bomb_refused() {
    let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        s.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let start = std::time::Instant::now();
    assert_eq!(err_text(&s), "yaml: document contains excessive aliasing");
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
}

fn limited(max_depth: usize, max_alias_nodes: usize, alias_nodes_per_node: usize) -> YamlStore {
    YamlStore {
        limits: StoreLimits {
            max_depth,
            max_alias_nodes,
            alias_nodes_per_node,
            ..StoreLimits::default()
        },
        ..YamlStore::default()
    }
}

/// Nested block mappings `depth` deep (the root is the first).
fn nested_maps(depth: usize) -> String {
    let mut s = String::new();
    for i in 0..depth - 1 {
        s.push_str(&" ".repeat(i));
        s.push_str("a:\n");
    }
    s.push_str(&" ".repeat(depth - 1));
    s.push_str("b: x\n");
    s
}

/// A root mapping holding `depth - 1` nested flow sequences.
fn nested_flow(depth: usize) -> String {
    format!("a: {}x{}\n", "[".repeat(depth - 1), "]".repeat(depth - 1))
}

/// A root mapping holding `depth - 1` nested block sequences on one line.
fn nested_dashes(depth: usize) -> String {
    format!("a:\n{}x\n", "- ".repeat(depth - 1))
}

#[track_caller]
fn assert_too_deep(r: Result<Vec<Branch>, StoreError>, max: usize, line: usize) {
    match r {
        Err(StoreError::TooDeep {
            format: "yaml",
            line: l,
            max_depth,
        }) => {
            assert_eq!((l, max_depth), (line, max));
        }
        other => panic!("expected TooDeep, got {other:?}"),
    }
}

#[test]
fn depth_limit_at_and_above_the_default() {
    let max = crate::stores::DEFAULT_MAX_DEPTH;
    let st = store();
    for (shape, make) in [
        ("maps", nested_maps as fn(usize) -> String),
        ("flow", nested_flow),
        ("dashes", nested_dashes),
    ] {
        let docs = st
            .load(make(max).as_bytes())
            .unwrap_or_else(|e| panic!("{shape}: {e}"));
        assert_eq!(docs.len(), 1);
        let line = match shape {
            "maps" => max + 1,
            "flow" => 1,
            _ => 2,
        };
        assert_too_deep(st.load(make(max + 1).as_bytes()), max, line);
    }
    assert_eq!(
        st.load(nested_flow(max + 1).as_bytes())
            .unwrap_err()
            .to_string(),
        format!("yaml: line 1: exceeded max depth of {max}")
    );
    // Far beyond the parser's own limits: still the typed error, quickly.
    assert_too_deep(st.load(nested_flow(100_000).as_bytes()), max, 1);
    assert_too_deep(st.load(nested_dashes(100_000).as_bytes()), max, 2);
}

#[test]
fn depth_limit_custom() {
    let st = limited(5, 100_000, 10);
    for make in [
        nested_maps as fn(usize) -> String,
        nested_flow,
        nested_dashes,
    ] {
        st.load(make(5).as_bytes()).unwrap();
        assert!(matches!(
            st.load(make(6).as_bytes()),
            Err(StoreError::TooDeep { max_depth: 5, .. })
        ));
    }
    // Flow mappings in a block sequence count like everything else.
    st.load(b"a:\n- {b: [{c: 1}]}\n").unwrap();
    assert!(st.load(b"a:\n- {b: [{c: [1]}]}\n").is_err());
    // A later document is checked as the first one.
    assert!(
        st.load(format!("a: 1\n---\n{}", nested_flow(6)).as_bytes())
            .is_err()
    );
}

#[test]
fn depth_limit_counts_alias_copies_where_they_land() {
    let st = limited(4, 100_000, 10);
    // `[[x]]` is 2 deep; pasted into the root mapping it reaches 3, inside
    // a 2-deep sequence 4, inside a 3-deep one 5.
    st.load(b"a: &x [[x]]\nb: *x\nc: [*x]\n").unwrap();
    let err = st.load(b"a: &x [[x]]\nb:\n  - [*x]\n").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::TooDeep {
                line: 3,
                max_depth: 4,
                ..
            }
        ),
        "{err:?}"
    );
    // Aliases of aliases cannot outgrow the limit either.
    let mut s = String::from("a0: &a0 [x]\n");
    for i in 1..10 {
        s.push_str(&format!("a{i}: &a{i} [*a{}]\n", i - 1));
    }
    assert!(matches!(
        limited(8, 100_000, 10).load(s.as_bytes()),
        Err(StoreError::TooDeep { max_depth: 8, .. })
    ));
    limited(11, 100_000, 10).load(s.as_bytes()).unwrap();
}

#[test]
fn alias_budget_custom() {
    // 10 aliases of a 11-node sequence: 110 nodes.
    let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: [");
    s.push_str(&["*a"; 10].join(", "));
    s.push_str("]\n");
    store().load(s.as_bytes()).unwrap();
    limited(1_000, 110, 0).load(s.as_bytes()).unwrap();
    let err = limited(1_000, 109, 0).load(s.as_bytes()).unwrap_err();
    assert!(
        matches!(err, StoreError::ExcessiveAliasing { budget: 109 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "yaml: document contains excessive aliasing"
    );
}

#[test]
fn alias_bomb_refused_under_a_stricter_budget() {
    // 1 000 x 11 nodes: within the default budget, beyond a cap of 10 000.
    let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: [");
    s.push_str(&vec!["*a"; 1_000].join(", "));
    s.push_str("]\n");
    store().load(s.as_bytes()).unwrap();
    assert!(matches!(
        limited(1_000, 10_000, 0).load(s.as_bytes()),
        Err(StoreError::ExcessiveAliasing { budget: 10_000 })
    ));
}

/// Byte budget with the given fixed and proportional parts (node budget
/// and depth at their defaults).
fn byte_limited(max_alias_bytes: usize, alias_bytes_per_input_byte: usize) -> YamlStore {
    YamlStore {
        limits: StoreLimits {
            max_alias_bytes,
            alias_bytes_per_input_byte,
            ..StoreLimits::default()
        },
        ..YamlStore::default()
    }
}

#[test]
fn alias_byte_budget_counts_strings_keys_and_comments() {
    // Each alias of `a` adds 10 (keys) + 20 (values) + 9 (comment) bytes.
    let s = "a: &a\n  # comment\n  k1234: v1234\n  k6789: v6789012345\nb: [*a, *a]\n";
    let size = 10 + 5 + 11 + " comment".len();
    assert_eq!(size, 34);
    byte_limited(2 * size, 0).load(s.as_bytes()).unwrap();
    let err = byte_limited(2 * size - 1, 0)
        .load(s.as_bytes())
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AliasExpansionTooLarge { budget } if budget == 2 * size - 1),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("yaml: aliases expand to more than {} bytes", 2 * size - 1)
    );
    // The proportional part: the 68 bytes are more than the 66 of the
    // input, less than twice that.
    assert_eq!(s.len(), 66);
    assert!(byte_limited(0, 1).load(s.as_bytes()).is_err());
    byte_limited(0, 2).load(s.as_bytes()).unwrap();
    // Nested aliases count what they expand to.
    let nested = "a: &a xxxxxxxxxx\nb: &b [*a, *a, *a]\nc: [*b, *b]\n";
    byte_limited(90, 0).load(nested.as_bytes()).unwrap();
    assert!(matches!(
        byte_limited(89, 0).load(nested.as_bytes()),
        Err(StoreError::AliasExpansionTooLarge { budget: 89 })
    ));
}

/// issue 10: 400 aliases of a 1 MB scalar (a 1 MB file) stayed within the
/// node budget and expanded to 400 MB; the default byte budget refuses it.
#[test]
fn r10_alias_bomb_of_a_large_scalar_refused_by_default() {
    let s = alias_bomb(1_000_000, 400);
    let err = store().load(s.as_bytes()).unwrap_err();
    let budget = crate::stores::DEFAULT_MAX_ALIAS_BYTES
        + crate::stores::DEFAULT_ALIAS_BYTES_PER_INPUT_BYTE * s.len();
    assert!(
        matches!(err, StoreError::AliasExpansionTooLarge { budget: b } if b == budget),
        "{err:?}"
    );
    // The same aliases of a small scalar are fine.
    store().load(alias_bomb(1_000, 400).as_bytes()).unwrap();
}

/// `a: &x <scalar_len bytes>` and `aliases` keys referring to it.
pub(crate) fn alias_bomb(scalar_len: usize, aliases: usize) -> String {
    let mut s = format!("a: &x {}\n", "x".repeat(scalar_len));
    for i in 0..aliases {
        s.push_str(&format!("b{i}: *x\n"));
    }
    s
}

#[test]
fn anchors_and_merge_keys() {
    let doc = only_doc("base: &b {one: 1}\nref: *b\nm:\n  <<: *b\n  two: 2\ns: &s hi\nt: *s\n");
    let base = doc.get("base").unwrap();
    assert_eq!(doc.get("ref"), Some(base));
    let Some(Value::Map(m)) = doc.get("m") else {
        panic!()
    };
    assert_eq!(m.get("<<"), Some(base));
    assert_eq!(doc.get("t"), Some(&Value::Str("hi".into())));
    assert_eq!(
        roundtrip("m:\n  <<: {a: 1}\n"),
        "m:\n    !!merge <<:\n        a: 1\n"
    );
}

#[test]
fn comment_after_indentless_sequence_goes_to_the_next_key() {
    let doc = only_doc("key:\n- a\n# c\nnext: 1\n");
    assert_eq!(
        doc,
        Branch(vec![
            entry("key", Value::Seq(vec![s("a")])),
            comment(" c"),
            entry("next", Value::Int(1)),
        ])
    );
}

#[test]
fn documents() {
    let docs = load_str("a: 1\n---\n").unwrap();
    assert_eq!(
        docs,
        vec![
            Branch(vec![Item::Entry("a".into(), Value::Int(1))]),
            Branch::new()
        ]
    );
    assert_eq!(
        roundtrip("a: 1\n---\n---\nb: 2\n"),
        "a: 1\n---\n{}\n---\nb: 2\n"
    );
    assert_eq!(roundtrip("---\n~\n"), "{}\n");
}

fn comment(s: &str) -> Item {
    Item::Comment(s.into())
}

fn line_comment(s: &str) -> Item {
    Item::Comment(Comment::inline(s))
}

fn entry(k: &str, v: Value) -> Item {
    Item::Entry(k.into(), v)
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

#[test]
fn comment_placement() {
    let doc = only_doc(
        "# head\n\n# head2\nname: demo   # line\nlist: # on key\n  # first\n  - a # on a\n  # between\n  - b\n  # last\nm:\n  x: 1\n  # inside m\n# outside m\nz: | # on header\n  t\n# foot\n",
    );
    let expected = Branch(vec![
        comment(" head"),
        comment(" head2"),
        line_comment(" line"),
        entry("name", s("demo")),
        comment(" on key"),
        entry(
            "list",
            Value::Seq(vec![
                Value::Comment(" first".into()),
                Value::Comment(Comment::inline(" on a")),
                s("a"),
                Value::Comment(" between".into()),
                s("b"),
                Value::Comment(" last".into()),
            ]),
        ),
        entry(
            "m",
            Value::Map(Branch(vec![
                entry("x", Value::Int(1)),
                comment(" inside m"),
            ])),
        ),
        comment(" outside m"),
        line_comment(" on header"),
        entry("z", s("t\n")),
        comment(" foot"),
    ]);
    assert_eq!(doc, expected);
}

#[test]
fn comments_emitted() {
    let doc = Branch(vec![
        comment(" a"),
        entry(
            "l",
            Value::Seq(vec![
                Value::Map(Branch(vec![
                    comment(" hoisted"),
                    entry("k", s("v")),
                    comment(" in"),
                ])),
                Value::Comment(" c".into()),
            ]),
        ),
        entry("e", Value::Map(Branch(vec![comment(" only")]))),
        comment(" end"),
    ]);
    let out = store().emit_plain(&[doc]).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "# a\nl:\n    # hoisted\n    - k: v\n      # in\n    # c\ne:\n    # only\n    {}\n# end\n"
    );
}

fn emit_one(v: Value) -> String {
    String::from_utf8(store().emit_plain(&[Branch(vec![entry("k", v)])]).unwrap()).unwrap()
}

#[test]
fn string_styles() {
    for (input, out) in [
        ("plain", "plain"),
        ("yes", "\"yes\""),
        ("N", "\"N\""),
        ("1:20", "\"1:20\""),
        ("0x1F", "\"0x1F\""),
        ("1e400", "1e400"),
        ("<<", "\"<<\""),
        ("", "\"\""),
        ("-", "'-'"),
        ("a:", "'a:'"),
        ("a:b", "a:b"),
        ("- x", "'- x'"),
        ("---x", "'---x'"),
        ("...", "'...'"),
        ("it's", "it's"),
        ("'q'", "'''q'''"),
        ("a\u{85}b", "\"a\\Nb\""),
        ("\u{7f}", "\"\\x7F\""),
        ("\u{1F600}", "\"\\U0001F600\""),
        ("\u{FEFF}x y", "\"\\uFEFF\\x78\\x20\\x79\""),
        ("é\u{A0}", "é\u{A0}"),
        ("a\u{2029}b", "'a\u{2029}    b'"),
    ] {
        assert_eq!(emit_one(s(input)), format!("k: {out}\n"), "{input:?}");
    }
    assert_eq!(emit_one(s("a\nb")), "k: |-\n    a\n    b\n");
    assert_eq!(emit_one(s(" a\n")), "k: |4\n     a\n");
    assert_eq!(emit_one(s("a\n\n")), "k: |+\n    a\n\n");
    assert_eq!(emit_one(s("a \nb")), "k: \"a \\nb\"\n");
    assert_eq!(emit_one(s("a\n\tb")), "k: |-\n    a\n    \tb\n");
    assert_eq!(
        emit_one(Value::Bytes(vec![0xFF, 0xFE])),
        "k: !!binary //4=\n"
    );
    let long = Value::Bytes(vec![0xFF; 60]);
    let text = emit_one(long);
    assert!(text.starts_with("k: !!binary |\n    ////"), "{text}");
    assert_eq!(text.lines().nth(1).unwrap().len(), 4 + 70);
}

#[test]
fn keys() {
    let doc = Branch(vec![
        entry("y", Value::Int(1)),
        entry("", s("e")),
        entry("a\nb", s("v")),
        entry(&"k".repeat(129), s("v")),
        entry("<<", Value::Map(Branch(vec![entry("a", Value::Int(1))]))),
    ]);
    let out = String::from_utf8(store().emit_plain(&[doc]).unwrap()).unwrap();
    let long = "k".repeat(129);
    assert_eq!(
        out,
        format!(
            "\"y\": 1\n\"\": e\n? |-\n    a\n    b\n: v\n? {long}\n: v\n!!merge <<:\n    a: 1\n"
        )
    );
    assert_eq!(load_str(&out).unwrap()[0].0.len(), 5);
}

#[test]
fn layout() {
    let doc =
        only_doc("a:\n  b: [x, [w, z], {p: 1, q: {r: 2}}, {}, []]\n  c: {}\nl:\n- - 1\n  - - 2\n");
    let out = String::from_utf8(store().emit_plain(std::slice::from_ref(&doc)).unwrap()).unwrap();
    assert_eq!(
        out,
        "a:\n    b:\n        - x\n        - - w\n          - z\n        - p: 1\n          q:\n            r: 2\n        - {}\n        - []\n    c: {}\nl:\n    - - 1\n      - - 2\n"
    );
    let two = YamlStore {
        indent: 2,
        ..YamlStore::default()
    };
    assert_eq!(
        String::from_utf8(two.emit_plain(&[doc]).unwrap()).unwrap(),
        "a:\n  b:\n    - x\n    - - w\n      - z\n    - p: 1\n      q:\n        r: 2\n    - {}\n    - []\n  c: {}\nl:\n  - - 1\n    - - 2\n"
    );
}

#[test]
fn scalars_emitted() {
    assert_eq!(emit_one(Value::Null), "k: null\n");
    assert_eq!(emit_one(Value::Int(-42)), "k: -42\n");
    assert_eq!(emit_one(Value::Int(i64::MIN)), "k: -9223372036854775808\n");
    assert_eq!(emit_one(Value::Float(1e6)), "k: 1e+06\n");
    assert_eq!(emit_one(Value::Float(f64::NAN)), "k: .nan\n");
    assert_eq!(emit_one(Value::Bool(false)), "k: false\n");
    assert_eq!(
        emit_one(Value::Time(
            Time::parse_rfc3339("2024-05-01T00:00:00Z").unwrap()
        )),
        "k: 2024-05-01T00:00:00Z\n"
    );
    let st = store();
    assert_eq!(st.emit_value(&Value::Int(1)).unwrap(), b"1\n");
    assert_eq!(
        st.emit_value(&Value::Seq(vec![Value::Int(1), s("two")]))
            .unwrap(),
        b"- 1\n- two\n"
    );
    assert_eq!(st.emit_value(&s("a\nb")).unwrap(), b"|-\n    a\n    b\n");
    assert_eq!(st.emit_value(&Value::Map(Branch::new())).unwrap(), b"{}\n");
    assert_eq!(st.emit_plain(&[Branch::new()]).unwrap(), b"{}\n");
}

#[test]
fn metadata_is_last_key_of_every_document() {
    let meta = Branch(vec![entry("lastmodified", s("2026-11-28T07:08:12Z"))]);
    let docs = [Branch(vec![entry("a", Value::Int(1))]), Branch::new()];
    let out = store().emit_docs(&docs, Some(&meta)).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "a: 1\nsops:\n    lastmodified: \"2026-11-28T07:08:12Z\"\n---\nsops:\n    lastmodified: \"2026-11-28T07:08:12Z\"\n"
    );
}

pub(in crate::stores::yaml) mod roundtrip_props {
    use proptest::prelude::*;

    use super::*;

    /// Strings mixing the characters that change go-yaml's quoting.
    /// U+2028/U+2029 are left out: go-yaml (YAML 1.1) folds them as line
    /// breaks, a YAML 1.2 reader does not, so sops' own output of them is
    /// not stable either.
    fn tricky_string() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "a",
            "b",
            "Z",
            "0",
            "1",
            " ",
            "  ",
            "\n",
            "\t",
            ":",
            ": ",
            "#",
            " #",
            "-",
            "- ",
            "?",
            "'",
            "\"",
            "\\",
            "[",
            "]",
            "{",
            "}",
            ",",
            "&",
            "*",
            "!",
            "|",
            ">",
            "%",
            "@",
            "`",
            "---",
            "...",
            "yes",
            "no",
            "on",
            "true",
            "null",
            "~",
            "0x1F",
            "1e3",
            "1.5",
            "<<",
            "2024-05-01",
            "1:20",
            "é",
            "日本",
            "\u{A0}",
            "\u{FEFF}",
            "\u{1F600}",
            "\u{85}",
            "\r",
            "\u{7}",
            "\u{0}",
            "\u{7F}",
        ]);
        prop::collection::vec(pieces, 0..6).prop_map(|p| p.concat())
    }

    fn comment_text() -> impl Strategy<Value = String> {
        "[ a-z#:'\"-]{0,8}"
    }

    /// Floats exclude -0.0: go-yaml writes `-0`, which reads back as the
    /// integer 0 (a lossy canonicalisation sops has too).
    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            prop_oneof![
                any::<f64>().prop_filter("not -0", |f| !(*f == 0.0 && f.is_sign_negative())),
                Just(1e6),
                Just(0.5),
                Just(f64::INFINITY)
            ]
            .prop_map(Value::Float),
            tricky_string().prop_map(Value::Str),
            tricky_string().prop_map(Value::Str),
        ]
    }

    fn tree() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(
                    prop_oneof![
                        4 => inner.clone(),
                        1 => comment_text().prop_map(|c| Value::Comment(c.into())),
                    ],
                    0..5
                )
                .prop_map(Value::Seq),
                prop::collection::vec(
                    prop_oneof![
                        4 => (tricky_string(), inner.clone()).prop_map(|(k, v)| (Some(k), v)),
                        1 => comment_text().prop_map(|c| (None, Value::Comment(c.into()))),
                    ],
                    0..5
                )
                .prop_map(|items| Value::Map(branch(items))),
            ]
        })
    }

    /// Builds a mapping with unique keys (duplicates are an error on load).
    fn branch(items: Vec<(Option<String>, Value)>) -> Branch {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (k, v) in items {
            match (k, v) {
                (None, Value::Comment(c)) => out.push(Item::Comment(c)),
                (Some(k), v) if seen.insert(k.clone()) => out.push(Item::Entry(k, v)),
                _ => {}
            }
        }
        Branch(out)
    }

    pub(in crate::stores::yaml) fn document() -> impl Strategy<Value = Branch> {
        prop::collection::vec(
            prop_oneof![
                4 => (tricky_string(), tree()).prop_map(|(k, v)| (Some(k), v)),
                1 => comment_text().prop_map(|c| (None, Value::Comment(c.into()))),
            ],
            0..6,
        )
        .prop_map(branch)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// emit -> load -> emit gives the same text.
        #[test]
        fn emit_load_emit_is_stable(docs in prop::collection::vec(document(), 1..3)) {
            let st = store();
            let first = st.emit_plain(&docs).unwrap();
            let loaded = st.load(&first).map_err(|e| {
                TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&first)))
            })?;
            let second = st.emit_plain(&loaded).unwrap();
            prop_assert_eq!(
                String::from_utf8_lossy(&second),
                String::from_utf8_lossy(&first)
            );
        }
    }
}

/// issue 10: sops 3.11 (go-yaml) reads UTF-16 YAML with a byte order mark.
#[test]
fn r10_utf16_with_bom_is_read() {
    let text = "a: b\nc: é\n";
    let utf8 = only_doc(text);
    let le: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    for input in [le, be] {
        assert_eq!(store().load(&input).unwrap(), vec![utf8.clone()]);
    }
    // Without a mark (sops: "control characters are not allowed") or cut
    // in the middle of a code unit, it is refused.
    let no_bom: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    assert!(store().load(&no_bom).is_err());
    assert!(store().load(&[0xFF, 0xFE, b'a']).is_err());
    assert!(store().load(&[0xFF, 0xFE, 0x00, 0xD8]).is_err());
}

// --- m10: tests written against surviving mutants (issue 10), each
// expectation checked against sops 3.11's output of the same input.

/// Line breaks other than `\n` next to spaces rule out single quotes
/// (go-yaml's `break_space` / `space_break`); a trailing space rules out
/// plain and literal styles.
#[test]
fn m10_breaks_and_spaces_pick_the_quoting() {
    for (input, out) in [
        ("a\u{2028} b", "\"a\\L b\""),
        ("a \u{2028}b", "\"a \\Lb\""),
        ("\u{2028}x", "'\u{2028}    x'"),
        ("x\u{2028}", "'x\u{2028}'"),
        ("a ", "'a '"),
    ] {
        assert_eq!(emit_one(s(input)), format!("k: {out}\n"), "{input:?}");
    }
    assert_eq!(emit_one(s("a\nb ")), "k: \"a\\nb \"\n");
    assert_eq!(emit_one(s("a\n b")), "k: |-\n    a\n     b\n");
    assert_eq!(emit_one(s("a \nb")), "k: \"a \\nb\"\n");
}

/// go-yaml writes a key of up to 128 bytes as a simple key, a longer one
/// as `? key`.
#[test]
fn m10_simple_key_length_limit() {
    let (k128, k129) = ("k".repeat(128), "j".repeat(129));
    let doc = Branch(vec![entry(&k128, s("a")), entry(&k129, s("b"))]);
    let out = String::from_utf8(store().emit_plain(&[doc]).unwrap()).unwrap();
    assert_eq!(out, format!("{k128}: a\n? {k129}\n: b\n"));
}

/// The comments opening a container that is the first element of a
/// sequence item are written above the outer dash (sops 3.11).
#[test]
fn m10_comments_of_a_nested_first_item_go_above_the_dash() {
    assert_eq!(
        roundtrip("l:\n    - - # c2\n        k: v\n"),
        "l:\n    # c2\n    - - k: v\n"
    );
}

/// `--extract` of an empty sequence prints `[]` (sops 3.11).
#[test]
fn m10_extract_empty_sequence() {
    assert_eq!(store().emit_value(&Value::Seq(vec![])).unwrap(), b"[]\n");
}

/// A sequence holding only comments (what sops makes of `key:` / `# c` /
/// `[]`) is written `key: []` with the comments after it, at the key's
/// column, as sops 3.11 writes it.
#[test]
fn m10_comment_only_sequence_under_a_key() {
    let doc = Branch(vec![entry(
        "a",
        Value::Map(Branch(vec![
            entry(
                "n",
                Value::Seq(vec![
                    Value::Comment(" only".into()),
                    Value::Comment(" two".into()),
                ]),
            ),
            entry("z", Value::Int(1)),
        ])),
    )]);
    let out = String::from_utf8(store().emit_plain(&[doc]).unwrap()).unwrap();
    assert_eq!(out, "a:\n    \"n\": []\n    # only\n    # two\n    z: 1\n");
}

/// In single quotes go-yaml indents the line after a U+2028/U+2029 break
/// once, before its first character.
#[test]
fn m10_single_quoted_line_separator() {
    assert_eq!(emit_one(s("x\u{2028}yz")), "k: 'x\u{2028}    yz'\n");
    assert_eq!(
        emit_one(s("\u{2028}\u{2029}x")),
        "k: '\u{2028}\u{2029}    x'\n"
    );
}

/// Every short escape go-yaml uses in double quotes, and the hex forms
/// (sops 3.11 output of the same strings).
#[test]
fn m10_double_quoted_escapes() {
    for (input, out) in [
        (
            "\0\u{7}\u{8}\t\n\u{B}\u{C}\r\u{1B}\"\\ x",
            "\"\\0\\a\\b\\t\\n\\v\\f\\r\\e\\\"\\\\ x\"",
        ),
        (
            "\u{1}\u{1F}\u{7F}\u{80}\u{9F}\u{85}",
            "\"\\x01\\x1F\\x7F\\x80\\x9F\\N\"",
        ),
        ("\u{2028} \u{2029}", "\"\\L \\P\""),
        (
            "\u{FEFF}a\u{A0}\u{2028}\u{1F600}\t",
            "\"\\uFEFF\\x61\\_\\L\\U0001F600\\t\"",
        ),
        ("\u{1F600} \u{10FFFF}", "\"\\U0001F600 \\U0010FFFF\""),
        (
            "\u{E000}\u{FFFD}\u{FFFE}\u{D7FF}",
            "\"\u{E000}\u{FFFD}\\uFFFE\u{D7FF}\"",
        ),
    ] {
        assert_eq!(emit_one(s(input)), format!("k: {out}\n"), "{input:?}");
    }
}

/// A duplicate key names the line of its own first definition, also next
/// to other keys (sops 3.11 messages).
#[test]
fn m10_duplicate_key_names_its_first_line() {
    assert_eq!(
        err_text("a: 1\nd: 2\nd: 3\n"),
        "yaml: unmarshal errors:\n  line 3: mapping key \"d\" already defined at line 2"
    );
    assert_eq!(
        err_text("x: 0\na: 1\nq: 2\nz: 3\nq: 4\n"),
        "yaml: unmarshal errors:\n  line 5: mapping key \"q\" already defined at line 3"
    );
}

/// Core-schema tags that agree with the text keep its type (sops 3.11:
/// `!!int 5` is 5, `!!null ~` null).
#[test]
fn m10_matching_core_tags_resolve() {
    assert_eq!(value_of("!!int 5"), Value::Int(5));
    assert_eq!(value_of("!!bool true"), Value::Bool(true));
    assert_eq!(value_of("!!null ~"), Value::Null);
    assert_eq!(value_of("!!float 1.5"), Value::Float(1.5));
    assert_eq!(
        value_of("!!timestamp 2024-05-01"),
        Value::Time(Time::parse_rfc3339("2024-05-01T00:00:00Z").unwrap())
    );
    assert!(load_str("i: !!int x\n").is_err());
}

/// The alias budgets count what a mapping expands to: each key is a node
/// and nesting inside mappings adds depth.
#[test]
fn m10_alias_size_of_mappings() {
    // `{k1: x, k2: x}` is 5 nodes: the mapping, two keys, two values.
    let s = "a: &a {k1: x, k2: x}\nb: [*a, *a]\n";
    limited(1_000, 10, 0).load(s.as_bytes()).unwrap();
    assert!(matches!(
        limited(1_000, 9, 0).load(s.as_bytes()),
        Err(StoreError::ExcessiveAliasing { budget: 9 })
    ));
    // `{p: {q: 1}}` is 2 deep: pasted under two more mappings it needs 5.
    let st = limited(4, 100_000, 10);
    st.load(b"a: &x {p: {q: 1}}\nb: *x\nc:\n  d: *x\n").unwrap();
    assert!(matches!(
        st.load(b"a: &x {p: {q: 1}}\nc:\n  d:\n    e: *x\n"),
        Err(StoreError::TooDeep { max_depth: 4, .. })
    ));
    let st = limited(3, 100_000, 10);
    st.load(b"a: &x {p: [1]}\nb: *x\n").unwrap();
    assert!(st.load(b"a: &x {p: [1]}\nc:\n  d: *x\n").is_err());
}

/// Invalid UTF-8 from `!!binary` counts its bytes towards the alias byte
/// budget.
#[test]
fn m10_alias_byte_budget_counts_binary() {
    // 30 bytes of 0xFF in base64.
    let b64 = "/".repeat(40);
    let s = format!("a: &a !!binary {b64}\nb: [*a, *a]\n");
    byte_limited(60, 0).load(s.as_bytes()).unwrap();
    assert!(matches!(
        byte_limited(59, 0).load(s.as_bytes()),
        Err(StoreError::AliasExpansionTooLarge { budget: 59 })
    ));
}

/// `emit` allocates its output once: the size estimate covers what is
/// written (the buffer never grows) and, for these documents, reserves
/// less than three times that.
#[test]
fn m10_emit_allocates_once() {
    let mut inputs: Vec<(Vec<Branch>, Option<Branch>)> = Vec::new();
    for case in YAML_CASES {
        let enc = read(&format!("{case}.enc.yaml"));
        let (docs, meta) = store().load_encrypted(&enc).unwrap();
        let meta = crate::stores::metadata_serde::to_branch(
            &meta,
            crate::stores::metadata_serde::EmptyListStyle::EmptySeq,
        );
        inputs.push((docs, Some(meta)));
        let plain = store()
            .load(&read(&format!("{case}.decrypted.yaml")))
            .unwrap();
        inputs.push((plain, None));
    }
    let deep = only_doc(&nested_maps(40));
    let seqs = Branch(vec![entry(
        "l",
        Value::Seq(
            (0..200)
                .map(|i| Value::Map(Branch(vec![entry("k", s(&format!("v{i}")))])))
                .collect(),
        ),
    )]);
    let bytes = Branch(vec![entry("b", Value::Bytes(vec![0xFF; 3_000]))]);
    let strings = Branch(vec![entry("s", s(&"x".repeat(3_000)))]);
    let comments = Branch(vec![comment(&"c".repeat(3_000)), entry("a", Value::Null)]);
    let map = Branch(
        (0..200)
            .map(|i| {
                entry(
                    &format!("k{i}"),
                    Value::Map(Branch(vec![entry("v", Value::Int(i))])),
                )
            })
            .collect(),
    );
    for doc in [deep, seqs, bytes, strings, comments, map] {
        inputs.push((vec![doc], None));
    }
    for (i, (docs, meta)) in inputs.iter().enumerate() {
        let out = store().emit_docs(docs, meta.as_ref()).unwrap();
        let cap = capacity(docs, meta.as_ref());
        assert_eq!(out.capacity(), cap, "input {i}: the buffer grew");
        assert!(cap < 3 * out.len(), "input {i}: {cap} for {}", out.len());
    }
}

/// A comment after a dash belongs to that item, not to the previous one
/// (sops 3.11 writes it above the second dash).
#[test]
fn m10_comment_after_a_dash_stays_with_its_item() {
    assert_eq!(
        roundtrip("l:\n- a: 1\n- # c\n  b: 2\n"),
        "l:\n    - a: 1\n    # c\n    - b: 2\n"
    );
}

// Tests named m10_* below were added for issue 10 so that each mutant
// `cargo mutants` makes of load.rs fails one of sops-core's own tests.

/// sops 3.11 names the tag (and the value, which we leave out).
#[test]
fn m10_a_top_level_scalar_names_its_tag() {
    for (text, tag) in [
        ("true\n", "!!bool"),
        ("12\n", "!!int"),
        ("1.5\n", "!!float"),
        ("2001-12-14\n", "!!timestamp"),
        // Binary data that is UTF-8 loads as a string, which names `!!str`
        // here where sops 3.11 names `!!binary`.
        ("!!binary /w==\n", "!!binary"),
    ] {
        assert_eq!(
            err_text(text),
            format!(
                "yaml: unmarshal errors:\n  line 1: cannot unmarshal {tag} into map[string]interface {{}}"
            ),
            "{text:?}"
        );
    }
}

/// Checked with sops 3.11: `a: &k x\n*k : 2\n` decrypts to `a: x\nx: 2\n`.
#[test]
fn m10_an_alias_of_a_scalar_is_a_key() {
    assert_eq!(
        only_doc("a: &k x\n*k : 2\n"),
        Branch(vec![entry("a", s("x")), entry("x", Value::Int(2))])
    );
    assert_eq!(
        err_text("a: &k [x]\n? *k\n: 2\n"),
        "Tree contains a non-string key"
    );
}

/// sops 3.11 names no line; ours names the line of the first bad byte.
#[test]
fn m10_invalid_utf8_names_its_line() {
    let err = store().load(b"a: 1\nb: \xff\n").unwrap_err();
    assert!(
        matches!(&err, StoreError::Syntax { line: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("invalid leading UTF-8 octet"));
}

/// The node budget counts every node written in the file, collections and
/// scalars: 7 before the aliases here (root, `a`, the sequence, 2 items,
/// `b`, its sequence), and the 3 aliases copy 3 nodes each.
#[test]
fn m10_alias_budget_counts_collections_and_scalars() {
    let text = "a: &a [x, x]\nb: [*a, *a, *a]\n";
    limited(1_000, 2, 1).load(text.as_bytes()).unwrap();
    assert!(matches!(
        limited(1_000, 1, 1).load(text.as_bytes()),
        Err(StoreError::ExcessiveAliasing { budget: 8 })
    ));
}

/// Where comments that wait for a collection's end go, each checked with
/// sops 3.11 (encrypt, then decrypt).
#[test]
fn m10_comments_at_the_end_of_a_collection() {
    for (input, expected) in [
        // Deeper than the mapping's entries: still the mapping's.
        (
            "m:\n  x: 1\n      # deep\nz: 1\n",
            "m:\n    x: 1\n    # deep\nz: 1\n",
        ),
        // After an empty item's dash: the comment and those after it go on.
        (
            "s:\n  - a\n  - # c\n    # d\nz: 1\n",
            "s:\n    - a\n    - null\n# c\n# d\nz: 1\n",
        ),
        (
            "s:\n  - |\n    t\n  - # c\n    x\n",
            "s:\n    - |\n      t\n    # c\n    - x\n",
        ),
        ("s:\n  - # c\n  - b\n", "s:\n    - null\n    # c\n    - b\n"),
        // Known difference: at the end of the document sops 3.11 leaves
        // such a comment in the indentless sequence (`key:\n- a\n# c\n`
        // gives `key:\n    - a\n    # c\n`); ours moves it after it.
        ("key:\n- a\n# c\nnext: 1\n", "key:\n    - a\n# c\nnext: 1\n"),
        (
            "m:\n  k:\n  - a\n  # c\n  n: 1\n",
            "m:\n    k:\n        - a\n    # c\n    \"n\": 1\n",
        ),
    ] {
        assert_eq!(roundtrip(input), expected, "{input:?}");
    }
}

/// sops 3.13 (#2131) writes a comment that ended its value's line back
/// there; these are sops' own regression cases (`TestCommentInline*`)
/// and go-yaml's places for the other same-line comments (checked with
/// go-yaml v3 and 3.13.2's store code): block scalar header and alias
/// inline; an empty value's comment and a flow collection's stay lines
/// (the latter opens the collection, as in 3.11).
#[test]
fn line_comments_stay_at_the_end_of_the_line() {
    for same in [
        "key1: value1 # inline comment\nkey2: value2\n# head comment\nkey3: value3 # another inline\n",
        "items:\n    - value1 # inline on list item\n    - value2\n",
        "# heading\nkey1: value1 # inline\nkey2: value2\n",
        "parent:\n    child1: value1 # nested inline\n    child2: value2\n",
        "list:\n    - a # on a\n    - k: v # on k\n      k2: v2\nb: | # header\n    text\nnothing: null # on null\n",
    ] {
        assert_eq!(roundtrip(same), same);
    }
    for (input, want) in [
        ("a: &x 1 # c1\nb: *x # c2\n", "a: 1 # c1\nb: 1 # c2\n"),
        ("e: # c\nf: 1\n", "# c\ne: null\nf: 1\n"),
        (
            "m: {x: 1} # c\ns: [1] # d\n",
            "m:\n    # c\n    x: 1\ns:\n    # d\n    - 1\n",
        ),
        ("f: >- # c\n    folded\n", "f: folded # c\n"),
    ] {
        assert_eq!(roundtrip(input), want, "{input:?}");
    }
}

/// Trees the loader does not make (changed by hand): a line comment no
/// entry follows becomes a comment line (sops 3.13 makes it a foot
/// comment); of two on one value the second goes on a line of its own, and
/// a collection's follows its key (our choices: no comment is lost).
#[test]
fn line_comments_without_a_value() {
    let doc = Branch(vec![
        entry("a", Value::Int(1)),
        line_comment(" c1"),
        line_comment(" c2"),
        entry("b", Value::Int(2)),
        line_comment(" end"),
    ]);
    let out = store().emit_plain(&[doc]).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "a: 1\nb: 2 # c1\n# c2\n# end\n"
    );
    let doc = Branch(vec![
        line_comment(" c"),
        entry("m", Value::Map(Branch(vec![entry("x", Value::Int(1))]))),
        line_comment(" s"),
        entry(
            "s",
            Value::Seq(vec![Value::Comment(Comment::inline(" i")), s("x")]),
        ),
    ]);
    let out = store().emit_plain(&[doc]).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "m: # c\n    x: 1\ns: # s\n    - x # i\n"
    );
}

/// Written as it is emitted (in pieces between top-level entries): the
/// same bytes as emitted whole, for several documents larger than the
/// emitter's buffer, with comments (inline ones too) and nesting.
#[test]
fn write_plain_writes_what_emit_plain_returns() {
    let mut text = String::new();
    for i in 0..3000 {
        text.push_str(&format!(
            "# entry {i}\nk{i}:\n    a: {i} # inline\n    b:\n        - x\n        - 'y z'\n    c: |\n        line\n"
        ));
    }
    let one = load_str(&text).unwrap().remove(0);
    let docs = vec![one.clone(), Branch::new(), one];
    let whole = store().emit_plain(&docs).unwrap();
    assert!(whole.len() > 3 * 64 * 1024, "{} bytes", whole.len());
    let mut written = Vec::new();
    store().write_plain(&docs, &mut written).unwrap().unwrap();
    assert_text_eq(&written, &whole, "written as emitted");
}

/// A writer's error is reported, and nothing is written after it.
#[test]
fn write_plain_stops_at_the_first_write_error() {
    /// Accepts `ok` writes, then fails; counts every call.
    struct Failing {
        ok: usize,
        calls: usize,
    }
    impl std::io::Write for Failing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.calls += 1;
            if self.calls > self.ok {
                return Err(std::io::Error::other("disk full"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let text: String = (0..20000).map(|i| format!("key{i}: value {i}\n")).collect();
    let docs = load_str(&text).unwrap();
    let mut w = Failing { ok: 1, calls: 0 };
    let e = store().write_plain(&docs, &mut w).unwrap_err();
    assert_eq!(e.to_string(), "disk full");
    assert_eq!(w.calls, 2, "written after the error");
}

/// A document written in runs of its top-level items, cut anywhere (line
/// comments waiting across a cut, comments before the first entry, a
/// document of comments only), gives the text it gives written whole.
#[test]
fn a_document_written_in_runs_is_written_as_a_whole() {
    for (text, indent) in [
        ("a: 1 # one\nb: 2\n", 4),
        ("# top\n# more\nx:\n  - 1 # one\n  - y: 2\nz: 3 # line\n# end\n", 2),
        ("a: {} # empty\nb: [] # none\nc: |\n  text\n# after\n", 4),
        ("# only\n{}\n", 4),
        ("{}\n", 7),
    ] {
        let store = YamlStore {
            indent,
            ..store()
        };
        crate::stores::tests::assert_written_in_runs_as_whole(&store, text);
    }
}
