//! The GCP KMS keystore's implementation (behind the `gcp-kms` feature):
//! one Cloud KMS key (its resource id) and its `Encrypt`/`Decrypt` calls
//! through Google's client (`google-cloud-kms-v1`, HTTP/JSON).

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use google_cloud_auth::credentials::{
    self as gauth, CacheableResource, Credentials, CredentialsProvider, EntityTag,
};
use google_cloud_auth::errors::CredentialsError;
use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::Code;
use google_cloud_gax::exponential_backoff::{ExponentialBackoff, ExponentialBackoffBuilder};
use google_cloud_gax::retry_policy::RetryPolicy;
use google_cloud_gax::retry_result::RetryResult;
use google_cloud_gax::retry_state::RetryState;
use google_cloud_kms_v1::client::KeyManagementService;
use zeroize::Zeroizing;

use super::KIND;
use crate::keys::cloud::{block_on, chain, find_source, install_crypto_provider, one_line};
use tokio::sync::OnceCell;
use crate::keys::{KeyContext, KeyError, KeyKind, KeySpec, MasterKey, read_secret_file};
use crate::metadata::KeyEntry;
use crate::tree::{Branch, Value, time};

/// How many times a request that never reached the server is tried.
const MAX_ATTEMPTS: u32 = 5;

/// A GCP KMS key as sops names it: its resource id
/// `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
#[derive(Clone, PartialEq, Eq)]
pub struct GcpKmsKey {
    resource_id: String,
    /// Kept from the metadata entry: sops keeps a key's creation time
    /// when it re-wraps a data key.
    created_at: Option<String>,
}

impl fmt::Debug for GcpKmsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcpKmsKey")
            .field("resource_id", &self.resource_id)
            .finish()
    }
}

impl GcpKmsKey {
    /// A key from the command line or a creation rule (spaces removed, as
    /// sops does). The id is not checked here: as in sops, a malformed one
    /// fails when it is used.
    pub fn from_spec(spec: &KeySpec) -> Self {
        Self {
            resource_id: spec.id.chars().filter(|c| *c != ' ').collect(),
            created_at: None,
        }
    }

    /// The key of a metadata entry.
    pub fn from_entry(entry: &KeyEntry) -> Self {
        Self {
            resource_id: entry.field("resource_id").unwrap_or_default().to_owned(),
            created_at: entry.field("created_at").map(str::to_owned),
        }
    }

    pub fn resource_id(&self) -> &str {
        &self.resource_id
    }

    /// The metadata entry, in sops' field order.
    fn entry(&self, enc: Option<String>) -> KeyEntry {
        let mut fields = Branch::new();
        fields.push("resource_id", Value::Str(self.resource_id.clone()));
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

    /// sops' check, made before any call: the id must have the form
    /// `projects/…/locations/…/keyRings/…/cryptoKeys/…` (no key version).
    fn check_resource_id(&self) -> Result<(), KeyError> {
        if is_resource_id(&self.resource_id) {
            return Ok(());
        }
        Err(KeyError::Invalid {
            identifier: self.resource_id.clone(),
            reason: format!("no valid resource ID found in \"{}\"", self.resource_id),
        })
    }

    fn rejected(&self, doing: &str, reason: &str) -> KeyError {
        KeyError::Rejected(format!(
            "failed to {doing} sops data key with GCP KMS key {}: {reason}",
            self.resource_id
        ))
    }

    /// The credentials sops would use (see [`credentials`]), failures
    /// naming this key.
    fn credentials(&self, doing: &str, ctx: &KeyContext) -> Result<Source, KeyError> {
        credentials_in(ctx, self.universe(ctx)).map_err(|e| match e {
            CredentialsFailure::Missing(reason) => KeyError::NoCredentials(format!(
                "failed to {doing} sops data key with GCP KMS key {}: {reason}",
                self.resource_id
            )),
            CredentialsFailure::Bad(reason) => self.rejected(doing, &reason),
        })
    }

    /// The universe domain the client is built for: sops 3.13 applies
    /// `SOPS_GCP_KMS_UNIVERSE_DOMAIN` only without `SOPS_GCP_KMS_ENDPOINT`.
    fn universe<'c>(&self, ctx: &'c KeyContext) -> Option<&'c str> {
        if ctx.gcp_endpoint().is_some() {
            return None;
        }
        ctx.gcp_universe_domain()
    }

    /// Runs one KMS call (`call` gets a client) under the context's
    /// time-outs and turns every failure into a key error naming the key.
    fn call<T, F, Fut>(&self, doing: &str, ctx: &KeyContext, call: F) -> Result<T, KeyError>
    where
        F: FnOnce(KeyManagementService) -> Fut + Send,
        Fut: Future<Output = Result<T, GaxError>> + Send,
        T: Send,
    {
        self.check_resource_id()?;
        // Before any credentials are built: some build HTTP clients.
        install_crypto_provider();
        let (connect, total) = (ctx.kms_connect_timeout(), ctx.kms_timeout());
        let endpoint = ctx.gcp_endpoint().map(endpoint_url);
        let universe = self.universe(ctx).map(str::to_owned);
        // One client per context (its credentials, endpoint and time-outs
        // are the context's), built once even when many threads ask at
        // once, so a run over many files exchanges tokens and opens
        // connections once, not once per file. Credentials are built on the
        // runtime: some start a token refresh task there. A failed build is
        // not kept; the next call tries again.
        let outcome = block_on(async move {
            let slot = ctx.client_slot::<OnceCell<(KeyManagementService, bool)>>(
                super::KIND.metadata_name(),
            );
            let (client, is_adc) = slot
                .get_or_try_init(|| async {
                    let source = self.credentials(doing, ctx).map_err(Failure::Key)?;
                    let is_adc = matches!(source, Source::Adc(_));
                    let mut builder = KeyManagementService::builder()
                        .with_credentials(source.into_credentials())
                        .with_retry_policy(ConnectRetries { connect, total })
                        .with_backoff_policy(backoff(connect))
                        .with_attempt_timeout(total);
                    if let Some(endpoint) = endpoint {
                        builder = builder.with_endpoint(endpoint);
                    } else if let Some(universe) = universe {
                        // The client then calls `cloudkms.<universe>` and
                        // refuses credentials of another universe.
                        builder = builder.with_universe_domain(universe);
                    }
                    match tokio::time::timeout(total, builder.build()).await {
                        Ok(built) => Ok((built.map_err(Failure::Build)?, is_adc)),
                        Err(_) => Err(Failure::TimedOut(total)),
                    }
                })
                .await?
                .clone();
            let work = async move { call(client).await.map_err(|e| Failure::Call(e, is_adc)) };
            tokio::time::timeout(total, work)
                .await
                .unwrap_or(Err(Failure::TimedOut(total)))
        })
        .map_err(|e| self.rejected(doing, &e))?;
        outcome.map_err(|failure| self.failure(doing, failure))
    }

    /// A key error that says why the call failed: permission denied, key
    /// not found, wrong ciphertext, unreachable endpoint, no credentials.
    /// The client's messages carry no secrets (neither the data key nor a
    /// token is ever part of them).
    fn failure(&self, doing: &str, failure: Failure) -> KeyError {
        let (err, is_adc) = match failure {
            Failure::Key(e) => return e,
            Failure::TimedOut(after) => {
                return self.rejected(
                    doing,
                    &format!(
                        "endpoint unreachable: timed out after {}",
                        seconds(after)
                    ),
                );
            }
            Failure::Build(e) => {
                return self.rejected(doing, &format!("cannot create GCP KMS client: {}", one_line(&chain(&e))));
            }
            Failure::Call(e, is_adc) => (e, is_adc),
        };
        if let Some(status) = err.status() {
            let what = match status.code {
                Code::PermissionDenied => "permission denied",
                Code::NotFound => "key not found",
                Code::InvalidArgument => "invalid request or ciphertext",
                Code::Unauthenticated => "not authenticated",
                Code::FailedPrecondition => "key not usable",
                Code::Unavailable => "service unavailable",
                Code::DeadlineExceeded => "deadline exceeded",
                _ => "request refused",
            };
            let code = status.code.name();
            let message = one_line(&status.message);
            let reason = if message.is_empty() {
                format!("{what} ({code})")
            } else {
                format!("{what} ({code}: {message})")
            };
            return self.rejected(doing, &reason);
        }
        let detail = one_line(&chain(&err));
        // Also behind "retries exhausted", which wraps the last error.
        if err.is_authentication() || find_source::<CredentialsError>(&err).is_some() {
            if is_adc {
                return KeyError::NoCredentials(format!(
                    "failed to {doing} sops data key with GCP KMS key {}: no usable Application \
                     Default Credentials: {detail}",
                    self.resource_id
                ));
            }
            return self.rejected(doing, &format!("could not get GCP credentials: {detail}"));
        }
        let reason = if err.is_timeout() {
            format!("endpoint unreachable: timed out: {detail}")
        } else if err.is_connect() {
            format!("endpoint unreachable: {detail}")
        } else if let Some(code) = err.http_status_code() {
            // Not a KMS reply (a proxy or another server answered).
            format!("unexpected response (HTTP {code})")
        } else {
            detail
        };
        self.rejected(doing, &reason)
    }
}

impl MasterKey for GcpKmsKey {
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
        self.resource_id.clone()
    }

    fn encrypt(&self, secret: &[u8], ctx: &KeyContext) -> Result<KeyEntry, KeyError> {
        let name = self.resource_id.clone();
        let plaintext = secret.to_vec();
        let out = self.call("encrypt", ctx, |client| async move {
            client
                .encrypt()
                .set_name(name)
                .set_plaintext(plaintext)
                .send()
                .await
        })?;
        if out.ciphertext.is_empty() {
            return Err(self.rejected("encrypt", "KMS returned no ciphertext"));
        }
        let enc = base64::engine::general_purpose::STANDARD.encode(&out.ciphertext);
        Ok(self.entry(Some(enc)))
    }

    fn decrypt(&self, entry: &KeyEntry, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let ciphertext = decode_enc(entry.enc().unwrap_or_default()).map_err(|e| {
            self.rejected(
                "decrypt",
                &format!("error base64-decoding encrypted data key: {e}"),
            )
        })?;
        let name = self.resource_id.clone();
        let out = self.call("decrypt", ctx, |client| async move {
            client
                .decrypt()
                .set_name(name)
                .set_ciphertext(ciphertext)
                .send()
                .await
        })?;
        Ok(Zeroizing::new(out.plaintext.to_vec()))
    }
}

/// Why no credentials could be built: none found (not ours to try), or
/// the ones given are unusable.
pub(crate) enum CredentialsFailure {
    Missing(String),
    Bad(String),
}

/// The credentials sops would use, in its order: `GOOGLE_CREDENTIALS`,
/// `GOOGLE_OAUTH_ACCESS_TOKEN`, then Application Default Credentials
/// (`GOOGLE_APPLICATION_CREDENTIALS` of the context, else the client
/// library's chain) unless the context forbids them. Shared with
/// `publish`'s GCS uploads.
pub(crate) fn credentials(ctx: &KeyContext) -> Result<Source, CredentialsFailure> {
    credentials_in(ctx, None)
}

/// [`credentials`] for a client of `universe` (`None`: Google's). A bare
/// access token names no universe: like Go's client, which does not check
/// a token source given directly, it is taken to belong to the client's.
fn credentials_in(ctx: &KeyContext, universe: Option<&str>) -> Result<Source, CredentialsFailure> {
    if let Some(given) = ctx.gcp_credentials() {
        // sops: a value naming an existing file is that file's path.
        let json = if Path::new(given).is_file() {
            read_secret_file(given).map_err(|e| {
                CredentialsFailure::Bad(format!("could not read GOOGLE_CREDENTIALS: {e}"))
            })?
        } else {
            Zeroizing::new(given.as_bytes().to_vec())
        };
        let creds = credentials_from_json(&json)
            .map_err(|e| CredentialsFailure::Bad(format!("invalid GOOGLE_CREDENTIALS: {e}")))?;
        return Ok(Source::Explicit(creds));
    }
    if let Some(token) = ctx.gcp_access_token() {
        let token = StaticToken {
            token: Arc::new(Zeroizing::new(token.to_owned())),
            universe: universe.map(str::to_owned),
        };
        return Ok(Source::Explicit(Credentials::from(token)));
    }
    if !ctx.gcp_application_default_credentials() {
        return Err(CredentialsFailure::Missing(
            "no GCP credentials (GOOGLE_CREDENTIALS and GOOGLE_OAUTH_ACCESS_TOKEN are unset and \
             Application Default Credentials are disabled)"
                .to_owned(),
        ));
    }
    if let Some(file) = ctx.gcp_adc_file() {
        let json = read_secret_file(file).map_err(|e| {
            CredentialsFailure::Bad(format!("could not read GOOGLE_APPLICATION_CREDENTIALS: {e}"))
        })?;
        let creds = credentials_from_json(&json).map_err(|e| {
            CredentialsFailure::Bad(format!("invalid GOOGLE_APPLICATION_CREDENTIALS: {e}"))
        })?;
        return Ok(Source::Adc(creds));
    }
    gauth::Builder::default()
        .build()
        .map(Source::Adc)
        .map_err(|e| {
            CredentialsFailure::Missing(format!(
                "could not find default credentials: {}",
                one_line(&chain(&e))
            ))
        })
}

/// Where the credentials came from: given explicitly, or found by
/// Application Default Credentials (whose failures mean "none found").
pub(crate) enum Source {
    Explicit(Credentials),
    Adc(Credentials),
}

impl Source {
    pub(crate) fn into_credentials(self) -> Credentials {
        match self {
            Source::Explicit(c) | Source::Adc(c) => c,
        }
    }
}

enum Failure {
    Key(KeyError),
    TimedOut(Duration),
    Build(google_cloud_gax::client_builder::Error),
    /// The call's error, and whether the credentials came from ADC.
    Call(GaxError, bool),
}

/// `GOOGLE_OAUTH_ACCESS_TOKEN`: a bearer token sent as is, never refreshed
/// (sops' `oauth2.StaticTokenSource`), for the universe the client is
/// built for.
struct StaticToken {
    token: Arc<Zeroizing<String>>,
    universe: Option<String>,
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticToken(..)")
    }
}

impl CredentialsProvider for StaticToken {
    async fn headers(
        &self,
        _extensions: http::Extensions,
    ) -> Result<CacheableResource<http::HeaderMap>, CredentialsError> {
        let mut value = http::HeaderValue::try_from(format!("Bearer {}", self.token.as_str()))
            .map_err(|_| {
                CredentialsError::from_msg(
                    false,
                    "GOOGLE_OAUTH_ACCESS_TOKEN is not a valid HTTP header value",
                )
            })?;
        value.set_sensitive(true);
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value);
        Ok(CacheableResource::New {
            entity_tag: EntityTag::new(),
            data: headers,
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        self.universe.clone()
    }
}

/// Credentials from a credentials file's JSON, by its `type` (the kinds
/// Go's `google.CredentialsFromJSON` accepts).
fn credentials_from_json(json: &[u8]) -> Result<Credentials, String> {
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("not JSON ({e})"))?;
    let kind = value
        .get("type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let built = match kind.as_str() {
        "service_account" => gauth::service_account::Builder::new(value).build(),
        "authorized_user" => gauth::user_account::Builder::new(value).build(),
        "impersonated_service_account" => gauth::impersonated::Builder::new(value).build(),
        "external_account" => gauth::external_account::Builder::new(value).build(),
        "" => return Err("no \"type\" field".to_owned()),
        other => return Err(format!("unsupported credentials type \"{other}\"")),
    };
    built.map_err(|e| one_line(&chain(&e)))
}

/// Retries only what never reached KMS (a refused or failed connection),
/// and only within the connect time-out, so an unreachable endpoint fails
/// in seconds (sops 3.11 retries for a minute); Encrypt and Decrypt are
/// not idempotent, so nothing else is retried. Each attempt is bounded by
/// what is left of the total time-out.
#[derive(Debug)]
struct ConnectRetries {
    connect: Duration,
    total: Duration,
}

impl RetryPolicy for ConnectRetries {
    fn on_error(&self, state: &RetryState, error: GaxError) -> RetryResult {
        let retry = error.is_transient_and_before_rpc()
            && state.attempt_count < MAX_ATTEMPTS
            && Instant::now().saturating_duration_since(state.start) < self.connect;
        if retry {
            RetryResult::Continue(error)
        } else {
            RetryResult::Permanent(error)
        }
    }

    fn remaining_time(&self, state: &RetryState) -> Option<Duration> {
        Some(
            self.total
                .saturating_sub(Instant::now().saturating_duration_since(state.start)),
        )
    }
}

/// Short pauses between connection attempts, so that the last one still
/// falls within the connect time-out.
fn backoff(connect: Duration) -> ExponentialBackoff {
    ExponentialBackoffBuilder::new()
        .with_initial_delay(Duration::from_millis(100))
        .with_maximum_delay((connect / 4).max(Duration::from_millis(100)))
        .clamp()
}

/// `SOPS_GCP_KMS_ENDPOINT` as a URL: Go's gRPC client takes `host:port`
/// (sops' own example is `cloudkms.example.com:443`), ours speaks HTTP/JSON,
/// so a value without a scheme is that host over HTTPS.
fn endpoint_url(given: &str) -> String {
    if given.contains("://") {
        given.to_owned()
    } else {
        format!("https://{given}")
    }
}

/// sops' resource id pattern:
/// `^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`.
fn is_resource_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    parts.len() == 8
        && parts
            .iter()
            .step_by(2)
            .eq(["projects", "locations", "keyRings", "cryptoKeys"].iter())
        && parts.iter().skip(1).step_by(2).all(|p| is_plain_segment(p))
}

/// sops takes any non-empty segment; the id also becomes the path of the
/// REST call (`/v1/{id}:decrypt`), so segments that would change which URL
/// is called (dot segments, which clients resolve; a query, a fragment or
/// an escape) are refused too, before any call. GCP allows none of them in
/// project, location, key ring or key names, so no real key is refused.
fn is_plain_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && !segment
            .chars()
            .any(|c| matches!(c, '?' | '#' | '%' | '\\') || c.is_control())
}

/// The ciphertext of an `enc` value: standard padded base64.
fn decode_enc(enc: &str) -> Result<Vec<u8>, base64::DecodeError> {
    base64::engine::general_purpose::STANDARD.decode(enc.trim())
}

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "projects/p/locations/global/keyRings/r/cryptoKeys/k";

    fn spec(id: &str) -> KeySpec {
        KeySpec {
            kind: KIND,
            id: id.to_owned(),
            fields: Vec::new(),
        }
    }

    #[test]
    fn resource_ids_follow_sops_pattern() {
        assert!(is_resource_id(ID));
        assert!(is_resource_id("projects/p-1/locations/Glo_bal/keyRings/r.x/cryptoKeys/k k"));
        for bad in [
            "",
            "not-a-resource",
            "projects//locations/global/keyRings/r/cryptoKeys/k",
            "xprojects/p/locations/global/keyRings/r/cryptoKeys/k",
            "projects/p/locations/global/keyRings/r/cryptoKeys/k/",
            "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
            "projects/p/locations/global/keyRings/r/cryptokeys/k",
            "projects/p/locations/global/keyRings/r",
            // Segments that would change the URL of the REST call.
            "projects/../locations/global/keyRings/r/cryptoKeys/k",
            "projects/p/locations/./keyRings/r/cryptoKeys/k",
            "projects/p/locations/global/keyRings/r/cryptoKeys/k?alt=x",
            "projects/p/locations/global/keyRings/r/cryptoKeys/k#x",
            "projects/p/locations/global/keyRings/%2e%2e/cryptoKeys/k",
            "projects/p/locations/global/keyRings/r\\x/cryptoKeys/k",
            "projects/p/locations/global/keyRings/r/cryptoKeys/k\n",
        ] {
            assert!(!is_resource_id(bad), "{bad}");
        }
    }

    #[test]
    fn entries_and_identifiers_follow_sops() {
        let key = GcpKmsKey::from_spec(&spec(&format!(" {ID} ")));
        assert_eq!(key.identifier(), ID);
        let entry = key.entry(Some("ZW5j".into()));
        let names: Vec<&str> = entry.fields.entries().map(|(k, _)| k).collect();
        assert_eq!(names, ["resource_id", "created_at", "enc"]);
        assert_eq!(entry.identifier(), ID);
        let back = GcpKmsKey::from_entry(&entry);
        assert_eq!(back.identifier(), ID);
        // The creation time of an existing entry is kept on re-wrapping.
        let created = entry.field("created_at").unwrap().to_owned();
        assert_eq!(
            back.entry(Some("eA==".into())).field("created_at"),
            Some(created.as_str())
        );
    }

    #[test]
    fn enc_is_padded_standard_base64() {
        assert_eq!(decode_enc("AAEC/w==").unwrap(), [0, 1, 2, 255]);
        assert_eq!(decode_enc(" AAEC/w==\n").unwrap(), [0, 1, 2, 255]);
        assert!(decode_enc("AAEC_w").is_err());
        assert!(decode_enc("!!").is_err());
    }

    #[test]
    fn malformed_ids_fail_before_any_call() {
        let key = GcpKmsKey::from_spec(&spec("not-a-resource"));
        let ctx = KeyContext::builder().gcp_access_token("t").build();
        let err = key.encrypt(b"k", &ctx).unwrap_err();
        assert!(
            err.to_string()
                .contains("no valid resource ID found in \"not-a-resource\""),
            "{err}"
        );
    }

    #[test]
    fn without_credentials_and_adc_the_key_has_none() {
        let key = GcpKmsKey::from_spec(&spec(ID));
        let ctx = KeyContext::builder()
            .gcp_application_default_credentials(false)
            .build();
        let err = key.encrypt(b"k", &ctx).unwrap_err();
        assert!(matches!(err, KeyError::NoCredentials(_)), "{err:?}");
        assert!(err.to_string().contains(ID), "{err}");
    }

    #[test]
    fn bad_credentials_are_refused_without_echoing_them() {
        let key = GcpKmsKey::from_spec(&spec(ID));
        for (json, says) in [
            ("{\"secret\": \"SECRET-TEXT\"", "not JSON"),
            ("{\"private_key\": \"SECRET-TEXT\"}", "no \"type\" field"),
            ("{\"type\": \"magic\", \"k\": \"SECRET-TEXT\"}", "unsupported credentials type"),
        ] {
            let ctx = KeyContext::builder()
                .gcp_credentials(json)
                .gcp_endpoint("http://127.0.0.1:9")
                .build();
            let err = key.encrypt(b"k", &ctx).unwrap_err().to_string();
            assert!(err.contains(says) && err.contains(ID), "{err}");
            assert!(!err.contains("SECRET-TEXT"), "{err}");
        }
        let ctx = KeyContext::builder()
            .gcp_credentials("/nonexistent/creds.json")
            .build();
        let err = key.encrypt(b"k", &ctx).unwrap_err().to_string();
        assert!(err.contains("invalid GOOGLE_CREDENTIALS: not JSON"), "{err}");
    }

    #[test]
    fn bad_enc_fails_before_any_call() {
        let key = GcpKmsKey::from_spec(&spec(ID));
        let entry = key.entry(Some("not base64!".into()));
        let ctx = KeyContext::builder().gcp_access_token("t").build();
        let err = key.decrypt(&entry, &ctx).unwrap_err().to_string();
        assert!(err.contains("error base64-decoding"), "{err}");
    }

    #[test]
    fn static_tokens_are_bearer_headers_and_never_printed() {
        let token = static_token("ya29.SECRET");
        assert_eq!(format!("{token:?}"), "StaticToken(..)");
        let headers = block_on(token.headers(http::Extensions::new()))
            .unwrap()
            .unwrap();
        let CacheableResource::New { data, .. } = headers else {
            panic!("static headers are always new");
        };
        let value = data.get(http::header::AUTHORIZATION).unwrap();
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "Bearer ya29.SECRET");
        let bad = static_token("a\nb");
        assert!(block_on(bad.headers(http::Extensions::new())).unwrap().is_err());
    }

    fn static_token(token: &str) -> StaticToken {
        StaticToken {
            token: Arc::new(Zeroizing::new(token.into())),
            universe: None,
        }
    }

    #[test]
    fn endpoints_without_a_scheme_are_https() {
        assert_eq!(endpoint_url("cloudkms.example.com:443"), "https://cloudkms.example.com:443");
        assert_eq!(endpoint_url("http://127.0.0.1:9"), "http://127.0.0.1:9");
        assert_eq!(endpoint_url("https://kms.example/"), "https://kms.example/");
    }

    /// A universe domain applies only without an endpoint (sops 3.13);
    /// credentials of another universe are refused before any call.
    #[test]
    fn universe_domains_yield_to_endpoints_and_check_credentials() {
        let key = GcpKmsKey::from_spec(&spec(ID));
        let both = KeyContext::builder()
            .gcp_endpoint("http://127.0.0.1:9")
            .gcp_universe_domain("example.test")
            .build();
        assert_eq!(key.universe(&both), None);
        let universe = KeyContext::builder().gcp_universe_domain("example.test").build();
        assert_eq!(key.universe(&universe), Some("example.test"));
        let json = serde_json::json!({
            "type": "authorized_user",
            "client_id": "c",
            "client_secret": "s",
            "refresh_token": "r",
        })
        .to_string();
        let ctx = KeyContext::builder()
            .gcp_credentials(json)
            .gcp_universe_domain("example.test")
            .build();
        let err = key.encrypt(b"k", &ctx).unwrap_err().to_string();
        assert!(err.contains(ID) && err.contains("example.test"), "{err}");
        assert!(!err.contains("\"s\""), "{err}");
    }

    /// Nothing listens on port 9: the refused connection is retried only
    /// within the connect time-out, then the key fails naming itself.
    #[test]
    fn unreachable_endpoints_fail_within_the_connect_timeout() {
        let key = GcpKmsKey::from_spec(&spec(ID));
        let ctx = KeyContext::builder()
            .gcp_access_token("t")
            .gcp_endpoint("http://127.0.0.1:9")
            .kms_connect_timeout(Duration::from_millis(300))
            .build();
        let start = Instant::now();
        let err = key.encrypt(b"k", &ctx).unwrap_err().to_string();
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
        assert!(err.contains("endpoint unreachable") && err.contains(ID), "{err}");
    }
}
