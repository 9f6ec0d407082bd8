//! The `sops` block: [`Metadata`] <-> a tree [`Branch`], shared by every
//! store. Field order on write is sops 3.11's (sops-format §4.1); reading
//! accepts any order and ignores unknown fields, as sops does.

use crate::metadata::{KeyEntry, KeyGroup, KeyKind, Metadata, PartialRule};
use crate::stores::StoreError;
use crate::tree::{Branch, Value, time};

/// How empty lists inside `key_groups` are written: YAML `[]`, JSON `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyListStyle {
    EmptySeq,
    Null,
}

/// Kinds in a key-group entry, in sops' write order.
const GROUP_ORDER: [KeyKind; 7] = [
    KeyKind::Pgp,
    KeyKind::Kms,
    KeyKind::GcpKms,
    KeyKind::Hckms,
    KeyKind::AzureKv,
    KeyKind::HcVault,
    KeyKind::Age,
];

fn entries_of(group: &KeyGroup, kind: KeyKind) -> Vec<Value> {
    group
        .0
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| Value::Map(e.fields.clone()))
        .collect()
}

/// Serialises metadata as the value of the `sops` key.
pub fn to_branch(meta: &Metadata, empty: EmptyListStyle) -> Branch {
    let mut b = Branch::new();
    if meta.shamir_threshold != 0 {
        b.push("shamir_threshold", Value::Int(meta.shamir_threshold as i64));
    }
    let single = match meta.key_groups.as_slice() {
        [] => None,
        [one] => Some(one),
        groups => {
            let list = groups
                .iter()
                .map(|g| {
                    let mut gb = Branch::new();
                    for kind in GROUP_ORDER {
                        let list = entries_of(g, kind);
                        let always = matches!(kind, KeyKind::HcVault | KeyKind::Age);
                        if !list.is_empty() {
                            gb.push(kind.metadata_name(), Value::Seq(list));
                        } else if always {
                            let v = match empty {
                                EmptyListStyle::EmptySeq => Value::Seq(Vec::new()),
                                EmptyListStyle::Null => Value::Null,
                            };
                            gb.push(kind.metadata_name(), v);
                        }
                    }
                    Value::Map(gb)
                })
                .collect();
            b.push("key_groups", Value::Seq(list));
            None
        }
    };
    if let Some(group) = single {
        for kind in [
            KeyKind::Kms,
            KeyKind::GcpKms,
            KeyKind::Hckms,
            KeyKind::AzureKv,
            KeyKind::HcVault,
            KeyKind::Age,
        ] {
            let list = entries_of(group, kind);
            if !list.is_empty() {
                b.push(kind.metadata_name(), Value::Seq(list));
            }
        }
    }
    b.push("lastmodified", Value::Str(meta.last_modified.clone()));
    b.push("mac", Value::Str(meta.mac.clone()));
    if let Some(group) = single {
        let list = entries_of(group, KeyKind::Pgp);
        if !list.is_empty() {
            b.push("pgp", Value::Seq(list));
        }
    }
    if let Some(rule) = &meta.rule {
        let (name, value) = rule.field();
        if !value.is_empty() {
            b.push(name, Value::Str(value.to_owned()));
        }
    }
    if meta.mac_only_encrypted {
        b.push("mac_only_encrypted", Value::Bool(true));
    }
    b.push("version", Value::Str(meta.version.clone()));
    b
}

fn invalid(field: &str, expected: &str) -> StoreError {
    StoreError::Metadata(format!("field {field}: expected {expected}"))
}

/// A scalar as text (YAML may give a timestamp or number where sops expects a string).
fn scalar_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Str(s) => s.clone(),
        Value::Time(t) => t.as_str().to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => crate::numfmt::format_g(*f),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    })
}

fn parse_entries(kind: KeyKind, value: &Value, out: &mut Vec<KeyEntry>) -> Result<(), StoreError> {
    let name = kind.metadata_name();
    let items = match value {
        Value::Null => return Ok(()),
        Value::Seq(items) => items,
        _ => return Err(invalid(name, "a list of key entries")),
    };
    for item in items {
        let Value::Map(fields) = item else {
            if matches!(item, Value::Comment(_)) {
                continue;
            }
            return Err(invalid(name, "a mapping per key entry"));
        };
        let mut fields = fields.clone();
        fields
            .0
            .retain(|i| matches!(i, crate::tree::Item::Entry(..)));
        // Normalise scalars to strings so entries re-emit as sops wrote them.
        for item in &mut fields.0 {
            if let crate::tree::Item::Entry(k, v) = item {
                if !matches!(
                    v,
                    Value::Map(_) | Value::Seq(_) | Value::Null | Value::Str(_)
                ) && let Some(t) = scalar_text(v)
                {
                    *v = Value::Str(t);
                }
                if k == "created_at" {
                    let ok = v
                        .as_str()
                        .is_some_and(|s| time::parse_rfc3339_parts(s).is_some());
                    if !ok {
                        return Err(invalid(
                            &format!("{name}.created_at"),
                            "an RFC 3339 timestamp",
                        ));
                    }
                }
            }
        }
        sort_fields(kind, &mut fields);
        out.push(KeyEntry { kind, fields });
    }
    Ok(())
}

/// sops 3.11's field order of each keystore's entries (sops-format §3.3).
fn field_order(kind: KeyKind) -> &'static [&'static str] {
    match kind {
        KeyKind::Age => &["recipient", "enc"],
        KeyKind::Pgp => &["created_at", "enc", "fp"],
        KeyKind::Kms => &["arn", "role", "context", "created_at", "enc", "aws_profile"],
        KeyKind::GcpKms => &["resource_id", "created_at", "enc"],
        KeyKind::Hckms => &["key_id", "created_at", "enc"],
        KeyKind::AzureKv => &["vault_url", "name", "version", "created_at", "enc"],
        KeyKind::HcVault => &[
            "vault_address",
            "engine_path",
            "key_name",
            "created_at",
            "enc",
        ],
    }
}

/// Puts an entry's fields in sops' order (flat formats store them sorted,
/// 3.13 writes them sorted everywhere); unknown fields keep their order at
/// the end.
fn sort_fields(kind: KeyKind, fields: &mut Branch) {
    let order = field_order(kind);
    let rank = |item: &crate::tree::Item| match item {
        crate::tree::Item::Entry(k, _) => order.iter().position(|o| o == k).unwrap_or(order.len()),
        crate::tree::Item::Comment(_) => order.len(),
    };
    fields.0.sort_by_key(rank);
}

/// Reads metadata from the value of the `sops` key.
pub fn from_branch(b: &Branch) -> Result<Metadata, StoreError> {
    let mut flat = Vec::new();
    for kind in KeyKind::ALL {
        if let Some(v) = b.get(kind.metadata_name()) {
            parse_entries(kind, v, &mut flat)?;
        }
    }
    let mut key_groups = Vec::new();
    if !flat.is_empty() {
        // sops orders a group read from a file kms, gcp_kms, hckms,
        // azure_kv, hc_vault, pgp, age; only the try order depends on it.
        key_groups.push(KeyGroup(flat));
    } else if let Some(groups) = b.get("key_groups") {
        let Value::Seq(groups) = groups else {
            return Err(invalid("key_groups", "a list"));
        };
        for g in groups {
            let Value::Map(gb) = g else {
                continue;
            };
            let mut entries = Vec::new();
            for kind in KeyKind::ALL {
                if let Some(v) = gb.get(kind.metadata_name()) {
                    parse_entries(kind, v, &mut entries)?;
                }
            }
            key_groups.push(KeyGroup(entries));
        }
    }
    let shamir_threshold = match b.get("shamir_threshold") {
        None | Some(Value::Null) => 0,
        Some(Value::Int(i)) if *i >= 0 => *i as usize,
        Some(Value::Float(f)) if *f >= 0.0 && f.fract() == 0.0 => *f as usize,
        Some(Value::Str(s)) => s
            .parse()
            .map_err(|_| invalid("shamir_threshold", "an integer"))?,
        Some(_) => return Err(invalid("shamir_threshold", "an integer")),
    };
    let last_modified = b
        .get("lastmodified")
        .and_then(scalar_text)
        .unwrap_or_default();
    if time::parse_rfc3339_parts(&last_modified).is_none() {
        return Err(invalid("lastmodified", "an RFC 3339 timestamp"));
    }
    let mac = match b.get("mac") {
        None | Some(Value::Null) => String::new(),
        Some(Value::Str(s)) => s.clone(),
        Some(_) => return Err(invalid("mac", "a string")),
    };
    let mut rule = None;
    for name in PartialRule::FIELDS {
        let Some(v) = b.get(name) else { continue };
        let Some(text) = scalar_text(v) else { continue };
        if text.is_empty() {
            continue;
        }
        if rule.is_some() {
            return Err(StoreError::Metadata(
                "Cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file".into(),
            ));
        }
        rule = PartialRule::from_field(name, text);
    }
    let mac_only_encrypted = match b.get("mac_only_encrypted") {
        Some(Value::Bool(v)) => *v,
        Some(Value::Str(s)) => s == "true",
        _ => false,
    };
    let version = match b.get("version") {
        Some(Value::Str(s)) => s.clone(),
        Some(v @ (Value::Int(_) | Value::Float(_))) => scalar_text(v).unwrap_or_default(),
        _ => String::new(),
    };
    Ok(Metadata {
        key_groups,
        shamir_threshold,
        last_modified,
        mac,
        rule,
        mac_only_encrypted,
        version,
    })
}
