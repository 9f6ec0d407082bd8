//! The Azure Key Vault keystore's implementation (behind the `azure-kv`
//! feature): one key (vault URL, name, version) and its REST calls, hand
//! made over the shared HTTP client (`keys/http.rs`):
//! `POST {vault}/keys/{name}/{version}/encrypt|decrypt?api-version=7.6`
//! with `{"alg": "RSA-OAEP-256", "value": base64url}`, and
//! `GET {vault}/keys/{name}/` for the current version of a key named
//! without one.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use base64::Engine;
use zeroize::Zeroizing;

use super::KIND;
use super::b64url;
use super::credentials::{CredentialKind, Token, TokenRequest, chain_token, send};
use crate::keys::http::{TlsTrust, client};
use crate::keys::{KeyContext, KeyError, KeyKind, KeySpec, MasterKey};
use crate::metadata::KeyEntry;
use crate::tree::{Branch, Value, time};

/// The Key Vault REST API version sops 3.11's client speaks.
const API_VERSION: &str = "7.6";

/// An Azure Key Vault key as sops names it:
/// `{vault_url}/keys/{name}/{version}`; the version may be empty (the
/// key's current version, looked up when it first wraps a key).
#[derive(Clone, PartialEq, Eq)]
pub struct AzureKvKey {
    vault_url: String,
    name: String,
    version: String,
    /// Kept from the metadata entry: sops keeps a key's creation time
    /// when it re-wraps a data key.
    created_at: Option<String>,
}

impl fmt::Debug for AzureKvKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureKvKey")
            .field("vault_url", &self.vault_url)
            .field("name", &self.name)
            .field("version", &self.version)
            .finish()
    }
}

impl AzureKvKey {
    /// A key from the command line or a creation rule: a key URL
    /// (`https://<vault>/keys/<name>[/<version>]`), or a `.sops.yaml` key
    /// group's `{vaultUrl, key, version}` (the spec's id is then the vault
    /// URL and its fields hold `key` and `version`).
    pub fn from_spec(spec: &KeySpec) -> Result<Self, KeyError> {
        let field = |name: &str| {
            spec.fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        match field("key") {
            Some(name) => Ok(Self {
                vault_url: spec.id.clone(),
                name,
                version: field("version").unwrap_or_default(),
                created_at: None,
            }),
            None => Self::from_url(&spec.id),
        }
    }

    /// sops' key URL pattern, `^(https://[^/]+)/keys/([^/]+)(/[^/]*)?$`
    /// after trimming; an empty version means the current one.
    pub fn from_url(url: &str) -> Result<Self, KeyError> {
        let url = url.trim();
        let refuse = || {
            KeyError::Rejected(format!(
                "could not parse \"{url}\" into a valid Azure Key Vault MasterKey []"
            ))
        };
        let rest = url.strip_prefix("https://").ok_or_else(refuse)?;
        let (host, path) = rest.split_once('/').ok_or_else(refuse)?;
        let path = path.strip_prefix("keys/").ok_or_else(refuse)?;
        let (name, version) = match path.split_once('/') {
            Some((name, version)) => (name, version),
            None => (path, ""),
        };
        if host.is_empty() || name.is_empty() || version.contains('/') {
            return Err(refuse());
        }
        Ok(Self {
            vault_url: format!("https://{host}"),
            name: name.to_owned(),
            version: version.to_owned(),
            created_at: None,
        })
    }

    /// The key of a metadata entry.
    pub fn from_entry(entry: &KeyEntry) -> Self {
        let field = |name: &str| entry.field(name).unwrap_or_default().to_owned();
        Self {
            vault_url: field("vault_url"),
            name: field("name"),
            version: field("version"),
            created_at: entry.field("created_at").map(str::to_owned),
        }
    }

    pub fn vault_url(&self) -> &str {
        &self.vault_url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version; empty for "the current one" until a key is wrapped.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The metadata entry, in sops' field order.
    fn entry(&self, version: &str, enc: String) -> KeyEntry {
        let mut fields = Branch::new();
        fields.push("vault_url", Value::Str(self.vault_url.clone()));
        fields.push("name", Value::Str(self.name.clone()));
        fields.push("version", Value::Str(version.to_owned()));
        let created = self
            .created_at
            .clone()
            .unwrap_or_else(time::now_rfc3339_seconds);
        fields.push("created_at", Value::Str(created));
        fields.push("enc", Value::Str(enc));
        KeyEntry { kind: KIND, fields }
    }

    fn url_with(&self, version: &str) -> String {
        format!("{}/keys/{}/{}", self.vault_url, self.name, version)
    }

    fn rejected(&self, doing: &str, version: &str, failure: Failure) -> KeyError {
        let text = format!(
            "failed to {doing} sops data key with Azure Key Vault key '{}': {}",
            self.url_with(version),
            failure.reason
        );
        if failure.no_credentials {
            KeyError::NoCredentials(text)
        } else {
            KeyError::Rejected(text)
        }
    }

    /// The vault's origin, checked: the names become parts of the request
    /// URL, so anything that would change which URL is called (another
    /// path, a query, dot segments, escapes) is refused before any call.
    /// Key Vault names allow none of it (letters, digits and `-`).
    fn origin(&self) -> Result<reqwest::Url, Failure> {
        let bad = |what: &str| Failure::plain(format!("invalid Azure Key Vault key: {what}"));
        let base = self.vault_url.trim_end_matches('/');
        let url = reqwest::Url::parse(base).map_err(|_| bad("the vault URL is not a URL"))?;
        if url.scheme() != "https"
            || url.host_str().is_none_or(str::is_empty)
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(bad("the vault URL must be https://<vault host>"));
        }
        for (what, part) in [("name", &self.name), ("version", &self.version)] {
            let plain = part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !plain || (what == "name" && part.is_empty()) {
                return Err(bad(&format!("unexpected characters in the key {what}")));
            }
        }
        Ok(url)
    }

    /// The version to use: the key's, or the vault's current one (looked up
    /// once per context, as sops does when it loads the key).
    fn resolved_version(&self, ctx: &KeyContext, session: &Session<'_>) -> Result<String, KeyError> {
        if !self.version.is_empty() {
            return Ok(self.version.clone());
        }
        let memo_key = format!("{}/keys/{}", self.vault_url, self.name);
        if let Some(v) = lock(&session.state.versions).get(&memo_key) {
            return Ok(v.clone());
        }
        let path = format!("/keys/{}/", self.name);
        let fetched = session.call(ctx, reqwest::Method::GET, &path, None).and_then(|reply| {
            reply
                .pointer("/key/kid")
                .and_then(|v| v.as_str())
                .and_then(|kid| kid.rsplit('/').next())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| Failure::plain("the vault's reply names no key version".into()))
        });
        let version = fetched.map_err(|failure| {
            // The reason starts with the request, which names the key.
            let text = format!(
                "failed to fetch Azure Key to retrieve key version: {}",
                failure.reason
            );
            if failure.no_credentials {
                KeyError::NoCredentials(text)
            } else {
                KeyError::Rejected(text)
            }
        })?;
        lock(&session.state.versions).insert(memo_key, version.clone());
        Ok(version)
    }

    /// One key operation (`encrypt`/`decrypt`) on `value`; the result.
    fn operate(
        &self,
        ctx: &KeyContext,
        op: &str,
        version: &str,
        session: &Session<'_>,
        value: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Failure> {
        let body = Zeroizing::new(
            serde_json::json!({"alg": "RSA-OAEP-256", "value": b64url(value)}).to_string(),
        );
        let path = format!("/keys/{}/{}/{op}", self.name, version);
        let reply = session.call(ctx, reqwest::Method::POST, &path, Some(body))?;
        let value = reply
            .get("value")
            .and_then(|v| v.as_str())
            .ok_or_else(|| Failure::plain("the vault's reply holds no value".into()))?;
        decode_b64url(value)
            .map(Zeroizing::new)
            .map_err(|_| Failure::plain("the vault's reply value is not base64url".into()))
    }
}

impl MasterKey for AzureKvKey {
    /// A key named without a version is sent as such (after
    /// [`MasterKey::prepare`] it has the vault's current one): the service
    /// resolves it with its own credentials, as sops' does.
    fn entry_template(&self) -> Option<KeyEntry> {
        let mut fields = Branch::new();
        fields.push("vault_url", Value::Str(self.vault_url.clone()));
        fields.push("name", Value::Str(self.name.clone()));
        fields.push("version", Value::Str(self.version.clone()));
        if let Some(created) = &self.created_at {
            fields.push("created_at", Value::Str(created.clone()));
        }
        Some(KeyEntry { kind: KIND, fields })
    }

    fn kind(&self) -> KeyKind {
        KIND
    }

    fn identifier(&self) -> String {
        self.url_with(&self.version)
    }

    fn encrypt(&self, secret: &[u8], ctx: &KeyContext) -> Result<KeyEntry, KeyError> {
        let session = Session::new(self, ctx).map_err(|f| self.rejected("encrypt", &self.version, f))?;
        let version = self.resolved_version(ctx, &session)?;
        let out = self
            .operate(ctx, "encrypt", &version, &session, secret)
            .map_err(|f| self.rejected("encrypt", &version, f))?;
        if out.is_empty() {
            return Err(self.rejected(
                "encrypt",
                &version,
                Failure::plain("the vault returned no ciphertext".into()),
            ));
        }
        Ok(self.entry(&version, b64url(&out)))
    }

    /// sops' `ensureKeyHasVersion`: a key without version gets the vault's
    /// current one now, with sops' message on failure.
    fn prepare(&mut self, ctx: &KeyContext) -> Result<(), KeyError> {
        if !self.version.is_empty() {
            return Ok(());
        }
        let session = Session::new(self, ctx).map_err(|f| {
            KeyError::Rejected(format!(
                "failed to fetch Azure Key to retrieve key version: {}",
                f.reason
            ))
        })?;
        let version = self.resolved_version(ctx, &session)?;
        self.version = version;
        Ok(())
    }

    fn decrypt(&self, entry: &KeyEntry, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let enc = entry.enc().unwrap_or_default();
        let ciphertext = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(enc)
            .map_err(|e| {
                self.rejected(
                    "decrypt",
                    &self.version,
                    Failure::plain(format!("failed to base64 decode Azure Key Vault encrypted key: {e}")),
                )
            })?;
        let session =
            Session::new(self, ctx).map_err(|f| self.rejected("decrypt", &self.version, f))?;
        self.operate(ctx, "decrypt", &self.version, &session, &ciphertext)
            .map_err(|f| self.rejected("decrypt", &self.version, f))
    }
}

/// Why a call failed, without the key's name (the caller adds it).
struct Failure {
    /// No credential of the chain was available.
    no_credentials: bool,
    reason: String,
}

impl Failure {
    fn plain(reason: String) -> Self {
        Self {
            no_credentials: false,
            reason,
        }
    }
}

/// What one context keeps for Azure Key Vault: the HTTP client, the
/// challenge of each vault host (so later calls skip the unauthenticated
/// round trip), the credential that worked and its tokens, and the
/// versions looked up.
#[derive(Default)]
struct State {
    client: Mutex<Option<reqwest::Client>>,
    challenges: Mutex<HashMap<String, Challenge>>,
    /// Held while a token is fetched, so that concurrent calls wait for
    /// one token instead of each running the chain.
    auth: Mutex<Auth>,
    versions: Mutex<HashMap<String, String>>,
}

#[derive(Default)]
struct Auth {
    chosen: Option<CredentialKind>,
    tokens: HashMap<(String, String), Token>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Challenge {
    tenant: String,
    scope: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One key's calls through the context's state.
struct Session<'a> {
    state: std::sync::Arc<State>,
    origin: reqwest::Url,
    client: reqwest::Client,
    key: &'a AzureKvKey,
}

impl<'a> Session<'a> {
    fn new(key: &'a AzureKvKey, ctx: &KeyContext) -> Result<Self, Failure> {
        let origin = key.origin()?;
        let state = ctx.client_slot::<State>(KIND.metadata_name());
        let client = {
            let mut slot = lock(&state.client);
            match slot.as_ref() {
                Some(c) => c.clone(),
                None => {
                    let built = client(ctx, &TlsTrust::default()).map_err(Failure::plain)?;
                    *slot = Some(built.clone());
                    built
                }
            }
        };
        Ok(Self {
            state,
            origin,
            client,
            key,
        })
    }

    /// A request to the vault, with the challenge flow: without a known
    /// challenge the request first goes without token and body, and the
    /// 401's `WWW-Authenticate` says which tenant and scope to get a token
    /// for. The JSON reply, or why it failed.
    fn call(
        &self,
        ctx: &KeyContext,
        method: reqwest::Method,
        path: &str,
        body: Option<Zeroizing<String>>,
    ) -> Result<serde_json::Value, Failure> {
        let mut url = self.origin.clone();
        url.set_path(path);
        url.set_query(Some(&format!("api-version={API_VERSION}")));
        let shown = format!("{method} {}{path}", self.key.vault_url.trim_end_matches('/'));
        let host = self.origin.host_str().unwrap_or_default().to_ascii_lowercase();
        let known = lock(&self.state.challenges).get(&host).cloned();
        let challenge = match known {
            Some(c) => c,
            None => {
                let request = self
                    .client
                    .request(method.clone(), url.clone())
                    .header("Content-Length", "0");
                let (status, headers, bytes) =
                    send(request).map_err(|e| Failure::plain(format!("{shown}: {e}")))?;
                if status != reqwest::StatusCode::UNAUTHORIZED {
                    return Err(Failure::plain(format!(
                        "{shown}: {}",
                        reply_error(status, &bytes, "the vault asked for no authentication")
                    )));
                }
                let challenge = headers
                    .get_all("WWW-Authenticate")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(parse_challenge)
                    .ok_or_else(|| {
                        Failure::plain(format!(
                            "{shown}: the 401 reply has no usable WWW-Authenticate challenge"
                        ))
                    })?;
                verify_resource(&challenge.scope, &host)
                    .map_err(|e| Failure::plain(format!("{shown}: {e}")))?;
                lock(&self.state.challenges).insert(host.clone(), challenge.clone());
                challenge
            }
        };
        let token = self.token(ctx, &challenge)?;
        let mut request = self
            .client
            .request(method, url)
            .bearer_auth(token.as_str())
            .header("Accept", "application/json");
        request = match body {
            Some(body) => request
                .header("Content-Type", "application/json")
                .body(body.as_bytes().to_vec()),
            None => request.header("Content-Length", "0"),
        };
        let (status, _, bytes) =
            send(request).map_err(|e| Failure::plain(format!("{shown}: {e}")))?;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            // A token the vault refuses is not used again.
            lock(&self.state.auth)
                .tokens
                .remove(&(challenge.tenant.clone(), challenge.scope.clone()));
        }
        if !status.is_success() {
            return Err(Failure::plain(format!(
                "{shown}: {}",
                reply_error(status, &bytes, "request refused")
            )));
        }
        serde_json::from_slice(&bytes)
            .map_err(|_| Failure::plain(format!("{shown}: the reply is not JSON")))
    }

    /// A token for the challenge's tenant and scope: a fresh cached one, or
    /// one from the credential chain.
    fn token(&self, ctx: &KeyContext, challenge: &Challenge) -> Result<Zeroizing<String>, Failure> {
        let mut auth = lock(&self.state.auth);
        let cache_key = (challenge.tenant.clone(), challenge.scope.clone());
        if let Some(token) = auth.tokens.get(&cache_key).filter(|t| t.is_fresh()) {
            return Ok(token.secret.clone());
        }
        let request = TokenRequest {
            tenant: &challenge.tenant,
            scope: &challenge.scope,
        };
        let mut chosen = auth.chosen;
        let token = chain_token(ctx.azure(), &self.client, &mut chosen, &request).map_err(
            |(no_credentials, reason)| Failure {
                no_credentials,
                reason,
            },
        )?;
        auth.chosen = chosen;
        let secret = token.secret.clone();
        auth.tokens.insert(cache_key, token);
        Ok(secret)
    }
}

/// A failed reply in a few words: what it means, the HTTP status, and Key
/// Vault's error code and message (which carry no secrets).
fn reply_error(status: reqwest::StatusCode, body: &[u8], other: &str) -> String {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let code = json.pointer("/error/code").and_then(|v| v.as_str());
    let message = json
        .pointer("/error/message")
        .and_then(|v| v.as_str())
        .map(crate::keys::cloud::one_line);
    let what = match status.as_u16() {
        401 => "not authenticated",
        403 => "permission denied",
        404 => "key not found",
        400 => "invalid request or ciphertext",
        _ if status.is_server_error() => "service unavailable",
        _ => other,
    };
    match (code, message) {
        (Some(code), Some(message)) => {
            format!("{what} (HTTP {}: {code}: {message})", status.as_u16())
        }
        (Some(code), None) => format!("{what} (HTTP {}: {code})", status.as_u16()),
        _ if code.is_none() && json.is_null() && !body.is_empty() => {
            // Not a Key Vault reply (a proxy or another server answered).
            format!("unexpected response (HTTP {})", status.as_u16())
        }
        _ => format!("{what} (HTTP {})", status.as_u16()),
    }
}

/// The tenant and scope of a `WWW-Authenticate: Bearer authorization="…",
/// resource="…"` (or `authorization_uri`, `scope`) challenge.
fn parse_challenge(header: &str) -> Option<Challenge> {
    let rest = header.trim();
    let params = rest
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("bearer "))
        .map(|_| &rest[7..])?;
    let mut found: HashMap<String, String> = HashMap::new();
    for part in params.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        found.insert(
            k.trim().to_ascii_lowercase(),
            v.trim().trim_matches('"').to_owned(),
        );
    }
    let authorization = found
        .get("authorization")
        .or_else(|| found.get("authorization_uri"))?;
    let tenant = authorization
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|t| !t.is_empty() && !t.contains(':'))?
        .to_owned();
    let scope = match (found.get("scope"), found.get("resource")) {
        (Some(scope), _) if !scope.is_empty() => scope.clone(),
        (_, Some(resource)) if !resource.is_empty() => {
            format!("{}/.default", resource.trim_end_matches('/'))
        }
        _ => return None,
    };
    Some(Challenge { tenant, scope })
}

/// Key Vault's client check: the challenge's resource must be a parent
/// domain of the vault's host, so a vault cannot obtain a token for
/// another service.
fn verify_resource(scope: &str, vault_host: &str) -> Result<(), String> {
    let resource_host = reqwest::Url::parse(scope)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .ok_or_else(|| format!("the challenge's resource {scope:?} is not a URL"))?;
    if vault_host == resource_host || vault_host.ends_with(&format!(".{resource_host}")) {
        return Ok(());
    }
    Err(format!(
        "the challenge's resource domain {resource_host:?} does not match the vault's host \
         {vault_host:?}"
    ))
}

/// URL-safe base64, padded or not (the vault's values are unpadded).
fn decode_b64url(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim().trim_end_matches('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://sopstest.vault.azure.net/keys/sops-key/0123abcd";

    fn spec(id: &str, fields: &[(&str, &str)]) -> KeySpec {
        KeySpec {
            kind: KIND,
            id: id.to_owned(),
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn urls_parse_as_sops_does() {
        let key = AzureKvKey::from_url(&format!(" {URL} ")).unwrap();
        assert_eq!(key.vault_url(), "https://sopstest.vault.azure.net");
        assert_eq!(key.name(), "sops-key");
        assert_eq!(key.version(), "0123abcd");
        assert_eq!(key.identifier(), URL);
        let key = AzureKvKey::from_url("https://v.vault.azure.net/keys/k").unwrap();
        assert_eq!((key.name(), key.version()), ("k", ""));
        let key = AzureKvKey::from_url("https://v.vault.azure.net/keys/k/").unwrap();
        assert_eq!((key.name(), key.version()), ("k", ""));
        for bad in [
            "x",
            "",
            "http://v.vault.azure.net/keys/k/1",
            "https://v.vault.azure.net/keys/k/1/2",
            "https://v.vault.azure.net/secrets/k/1",
            "https:///keys/k",
            "https://v.vault.azure.net/keys//1",
        ] {
            let err = AzureKvKey::from_url(bad).unwrap_err().to_string();
            assert_eq!(
                err,
                format!(
                    "could not parse \"{}\" into a valid Azure Key Vault MasterKey []",
                    bad.trim()
                )
            );
        }
    }

    #[test]
    fn group_specs_carry_key_and_version() {
        let key = AzureKvKey::from_spec(&spec(
            "https://v.vault.azure.net",
            &[("key", "k"), ("version", "1")],
        ))
        .unwrap();
        assert_eq!(key.identifier(), "https://v.vault.azure.net/keys/k/1");
        let key =
            AzureKvKey::from_spec(&spec("https://v.vault.azure.net", &[("key", "k")])).unwrap();
        assert_eq!(key.version(), "");
        assert!(AzureKvKey::from_spec(&spec("nope", &[])).is_err());
    }

    #[test]
    fn entries_follow_sops() {
        let key = AzureKvKey::from_url(URL).unwrap();
        let entry = key.entry("0123abcd", "ZW5j".into());
        let names: Vec<&str> = entry.fields.entries().map(|(k, _)| k).collect();
        assert_eq!(names, ["vault_url", "name", "version", "created_at", "enc"]);
        assert_eq!(entry.identifier(), URL);
        let back = AzureKvKey::from_entry(&entry);
        assert_eq!(back.identifier(), URL);
        let created = entry.field("created_at").unwrap().to_owned();
        assert_eq!(
            back.entry("0123abcd", "eA".into()).field("created_at"),
            Some(created.as_str())
        );
    }

    #[test]
    fn names_that_would_change_the_url_are_refused_before_any_call() {
        let ctx = KeyContext::builder().build();
        for (vault, name, version) in [
            ("https://v.vault.azure.net", "..", "1"),
            ("https://v.vault.azure.net", "k?x=1", "1"),
            ("https://v.vault.azure.net", "k", "1#x"),
            ("https://v.vault.azure.net", "k%2e", "1"),
            ("https://v.vault.azure.net/path", "k", "1"),
            ("http://v.vault.azure.net", "k", "1"),
            ("https://user@v.vault.azure.net", "k", "1"),
        ] {
            let key = AzureKvKey::from_spec(&spec(vault, &[("key", name), ("version", version)]))
                .unwrap();
            let err = key.encrypt(b"k", &ctx).unwrap_err().to_string();
            assert!(err.contains("invalid Azure Key Vault key"), "{err}");
        }
    }

    #[test]
    fn challenges_name_tenant_and_scope() {
        let c = parse_challenge(
            "Bearer authorization=\"https://login.microsoftonline.com/72f988bf-86f1\", resource=\"https://vault.azure.net\"",
        )
        .unwrap();
        assert_eq!(c.tenant, "72f988bf-86f1");
        assert_eq!(c.scope, "https://vault.azure.net/.default");
        let c = parse_challenge(
            "Bearer authorization_uri=\"https://login.example/t/\", scope=\"https://vault.example/.default\"",
        )
        .unwrap();
        assert_eq!((c.tenant.as_str(), c.scope.as_str()), ("t", "https://vault.example/.default"));
        assert!(parse_challenge("Basic realm=\"x\"").is_none());
        assert!(parse_challenge("Bearer resource=\"https://vault.azure.net\"").is_none());
        assert!(verify_resource("https://vault.azure.net/.default", "kv.vault.azure.net").is_ok());
        assert!(verify_resource("https://vault.azure.net/.default", "evilvault.azure.net").is_err());
        assert!(verify_resource("https://management.azure.com/.default", "kv.vault.azure.net").is_err());
    }

    #[test]
    fn replies_are_summarised() {
        let s = |code: u16, body: &str| {
            reply_error(reqwest::StatusCode::from_u16(code).unwrap(), body.as_bytes(), "refused")
        };
        assert_eq!(
            s(403, r#"{"error":{"code":"Forbidden","message":"no\naccess"}}"#),
            "permission denied (HTTP 403: Forbidden: no access)"
        );
        assert_eq!(s(404, ""), "key not found (HTTP 404)");
        assert_eq!(s(405, "<html>"), "unexpected response (HTTP 405)");
    }

    #[test]
    fn enc_is_unpadded_url_safe_base64() {
        assert_eq!(decode_b64url("AAEC_w").unwrap(), [0, 1, 2, 255]);
        assert_eq!(decode_b64url("AAEC_w==").unwrap(), [0, 1, 2, 255]);
        let key = AzureKvKey::from_url(URL).unwrap();
        let entry = key.entry("0123abcd", "AAEC/w==".into());
        let err = key
            .decrypt(&entry, &KeyContext::builder().build())
            .unwrap_err()
            .to_string();
        assert!(err.contains("failed to base64 decode"), "{err}");
    }
}
