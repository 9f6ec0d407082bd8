//! The deepest input the YAML and JSON stores accept by default must go
//! through the whole pipeline (load, encrypt, emit, load, decrypt, emit,
//! clone, drop) without overflowing a small thread stack: every step
//! that follows the tree's nesting recurses.

use crate::DataKey;
use crate::metadata::{Metadata, PartialRule};
use crate::ops::{decrypt_docs, encrypt_docs};
use crate::stores::{DEFAULT_MAX_DEPTH, Format, StoreError};
use crate::tree::Branch;

/// rayon's workers and the test harness's threads run on 2 MiB stacks.
const SMALL_STACK: usize = 2 * 1024 * 1024;

fn metadata() -> Metadata {
    Metadata {
        key_groups: Vec::new(),
        shamir_threshold: 0,
        last_modified: String::new(),
        mac: String::new(),
        rule: Some(PartialRule::default_rule()),
        mac_only_encrypted: false,
        version: "3.11.0".into(),
    }
}

/// Load, encrypt, emit, load the encrypted file, decrypt, emit the plaintext.
fn pipeline(format: Format, input: &[u8]) -> Result<Vec<Branch>, StoreError> {
    let store = format.store()?;
    let mut docs = store.load(input)?;
    // A copy of the whole tree, as alias expansion and `edit` make.
    let copy = docs.clone();
    assert!(copy == docs);
    drop(copy);
    let key = DataKey::generate();
    let mut meta = metadata();
    encrypt_docs(&mut docs, &key, &mut meta).unwrap();
    let encrypted = store.emit_encrypted(&docs, &meta)?;
    drop(docs);
    let (mut docs, meta) = store.load_encrypted(&encrypted)?;
    decrypt_docs(&mut docs, &key, &meta, false).unwrap();
    let plain = store.emit_plain(&docs)?;
    let again = store.load(&plain)?;
    assert!(again == docs);
    Ok(docs)
}

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn yaml_maps(depth: usize) -> String {
    let mut s = String::new();
    for i in 0..depth - 1 {
        s.push_str(&" ".repeat(i));
        s.push_str("a:\n");
    }
    s.push_str(&" ".repeat(depth - 1));
    s.push_str("b: secret\n");
    s
}

fn json_maps(depth: usize) -> String {
    format!(
        "{}\"secret\"{}",
        "{\"a\": ".repeat(depth),
        "}".repeat(depth)
    )
}

#[test]
fn deepest_accepted_input_survives_a_small_stack() {
    let max = DEFAULT_MAX_DEPTH;
    let cases: Vec<(Format, String)> = vec![
        (Format::Yaml, yaml_maps(max)),
        (
            Format::Yaml,
            format!("a: {}x{}\n", "[".repeat(max - 1), "]".repeat(max - 1)),
        ),
        (Format::Yaml, format!("a:\n{}x\n", "- ".repeat(max - 1))),
        // An alias pasting a deep value at the deepest point it may go.
        (
            Format::Yaml,
            format!(
                "a: &d {}x{}\nb: {}*d{}\n",
                "[".repeat(max / 2),
                "]".repeat(max / 2),
                "[".repeat(max - 1 - max / 2),
                "]".repeat(max - 1 - max / 2)
            ),
        ),
        (Format::Json, json_maps(max)),
        (
            Format::Json,
            format!("{{\"a\": {}1{}}}", "[".repeat(max - 1), "]".repeat(max - 1)),
        ),
    ];
    for (i, (format, input)) in cases.into_iter().enumerate() {
        let docs = on_small_stack(move || pipeline(format, input.as_bytes()));
        assert!(docs.is_ok(), "case {i}: {:?}", docs.err());
    }
}

#[test]
fn one_level_more_is_a_typed_error_on_a_small_stack() {
    let max = DEFAULT_MAX_DEPTH;
    for (format, input) in [
        (Format::Yaml, yaml_maps(max + 1)),
        (Format::Json, json_maps(max + 1)),
        (Format::Yaml, format!("a: {}", "[".repeat(1_000_000))),
        (Format::Json, "[".repeat(1_000_000)),
        (Format::Json, format!("{{\"a\": {}", "[".repeat(1_000_000))),
    ] {
        let r = on_small_stack(move || pipeline(format, input.as_bytes()).map(|_| ()));
        match r {
            Err(StoreError::TooDeep { max_depth, .. }) => assert_eq!(max_depth, max),
            // sops refuses a top-level array before looking deeper.
            Err(StoreError::Shape(_)) if format == Format::Json => {}
            other => panic!("{format:?}: {other:?}"),
        }
    }
}

#[test]
fn sops_files_of_every_format_are_recognised_and_plain_ones_are_not() {
    let vectors = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors");
    for name in [
        "all_keystores.enc.yaml",
        "all_keystores.enc.json",
        "all_keystores.enc.env",
        "all_keystores.enc.ini",
        "ini.enc.ini",
        "binary.enc.bin",
    ] {
        let bytes = std::fs::read(vectors.join(name)).unwrap();
        assert!(crate::stores::looks_like_sops_file(&bytes), "{name}");
        assert!(crate::cipher::contains_encrypted_value(&bytes), "{name}");
    }
    for name in [
        "dotenv.plain.env",
        "ini.plain.ini",
        "encrypted_regex.plain.yaml",
    ] {
        let bytes = std::fs::read(vectors.join(name)).unwrap();
        assert!(!crate::stores::looks_like_sops_file(&bytes), "{name}");
        assert!(!crate::cipher::contains_encrypted_value(&bytes), "{name}");
    }
    assert!(crate::stores::looks_like_sops_file(
        b"{\"sops\": {\"mac\": \"ENC[AES"
    ));
    assert!(crate::stores::looks_like_sops_file(
        b"[sops]\nmac = ENC[AES"
    ));
    assert!(!crate::stores::looks_like_sops_file(b"mac: plain\n"));
    assert!(!crate::stores::looks_like_sops_file(b"x = ENC[AES"));
}

/// Issue 10: a MAC written in another form sops reads the same (quoted,
/// escaped, JSON without blanks) is recognised; lookalikes are not.
#[test]
fn mac_lines_in_every_form_sops_reads_are_recognised() {
    let looks = |s: &str| crate::stores::looks_like_sops_file(s.as_bytes());
    for yes in [
        "sops:\n    mac: \"\\x45NC[AES256_GCM,data:x]\"\n",
        "sops:\n    mac: \"\\u0045\\u004e\\x43\\x5b\"\n",
        "sops:\n    mac: \"\\U00000045NC[\"\n",
        "sops:\n    mac: \"ENC[AES\"\n",
        "sops:\n    mac: 'ENC[AES'\n",
        "sops:\n    mac:\tENC[AES\n",
        "{\"sops\":{\"mac\":\"ENC[AES\"}}",
        "{\"sops\": {\"mac\" : \"\\u0045NC[AES\"}}",
        "[sops]\nmac                        = ENC[AES\n",
        "sops_mac=ENC[AES\n",
    ] {
        assert!(looks(yes), "{yes:?}");
    }
    for no in [
        "mac: plain\n",
        "mac: ENC\n",
        "mac: \"\\x45NC\"\n",
        "mac: '\\x45NC['\n",
        "mac: \\x45NC[\n",
        "mac: \"\\x4\"\n",
        "mac: \"\\u00\n",
        "mac - ENC[\n",
        "mac: \"",
        "mac",
        "x = ENC[AES",
    ] {
        assert!(!looks(no), "{no:?}");
    }
}

// Tests named m10_* were added for issue 10 so that each mutant
// `cargo mutants` makes of stores/mod.rs fails one of sops-core's own tests.

#[test]
fn m10_format_names_round_trip() {
    for format in [
        Format::Yaml,
        Format::Json,
        Format::Dotenv,
        Format::Ini,
        Format::Binary,
    ] {
        assert_eq!(Format::from_name(format.name()), Some(format));
    }
    assert_eq!(Format::from_name("yaml"), Some(Format::Yaml));
    assert_eq!(Format::from_name("toml"), None);
}

#[test]
fn m10_metadata_keys_of_each_format() {
    assert!(Format::Yaml.is_metadata_key("sops"));
    assert!(Format::Ini.is_metadata_key("sops"));
    assert!(!Format::Json.is_metadata_key("sops_mac"));
    assert!(!Format::Binary.is_metadata_key("data"));
    assert!(Format::Dotenv.is_metadata_key("sops_mac"));
    assert!(!Format::Dotenv.is_metadata_key("sops"));
    assert!(!Format::Dotenv.is_metadata_key("password"));
}

#[test]
fn m10_stores_apply_the_limits_they_are_given() {
    let limits = crate::stores::StoreLimits {
        max_depth: 3,
        ..crate::stores::StoreLimits::default()
    };
    for (format, input) in [(Format::Yaml, yaml_maps(5)), (Format::Json, json_maps(5))] {
        assert!(format.store().unwrap().load(input.as_bytes()).is_ok());
        let err = format.store_with(&limits).unwrap().load(input.as_bytes());
        assert!(
            matches!(err, Err(StoreError::TooDeep { max_depth: 3, .. })),
            "{format:?}: {err:?}"
        );
    }
    // 64 MiB: the documented default of the alias byte budget.
    assert_eq!(crate::stores::DEFAULT_MAX_ALIAS_BYTES, 67_108_864);
}

#[test]
fn m10_a_plain_document_with_a_sops_key_looks_encrypted() {
    let store = Format::Yaml.store().unwrap();
    let docs = store.load(b"sops: {}\na: 1\n").unwrap();
    assert!(store.looks_encrypted(&docs));
    let docs = store.load(b"a: 1\nsops: 1\n").unwrap();
    assert!(store.looks_encrypted(&docs));
    let docs = store.load(b"a: 1\n").unwrap();
    assert!(!store.looks_encrypted(&docs));
}

/// Found by the `metadata` fuzz target: a single key group of keystores
/// we do not know reads as one empty group. One group is written as flat
/// lists, as sops writes it, so it is written as nothing and reads back as
/// no group at all (sops 3.11 reads it back as one empty group: no key
/// either way). The fuzz targets allow for this.
#[test]
fn a_single_empty_key_group_is_written_as_sops_writes_it() {
    use crate::stores::metadata_serde::{EmptyListStyle, from_branch, to_branch};
    let text = "key_groups:\n    - some_future_kms:\n        - arn: x\n\
                lastmodified: \"2026-11-28T07:08:12Z\"\n\
                mac: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\n\
                version: 3.11.0\n";
    let docs = Format::Yaml.store().unwrap().load(text.as_bytes()).unwrap();
    let meta = from_branch(&docs[0], Format::Yaml).unwrap();
    assert_eq!(meta.key_groups.len(), 1);
    assert!(meta.key_groups[0].0.is_empty());
    for style in [EmptyListStyle::EmptySeq, EmptyListStyle::Null] {
        let written = to_branch(&meta, style);
        assert!(written.get("key_groups").is_none(), "{style:?}");
        let again = from_branch(&written, Format::Yaml).unwrap();
        assert!(again.key_groups.is_empty(), "{style:?}");
        let with_none = Metadata {
            key_groups: Vec::new(),
            ..meta.clone()
        };
        assert_eq!(again, with_none, "{style:?}");
    }
}

/// `input`'s one document written in runs of its top-level items, cut at
/// every two places, gives the text `store` writes for it whole (as
/// decrypting a large file writes it).
pub(super) fn assert_written_in_runs_as_whole(store: &dyn crate::stores::Store, input: &str) {
    let doc = store.load(input.as_bytes()).unwrap().remove(0);
    let whole = store.emit_plain(std::slice::from_ref(&doc)).unwrap();
    let items = &doc.0;
    for first in 0..=items.len() {
        for second in first..=items.len() {
            let mut runs = store.document_emitter(0).unwrap();
            for run in [&items[..first], &items[first..second], &items[second..]] {
                runs.write_items(run).unwrap();
            }
            let written = runs.into_text();
            assert_eq!(
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&whole),
                "{input:?} cut at {first}, {second}"
            );
        }
    }
}
