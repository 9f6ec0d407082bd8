use std::path::Path;

use super::*;
use crate::keys::pgp;

fn parse(text: &str) -> Config {
    parse_config(Path::new("/repo/.sops.yaml"), text.as_bytes()).expect("config parses")
}

#[test]
fn flat_rules_and_matching() {
    let c = parse(
        "creation_rules:\n  - path_regex: prod/.*\\.yaml$\n    age: age1a, age1b\n    encrypted_regex: ^(data|stringData)$\n  - age:\n      - age1c\n    mac_only_encrypted: true\nstores:\n  yaml:\n    indent: 2\n",
    );
    assert_eq!(c.stores.yaml_indent, Some(2));
    let r = c.rule_for(Path::new("/repo/prod/x.yaml")).unwrap().unwrap();
    assert_eq!(r.index, 0);
    assert_eq!(
        r.key_groups[0]
            .iter()
            .map(|k| k.id.as_str())
            .collect::<Vec<_>>(),
        ["age1a", "age1b"]
    );
    assert_eq!(
        r.rule,
        Some(PartialRule::EncryptedRegex("^(data|stringData)$".into()))
    );
    let r = c.rule_for(Path::new("/repo/dev/x.yaml")).unwrap().unwrap();
    assert_eq!(r.index, 1);
    assert!(r.mac_only_encrypted);
}

/// sops joins a rule's `hckms` list with commas and skips empty items.
#[test]
fn hckms_rule_lists_skip_empty_items() {
    let c = parse("creation_rules:\n  - hckms: ['r:a', '', ' r:b ']\n    age: ['', age1x]\n");
    let r = c.rule_for(Path::new("/repo/x.yaml")).unwrap().unwrap();
    let ids: Vec<_> = r.key_groups[0].iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["", "age1x", "r:a", "r:b"]);
}

#[test]
fn key_groups_with_merge_and_dedup() {
    let c = parse(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [age1a]\n        pgp: ['AB CD']\n      - merge:\n          - age: [age1b]\n        age: [age1b, age1c]\n        kms:\n          - arn: arn:aws:kms:us-east-1:1:key/x\n            context: {app: demo}\n",
    );
    let r = c.rule_for(Path::new("/elsewhere/f.yaml")).unwrap().unwrap();
    assert_eq!(r.shamir_threshold, 2);
    assert_eq!(r.key_groups.len(), 2);
    assert_eq!(
        r.key_groups[0][1],
        KeySpec {
            kind: pgp::KIND,
            id: "ABCD".into(),
            fields: vec![]
        }
    );
    let ids: Vec<_> = r.key_groups[1].iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["age1b", "age1c", "arn:aws:kms:us-east-1:1:key/x"]);
    assert_eq!(
        r.key_groups[1][2].fields,
        vec![("context.app".to_owned(), "demo".to_owned())]
    );
}

#[test]
fn errors_name_file_rule_and_field() {
    let err = parse_config(
        Path::new("/r/.sops.yaml"),
        b"creation_rules:\n  - age: [1]\n",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/r/.sops.yaml") && text.contains("creation_rules[0].age"),
        "{text}"
    );
    let err = parse_config(
        Path::new("/r/.sops.yaml"),
        b"creation_rules:\n  - encrypted_regex: a\n    unencrypted_suffix: b\n",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("cannot use more than one"),
        "{err}"
    );
    let c = parse("creation_rules:\n  - path_regex: \\.json$\n    age: age1a\n");
    assert!(matches!(
        c.rule_for(Path::new("/repo/x.yaml")),
        Err(ConfigError::NoMatchingRule)
    ));
    let c = parse("creation_rules: []\n");
    assert!(matches!(
        c.rule_for(Path::new("/repo/x.yaml")),
        Err(ConfigError::NoMatchingRule)
    ));
    let c = parse("stores: {}\n");
    assert!(c.rule_for(Path::new("/repo/x.yaml")).unwrap().is_none());
}

#[test]
fn destination_rules_pick_the_first_match_on_the_path_as_given() {
    let c = parse(
        "destination_rules:\n  - path_regex: '[bad'\n    s3_bucket: never\n  - path_regex: ^prod/\n    s3_bucket: b\n    s3_prefix: p/\n    omit_extensions: true\n    recreation_rule:\n      age: age1x\n      unencrypted_suffix: _clear\n  - gcs_bucket: g\n",
    );
    let (rule, dest) = c.destination_for("prod/a.yaml").unwrap();
    assert_eq!(rule.index, 1);
    assert!(rule.omit_extensions);
    assert_eq!(
        dest,
        Destination::S3 {
            bucket: "b".into(),
            prefix: "p/".into()
        }
    );
    assert_eq!(dest.display("a", ""), "s3://b/p/a");
    assert_eq!(rule.recreation_rule.key_groups[0][0].id, "age1x");
    assert_eq!(
        rule.recreation_rule.rule,
        Some(PartialRule::UnencryptedSuffix("_clear".into()))
    );
    // Not made relative: an absolute path does not match `^prod/`.
    let (rule, dest) = c.destination_for("/repo/prod/a.yaml").unwrap();
    assert_eq!(rule.index, 2);
    assert_eq!(dest.display("a.yaml", ""), "gcs://g/a.yaml");
    assert!(rule.recreation_rule.key_groups.is_empty());
}

#[test]
fn destination_rule_errors_use_sops_texts() {
    let c = parse("creation_rules:\n  - age: age1x\n");
    let err = c.destination_for("a").unwrap_err();
    assert_eq!(
        err.to_string(),
        "error loading config: no matching destination found in config"
    );
    let c = parse("destination_rules:\n  - s3_bucket: a\n    vault_path: b\n");
    assert_eq!(
        c.destination_for("a").unwrap_err().to_string(),
        "error loading config: more than one destinations were found in a single destination rule, you can only use one per rule"
    );
    let c = parse("destination_rules:\n  - path_regex: a\n");
    assert_eq!(
        c.destination_for("a").unwrap_err().to_string(),
        "no destination configured for this file"
    );
    let err = parse_config(
        Path::new("/repo/.sops.yaml"),
        b"destination_rules:\n  - vault_kv_version: x\n",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("destination_rules[0].vault_kv_version"),
        "{err}"
    );
}

#[test]
fn vault_destinations_follow_sops_defaults() {
    let c = parse(
        "destination_rules:\n  - path_regex: one\n    vault_path: app\n    vault_kv_version: 1\n    vault_kv_mount_name: kv\n    vault_address: http://127.0.0.1:8200\n  - vault_path: app/\n    vault_kv_version: 7\n",
    );
    let (_, dest) = c.destination_for("one.yaml").unwrap();
    assert_eq!(
        dest.display("one.yaml", "https://127.0.0.1:8200"),
        "http://127.0.0.1:8200/v1/kv/app/one.yaml"
    );
    let (_, dest) = c.destination_for("two.yaml").unwrap();
    assert_eq!(
        dest.display("two.yaml", "https://127.0.0.1:8200"),
        "https://127.0.0.1:8200/v1/secret/data/app/two.yaml"
    );
}

/// Only keys of a rule's flat lists take `--encryption-context` (sops 3.12).
#[test]
fn flat_keys_are_told_from_key_groups() {
    let c = parse(
        "creation_rules:\n  - path_regex: flat\n    kms: arn:aws:kms:us-east-1:1:key/x\n  - path_regex: groups\n    key_groups:\n      - kms:\n          - arn: arn:aws:kms:us-east-1:1:key/x\n  - age: ''\n",
    );
    let rule = |p: &str| c.rule_for(Path::new(p)).unwrap().unwrap().clone();
    assert!(rule("/repo/flat").flat_keys);
    assert!(!rule("/repo/groups").flat_keys);
    assert!(!rule("/repo/other").flat_keys);
}
