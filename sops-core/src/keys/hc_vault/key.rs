//! The Vault transit keystore's implementation (behind the `hc-vault`
//! feature): one transit key (address, engine path, key name) and its two
//! JSON calls, made with the shared HTTP client (keys/http.rs).

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use base64::Engine;
use zeroize::Zeroizing;

use super::KIND;
use super::inputs::VaultInputs;
use crate::keys::cloud::{block_on, chain, one_line};
use crate::keys::http::{self, TlsTrust};
use crate::keys::{KeyContext, KeyError, KeyKind, KeySpec, MasterKey, read_secret_file};
use crate::metadata::KeyEntry;
use crate::tree::{Branch, Value, time};

/// The most of a Vault reply that is read; a transit reply is a few
/// hundred bytes.
const REPLY_LIMIT: usize = 1 << 20;

/// The example sops' URI errors show.
const URI_EXAMPLE: &str = "https://vault.example.com:8200/v1/transit/keys/keyName";

/// A Vault transit key as sops names it:
/// `{vault_address}/v1/{engine_path}/keys/{key_name}`.
#[derive(Clone, PartialEq, Eq)]
pub struct HcVaultKey {
    vault_address: String,
    engine_path: String,
    key_name: String,
    /// Kept from the metadata entry: sops keeps a key's creation time
    /// when it re-wraps a data key.
    created_at: Option<String>,
}

impl fmt::Debug for HcVaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HcVaultKey")
            .field(&self.identifier())
            .finish()
    }
}

impl HcVaultKey {
    /// A key from its URI (a flag, `SOPS_VAULT_URIS`, a creation rule or a
    /// key group), split as sops splits it (`split_uri`).
    pub fn from_spec(spec: &KeySpec) -> Result<Self, KeyError> {
        let (vault_address, engine_path, key_name) =
            split_uri(&spec.id).map_err(|reason| KeyError::Invalid {
                identifier: spec.id.clone(),
                reason,
            })?;
        Ok(Self {
            vault_address,
            engine_path,
            key_name,
            created_at: None,
        })
    }

    /// The key of a metadata entry.
    pub fn from_entry(entry: &KeyEntry) -> Self {
        let field = |name| entry.field(name).unwrap_or_default().to_owned();
        Self {
            vault_address: field("vault_address"),
            engine_path: field("engine_path"),
            key_name: field("key_name"),
            created_at: entry.field("created_at").map(str::to_owned),
        }
    }

    pub fn vault_address(&self) -> &str {
        &self.vault_address
    }

    pub fn engine_path(&self) -> &str {
        &self.engine_path
    }

    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    /// The metadata entry, in sops' field order.
    fn entry(&self, enc: Option<String>) -> KeyEntry {
        let mut fields = Branch::new();
        fields.push("vault_address", Value::Str(self.vault_address.clone()));
        fields.push("engine_path", Value::Str(self.engine_path.clone()));
        fields.push("key_name", Value::Str(self.key_name.clone()));
        if let Some(enc) = enc {
            let created = self
                .created_at
                .clone()
                .unwrap_or_else(time::now_rfc3339_seconds);
            fields.push("created_at", Value::Str(created));
            fields.push("enc", Value::Str(enc));
        }
        KeyEntry { kind: KIND, fields }
    }

    /// The transit path of an operation, as sops joins it.
    fn op_path(&self, op: &str) -> String {
        join_path(&[&self.engine_path, op, &self.key_name])
    }

    /// sops' wording (callers name the key by its URI; the reasons of
    /// failed calls name the URL called).
    fn failed(&self, doing: &Doing, reason: &str) -> String {
        format!(
            "failed to {} sops data key {} Vault transit backend '{}': {reason}",
            doing.verb(),
            doing.preposition(),
            self.op_path(doing.verb()),
        )
    }

    fn rejected(&self, doing: &Doing, reason: &str) -> KeyError {
        KeyError::Rejected(self.failed(doing, reason))
    }

    /// The address allow-list (sops 3.13), checked before anything else.
    fn check_allowed(&self, doing: &Doing, inputs: &VaultInputs) -> Result<(), KeyError> {
        let list = Allowlist::parse(inputs.allowlist.as_deref())
            .map_err(|e| self.rejected(doing, &e))?;
        if list.allows(&self.vault_address) {
            return Ok(());
        }
        Err(self.rejected(
            doing,
            &format!("Allowlist does not allow {}", self.vault_address),
        ))
    }

    fn token(&self, doing: &Doing, inputs: &VaultInputs) -> Result<Zeroizing<String>, KeyError> {
        context_token(inputs).map_err(|problem| match problem {
            TokenProblem::Missing(why) => {
                KeyError::NoCredentials(self.failed(doing, &format!("no Vault token: {why}")))
            }
            TokenProblem::Unreadable(why) => self.rejected(doing, &why),
        })
    }

    /// One transit call: `PUT {address}/v1/{engine}/{op}/{key}` with `body`;
    /// returns the reply's `data` object.
    fn call(
        &self,
        doing: &Doing,
        ctx: &KeyContext,
        body: &serde_json::Value,
    ) -> Result<serde_json::Map<String, serde_json::Value>, KeyError> {
        check_names(&self.engine_path, &self.key_name).map_err(|e| self.rejected(doing, &e))?;
        let inputs = ctx.vault_inputs();
        self.check_allowed(doing, inputs)?;
        let token = self.token(doing, inputs)?;
        let url = request_url(&self.vault_address, &self.op_path(doing.verb()))
            .map_err(|e| self.rejected(doing, &e))?;
        let client = client(ctx).map_err(|e| self.rejected(doing, &e))?;
        let mut token_header = reqwest::header::HeaderValue::from_str(&token)
            .map_err(|_| self.rejected(doing, "the Vault token is not a valid HTTP header value"))?;
        token_header.set_sensitive(true);
        let mut request = client
            .put(url.clone())
            .header("X-Vault-Token", token_header)
            .header("X-Vault-Request", "true")
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(namespace) = &inputs.namespace {
            request = request.header("X-Vault-Namespace", namespace.as_str());
        }
        // The body holds the data key (encrypt): wiped once sent.
        let payload = Zeroizing::new(serde_json::to_vec(body).unwrap_or_default());
        let request = request.body(payload.to_vec());
        let total = ctx.kms_timeout();
        let reply = block_on(async move {
            let mut response = request.send().await?;
            let status = response.status();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(one_line);
            let mut data = Zeroizing::new(Vec::new());
            while let Some(chunk) = response.chunk().await? {
                if data.len() + chunk.len() > REPLY_LIMIT {
                    return Ok((status, location, None));
                }
                data.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>((status, location, Some(data)))
        })
        .map_err(|e| self.rejected(doing, &e))?;
        let where_ = format!("PUT {}", url.as_str());
        let (status, location, data) = reply.map_err(|e| {
            let detail = one_line(&chain(&e));
            let reason = if e.is_timeout() {
                format!("{where_}: Vault unreachable: timed out after {}s: {detail}", total.as_secs_f64())
            } else if e.is_connect() {
                format!("{where_}: Vault unreachable: {detail}")
            } else {
                format!("{where_}: {detail}")
            };
            self.rejected(doing, &reason)
        })?;
        let Some(data) = data else {
            return Err(self.rejected(doing, &format!("{where_}: the reply is too large")));
        };
        if status.is_redirection() {
            // A standby node without request forwarding answers 307 with
            // the active node; following it would take the token along.
            let to = location.map_or_else(|| "elsewhere".to_owned(), |l| format!("to {l}"));
            return Err(self.rejected(
                doing,
                &format!(
                    "{where_}: Code: {}. The server redirects {to}; redirects are not followed \
                     (the token would go along): use that address in the key",
                    status.as_u16()
                ),
            ));
        }
        if !status.is_success() {
            return Err(self.rejected(
                doing,
                &format!("{where_}: Code: {}. {}", status.as_u16(), vault_errors(&data)),
            ));
        }
        // A success reply may hold the data key: never echoed.
        let parsed: serde_json::Value = serde_json::from_slice(&data)
            .map_err(|_| self.rejected(doing, "the reply is not JSON"))?;
        match parsed.get("data") {
            Some(serde_json::Value::Object(map)) => Ok(map.clone()),
            _ => Err(self.rejected(doing, "transit backend is empty")),
        }
    }
}

/// Encrypting or decrypting, for messages and the transit path.
enum Doing {
    Encrypt,
    Decrypt,
}

impl Doing {
    fn verb(&self) -> &'static str {
        match self {
            Doing::Encrypt => "encrypt",
            Doing::Decrypt => "decrypt",
        }
    }

    fn preposition(&self) -> &'static str {
        match self {
            Doing::Encrypt => "to",
            Doing::Decrypt => "from",
        }
    }
}

impl MasterKey for HcVaultKey {
    fn entry_template(&self) -> Option<KeyEntry> {
        let mut entry = self.entry(None);
        if let Some(created) = &self.created_at {
            entry.fields.push("created_at", Value::Str(created.clone()));
        }
        Some(entry)
    }

    fn kind(&self) -> KeyKind {
        KIND
    }

    fn identifier(&self) -> String {
        format!(
            "{}/v1/{}/keys/{}",
            self.vault_address, self.engine_path, self.key_name
        )
    }

    fn encrypt(&self, secret: &[u8], ctx: &KeyContext) -> Result<KeyEntry, KeyError> {
        let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(secret));
        let body = serde_json::json!({ "plaintext": encoded.as_str() });
        let data = self.call(&Doing::Encrypt, ctx, &body)?;
        match data.get("ciphertext") {
            Some(serde_json::Value::String(enc)) => Ok(self.entry(Some(enc.clone()))),
            Some(_) => Err(self.rejected(
                &Doing::Encrypt,
                "encrypted ciphertext cannot be cast to string",
            )),
            None => Err(self.rejected(&Doing::Encrypt, "no encrypted data")),
        }
    }

    fn decrypt(&self, entry: &KeyEntry, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let body = serde_json::json!({ "ciphertext": entry.enc().unwrap_or_default() });
        let data = self.call(&Doing::Decrypt, ctx, &body)?;
        let plaintext = match data.get("plaintext") {
            Some(serde_json::Value::String(p)) => Zeroizing::new(p.clone()),
            Some(_) => {
                return Err(self.rejected(
                    &Doing::Decrypt,
                    "decrypted plaintext data cannot be cast to string",
                ));
            }
            None => return Err(self.rejected(&Doing::Decrypt, "no decrypted data")),
        };
        base64::engine::general_purpose::STANDARD
            .decode(plaintext.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| {
                self.rejected(
                    &Doing::Decrypt,
                    "cannot decode base64 plaintext into data key bytes",
                )
            })
    }
}

/// Why the context has no usable Vault token.
pub(crate) enum TokenProblem {
    /// None is configured (the reason, e.g. the token file does not exist).
    Missing(String),
    /// The token file exists but cannot be used.
    Unreadable(String),
}

/// The context's Vault token, as the Vault client finds it: `VAULT_TOKEN`,
/// else the token file (`~/.vault-token`, trimmed). The transit keys and
/// `publish`'s Vault KV destination both ask here.
pub(crate) fn context_token(inputs: &VaultInputs) -> Result<Zeroizing<String>, TokenProblem> {
    if let Some(token) = &inputs.token {
        return Ok(token.clone());
    }
    let Some(file) = &inputs.token_file else {
        return Err(TokenProblem::Missing(
            "VAULT_TOKEN is unset and there is no token file (HOME is unset)".to_owned(),
        ));
    };
    if !file.exists() {
        return Err(TokenProblem::Missing(format!(
            "VAULT_TOKEN is unset and {} does not exist",
            file.display()
        )));
    }
    let data = read_secret_file(file).map_err(|e| {
        TokenProblem::Unreadable(format!("cannot get Vault token: {}", one_line(&chain(&e))))
    })?;
    let text = std::str::from_utf8(&data).map_err(|_| {
        TokenProblem::Unreadable(format!(
            "cannot get Vault token: {} is not UTF-8",
            file.display()
        ))
    })?;
    let token = Zeroizing::new(text.trim().to_owned());
    if token.is_empty() {
        return Err(TokenProblem::Missing(format!(
            "VAULT_TOKEN is unset and {} is empty",
            file.display()
        )));
    }
    Ok(token)
}

/// The context's client: one per context, since every Vault key of a
/// context shares its trust settings. A failed build (an unreadable CA
/// file) is kept too: the same inputs would fail again.
pub(crate) fn client(ctx: &KeyContext) -> Result<reqwest::Client, String> {
    let slot =
        ctx.client_slot::<OnceLock<Result<reqwest::Client, String>>>(KIND.metadata_name());
    slot.get_or_init(|| {
        let trust = trust(ctx.vault_inputs())?;
        let identity = client_identity(ctx.vault_inputs())?;
        http::client_with_identity(ctx, &trust, identity)
    })
    .clone()
}

/// `VAULT_CACERT` (else `VAULT_CAPATH`) and `VAULT_SKIP_VERIFY`, as the
/// Vault client reads them.
fn trust(inputs: &VaultInputs) -> Result<TlsTrust, String> {
    let skip_verify = match inputs.skip_verify.as_deref() {
        None => false,
        Some(v) => {
            parse_go_bool(v).ok_or_else(|| "could not parse VAULT_SKIP_VERIFY".to_owned())?
        }
    };
    let extra_roots_pem = if let Some(file) = &inputs.ca_cert {
        Some(read_ca(file, "VAULT_CACERT")?)
    } else if let Some(dir) = &inputs.ca_path {
        Some(read_ca_dir(dir)?)
    } else {
        None
    };
    Ok(TlsTrust {
        extra_roots_pem,
        skip_verify,
    })
}

/// `VAULT_CLIENT_CERT` with `VAULT_CLIENT_KEY` (both or neither, as the
/// Vault client wants them).
fn client_identity(inputs: &VaultInputs) -> Result<Option<reqwest::Identity>, String> {
    let (cert, key) = match (&inputs.client_cert, &inputs.client_key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => {
            return Err(
                "both VAULT_CLIENT_CERT and VAULT_CLIENT_KEY must be given".to_owned(),
            );
        }
    };
    let read = |file: &Path, var: &str| {
        read_secret_file(file)
            .map_err(|e| format!("cannot read {var}: {}", one_line(&chain(&e))))
    };
    let mut pem = read(cert, "VAULT_CLIENT_CERT")?;
    pem.push(b'\n');
    pem.extend_from_slice(&read(key, "VAULT_CLIENT_KEY")?);
    reqwest::Identity::from_pem(&pem)
        .map(Some)
        .map_err(|e| format!("invalid VAULT_CLIENT_CERT or VAULT_CLIENT_KEY: {e}"))
}

fn read_ca(file: &Path, var: &str) -> Result<Vec<u8>, String> {
    std::fs::read(file).map_err(|e| format!("cannot read {var} {}: {e}", file.display()))
}

/// Every regular file of the directory, in name order.
fn read_ca_dir(dir: &Path) -> Result<Vec<u8>, String> {
    let unreadable = |e: std::io::Error| format!("cannot read VAULT_CAPATH {}: {e}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut pem = Vec::new();
    for file in files {
        pem.extend(read_ca(&file, "VAULT_CAPATH")?);
        pem.push(b'\n');
    }
    Ok(pem)
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The `errors` of a Vault error reply, `; `-separated; a reply that is
/// not Vault's (a proxy's page) is not echoed.
fn vault_errors(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let errors: Vec<String> = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(serde_json::Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(serde_json::Value::as_str)
                .map(one_line)
                .collect()
        })
        .unwrap_or_default();
    if errors.is_empty() {
        "Errors: none given".to_owned()
    } else {
        format!("Errors: {}", errors.join("; "))
    }
}

/// sops 3.13's `SOPS_HC_VAULT_ALLOWLIST`.
#[derive(Debug, PartialEq, Eq)]
enum Allowlist {
    All,
    /// URL prefixes, each ending in `/`.
    Prefixes(Vec<String>),
}

impl Allowlist {
    /// `all` and `none` are exact words; any other value is a list of
    /// prefixes, each trimmed of blanks and given a trailing `/`; an empty
    /// entry is an error naming its position.
    fn parse(value: Option<&str>) -> Result<Self, String> {
        let value = value.unwrap_or("all");
        match value {
            "all" => return Ok(Allowlist::All),
            "none" => return Ok(Allowlist::Prefixes(Vec::new())),
            _ => {}
        }
        value
            .split(',')
            .enumerate()
            .map(|(i, entry)| {
                let entry = entry.trim_matches(' ');
                if entry.is_empty() {
                    return Err(format!(
                        "SOPS_HC_VAULT_ALLOWLIST's entry {} is empty",
                        i + 1
                    ));
                }
                Ok(with_slash(entry))
            })
            .collect::<Result<_, _>>()
            .map(Allowlist::Prefixes)
    }

    /// An address is allowed when it, with a trailing `/`, starts with an
    /// entry: `https://vault:8200` allows `https://vault:8200` only, not
    /// `https://vault:82001` nor `https://vault:8200.evil`.
    fn allows(&self, address: &str) -> bool {
        match self {
            Allowlist::All => true,
            Allowlist::Prefixes(list) => {
                let address = with_slash(address);
                list.iter().any(|p| address.starts_with(p.as_str()))
            }
        }
    }
}

fn with_slash(text: &str) -> String {
    if text.ends_with('/') {
        text.to_owned()
    } else {
        format!("{text}/")
    }
}

/// Splits a key URI as sops does (Go's URL parser, then two patterns over
/// the request URI): `scheme://host[:port]/v1/ENGINE…/keys/KEY` gives the
/// address `scheme://host[:port]` (scheme in lower case; a query kept, as
/// sops keeps it), the engine path (every segment between `v1` and the
/// second-to-last one, joined and cleaned; it may contain slashes) and the
/// key name (the last segment). A path with segments before `v<N>` is
/// refused ("prefixed URL"), as is one with fewer than three segments
/// after it.
pub(crate) fn split_uri(uri: &str) -> Result<(String, String, String), String> {
    let (rest, fragment) = match uri.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (uri, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let missing_scheme = || {
        format!(
            "missing scheme in Vault URL (should be like this: {URI_EXAMPLE}), got: {uri}"
        )
    };
    let (scheme, rest) = rest.split_once("://").ok_or_else(missing_scheme)?;
    let mut chars = scheme.chars();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(missing_scheme());
    }
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let mut request_uri = if path.is_empty() { "/".to_owned() } else { path.to_owned() };
    if let Some(query) = query {
        request_uri.push('?');
        request_uri.push_str(query);
    }
    if is_prefixed(&request_uri) {
        return Err(format!(
            "running Vault with a prefixed URL is not supported! (Format has to be like {URI_EXAMPLE})"
        ));
    }
    if !is_well_formed(&request_uri) {
        return Err(format!(
            "vault path does not seem to be formatted correctly: (eg. {URI_EXAMPLE})"
        ));
    }
    let dirs: Vec<&str> = request_uri.trim_matches('/').split('/').collect();
    // At least `v1`, an engine segment, `keys` and the key: the pattern above.
    let key_name = dirs[dirs.len() - 1].to_owned();
    let engine_path = join_path(&dirs[1..dirs.len() - 2]);
    let mut address = format!("{}://{authority}", scheme.to_ascii_lowercase());
    if let Some(query) = query {
        address.push('?');
        address.push_str(query);
    }
    if let Some(fragment) = fragment.filter(|f| !f.is_empty()) {
        address.push('#');
        address.push_str(fragment);
    }
    Ok((address, engine_path, key_name))
}

/// The segments of `text` split at `/` (the first one is what precedes
/// the first `/`).
fn segments(text: &str) -> Vec<&str> {
    text.split('/').collect()
}

/// `v` and one or more ASCII digits.
fn is_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// sops' `/[^/]+/v[\d]+/[^/]+/[^/]+/[^/]+` anywhere in the request URI: a
/// segment before the version one, then three non-empty segments.
fn is_prefixed(request_uri: &str) -> bool {
    let s = segments(request_uri);
    (1..s.len()).any(|i| {
        s.len() > i + 4
            && !s[i].is_empty()
            && is_version(s[i + 1])
            && s[i + 2..i + 5].iter().all(|p| !p.is_empty())
    })
}

/// sops' `/v[\d]+/[^/]+/[^/]+/[^/]+` anywhere in the request URI.
fn is_well_formed(request_uri: &str) -> bool {
    let s = segments(request_uri);
    (1..s.len()).any(|i| {
        s.len() > i + 3 && is_version(s[i]) && s[i + 1..i + 4].iter().all(|p| !p.is_empty())
    })
}

/// Go's `path.Join`: the non-empty parts joined by `/`, then cleaned;
/// empty when every part is.
fn join_path(parts: &[&str]) -> String {
    let parts: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return String::new();
    }
    clean_path(&parts.join("/"))
}

/// Go's `path.Clean`: no empty or `.` segments, `..` applied (kept at the
/// start of a relative path, dropped at the root), `.` for nothing.
fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|s| *s != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// The engine path and key name of an entry name the path that is called,
/// and an entry is the tenant's text (the `sops` block is not covered by
/// the MAC): names sops' URI splitting never writes (empty, `.` or `..`
/// segments, a `/` in the key name) are refused, so that an allow-list
/// entry such as `…/v1/team-a/*/keys/*` cannot be walked out of with
/// `team-a/../team-b`.
fn check_names(engine_path: &str, key_name: &str) -> Result<(), String> {
    let bad = |s: &str| s.is_empty() || s == "." || s == "..";
    if engine_path.split('/').any(bad) {
        return Err(format!("invalid engine path \"{engine_path}\""));
    }
    if bad(key_name) || key_name.contains('/') {
        return Err(format!("invalid key name \"{key_name}\""));
    }
    Ok(())
}

/// The URL of a call, as the Vault client builds it: the address' scheme,
/// host and port (its query dropped), and the path
/// `clean({address path}/v1/{op_path})`, each segment percent-encoded (so a
/// name's `?`, `#` or `%` stays in its segment, as in sops).
fn request_url(address: &str, op_path: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(address)
        .map_err(|e| format!("invalid Vault address {address}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "invalid Vault address {address}: the scheme must be http or https"
        ));
    }
    // sops' URI splitting writes addresses without a path; one with a path
    // would move the call elsewhere on the server.
    if !matches!(url.path(), "" | "/") {
        return Err(format!(
            "invalid Vault address {address}: it has a path, which sops never writes"
        ));
    }
    let path = clean_path(&format!("/v1/{op_path}"));
    url.set_query(None);
    url.set_fragment(None);
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|()| format!("invalid Vault address {address}"))?;
        segments.clear();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            segments.push(segment);
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str) -> KeySpec {
        KeySpec {
            kind: KIND,
            id: id.to_owned(),
            fields: Vec::new(),
        }
    }

    fn split(uri: &str) -> (String, String, String) {
        split_uri(uri).unwrap_or_else(|e| panic!("{uri}: {e}"))
    }

    /// Each case checked against the reference sops 3.11 (the metadata it
    /// writes, or its error).
    #[test]
    fn uris_split_as_sops_splits_them() {
        let s = |a: &str, e: &str, k: &str| (a.to_owned(), e.to_owned(), k.to_owned());
        assert_eq!(
            split("http://127.0.0.1:8200/v1/sops/keys/firstkey"),
            s("http://127.0.0.1:8200", "sops", "firstkey")
        );
        assert_eq!(
            split("https://vault.example.org/v1/deep/transit/keys/k/"),
            s("https://vault.example.org", "deep/transit", "k")
        );
        assert_eq!(
            split("HTTP://User@127.0.0.1:5081/v1/a%20b/keys/k"),
            s("http://User@127.0.0.1:5081", "a%20b", "k")
        );
        assert_eq!(
            split("http://127.0.0.1:5081/v1/sops/keys/k?x=1"),
            s("http://127.0.0.1:5081?x=1", "sops", "k?x=1")
        );
        // The segment before the key need not be `keys`.
        assert_eq!(
            split("http://h/v1/transit/other/k"),
            s("http://h", "transit", "k")
        );
        assert_eq!(
            split("http://h/v2/a/./b/../c/keys/k"),
            s("http://h", "a/c", "k")
        );
    }

    #[test]
    fn malformed_uris_are_refused_with_sops_texts() {
        for (uri, says) in [
            ("127.0.0.1:5081/v1/sops/keys/k", "missing scheme in Vault URL"),
            ("vault/v1/sops/keys/k", "missing scheme"),
            ("1http://h/v1/sops/keys/k", "missing scheme"),
            ("http://h/sops/keys/k", "does not seem to be formatted correctly"),
            ("http://h/v1/keys/k", "does not seem to be formatted correctly"),
            ("http://h/v1//b/keys/k", "does not seem to be formatted correctly"),
            ("http://h", "does not seem to be formatted correctly"),
            ("http://h/x/v1/sops/keys/k", "prefixed URL is not supported"),
            ("http://h/v1/a/v2/b/keys/k", "prefixed URL is not supported"),
        ] {
            let err = HcVaultKey::from_spec(&spec(uri)).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(says) && text.contains(uri), "{uri}: {text}");
        }
    }

    #[test]
    fn entries_and_identifiers_follow_sops() {
        let uri = "https://vault.example.org:8200/v1/team/transit/keys/dev";
        let key = HcVaultKey::from_spec(&spec(uri)).unwrap();
        assert_eq!(key.identifier(), uri);
        let entry = key.entry(Some("vault:v1:abc".into()));
        let names: Vec<&str> = entry.fields.entries().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            ["vault_address", "engine_path", "key_name", "created_at", "enc"]
        );
        assert_eq!(entry.identifier(), uri);
        let back = HcVaultKey::from_entry(&entry);
        assert_eq!(back.identifier(), uri);
        let created = entry.field("created_at").unwrap().to_owned();
        assert_eq!(
            back.entry(Some("vault:v1:x".into())).field("created_at"),
            Some(created.as_str())
        );
        assert_eq!(format!("{key:?}"), format!("HcVaultKey({uri:?})"));
    }

    #[test]
    fn paths_clean_as_go_cleans_them() {
        assert_eq!(clean_path("/v1/a//b/./c/../encrypt/k"), "/v1/a/b/encrypt/k");
        assert_eq!(clean_path("/../../x"), "/x");
        assert_eq!(clean_path("a/../../x"), "../x");
        assert_eq!(clean_path(""), ".");
        assert_eq!(join_path(&["", "a", "", "b/"]), "a/b");
        assert_eq!(join_path(&["", ""]), "");
    }

    #[test]
    fn request_urls_keep_each_name_in_its_segment() {
        let url = |a: &str, p: &str| request_url(a, p).unwrap().to_string();
        assert_eq!(
            url("http://127.0.0.1:8200", "sops/encrypt/k"),
            "http://127.0.0.1:8200/v1/sops/encrypt/k"
        );
        assert_eq!(
            url("http://127.0.0.1:5081?x=1", "sops/encrypt/k?x=1"),
            "http://127.0.0.1:5081/v1/sops/encrypt/k%3Fx=1"
        );
        assert_eq!(
            url("http://h", "a%20b/encrypt/k#1"),
            "http://h/v1/a%2520b/encrypt/k%231"
        );
        // Dot segments cannot climb out of /v1/ (entries with them are
        // refused before this anyway), nor can an address carry a path.
        assert_eq!(url("https://h:1/", "../../../sys/x"), "https://h:1/sys/x");
        assert!(request_url("https://h:1/base", "t/encrypt/k").is_err());
        assert!(request_url("ftp://h", "a/encrypt/k").is_err());
        assert!(request_url("not a url", "a/encrypt/k").is_err());
    }

    /// A tampered entry cannot name another path than its own.
    #[test]
    fn forged_names_are_refused_before_any_request() {
        let ctx = KeyContext::builder().vault_token("t").build();
        for (engine, key, says) in [
            ("team-a/../team-b", "k", "invalid engine path"),
            ("", "k", "invalid engine path"),
            ("a//b", "k", "invalid engine path"),
            ("./t", "k", "invalid engine path"),
            ("t", "..", "invalid key name"),
            ("t", "k/../../x", "invalid key name"),
            ("t", "", "invalid key name"),
        ] {
            let mut fields = Branch::new();
            fields.push("vault_address", Value::Str("http://127.0.0.1:9".into()));
            fields.push("engine_path", Value::Str(engine.into()));
            fields.push("key_name", Value::Str(key.into()));
            fields.push("enc", Value::Str("vault:v1:AAAA".into()));
            let entry = KeyEntry { kind: KIND, fields };
            let key = HcVaultKey::from_entry(&entry);
            let err = key.decrypt(&entry, &ctx).unwrap_err().to_string();
            assert!(err.contains(says) && !err.contains("unreachable"), "{err}");
        }
    }

    #[test]
    fn allowlists_follow_sops_3_13() {
        let list = |v: &str| Allowlist::parse(Some(v)).unwrap();
        assert_eq!(Allowlist::parse(None).unwrap(), Allowlist::All);
        assert!(list("all").allows("http://anything"));
        assert!(!list("none").allows("http://127.0.0.1:8200"));
        let some = list("https://vault:8200, http://127.0.0.1:8200/");
        assert!(some.allows("https://vault:8200"));
        assert!(some.allows("http://127.0.0.1:8200"));
        assert!(!some.allows("https://vault:82001"));
        assert!(!some.allows("https://vault:8200.evil"));
        assert!(!some.allows("http://vault:8200"));
        // `all` and `none` are exact words, as in sops.
        assert!(!list(" all").allows("http://x"));
        assert_eq!(
            Allowlist::parse(Some("http://a,,http://b")).unwrap_err(),
            "SOPS_HC_VAULT_ALLOWLIST's entry 2 is empty"
        );
    }

    #[test]
    fn refusals_come_before_any_request() {
        let key = HcVaultKey::from_spec(&spec("http://127.0.0.1:9/v1/sops/keys/k")).unwrap();
        let ctx = KeyContext::builder()
            .vault_token("t")
            .vault_allowlist("http://127.0.0.1:8200")
            .build();
        let err = key.encrypt(b"k", &ctx).unwrap_err().to_string();
        assert!(
            err.contains("Allowlist does not allow http://127.0.0.1:9")
                && err.contains("'sops/encrypt/k'"),
            "{err}"
        );
        let ctx = KeyContext::builder()
            .vault_token_file("/nonexistent/.vault-token")
            .build();
        let err = key.encrypt(b"k", &ctx).unwrap_err();
        assert!(matches!(err, KeyError::NoCredentials(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("no Vault token: VAULT_TOKEN is unset and /nonexistent/.vault-token does not exist"),
            "{err}"
        );
        let ctx = KeyContext::from_vars([("VAULT_TOKEN", "t"), ("VAULT_SKIP_VERIFY", "maybe")]);
        let err = key.encrypt(b"k", &ctx).unwrap_err().to_string();
        assert!(err.contains("could not parse VAULT_SKIP_VERIFY"), "{err}");
    }

    #[test]
    fn tokens_come_from_the_variable_then_the_file_trimmed() {
        let dir = std::env::temp_dir().join(format!("sops-vault-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".vault-token"), "  s.FILE-TOKEN\n").unwrap();
        let key = HcVaultKey::from_spec(&spec("http://h/v1/t/keys/k")).unwrap();
        let home = dir.to_string_lossy().into_owned();
        let ctx = KeyContext::from_vars([("HOME", home.as_str())]);
        let token = key.token(&Doing::Encrypt, ctx.vault_inputs()).unwrap();
        assert_eq!(token.as_str(), "s.FILE-TOKEN");
        let ctx = KeyContext::from_vars([("HOME", home.as_str()), ("VAULT_TOKEN", "s.VAR")]);
        let token = key.token(&Doing::Encrypt, ctx.vault_inputs()).unwrap();
        assert_eq!(token.as_str(), "s.VAR");
        let shown = format!("{ctx:?}");
        assert!(!shown.contains("s.VAR") && shown.contains("token: true"), "{shown}");
        std::fs::write(dir.join(".vault-token"), " \n").unwrap();
        let ctx = KeyContext::from_vars([("HOME", home.as_str())]);
        let err = key.token(&Doing::Encrypt, ctx.vault_inputs()).unwrap_err();
        assert!(err.to_string().contains("is empty"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn go_booleans_and_error_replies() {
        assert_eq!(parse_go_bool("T"), Some(true));
        assert_eq!(parse_go_bool("0"), Some(false));
        assert_eq!(parse_go_bool("yes"), None);
        assert_eq!(
            vault_errors(br#"{"errors":["permission denied","x\ny"]}"#),
            "Errors: permission denied; x y"
        );
        assert_eq!(vault_errors(b"<html>proxy</html>"), "Errors: none given");
    }

    /// Nothing listens on port 9: the key fails naming itself.
    #[test]
    fn unreachable_addresses_fail_naming_the_key() {
        let key = HcVaultKey::from_spec(&spec("http://127.0.0.1:9/v1/sops/keys/k")).unwrap();
        let ctx = KeyContext::builder()
            .vault_token("t")
            .kms_connect_timeout(std::time::Duration::from_millis(300))
            .build();
        let start = std::time::Instant::now();
        let err = key.encrypt(b"k", &ctx).unwrap_err().to_string();
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        assert!(
            err.contains("Vault unreachable") && err.contains("http://127.0.0.1:9/v1/sops/encrypt/k"),
            "{err}"
        );
    }
}
