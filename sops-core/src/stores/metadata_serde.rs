//! The `sops` block: [`Metadata`] <-> a tree [`Branch`], shared by every
//! store. Field order on write is sops 3.11's (sops-format §4.1); reading
//! accepts any order and ignores unknown fields, as sops does.

use crate::keys::keystore::SopsBlockSlot;
use crate::keys::{Keystore, keystores_by};
use crate::metadata::{KeyEntry, KeyGroup, KeyKind, Metadata, PartialRule};
use crate::stores::{Format, StoreError};
use crate::tree::{Branch, Value, time};

/// How empty lists inside `key_groups` are written: YAML `[]`, JSON `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyListStyle {
    EmptySeq,
    Null,
}

/// The keystores in the order of the flat lists under `sops:`, which is
/// also the order entries are read into a group.
fn sops_block_order() -> Vec<&'static Keystore> {
    keystores_by(|s| s.order.sops_block)
}

/// True for a flat list written after `lastmodified` and `mac`.
fn after_mac(ks: &Keystore) -> bool {
    matches!(ks.spec().order.sops_block, SopsBlockSlot::AfterMac(_))
}

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
                    for ks in keystores_by(|s| s.order.key_group) {
                        let kind = ks.kind;
                        let list = entries_of(g, kind);
                        let always = kind.spec().always_in_groups;
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
    let flat = |b: &mut Branch, after: bool| {
        let Some(group) = single else { return };
        for ks in sops_block_order()
            .into_iter()
            .filter(|k| after_mac(k) == after)
        {
            let list = entries_of(group, ks.kind);
            if !list.is_empty() {
                b.push(ks.kind.metadata_name(), Value::Seq(list));
            }
        }
    };
    flat(&mut b, false);
    b.push("lastmodified", Value::Str(meta.last_modified.clone()));
    b.push("mac", Value::Str(meta.mac.clone()));
    flat(&mut b, true);
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
        // Both callers handle strings before they get here, so deleting this
        // arm is an equivalent mutant; it stays for a total function.
        Value::Str(s) => s.clone(),
        Value::Time(t) => t.as_str().to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => crate::numfmt::format_g(*f),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    })
}

/// Fields of a key entry that sops 3.11 decodes into something other than
/// a Go `string` (kms' `context` is a `map[string]*string`).
/// Keystores are named by their metadata field, as some are behind features.
const NON_STRING_ENTRY_FIELDS: &[(&str, &str)] = &[("kms", "context")];

fn parse_entries(
    kind: KeyKind,
    value: &Value,
    syntax: Syntax,
    out: &mut Vec<KeyEntry>,
) -> Result<(), StoreError> {
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
                // sops decodes the entry into a struct of Go strings: a
                // known field of another type refuses the file (exit 1).
                let typed_string = kind.spec().fields.contains(&k.as_str())
                    && !NON_STRING_ENTRY_FIELDS.contains(&(name, k.as_str()));
                let refused = match (syntax, &*v) {
                    (_, Value::Null | Value::Str(_)) | (Syntax::Flat, _) => false,
                    (Syntax::Json, _) => true,
                    (Syntax::Yaml, _) => matches!(v, Value::Map(_) | Value::Seq(_)),
                };
                if typed_string && refused {
                    return Err(syntax.mismatch(&format!("{name}.{k}"), v, "string"));
                }
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

/// Puts an entry's fields in the order of its keystore's spec, which is
/// sops' (flat formats store them sorted, 3.13 writes them sorted
/// everywhere); unknown fields keep their order at the end.
fn sort_fields(kind: KeyKind, fields: &mut Branch) {
    let order = kind.spec().fields;
    let rank = |item: &crate::tree::Item| match item {
        crate::tree::Item::Entry(k, _) => order.iter().position(|o| o == k).unwrap_or(order.len()),
        crate::tree::Item::Comment(_) => order.len(),
    };
    fields.0.sort_by_key(rank);
}

/// How a format's parser types the `sops` block's scalars, which decides
/// what sops 3.11 accepts for each field: go-yaml v3 and Go's
/// `encoding/json` decode into a typed struct (`stores.Metadata`), while
/// dotenv and INI hold only strings, converted by sops' `DecodeNonStrings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    Yaml,
    Json,
    Flat,
}

impl Syntax {
    fn of(format: Format) -> Self {
        match format {
            Format::Yaml => Syntax::Yaml,
            Format::Json | Format::Binary => Syntax::Json,
            Format::Dotenv | Format::Ini => Syntax::Flat,
        }
    }

    /// The parser's name for a value's type, as in Go's "cannot unmarshal
    /// X into Y" (never the value itself).
    fn type_name(self, v: &Value) -> &'static str {
        match self {
            Syntax::Json => match v {
                Value::Str(_) | Value::Comment(_) | Value::Time(_) | Value::Bytes(_) => "string",
                Value::Int(_) | Value::Float(_) => "number",
                Value::Bool(_) => "bool",
                Value::Null => "null",
                Value::Seq(_) => "array",
                Value::Map(_) => "object",
            },
            Syntax::Yaml | Syntax::Flat => match v {
                Value::Str(_) | Value::Comment(_) => "!!str",
                Value::Int(_) => "!!int",
                Value::Float(_) => "!!float",
                Value::Bool(_) => "!!bool",
                Value::Null => "!!null",
                Value::Time(_) => "!!timestamp",
                Value::Bytes(_) => "!!binary",
                Value::Seq(_) => "!!seq",
                Value::Map(_) => "!!map",
            },
        }
    }

    /// The error for a field whose value has a type sops cannot decode
    /// into `go_type` (sops 3.11 refuses the file with such a message).
    fn mismatch(self, field: &str, v: &Value, go_type: &str) -> StoreError {
        StoreError::Metadata(format!(
            "field {field}: cannot unmarshal {} into {go_type}",
            self.type_name(v)
        ))
    }
}

/// A Go `string` field. YAML: any scalar, as written (go-yaml v3 keeps the
/// text of `3.11` or `true`); JSON: strings only; null is "".
fn string_field(b: &Branch, name: &str, syntax: Syntax) -> Result<String, StoreError> {
    let Some(v) = b.get(name) else {
        return Ok(String::new());
    };
    match (syntax, v) {
        (_, Value::Null) => Ok(String::new()),
        (_, Value::Str(s)) => Ok(s.clone()),
        (Syntax::Yaml | Syntax::Flat, Value::Bytes(bytes)) => {
            String::from_utf8(bytes.clone()).map_err(|_| syntax.mismatch(name, v, "string"))
        }
        (Syntax::Yaml | Syntax::Flat, Value::Map(_) | Value::Seq(_)) => {
            Err(syntax.mismatch(name, v, "string"))
        }
        (Syntax::Yaml | Syntax::Flat, _) => {
            scalar_text(v).ok_or_else(|| syntax.mismatch(name, v, "string"))
        }
        (Syntax::Json, _) => Err(syntax.mismatch(name, v, "string")),
    }
}

/// `shamir_threshold`, a Go `int`. YAML: integers, and floats without a
/// fraction (`2.0`, `1e0`); JSON: integers only; dotenv/INI: the text as
/// Go's `strconv.Atoi` reads it, else as a float without a fraction
/// (sops 3.11 takes `2.0` and `1e3` there, refuses `2.5`). Negative values
/// are accepted as sops accepts them, and mean no threshold (0).
fn shamir_threshold(b: &Branch, syntax: Syntax) -> Result<usize, StoreError> {
    const NAME: &str = "shamir_threshold";
    let Some(v) = b.get(NAME) else {
        return Ok(0);
    };
    let n: i64 = match (syntax, v) {
        (_, Value::Null) => 0,
        (Syntax::Yaml | Syntax::Json, Value::Int(i)) => *i,
        (Syntax::Yaml, Value::Float(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => *f as i64,
        (Syntax::Flat, Value::Str(s)) => parse_flat_int(s)
            .ok_or_else(|| StoreError::Metadata("shamir_threshold is not an integer".into()))?,
        _ => return Err(syntax.mismatch(NAME, v, "int")),
    };
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Go's `strconv.Atoi` (optional sign, decimal digits, in range), else a
/// float (`strconv.ParseFloat`'s decimal forms) that is a whole number.
fn parse_flat_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        return s.strip_prefix('+').unwrap_or(s).parse().ok();
    }
    let decimal = s
        .bytes()
        .all(|c| c.is_ascii_digit() || b"+-.eE".contains(&c));
    let f: f64 = if decimal {
        s.parse().ok()?
    } else {
        return None;
    };
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
}

/// `mac_only_encrypted`, a Go `bool`. YAML: a bool, or one of YAML 1.1's
/// words (`yes`, `on`, `y`, … quoted or not), which go-yaml v3 accepts
/// when the target is a bool; JSON: a bool; dotenv/INI: exactly `true`
/// (anything else is false, without an error, as in sops 3.11).
fn mac_only_encrypted(b: &Branch, syntax: Syntax) -> Result<bool, StoreError> {
    const NAME: &str = "mac_only_encrypted";
    let Some(v) = b.get(NAME) else {
        return Ok(false);
    };
    match (syntax, v) {
        (_, Value::Null) => Ok(false),
        (Syntax::Yaml | Syntax::Json, Value::Bool(b)) => Ok(*b),
        (Syntax::Flat, Value::Str(s)) => Ok(s == "true"),
        (Syntax::Flat, _) => Ok(false),
        (Syntax::Yaml, Value::Str(s)) => match s.as_str() {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Ok(true),
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Ok(false),
            _ => Err(syntax.mismatch(NAME, v, "bool")),
        },
        _ => Err(syntax.mismatch(NAME, v, "bool")),
    }
}

/// Reads metadata from the value of the `sops` key of a `format` file,
/// accepting for each field the types sops 3.11 accepts in that format
/// (see `Syntax`); unknown fields are ignored.
pub fn from_branch(b: &Branch, format: Format) -> Result<Metadata, StoreError> {
    let syntax = Syntax::of(format);
    let read_order = sops_block_order();
    let mut flat = Vec::new();
    for ks in &read_order {
        if let Some(v) = b.get(ks.kind.metadata_name()) {
            parse_entries(ks.kind, v, syntax, &mut flat)?;
        }
    }
    let mut key_groups = Vec::new();
    let groups = match b.get("key_groups") {
        None | Some(Value::Null) => None,
        Some(Value::Seq(groups)) => Some(groups),
        Some(v) => return Err(syntax.mismatch("key_groups", v, "[]stores.keygroup")),
    };
    // Every group is type-checked, even when flat lists win, as sops
    // decodes every field before it chooses.
    for g in groups.into_iter().flatten() {
        if !matches!(g, Value::Map(_) | Value::Null | Value::Comment(_)) {
            return Err(syntax.mismatch("key_groups", g, "stores.keygroup"));
        }
    }
    if !flat.is_empty() {
        // sops orders a group read from a file kms, gcp_kms, hckms,
        // azure_kv, hc_vault, pgp, age; only the try order depends on it.
        key_groups.push(KeyGroup(flat));
    } else if let Some(groups) = groups {
        for g in groups {
            let gb = match g {
                Value::Map(gb) => Some(gb),
                // A null group decodes to an empty one in sops.
                Value::Null => None,
                _ => continue,
            };
            let mut entries = Vec::new();
            for ks in &read_order {
                if let Some(v) = gb.and_then(|gb| gb.get(ks.kind.metadata_name())) {
                    parse_entries(ks.kind, v, syntax, &mut entries)?;
                }
            }
            key_groups.push(KeyGroup(entries));
        }
    }
    let shamir_threshold = shamir_threshold(b, syntax)?;
    let last_modified = string_field(b, "lastmodified", syntax)?;
    if time::parse_rfc3339_parts(&last_modified).is_none() {
        return Err(invalid("lastmodified", "an RFC 3339 timestamp"));
    }
    let mac = string_field(b, "mac", syntax)?;
    let mut rule = None;
    for name in PartialRule::FIELDS {
        let text = string_field(b, name, syntax)?;
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
    let mac_only_encrypted = mac_only_encrypted(b, syntax)?;
    let version = string_field(b, "version", syntax)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyError, aws_kms, gcp_kms, hc_vault, master_key_for};
    use crate::stores::Format;
    use crate::test_vectors::vector;

    /// The key names of the `sops` block (or of a group) in write order.
    fn names(b: &Branch) -> Vec<&str> {
        b.entries().map(|(k, _)| k).collect()
    }

    fn entry(kind: KeyKind, id: &str) -> KeyEntry {
        let mut fields = Branch::new();
        fields.push(kind.id_field(), Value::Str(id.to_owned()));
        fields.push("enc", Value::Str("x".to_owned()));
        KeyEntry { kind, fields }
    }

    fn metadata(groups: Vec<KeyGroup>) -> Metadata {
        Metadata {
            key_groups: groups,
            shamir_threshold: 0,
            last_modified: "2026-01-01T00:00:00Z".to_owned(),
            mac: "m".to_owned(),
            rule: None,
            mac_only_encrypted: false,
            version: "3.11.0".to_owned(),
        }
    }

    #[test]
    fn emission_order_is_sops() {
        let every: Vec<KeyEntry> = crate::keys::KEYSTORES
            .iter()
            .rev()
            .map(|k| entry(k.kind, "id"))
            .collect();
        let b = to_branch(
            &metadata(vec![KeyGroup(every.clone())]),
            EmptyListStyle::EmptySeq,
        );
        assert_eq!(
            names(&b),
            [
                "kms",
                "gcp_kms",
                "hckms",
                "azure_kv",
                "hc_vault",
                "age",
                "lastmodified",
                "mac",
                "pgp",
                "version"
            ]
        );
        let empty = KeyGroup(vec![entry(aws_kms::KIND, "arn")]);
        let b = to_branch(
            &metadata(vec![KeyGroup(every), empty]),
            EmptyListStyle::Null,
        );
        let Some(Value::Seq(groups)) = b.get("key_groups") else {
            panic!("key_groups expected")
        };
        let [Value::Map(full), Value::Map(one)] = groups.as_slice() else {
            panic!("two groups expected")
        };
        assert_eq!(
            names(full),
            [
                "pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "age"
            ]
        );
        // hc_vault and age are written even when the group has none.
        assert_eq!(names(one), ["kms", "hc_vault", "age"]);
        assert_eq!(one.get("age"), Some(&Value::Null));
    }

    /// Entries of keystores that are not built in survive a load and emit
    /// unchanged, and are refused (not dropped) when a key is needed.
    #[test]
    fn unknown_keystore_entries_round_trip_verbatim() {
        let store = Format::Yaml.store().unwrap();
        let input = vector("all_keystores.enc.yaml");
        let (docs, meta) = store.load_encrypted(&input).unwrap();
        let kms: Vec<&KeyEntry> = meta
            .all_keys()
            .filter(|e| e.kind == aws_kms::KIND)
            .collect();
        let [kms] = kms.as_slice() else {
            panic!("one kms entry expected")
        };
        assert_eq!(
            names(&kms.fields),
            ["arn", "role", "context", "created_at", "enc", "aws_profile"]
        );
        // gcp_kms is built in only with the `gcp-kms` feature (kms with
        // `aws-kms`, hc_vault with `hc-vault`).
        let gcp = meta.all_keys().find(|e| e.kind == gcp_kms::KIND).unwrap();
        assert_eq!(
            master_key_for(gcp).is_ok(),
            cfg!(feature = "gcp-kms"),
            "{:?}",
            master_key_for(gcp)
        );
        let vault = meta.all_keys().find(|e| e.kind == hc_vault::KIND).unwrap();
        assert_eq!(
            vault.identifier(),
            "http://127.0.0.1:8200/v1/transit/keys/sops"
        );
        assert_eq!(
            master_key_for(vault).is_ok(),
            cfg!(feature = "hc-vault"),
            "{:?}",
            master_key_for(vault)
        );
        if !cfg!(feature = "hc-vault") {
            assert!(matches!(
                master_key_for(vault),
                Err(KeyError::Unsupported("hc_vault"))
            ));
        }
        assert_eq!(store.emit_encrypted(&docs, &meta).unwrap(), input);
    }

    // Tests named m10_* were added for issue 10 so that each mutant
    // `cargo mutants` makes of this file fails one of sops-core's own tests.

    /// A minimal `sops` block plus the given fields.
    fn block(fields: &[(&str, Value)]) -> Branch {
        let mut b = Branch::new();
        b.push("lastmodified", Value::Str("2024-01-01T00:00:00Z".into()));
        for (k, v) in fields {
            b.push(*k, v.clone());
        }
        b
    }

    fn read(fields: &[(&str, Value)], format: Format) -> Result<Metadata, String> {
        from_branch(&block(fields), format).map_err(|e| match e {
            StoreError::Metadata(m) => m,
            other => panic!("unexpected error {other}"),
        })
    }

    #[test]
    fn m10_shamir_threshold_types_as_sops_reads_them() {
        let t = |v: Value, f| read(&[("shamir_threshold", v)], f).map(|m| m.shamir_threshold);
        let s = |v: &str| Value::Str(v.into());
        assert_eq!(read(&[], Format::Yaml).unwrap().shamir_threshold, 0);
        assert_eq!(t(Value::Null, Format::Json), Ok(0));
        assert_eq!(t(Value::Int(2), Format::Yaml), Ok(2));
        assert_eq!(t(Value::Int(2), Format::Json), Ok(2));
        assert_eq!(t(Value::Int(-1), Format::Yaml), Ok(0));
        assert_eq!(t(Value::Float(2.0), Format::Yaml), Ok(2));
        for bad in [2.5, 9.2e18, 1e19] {
            assert_eq!(
                t(Value::Float(bad), Format::Yaml),
                Err("field shamir_threshold: cannot unmarshal !!float into int".into())
            );
        }
        assert_eq!(
            t(Value::Float(2.0), Format::Json),
            Err("field shamir_threshold: cannot unmarshal number into int".into())
        );
        assert_eq!(
            t(s("2"), Format::Yaml),
            Err("field shamir_threshold: cannot unmarshal !!str into int".into())
        );
        for (text, n) in [
            ("2", 2),
            ("+3", 3),
            ("-2", 0),
            ("2.0", 2),
            ("1e3", 1000),
            ("9007199254740993", 9_007_199_254_740_993),
        ] {
            assert_eq!(t(s(text), Format::Dotenv), Ok(n), "{text}");
        }
        for text in ["2.5", "x", "", "+", "1e19", "9.2e18", "inf", "1e400"] {
            assert_eq!(
                t(s(text), Format::Ini),
                Err("shamir_threshold is not an integer".into()),
                "{text}"
            );
        }
    }

    #[test]
    fn m10_mac_only_encrypted_types_as_sops_reads_them() {
        let m = |v: Value, f| read(&[("mac_only_encrypted", v)], f).map(|m| m.mac_only_encrypted);
        let s = |v: &str| Value::Str(v.into());
        assert!(!read(&[], Format::Json).unwrap().mac_only_encrypted);
        assert_eq!(m(Value::Null, Format::Yaml), Ok(false));
        assert_eq!(m(Value::Bool(true), Format::Yaml), Ok(true));
        assert_eq!(m(Value::Bool(true), Format::Json), Ok(true));
        assert_eq!(m(Value::Bool(false), Format::Json), Ok(false));
        assert_eq!(m(s("true"), Format::Dotenv), Ok(true));
        assert_eq!(m(s("True"), Format::Dotenv), Ok(false));
        assert_eq!(m(Value::Int(1), Format::Ini), Ok(false));
        assert_eq!(m(s("yes"), Format::Yaml), Ok(true));
        assert_eq!(m(s("ON"), Format::Yaml), Ok(true));
        assert_eq!(m(s("Off"), Format::Yaml), Ok(false));
        assert_eq!(
            m(s("maybe"), Format::Yaml),
            Err("field mac_only_encrypted: cannot unmarshal !!str into bool".into())
        );
        assert_eq!(
            m(s("true"), Format::Json),
            Err("field mac_only_encrypted: cannot unmarshal string into bool".into())
        );
        assert_eq!(
            m(Value::Int(1), Format::Yaml),
            Err("field mac_only_encrypted: cannot unmarshal !!int into bool".into())
        );
    }

    #[test]
    fn m10_string_fields_types_as_sops_reads_them() {
        let v = |v: Value, f| read(&[("version", v)], f).map(|m| m.version);
        assert_eq!(v(Value::Null, Format::Yaml), Ok(String::new()));
        assert_eq!(v(Value::Int(3), Format::Yaml), Ok("3".into()));
        assert_eq!(v(Value::Float(3.5), Format::Yaml), Ok("3.5".into()));
        assert_eq!(v(Value::Bool(true), Format::Yaml), Ok("true".into()));
        assert_eq!(
            v(Value::Bytes(b"3.11.0".to_vec()), Format::Yaml),
            Ok("3.11.0".into())
        );
        for (value, yaml, json) in [
            (Value::Bytes(vec![0xff]), "!!binary", "string"),
            (Value::Seq(Vec::new()), "!!seq", "array"),
            (Value::Map(Branch::new()), "!!map", "object"),
            (Value::Int(3), "", "number"),
            (Value::Float(3.5), "", "number"),
            (Value::Bool(true), "", "bool"),
        ] {
            if !yaml.is_empty() {
                assert_eq!(
                    v(value.clone(), Format::Yaml),
                    Err(format!(
                        "field version: cannot unmarshal {yaml} into string"
                    ))
                );
            }
            assert_eq!(
                v(value, Format::Json),
                Err(format!(
                    "field version: cannot unmarshal {json} into string"
                ))
            );
        }
        let time = crate::tree::Time::parse_rfc3339("2024-05-01T12:00:00Z").unwrap();
        assert_eq!(
            v(Value::Time(time), Format::Yaml),
            Ok("2024-05-01T12:00:00Z".into())
        );
        let mut b = Branch::new();
        b.push("lastmodified", Value::Str("yesterday".into()));
        assert!(matches!(
            from_branch(&b, Format::Yaml),
            Err(StoreError::Metadata(m)) if m == "field lastmodified: expected an RFC 3339 timestamp"
        ));
    }

    /// `sops:` with the given age list.
    fn with_age(list: Value, format: Format) -> Result<Metadata, String> {
        read(&[("age", list)], format)
    }

    fn map(fields: &[(&str, Value)]) -> Value {
        let mut b = Branch::new();
        for (k, v) in fields {
            b.push(*k, v.clone());
        }
        Value::Map(b)
    }

    #[test]
    fn m10_key_entries_are_normalised_and_checked() {
        let time = crate::tree::Time::parse_rfc3339("2024-05-01T12:00:00Z").unwrap();
        let Value::Map(mut entry) = map(&[
            ("enc", Value::Int(5)),
            ("recipient", Value::Float(1.5)),
            ("created_at", Value::Time(time)),
            ("extra", Value::Bool(true)),
        ]) else {
            unreachable!()
        };
        entry.0.insert(0, crate::tree::Item::Comment("c".into()));
        let list = Value::Seq(vec![Value::Comment("c".into()), Value::Map(entry)]);
        let meta = with_age(list, Format::Yaml).unwrap();
        let [KeyGroup(group)] = meta.key_groups.as_slice() else {
            panic!("one group expected")
        };
        let [e] = group.as_slice() else {
            panic!("one entry expected")
        };
        // The keystore's field order, then the rest; every scalar a string.
        assert_eq!(
            e.fields.0,
            vec![
                crate::tree::Item::Entry("recipient".into(), Value::Str("1.5".into())),
                crate::tree::Item::Entry("enc".into(), Value::Str("5".into())),
                crate::tree::Item::Entry(
                    "created_at".into(),
                    Value::Str("2024-05-01T12:00:00Z".into())
                ),
                crate::tree::Item::Entry("extra".into(), Value::Str("true".into())),
            ]
        );
        assert!(
            with_age(Value::Null, Format::Yaml)
                .unwrap()
                .key_groups
                .is_empty()
        );
        assert_eq!(
            with_age(Value::Str("x".into()), Format::Yaml)
                .err()
                .as_deref(),
            Some("field age: expected a list of key entries")
        );
        assert_eq!(
            with_age(Value::Seq(vec![Value::Int(1)]), Format::Yaml)
                .err()
                .as_deref(),
            Some("field age: expected a mapping per key entry")
        );
        let bad_time = Value::Seq(vec![map(&[("created_at", Value::Str("x".into()))])]);
        assert_eq!(
            with_age(bad_time, Format::Yaml).err().as_deref(),
            Some("field age.created_at: expected an RFC 3339 timestamp")
        );
    }

    /// bad-inputs/meta-age-enc-int.enc.json: sops 3.11 refuses a key
    /// entry's string field of another type (exit 1), before any key is
    /// tried (we used to try the key and fail with 128).
    #[test]
    fn key_entry_string_fields_types_as_sops_reads_them() {
        let age = |field: &str, v: Value| {
            Value::Seq(vec![map(&[
                ("recipient", Value::Str("r".into())),
                (field, v),
            ])])
        };
        let map_value = map(&[("a", Value::Int(1))]);
        for (v, json) in [
            (Value::Int(5), "number"),
            (Value::Bool(true), "bool"),
            (map_value.clone(), "object"),
            (Value::Seq(vec![]), "array"),
        ] {
            assert_eq!(
                with_age(age("enc", v), Format::Json).err(),
                Some(format!(
                    "field age.enc: cannot unmarshal {json} into string"
                ))
            );
        }
        assert_eq!(
            with_age(age("recipient", Value::Float(1.5)), Format::Json).err(),
            Some("field age.recipient: cannot unmarshal number into string".into())
        );
        // YAML: scalars are read as text, collections refused.
        assert!(with_age(age("enc", Value::Int(5)), Format::Yaml).is_ok());
        assert_eq!(
            with_age(age("enc", map_value.clone()), Format::Yaml).err(),
            Some("field age.enc: cannot unmarshal !!map into string".into())
        );
        assert_eq!(
            with_age(age("enc", Value::Seq(vec![])), Format::Yaml).err(),
            Some("field age.enc: cannot unmarshal !!seq into string".into())
        );
        // Null is "", unknown fields are ignored, kms' context is a map.
        assert!(with_age(age("enc", Value::Null), Format::Json).is_ok());
        assert!(with_age(age("extra", Value::Int(5)), Format::Json).is_ok());
        let kms = Value::Seq(vec![map(&[
            ("arn", Value::Str("arn:aws:kms:x".into())),
            ("context", map(&[("k", Value::Str("v".into()))])),
        ])]);
        assert!(read(&[("kms", kms)], Format::Json).is_ok());
    }

    #[test]
    fn m10_key_groups_types_as_sops_reads_them() {
        let age = |r: &str| Value::Seq(vec![map(&[("recipient", Value::Str(r.into()))])]);
        let groups = Value::Seq(vec![Value::Null, map(&[("age", age("r"))])]);
        let meta = read(&[("key_groups", groups)], Format::Yaml).unwrap();
        assert_eq!(meta.key_groups.len(), 2);
        assert!(meta.key_groups[0].0.is_empty());
        assert_eq!(meta.key_groups[1].0[0].identifier(), "r");
        assert_eq!(
            read(&[("key_groups", Value::Str("x".into()))], Format::Yaml).err(),
            Some("field key_groups: cannot unmarshal !!str into []stores.keygroup".into())
        );
        assert_eq!(
            read(
                &[("key_groups", Value::Seq(vec![Value::Int(1)]))],
                Format::Json
            )
            .err(),
            Some("field key_groups: cannot unmarshal number into stores.keygroup".into())
        );
        // Flat lists win over key_groups, which are still type-checked.
        let both = read(
            &[
                ("age", age("flat")),
                ("key_groups", Value::Seq(vec![map(&[("age", age("g"))])])),
            ],
            Format::Yaml,
        )
        .unwrap();
        assert_eq!(both.key_groups.len(), 1);
        assert_eq!(both.key_groups[0].0[0].identifier(), "flat");
    }

    #[test]
    fn m10_one_partial_rule_at_most_and_an_empty_one_is_not_written() {
        let s = |v: &str| Value::Str(v.into());
        let meta = read(&[("encrypted_regex", s("^a"))], Format::Yaml).unwrap();
        assert_eq!(meta.rule, Some(PartialRule::EncryptedRegex("^a".into())));
        assert!(
            read(
                &[
                    ("encrypted_regex", s("^a")),
                    ("unencrypted_suffix", s("_u"))
                ],
                Format::Yaml
            )
            .unwrap_err()
            .starts_with("Cannot use more than one of")
        );
        let mut meta = metadata(Vec::new());
        meta.rule = Some(PartialRule::UnencryptedSuffix(String::new()));
        meta.mac_only_encrypted = true;
        meta.shamir_threshold = 2;
        let b = to_branch(&meta, EmptyListStyle::EmptySeq);
        assert_eq!(
            names(&b),
            [
                "shamir_threshold",
                "lastmodified",
                "mac",
                "mac_only_encrypted",
                "version"
            ]
        );
        let back = from_branch(&b, Format::Yaml).unwrap();
        assert_eq!((back.shamir_threshold, back.mac_only_encrypted), (2, true));
    }
}
