//! Manifests: loading a file (decrypting it when it carries sops metadata),
//! the output checks of spec §3.4 step 8, and the final YAML stream.
//!
//! Plain files go through the same parser as encrypted ones, so the output
//! is one uniformly emitted stream and every check (leftover `ENC[` values,
//! Secret shape) sees the parsed tree rather than text.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sops_core::cipher::{ENC_PREFIX, contains_encrypted_value, is_encrypted};
use sops_core::keys::KeyContext;
use sops_core::ops::{self, DecryptOptions};
use sops_core::stores::{self, Format, StoreError, looks_like_sops_file};
use sops_core::{Branch, Value};
use zeroize::Zeroizing;

use crate::error::Failure;
use crate::settings::Limits;
use crate::stores::{limit_failure, store_for};

/// The documents of one file, and whether it was decrypted. No `Debug`:
/// the documents may be plaintext.
pub struct Loaded {
    /// Wiped when dropped (plain files too, so callers need not tell the
    /// two apart).
    pub docs: Zeroizing<Vec<Branch>>,
    pub decrypted: bool,
    /// The file was encrypted with `mac_only_encrypted` (namespace binding
    /// refuses those).
    pub mac_only_encrypted: bool,
}

/// Parses a manifest file (YAML or JSON by the extension of `path`; `shown`
/// names it in messages); decrypts it, MAC verified, when its first
/// document carries a top-level `sops` key. Empty documents (and wholly
/// empty files) are dropped, as Argo CD does.
pub fn load(
    shown: &str,
    path: &std::path::Path,
    bytes: &[u8],
    ctx: &KeyContext,
    limits: &Limits,
) -> Result<Loaded, Failure> {
    let format = Format::for_path(path);
    if !matches!(format, Format::Yaml | Format::Json) {
        return Err(Failure::generic(format!(
            "{shown}: not a YAML or JSON file"
        )));
    }
    let store = store_for(format, limits)?;
    let malformed = |e: StoreError| {
        limit_failure(shown, format, &e, limits).unwrap_or_else(|| {
            Failure::generic(format!("{shown}: malformed {}: {e}", format.name()))
        })
    };
    if format == Format::Yaml && is_blank_yaml(bytes) {
        return Ok(Loaded {
            docs: Zeroizing::new(Vec::new()),
            decrypted: false,
            mac_only_encrypted: false,
        });
    }
    let docs = match store.load(bytes) {
        Ok(d) => d,
        Err(StoreError::Empty) => Vec::new(),
        Err(e) => return Err(malformed(e)),
    };
    let has_sops = |d: &Branch| d.get("sops").is_some();
    let decrypted = if docs.first().is_some_and(has_sops) {
        let (docs, metadata) = if format == Format::Yaml {
            // The YAML store's encrypted load once its documents are
            // loaded: an encrypted file is parsed once, not twice (half the
            // work of a small Secret).
            stores::split_sops_key(docs, Format::Yaml).map_err(malformed)?
        } else {
            // JSON's encrypted load parses numbers as sops' unmarshal does,
            // unlike the plain load: parse again.
            drop(docs);
            store.load_encrypted(bytes).map_err(malformed)?
        };
        let mac_only_encrypted = metadata.mac_only_encrypted;
        let plain = ops::decrypt_loaded(docs, metadata, ctx, &DecryptOptions::default())
            .map_err(|e| Failure::decrypt(shown, &e))?;
        Loaded {
            docs: plain.into_docs(),
            decrypted: true,
            mac_only_encrypted,
        }
    } else {
        if docs.iter().any(has_sops) {
            return Err(Failure::generic(format!(
                "{shown}: sops metadata in a later document but not in the first; \
                 the file is not a valid sops file"
            )));
        }
        for doc in &docs {
            if let Some(path) = find_encrypted(doc) {
                return Err(Failure::generic(format!(
                    "{shown}: found ENC[...] values but no sops metadata (first at {path})"
                ))
                .with_hint("the sops block was removed or the file was hand-edited; re-encrypt it with sops"));
            }
        }
        Loaded {
            docs: Zeroizing::new(docs),
            decrypted: false,
            mac_only_encrypted: false,
        }
    };
    let mut loaded = decrypted;
    loaded.docs.retain(|d| d.entries().next().is_some());
    Ok(loaded)
}

/// Only comments, blank lines and document markers (an empty stream, which
/// Argo CD skips).
pub fn is_blank_yaml(bytes: &[u8]) -> bool {
    bytes.split(|&b| b == b'\n').all(|line| {
        let t = line.trim_ascii();
        t.is_empty() || t.starts_with(b"#") || t == b"---" || t == b"..."
    })
}

/// The key path of the first `ENC[AES256_GCM,…]` string in `doc`.
pub fn find_encrypted(doc: &Branch) -> Option<String> {
    fn in_value(v: &Value, path: &mut String) -> bool {
        match v {
            Value::Str(s) => is_encrypted(s),
            Value::Map(b) => in_branch(b, path),
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    if in_value(item, path) {
                        return true;
                    }
                    path.truncate(len);
                }
                false
            }
            _ => false,
        }
    }
    fn in_branch(b: &Branch, path: &mut String) -> bool {
        for (k, v) in b.entries() {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k);
            if in_value(v, path) {
                return true;
            }
            path.truncate(len);
        }
        false
    }
    let mut path = String::new();
    in_branch(doc, &mut path).then_some(path)
}

/// `<kind> <namespace>/<name>` of a document, for messages (never values).
pub fn describe(doc: &Branch) -> String {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(printable);
    let kind = s(doc.get("kind")).unwrap_or_else(|| "object".to_owned());
    let meta = match doc.get("metadata") {
        Some(Value::Map(m)) => Some(m),
        _ => None,
    };
    let name = s(meta.and_then(|m| m.get("name"))).unwrap_or_else(|| "<unnamed>".to_owned());
    match s(meta.and_then(|m| m.get("namespace"))) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(128).collect()
}

/// The `ENC[…]` strings in `bytes` (each up to its closing `]`), in order.
pub fn enc_tokens(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let prefix = ENC_PREFIX.as_bytes();
    let mut rest = bytes;
    std::iter::from_fn(move || {
        let start = rest.windows(prefix.len()).position(|w| w == prefix)?;
        let from = &rest[start..];
        let len = from
            .iter()
            .position(|&b| b == b']')
            .map_or(from.len(), |end| end + 1);
        rest = &from[len..];
        Some(&from[..len])
    })
}

/// Shortest string searched for base64-encoded sops data: the encoding of
/// [`ENC_PREFIX`] alone is longer.
const MIN_BASE64: usize = 20;

/// Standard base64, padding optional (Helm's `b64enc` pads, other tools
/// may not).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// True if `bytes` hold sops data: an `ENC[…]` value or a sops MAC line.
fn is_sops_data(bytes: &[u8]) -> bool {
    contains_encrypted_value(bytes) || looks_like_sops_file(bytes)
}

/// Sops data found in a rendered document. No `Debug` needed: it holds a
/// key path and ciphertext only.
pub struct SopsData {
    /// Where: `sops`, or the key path of the string, with `(base64)` when
    /// found in its decoded form.
    pub at: String,
    /// The `ENC[…]` strings found there (to tell which file they come from).
    pub tokens: Vec<Vec<u8>>,
}

/// Finds leftover sops data in an output document: a `sops` key at the top,
/// or anywhere in a string value — the whole value (`ENC[…]`), embedded text
/// (a `configMapGenerator` or Helm's `.Files.Get` over a sops file) or its
/// base64 form (Secret `data`, ConfigMap `binaryData`, `b64enc`).
pub fn find_sops_data(doc: &Branch) -> Option<SopsData> {
    fn tokens(bytes: &[u8]) -> Vec<Vec<u8>> {
        enc_tokens(bytes).map(<[u8]>::to_vec).collect()
    }
    fn in_str(s: &str) -> Option<(bool, Vec<Vec<u8>>)> {
        if is_sops_data(s.as_bytes()) {
            return Some((false, tokens(s.as_bytes())));
        }
        if s.len() < MIN_BASE64 {
            return None;
        }
        let compact: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        let decoded = Zeroizing::new(LENIENT_BASE64.decode(&compact).ok()?);
        is_sops_data(&decoded).then(|| (true, tokens(&decoded)))
    }
    fn in_value(v: &Value, path: &mut String) -> Option<SopsData> {
        match v {
            Value::Str(s) => in_str(s).map(|(encoded, tokens)| SopsData {
                at: if encoded {
                    format!("{path} (base64)")
                } else {
                    path.clone()
                },
                tokens,
            }),
            Value::Map(b) => in_branch(b, path),
            Value::Seq(items) => items.iter().enumerate().find_map(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = in_value(item, path);
                path.truncate(len);
                found
            }),
            _ => None,
        }
    }
    fn in_branch(b: &Branch, path: &mut String) -> Option<SopsData> {
        b.entries().find_map(|(k, v)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&printable(k));
            let found = in_value(v, path);
            path.truncate(len);
            found
        })
    }
    if let Some(sops) = doc.get("sops") {
        let mut found = Vec::new();
        collect_tokens(sops, &mut found);
        return Some(SopsData {
            at: "sops".to_owned(),
            tokens: found,
        });
    }
    in_branch(doc, &mut String::new())
}

/// Every `ENC[…]` string under `v` (the MAC in a `sops` block).
fn collect_tokens(v: &Value, out: &mut Vec<Vec<u8>>) {
    match v {
        Value::Str(s) => out.extend(enc_tokens(s.as_bytes()).map(<[u8]>::to_vec)),
        Value::Map(b) => b.entries().for_each(|(_, v)| collect_tokens(v, out)),
        Value::Seq(items) => items.iter().for_each(|v| collect_tokens(v, out)),
        _ => {}
    }
}

/// The message for sops data left in an output document.
pub fn leftover_message(shown: &str, doc: &Branch, found: &SopsData) -> String {
    format!(
        "{shown}: output still contains sops-encrypted data in {} (at {})",
        describe(doc),
        found.at
    )
}

/// The output checks every document must pass (spec §3.4 step 8, §3.6).
pub fn check(doc: &Branch, shown: &str) -> Result<(), Failure> {
    let what = describe(doc);
    let bad = |msg: String| Err(Failure::generic(format!("{shown}: {msg}")));
    if let Some(found) = find_sops_data(doc) {
        return Err(Failure::generic(leftover_message(shown, doc, &found)));
    }
    let kind = doc.get("kind").and_then(Value::as_str);
    if doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
        || kind.is_none_or(str::is_empty)
    {
        return bad(format!(
            "{what}: not a Kubernetes object (apiVersion and kind required)"
        ));
    }
    let is_list = kind.is_some_and(|k| k.ends_with("List"));
    let meta = match doc.get("metadata") {
        Some(Value::Map(m)) => Some(m),
        _ => None,
    };
    let named = meta.is_some_and(|m| {
        ["name", "generateName"].iter().any(|k| {
            m.get(k)
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty())
        })
    });
    if !is_list && !named {
        return bad(format!("{what}: metadata.name is required"));
    }
    if kind == Some("Secret") && doc.get("apiVersion").and_then(Value::as_str) == Some("v1") {
        check_secret(doc, &what).map_err(|m| Failure::generic(format!("{shown}: {m}")))?;
    }
    Ok(())
}

/// Secret shape: base64 `data`, string `stringData`, valid and unique keys.
/// Errors name the Secret and the data key only.
fn check_secret(doc: &Branch, what: &str) -> Result<(), String> {
    let section = |name: &str| -> Result<Option<&Branch>, String> {
        match doc.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Map(m)) => Ok(Some(m)),
            Some(_) => Err(format!("{what}: {name} must be a mapping")),
        }
    };
    let data = section("data")?;
    let string_data = section("stringData")?;
    let valid_key = |k: &str| {
        !k.is_empty()
            && k.len() <= 253
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    for (section_name, branch) in [("data", data), ("stringData", string_data)] {
        let Some(branch) = branch else { continue };
        for (k, v) in branch.entries() {
            if !valid_key(k) {
                return Err(format!(
                    "{what}: {section_name} key {:?} is not a valid Secret key",
                    printable(k)
                ));
            }
            match (section_name, v) {
                ("data", Value::Str(s)) => {
                    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                    // Sops data in the decoded value was looked for by
                    // `find_sops_data` already.
                    if base64::engine::general_purpose::STANDARD
                        .decode(compact.as_bytes())
                        .map(Zeroizing::new)
                        .is_err()
                    {
                        return Err(format!("{what}: data key {k} is not valid base64"));
                    }
                }
                ("data", Value::Null) => {}
                ("data", _) => return Err(format!("{what}: data key {k} is not valid base64")),
                (_, Value::Str(_) | Value::Null) => {}
                (_, _) => return Err(format!("{what}: stringData key {k} is not a string")),
            }
            if section_name == "stringData" && data.is_some_and(|d| d.get(k).is_some()) {
                return Err(format!("{what}: key {k} is in both data and stringData"));
            }
        }
    }
    Ok(())
}

/// The final stream: documents separated by `---`.
/// The final output of a mode: the YAML stream, or, when there is no
/// manifest, an error unless the app allows empty output.
pub fn finish_output(
    docs: &[Branch],
    allow_empty: bool,
    what: &str,
    source_path: Option<&str>,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    if docs.is_empty() {
        if allow_empty {
            return Ok(Zeroizing::new(Vec::new()));
        }
        let path = crate::walk::shown_path(std::path::Path::new(source_path.unwrap_or(".")));
        return Err(Failure::generic(format!(
            "no manifests produced for {what} in {path}; set allow-empty=true if intended"
        )));
    }
    Ok(Zeroizing::new(emit(docs)?))
}

pub fn emit(docs: &[Branch]) -> Result<Vec<u8>, Failure> {
    // Emitting parses nothing: the limits do not come into play.
    let store = store_for(Format::Yaml, &Limits::default())?;
    store
        .emit_plain(docs)
        .map_err(|e| Failure::generic(format!("cannot emit YAML: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(yaml: &str) -> Branch {
        let store = Format::Yaml.store().unwrap();
        store.load(yaml.as_bytes()).unwrap().remove(0)
    }

    #[test]
    fn finds_encrypted_values_with_their_path() {
        let d =
            doc("a:\n  b:\n    - x\n    - ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\n");
        assert_eq!(find_encrypted(&d).as_deref(), Some("a.b[1]"));
        assert_eq!(find_encrypted(&doc("a: 1\n")), None);
    }

    #[test]
    fn finds_sops_data_in_strings_and_base64() {
        let enc = "ENC[AES256_GCM,data:AAAA,iv:BBBB,tag:CCCC,type:str]";
        let file = format!(
            "password: {enc}\nsops:\n    mac: ENC[AES256_GCM,data:MM,iv:I,tag:T,type:str]\n"
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(&file);
        let cm = |data: &str| {
            doc(&format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n{data}"
            ))
        };
        let cases = [
            (format!("data:\n  f: {file:?}\n"), "data.f"),
            (format!("data:\n  f: x\n  l: [a, {enc:?}]\n"), "data.l[1]"),
            (format!("binaryData:\n  f: {b64}\n"), "data.f (base64)"),
            // Unpadded and wrapped base64.
            (
                format!("binaryData:\n  f: {}\n", b64.trim_end_matches('=')),
                "binaryData.f (base64)",
            ),
        ];
        for (i, (data, at)) in cases.iter().enumerate() {
            let d = cm(data);
            let found = find_sops_data(&d).unwrap_or_else(|| panic!("case {i}"));
            if i != 2 {
                assert_eq!(found.at, *at);
            }
            assert!(found.tokens.iter().any(|t| t == enc.as_bytes()), "case {i}");
            let err = check(&d, "out").unwrap_err();
            assert!(
                err.message
                    .starts_with("out: output still contains sops-encrypted data in ConfigMap c"),
                "{}",
                err.message
            );
        }
        let wrapped: String = b64
            .as_bytes()
            .chunks(60)
            .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
            .collect();
        let secret = doc(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  f: {wrapped:?}\n"
        ));
        assert_eq!(find_sops_data(&secret).unwrap().at, "data.f (base64)");
        // The sops block itself, with the MAC's token.
        let d = doc(&format!("a: 1\n{}", &file[file.find("sops:").unwrap()..]));
        let found = find_sops_data(&d).unwrap();
        assert_eq!(found.at, "sops");
        assert_eq!(
            found.tokens,
            [b"ENC[AES256_GCM,data:MM,iv:I,tag:T,type:str]".to_vec()]
        );
        // Ordinary values and base64 of ordinary data pass.
        let plain =
            base64::engine::general_purpose::STANDARD.encode("a long enough ordinary value");
        assert!(
            find_sops_data(&cm(&format!(
                "data:\n  a: ENC is fine\nbinaryData:\n  b: {plain}\n"
            )))
            .is_none()
        );
    }

    #[test]
    fn enc_tokens_are_split_at_their_bracket() {
        let t: Vec<_> =
            enc_tokens(b"x ENC[AES256_GCM,data:a,iv:b,tag:c,type:str] y ENC[AES256_GCM,data:d")
                .collect();
        assert_eq!(
            t,
            [
                b"ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]".as_slice(),
                b"ENC[AES256_GCM,data:d".as_slice()
            ]
        );
    }

    #[test]
    fn checks_objects_and_secrets() {
        let ok = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  k: aGVsbG8=\nstringData:\n  j: x\n";
        check(&doc(ok), "f").unwrap();
        check(&doc("apiVersion: v1\nkind: List\nitems: []\n"), "f").unwrap();
        let bad = [
            "kind: Secret\nmetadata:\n  name: s\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  k: not base64!\n",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  k: aGk=\nstringData:\n  k: x\n",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: 1\n",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k/x: a\n",
        ];
        for b in bad {
            let err = check(&doc(b), "f").unwrap_err();
            assert!(!err.message.contains("not base64!"), "{}", err.message);
        }
    }
}
