//! The HuaweiCloud KMS keystore's implementation (behind the `hckms`
//! feature): one key (`region:key-uuid`) and its `encrypt-data` /
//! `decrypt-data` calls, signed SDK-HMAC-SHA256, over the shared HTTPS
//! client (keys/http.rs).

use std::fmt;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use zeroize::Zeroizing;

use super::credentials::{self, Credentials, Missing};
use super::{KIND, regions, signer};
use crate::keys::cloud::{block_on, chain, one_line};
use crate::keys::http::{self, TlsTrust};
use crate::keys::{KeyContext, KeyError, KeyKind, KeySpec, MasterKey};
use crate::metadata::KeyEntry;
use crate::tree::{Branch, Value, time};

/// How much of a server's error message is kept.
const MESSAGE_LIMIT: usize = 300;

/// A HuaweiCloud KMS key as sops names it: `region:key-uuid`.
#[derive(Clone, PartialEq, Eq)]
pub struct HckmsKey {
    key_id: String,
    region: String,
    key_uuid: String,
    /// Kept from the metadata entry: sops keeps a key's creation time when
    /// it re-wraps a data key.
    created_at: Option<String>,
}

impl fmt::Debug for HckmsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HckmsKey")
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl HckmsKey {
    /// A key from the command line or a creation rule. As in sops, the id
    /// is trimmed and checked now: `region:key-uuid`, both parts non-empty.
    pub fn from_spec(spec: &KeySpec) -> Result<Self, KeyError> {
        Self::parse(spec.id.trim(), None)
    }

    /// The key of a metadata entry (checked as sops checks it on load).
    pub fn from_entry(entry: &KeyEntry) -> Result<Self, KeyError> {
        Self::parse(
            entry.field("key_id").unwrap_or_default(),
            entry.field("created_at").map(str::to_owned),
        )
    }

    fn parse(key_id: &str, created_at: Option<String>) -> Result<Self, KeyError> {
        let (region, key_uuid) = parse_key_id(key_id).map_err(|reason| KeyError::Invalid {
            identifier: key_id.to_owned(),
            reason,
        })?;
        Ok(Self {
            key_id: key_id.to_owned(),
            region: region.to_owned(),
            key_uuid: key_uuid.to_owned(),
            created_at,
        })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The metadata entry, in sops' field order.
    fn entry(&self, enc: String) -> KeyEntry {
        let mut fields = Branch::new();
        fields.push("key_id", Value::Str(self.key_id.clone()));
        let created = self
            .created_at
            .clone()
            .unwrap_or_else(time::now_rfc3339_seconds);
        fields.push("created_at", Value::Str(created));
        fields.push("enc", Value::Str(enc));
        KeyEntry { kind: KIND, fields }
    }

    fn rejected(&self, doing: &str, reason: &str) -> KeyError {
        KeyError::Rejected(format!(
            "failed to {doing} sops data key with HuaweiCloud KMS key {}: {reason}",
            self.key_id
        ))
    }

    /// One KMS operation (`encrypt-data`, `decrypt-data`) with a JSON body;
    /// the response's JSON on success. Each of the region's endpoints is
    /// tried in turn while the previous one cannot be reached.
    fn call(
        &self,
        doing: &str,
        operation: &str,
        body: &[u8],
        ctx: &KeyContext,
    ) -> Result<serde_json::Value, KeyError> {
        let endpoints = regions::endpoints(&self.region, ctx.hckms())
            .map_err(|e| self.rejected(doing, &format!("invalid region \"{}\": {e}", self.region)))?;
        let creds = credentials::resolve(ctx.hckms()).map_err(|missing| match missing {
            Missing::None(why) => KeyError::NoCredentials(format!(
                "failed to {doing} sops data key with HuaweiCloud KMS key {}: {why}",
                self.key_id
            )),
            Missing::Unusable(why) => self.rejected(doing, &why),
        })?;
        let client = client(ctx).map_err(|e| self.rejected(doing, &e))?;
        let path = format!("/v1.0/{}/kms/{operation}", creds.project_id);
        let mut unreachable = Vec::new();
        for endpoint in &endpoints {
            match block_on(send(&client, endpoint, &path, body, &creds))
                .map_err(|e| self.rejected(doing, &e))?
            {
                Ok((status, text)) => return self.reply(doing, status, &text),
                Err(e) if e.is_connect() || e.is_timeout() => {
                    let kind = if e.is_timeout() { "timed out: " } else { "" };
                    unreachable.push(format!("{endpoint}: {kind}{}", one_line(&chain(&e))));
                }
                Err(e) => {
                    return Err(self.rejected(
                        doing,
                        &format!("request to {endpoint} failed: {}", one_line(&chain(&e))),
                    ));
                }
            }
        }
        Err(self.rejected(
            doing,
            &format!("endpoint unreachable: {}", unreachable.join("; ")),
        ))
    }

    /// The JSON of a success, or the error the status and Huawei's error
    /// body describe.
    fn reply(
        &self,
        doing: &str,
        status: u16,
        text: &[u8],
    ) -> Result<serde_json::Value, KeyError> {
        let json: Option<serde_json::Value> = serde_json::from_slice(text).ok();
        if (200..300).contains(&status) {
            return json.ok_or_else(|| self.rejected(doing, "KMS returned a response that is not JSON"));
        }
        let what = match status {
            400 => "invalid request or ciphertext",
            401 => "not authenticated (check the access key and secret key)",
            403 => "permission denied",
            404 => "key not found",
            429 => "too many requests",
            500..=599 => "service unavailable",
            _ => "request refused",
        };
        let detail = json
            .as_ref()
            .and_then(error_of)
            .map(|(code, msg)| format!(", {code}: {}", truncate(&one_line(&msg))))
            .unwrap_or_default();
        Err(self.rejected(doing, &format!("{what} (HTTP {status}{detail})")))
    }
}

impl MasterKey for HckmsKey {
    fn entry_template(&self) -> Option<KeyEntry> {
        let mut fields = Branch::new();
        fields.push("key_id", Value::Str(self.key_id.clone()));
        if let Some(created) = &self.created_at {
            fields.push("created_at", Value::Str(created.clone()));
        }
        Some(KeyEntry { kind: KIND, fields })
    }

    fn kind(&self) -> KeyKind {
        KIND
    }

    fn identifier(&self) -> String {
        self.key_id.clone()
    }

    fn encrypt(&self, secret: &[u8], ctx: &KeyContext) -> Result<KeyEntry, KeyError> {
        // sops sends the data key as base64 text; KMS returns it as is on
        // decryption.
        let plain = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(secret));
        let body = Zeroizing::new(
            format!(
                "{{\"key_id\":{},\"plain_text\":\"{}\",\"encryption_algorithm\":\"SYMMETRIC_DEFAULT\"}}",
                serde_json::Value::from(self.key_uuid.as_str()),
                plain.as_str()
            )
            .into_bytes(),
        );
        let out = self.call("encrypt", "encrypt-data", &body, ctx)?;
        match out.get("cipher_text").and_then(serde_json::Value::as_str) {
            Some(cipher) if !cipher.is_empty() => Ok(self.entry(cipher.to_owned())),
            _ => Err(self.rejected("encrypt", "encryption response missing ciphertext")),
        }
    }

    fn decrypt(&self, entry: &KeyEntry, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let body = serde_json::json!({
            "cipher_text": entry.enc().unwrap_or_default(),
            "encryption_algorithm": "SYMMETRIC_DEFAULT",
            "key_id": self.key_uuid,
        });
        let body = serde_json::to_vec(&body)
            .map_err(|e| self.rejected("decrypt", &format!("cannot encode the request: {e}")))?;
        let mut out = self.call("decrypt", "decrypt-data", &body, ctx)?;
        let plain = match out.get_mut("plain_text") {
            Some(serde_json::Value::String(text)) => Some(Zeroizing::new(std::mem::take(text))),
            _ => None,
        };
        // `plain_text_base64` holds the data key too.
        wipe(out);
        let Some(plain) = plain else {
            return Err(self.rejected("decrypt", "decryption response missing plaintext"));
        };
        base64::engine::general_purpose::STANDARD
            .decode(plain.as_bytes())
            .map(Zeroizing::new)
            .map_err(|e| {
                self.rejected(
                    "decrypt",
                    &format!("failed to base64 decode decrypted data key: {e}"),
                )
            })
    }
}

/// The context's HTTPS client for HuaweiCloud KMS, built once.
fn client(ctx: &KeyContext) -> Result<reqwest::Client, String> {
    let slot = ctx.client_slot::<OnceLock<reqwest::Client>>(KIND.metadata_name());
    if let Some(client) = slot.get() {
        return Ok(client.clone());
    }
    let built = http::client(ctx, &TlsTrust::default())?;
    Ok(slot.get_or_init(|| built).clone())
}

/// Sends one signed POST; the status and body of any HTTP response.
async fn send(
    client: &reqwest::Client,
    endpoint: &str,
    path: &str,
    body: &[u8],
    creds: &Credentials,
) -> Result<(u16, Zeroizing<Vec<u8>>), reqwest::Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let date = signer::sdk_date(now);
    // The headers Huawei's SDK signs (but its User-Agent): the project and
    // the date, and the token of temporary credentials.
    let mut headers: Vec<(&str, &str)> =
        vec![("X-Project-Id", &creds.project_id), ("X-Sdk-Date", &date)];
    if let Some(token) = &creds.security_token {
        headers.push(("X-Security-Token", token.as_str()));
    }
    let authorization = signer::authorization(
        &creds.ak,
        creds.sk.as_bytes(),
        &signer::Request {
            method: "POST",
            path,
            query: &[],
            headers: &headers,
            body,
            date: &date,
        },
    );
    let mut request = client
        .post(format!("{endpoint}{path}"))
        .header("Content-Type", "application/json;charset=UTF-8")
        .header("Authorization", authorization)
        .body(body.to_vec());
    for (name, value) in &headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await?;
    Ok((status, Zeroizing::new(bytes.to_vec())))
}

/// Drops a JSON value with every string in it wiped.
fn wipe(value: serde_json::Value) {
    match value {
        serde_json::Value::String(s) => drop(Zeroizing::new(s)),
        serde_json::Value::Array(items) => items.into_iter().for_each(wipe),
        serde_json::Value::Object(map) => map.into_iter().for_each(|(k, v)| {
            drop(Zeroizing::new(k));
            wipe(v);
        }),
        _ => {}
    }
}

/// Huawei's error code and message, wherever the body has them: at the top
/// (`error_code`/`error_msg`, or `code`/`message`) or in a nested object
/// (`{"error": {...}}`), as the SDK looks for them.
fn error_of(json: &serde_json::Value) -> Option<(String, String)> {
    let map = json.as_object()?;
    let text = |k: &str| map.get(k).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty());
    for (code, msg) in [("error_code", "error_msg"), ("code", "message")] {
        if let (Some(c), Some(m)) = (text(code), text(msg)) {
            return Some((c.to_owned(), m.to_owned()));
        }
    }
    map.values().find_map(error_of)
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MESSAGE_LIMIT) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// sops' check of a key id: `region:key-uuid`, split at the first `:`,
/// each part trimmed and non-empty (sops' messages).
fn parse_key_id(key_id: &str) -> Result<(&str, &str), String> {
    let trimmed = key_id.trim();
    let Some((region, uuid)) = trimmed.split_once(':') else {
        return Err(format!(
            "invalid key ID format: expected 'region:key-uuid', got {trimmed:?}"
        ));
    };
    let (region, uuid) = (region.trim(), uuid.trim());
    if region.is_empty() {
        return Err(format!("region cannot be empty in key ID: {trimmed:?}"));
    }
    if uuid.is_empty() {
        return Err(format!("key UUID cannot be empty in key ID: {trimmed:?}"));
    }
    Ok((region, uuid))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "tr-west-1:12345678-1234-1234-1234-123456789abc";

    fn spec(id: &str) -> KeySpec {
        KeySpec {
            kind: KIND,
            id: id.to_owned(),
            fields: Vec::new(),
        }
    }

    #[test]
    fn key_ids_are_checked_as_sops_checks_them() {
        assert_eq!(
            parse_key_id(ID).unwrap(),
            ("tr-west-1", "12345678-1234-1234-1234-123456789abc")
        );
        assert_eq!(parse_key_id(" r : u:v ").unwrap(), ("r", "u:v"));
        for (bad, says) in [
            ("tr-west-1-12345678", "invalid key ID format: expected 'region:key-uuid', got \"tr-west-1-12345678\""),
            ("", "invalid key ID format: expected 'region:key-uuid', got \"\""),
            (":u", "region cannot be empty in key ID: \":u\""),
            ("tr-west-1: ", "key UUID cannot be empty in key ID: \"tr-west-1:\""),
        ] {
            assert_eq!(parse_key_id(bad).unwrap_err(), says);
        }
        let err = HckmsKey::from_spec(&spec("bad")).unwrap_err();
        assert!(matches!(err, KeyError::Invalid { .. }), "{err:?}");
    }

    #[test]
    fn entries_and_identifiers_follow_sops() {
        let key = HckmsKey::from_spec(&spec(&format!(" {ID} "))).unwrap();
        assert_eq!(key.identifier(), ID);
        let entry = key.entry("Y2lwaGVy".into());
        let names: Vec<&str> = entry.fields.entries().map(|(k, _)| k).collect();
        assert_eq!(names, ["key_id", "created_at", "enc"]);
        assert_eq!(entry.identifier(), ID);
        let back = HckmsKey::from_entry(&entry).unwrap();
        let created = entry.field("created_at").unwrap().to_owned();
        assert_eq!(back.entry("eA==".into()).field("created_at"), Some(created.as_str()));
    }

    #[test]
    fn error_bodies_as_the_sdk_reads_them() {
        let nested = serde_json::json!({"error": {"error_code": "KMS.0205", "error_msg": "gone"}});
        assert_eq!(error_of(&nested), Some(("KMS.0205".into(), "gone".into())));
        let flat = serde_json::json!({"error_msg": "bad sig", "error_code": "APIGW.0301", "request_id": "r"});
        assert_eq!(error_of(&flat), Some(("APIGW.0301".into(), "bad sig".into())));
        let other = serde_json::json!({"code": "X", "message": "m"});
        assert_eq!(error_of(&other), Some(("X".into(), "m".into())));
        assert_eq!(error_of(&serde_json::json!({"a": 1})), None);
        assert_eq!(truncate(&"x".repeat(400)).chars().count(), MESSAGE_LIMIT + 1);
    }

    #[test]
    fn unknown_regions_and_missing_credentials_fail_before_any_call() {
        let key = HckmsKey::from_spec(&spec("xx-west-9:u")).unwrap();
        let ctx = KeyContext::builder().hckms_credentials("a", "s", "p").build();
        let err = key.encrypt(b"k", &ctx).unwrap_err().to_string();
        assert!(
            err.contains("invalid region \"xx-west-9\": region id 'xx-west-9' is not in")
                && err.contains("xx-west-9:u"),
            "{err}"
        );
        let key = HckmsKey::from_spec(&spec(ID)).unwrap();
        let err = key.encrypt(b"k", &KeyContext::builder().build()).unwrap_err();
        assert!(matches!(err, KeyError::NoCredentials(_)), "{err:?}");
        assert!(err.to_string().contains(ID), "{err}");
    }

    /// Nothing listens on port 9: the key fails quickly, naming itself.
    #[test]
    fn unreachable_endpoints_fail_within_the_connect_timeout() {
        let key = HckmsKey::from_spec(&spec(ID)).unwrap();
        let ctx = KeyContext::builder()
            .hckms_credentials("a", "SECRET-SK", "p")
            .hckms_endpoint("tr-west-1", "https://127.0.0.1:9,https://127.0.0.1:9")
            .kms_connect_timeout(std::time::Duration::from_millis(300))
            .build();
        let start = std::time::Instant::now();
        let err = key.encrypt(b"k", &ctx).unwrap_err().to_string();
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        assert!(err.contains("endpoint unreachable") && err.contains(ID), "{err}");
        assert!(!err.contains("SECRET-SK"), "{err}");
    }
}
