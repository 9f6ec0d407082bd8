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
