//! The AWS KMS keystore's implementation (behind the `aws-kms` feature):
//! one KMS key (ARN, optional role to assume, encryption context, profile)
//! and its `Encrypt`/`Decrypt` calls through the AWS SDK.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::profile::ProfileFileCredentialsProvider;
#[allow(deprecated)]
use aws_config::profile::profile_file::{ProfileFileKind, ProfileFiles};
use aws_config::provider_config::ProviderConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{
    ProvideCredentials, future::ProvideCredentials as ProvideCredentialsFuture,
};
use aws_sdk_kms::Client;
use aws_sdk_kms::config::Region;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_http_client::Connector;
use base64::Engine;
use zeroize::Zeroizing;

use super::KIND;
use crate::keys::cloud::{block_on, chain, find_source, one_line};
use crate::keys::{KeyContext, KeyError, KeyKind, KeySpec, MasterKey};
use crate::metadata::KeyEntry;
use crate::tree::{Branch, Value, time};

/// Where a role follows the key ARN in `ARN+ROLE` (any partition).
const ROLE_SEPARATOR: &str = "+arn:";
/// AWS limits a role session name to 64 characters.
const MAX_SESSION_NAME: usize = 64;

/// An AWS KMS key as sops names it: the key (or alias) ARN, the role to
/// assume first, the encryption context sent with every call, and the
/// shared-config profile whose credentials are used.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsKmsKey {
    arn: String,
    role: String,
    context: BTreeMap<String, String>,
    profile: String,
    /// Kept from the metadata entry: sops keeps a key's creation time
    /// when it re-wraps a data key.
    created_at: Option<String>,
}

impl fmt::Debug for AwsKmsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKmsKey")
            .field("arn", &self.arn)
            .field("role", &self.role)
            .field("context", &self.context)
            .field("profile", &self.profile)
            .finish()
    }
}

impl AwsKmsKey {
    /// A key from the command line or a creation rule: `id` is `ARN` or
    /// `ARN+ROLE_ARN` (spaces removed, as sops does); the spec's fields
    /// add `role`, `context.<k>` pairs and `aws_profile`. The ARN is not
    /// checked here: as in sops, a malformed one fails when it is used.
    pub fn from_spec(spec: &KeySpec) -> Self {
        let id: String = spec.id.chars().filter(|c| *c != ' ').collect();
        let (arn, mut role) = split_role(&id);
        let mut context = BTreeMap::new();
        let mut profile = String::new();
        for (field, value) in &spec.fields {
            if let Some(k) = field.strip_prefix("context.") {
                context.insert(k.to_owned(), value.clone());
            } else if field == "role" {
                role = value.clone();
            } else if field == "aws_profile" {
                profile = value.clone();
            }
        }
        Self {
            arn,
            role,
            context,
            profile,
            created_at: None,
        }
    }

    /// The key of a metadata entry.
    pub fn from_entry(entry: &KeyEntry) -> Self {
        let text = |name| entry.field(name).unwrap_or_default().to_owned();
        let context = match entry.fields.get("context") {
            Some(Value::Map(m)) => m
                .entries()
                .filter_map(|(k, v)| Some((k.to_owned(), v.as_str()?.to_owned())))
                .collect(),
            _ => BTreeMap::new(),
        };
        Self {
            arn: text("arn"),
            role: text("role"),
            context,
            profile: text("aws_profile"),
            created_at: entry.field("created_at").map(str::to_owned),
        }
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The role assumed before calling KMS ("" for none).
    pub fn role(&self) -> &str {
        &self.role
    }

    pub fn encryption_context(&self) -> &BTreeMap<String, String> {
        &self.context
    }

    /// The shared-config profile ("" for the default chain).
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The metadata entry without `enc`, in sops' field order.
    fn entry(&self, enc: Option<String>) -> KeyEntry {
        let mut fields = Branch::new();
        fields.push("arn", Value::Str(self.arn.clone()));
        if !self.role.is_empty() {
            fields.push("role", Value::Str(self.role.clone()));
        }
        if !self.context.is_empty() {
            let mut context = Branch::new();
            for (k, v) in &self.context {
                context.push(k.clone(), Value::Str(v.clone()));
            }
            fields.push("context", Value::Map(context));
        }
        if let Some(enc) = enc {
            let created = self
                .created_at
                .clone()
                .unwrap_or_else(time::now_rfc3339_seconds);
            fields.push("created_at", Value::Str(created));
            fields.push("enc", Value::Str(enc));
        }
        fields.push("aws_profile", Value::Str(self.profile.clone()));
        KeyEntry { kind: KIND, fields }
    }

    /// The region of the ARN, which is where the key lives (sops never
    /// takes it from the environment).
    fn region(&self) -> Result<String, KeyError> {
        region_of(&self.arn).ok_or_else(|| KeyError::Invalid {
            identifier: self.identifier(),
            reason: format!("no valid ARN found in '{}'", self.arn),
        })
    }

    fn rejected(&self, doing: &str, reason: &str) -> KeyError {
        KeyError::Rejected(format!(
            "failed to {doing} sops data key with AWS KMS key {}: {reason}",
            self.arn
        ))
    }

    /// What the KMS client of this key depends on.
    fn client_spec(&self, ctx: &KeyContext) -> Result<ClientSpec, KeyError> {
        Ok(ClientSpec {
            region: self.region()?,
            profile: self.profile.clone(),
            role: self.role.clone(),
            timeouts: (ctx.kms_connect_timeout(), ctx.kms_timeout()),
            shared_files: ctx
                .aws_shared_files()
                .map(|(c, k)| (c.to_path_buf(), k.to_path_buf())),
        })
    }

    /// The client for this key, after checking that explicit shared files
    /// exist (the SDK would silently read a missing one as empty).
    fn client(&self, doing: &str, ctx: &KeyContext) -> Result<Client, KeyError> {
        let spec = self.client_spec(ctx)?;
        if let Some((config, credentials)) = &spec.shared_files {
            for (what, path) in [("config", config), ("credentials", credentials)] {
                if !path.is_file() {
                    return Err(KeyError::NoCredentials(format!(
                        "failed to {doing} sops data key with AWS KMS key {}: no AWS credentials: \
                         the AWS shared {what} file {} does not exist",
                        self.arn,
                        path.display()
                    )));
                }
            }
        }
        cached_client(spec).map_err(|e| self.rejected(doing, &e))
    }

    fn context_map(&self) -> Option<std::collections::HashMap<String, String>> {
        (!self.context.is_empty()).then(|| {
            self.context
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    }

    /// Turns an SDK failure into a key error that names the key and says
    /// why: access denied, key not found, invalid ciphertext or context,
    /// unreachable endpoint, no credentials. SDK messages hold no secrets
    /// (never the plaintext; credentials are never part of them).
    fn sdk_error<E>(&self, doing: &str, err: &SdkError<E>) -> KeyError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        if let Some(cred) = credentials_error(err) {
            let detail = one_line(&chain(cred));
            return match cred {
                CredentialsError::CredentialsNotLoaded(_) => KeyError::NoCredentials(format!(
                    "failed to {doing} sops data key with AWS KMS key {}: no AWS credentials found: {detail}",
                    self.arn
                )),
                _ if !self.role.is_empty() => self.rejected(
                    doing,
                    &format!("failed to assume role '{}': {detail}", self.role),
                ),
                _ => self.rejected(doing, &format!("could not get AWS credentials: {detail}")),
            };
        }
        let reason = match err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let Some(code) = e.code() else {
                    // Not a KMS reply (a proxy or another server answered).
                    let status = service.raw().status().as_u16();
                    return self.rejected(doing, &format!("unexpected response (HTTP {status})"));
                };
                let message = e.message().unwrap_or_default();
                let what = match code {
                    "AccessDeniedException" => "access denied",
                    "NotFoundException" => "key not found",
                    "InvalidCiphertextException" => {
                        "invalid ciphertext or encryption context"
                    }
                    "DisabledException" | "KMSInvalidStateException" => "key not usable",
                    "IncorrectKeyException" => "ciphertext is for another key",
                    _ => "request refused",
                };
                if message.is_empty() {
                    format!("{what} ({code})")
                } else {
                    format!("{what} ({code}: {})", one_line(message))
                }
            }
            SdkError::TimeoutError(_) => "endpoint unreachable: timed out".to_owned(),
            SdkError::DispatchFailure(d) => {
                let what = if d.is_timeout() {
                    "endpoint unreachable: timed out"
                } else if d.is_io() {
                    "endpoint unreachable"
                } else {
                    "request failed"
                };
                format!("{what}: {}", one_line(&chain(err)))
            }
            _ => one_line(&chain(err)),
        };
        self.rejected(doing, &reason)
    }
}

impl MasterKey for AwsKmsKey {
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
        // The same rendering as the stored entry's, so that `--rm-kms` and
        // `updatekeys` compare like with like.
        self.entry(None).identifier()
    }

    fn encrypt(&self, secret: &[u8], ctx: &KeyContext) -> Result<KeyEntry, KeyError> {
        let client = self.client("encrypt", ctx)?;
        let blob = Blob::new(secret);
        let out = block_on(async {
            client
                .encrypt()
                .key_id(&self.arn)
                .plaintext(blob)
                .set_encryption_context(self.context_map())
                .send()
                .await
        })
        .map_err(|e| self.rejected("encrypt", &e))?
        .map_err(|e| self.sdk_error("encrypt", &e))?;
        let ciphertext = out
            .ciphertext_blob()
            .ok_or_else(|| self.rejected("encrypt", "KMS returned no ciphertext"))?;
        let enc = base64::engine::general_purpose::STANDARD.encode(ciphertext.as_ref());
        Ok(self.entry(Some(enc)))
    }

    fn decrypt(&self, entry: &KeyEntry, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let enc = entry.enc().unwrap_or_default();
        let ciphertext = base64::engine::general_purpose::STANDARD
            .decode(enc.trim())
            .map_err(|e| {
                self.rejected(
                    "decrypt",
                    &format!("error base64-decoding encrypted data key: {e}"),
                )
            })?;
        let client = self.client("decrypt", ctx)?;
        let out = block_on(async {
            client
                .decrypt()
                .key_id(&self.arn)
                .ciphertext_blob(Blob::new(ciphertext))
                .set_encryption_context(self.context_map())
                .send()
                .await
        })
        .map_err(|e| self.rejected("decrypt", &e))?
        .map_err(|e| self.sdk_error("decrypt", &e))?;
        let plaintext = out
            .plaintext
            .ok_or_else(|| self.rejected("decrypt", "KMS returned no plaintext"))?;
        Ok(Zeroizing::new(plaintext.into_inner()))
    }
}

/// Everything a KMS client depends on: keys that share it share one
/// client (its configuration, its cached credentials, an assumed role's
/// session, its connection pool) for the life of the process.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientSpec {
    region: String,
    profile: String,
    role: String,
    /// (connect, total)
    timeouts: (Duration, Duration),
    /// (config, credentials); `None`: the SDK's standard chain.
    shared_files: Option<(PathBuf, PathBuf)>,
}

/// The process' clients. A slot is filled once: callers that want the same
/// client at the same time wait for the first one's build instead of each
/// loading the configuration (and each assuming the role) themselves.
type ClientSlot = Arc<Mutex<Option<Client>>>;

fn cached_client(spec: ClientSpec) -> Result<Client, String> {
    static CLIENTS: OnceLock<Mutex<HashMap<ClientSpec, ClientSlot>>> = OnceLock::new();
    let slot = {
        let mut clients = CLIENTS
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(clients.entry(spec.clone()).or_default())
    };
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(client) = slot.as_ref() {
        return Ok(client.clone());
    }
    let client = block_on(build_client(&spec))?;
    *slot = Some(client.clone());
    Ok(client)
}

/// A KMS client: the SDK's standard chain (or the key's profile), or only
/// the explicit shared files; the region of the ARN, the (connect, total)
/// time-outs and, with a role, credentials from STS `AssumeRole`. Nothing
/// here reaches the network: credentials are fetched (and cached by the
/// client) on the first call.
/// The proxy of every AWS call, from the variables Go's `net/http` reads
/// (sops is a Go program): `HTTPS_PROXY` for the HTTPS endpoints AWS has,
/// else `HTTP_PROXY` (an `http://` endpoint override such as a local test
/// server), lower-case forms too, minus the hosts of `NO_PROXY`. Go never
/// proxies a loopback host; `localhost`, `127.0.0.1` and `::1` are added
/// to the exceptions for the same effect. No variable: no proxy (the SDK's
/// own default).
fn proxy_from_env(var: &dyn Fn(&str) -> Option<String>) -> ProxyConfig {
    let first = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| var(n).filter(|v| !v.trim().is_empty()))
    };
    let no_proxy = match first(&["NO_PROXY", "no_proxy"]) {
        Some(rules) => format!("{rules},localhost,127.0.0.1,::1"),
        None => "localhost,127.0.0.1,::1".to_owned(),
    };
    let config = match (first(&["HTTPS_PROXY", "https_proxy"]), first(&["HTTP_PROXY", "http_proxy"])) {
        (Some(url), _) => ProxyConfig::https(url.as_str()),
        (None, Some(url)) => ProxyConfig::http(url.as_str()),
        (None, None) => return ProxyConfig::disabled(),
    };
    // A proxy URL that does not parse is ignored, as Go ignores it for the
    // request (the call then goes direct, or fails on its own).
    config.map_or_else(|_| ProxyConfig::disabled(), |c| c.no_proxy(no_proxy))
}

async fn build_client(spec: &ClientSpec) -> Client {
    let region = Region::new(spec.region.clone());
    let base = base_config(
        Some(region.clone()),
        &spec.profile,
        spec.timeouts,
        spec.shared_files.as_ref(),
    )
    .await;
    let mut config = aws_sdk_kms::config::Builder::from(&base);
    if !spec.role.is_empty() {
        let provider = AssumeRoleProvider::builder(&spec.role)
            .session_name(session_name(&host_name()))
            .region(region)
            .configure(&base)
            .build()
            .await;
        config = config.credentials_provider(provider);
    }
    Client::from_conf(config.build())
}

/// The SDK configuration every AWS client of ours starts from (KMS keys,
/// and `publish`'s S3 uploads): the SDK's standard chain (or `profile`),
/// or only the explicit shared files; `region` (`None`: the chain's), the
/// (connect, total) time-outs, ring TLS and Go's proxy variables. Nothing
/// here reaches the network.
pub(crate) async fn base_config(
    region: Option<Region>,
    profile: &str,
    timeouts: (Duration, Duration),
    shared_files: Option<&(PathBuf, PathBuf)>,
) -> aws_config::SdkConfig {
    let proxy = proxy_from_env(&|k| std::env::var(k).ok());
    let http = aws_smithy_http_client::Builder::new().build_with_connector_fn(
        move |settings, components| {
            let mut connector = Connector::builder();
            connector.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                connector.set_sleep_impl(components.sleep_impl());
            }
            connector
                .proxy_config(proxy.clone())
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build()
        },
    );
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(timeouts.0)
        .operation_timeout(timeouts.1)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http.clone())
        .timeout_config(timeouts.clone());
    if let Some(region) = &region {
        loader = loader.region(region.clone());
    }
    if let Some((config, credentials)) = shared_files {
        let profile = if profile.is_empty() {
            "default"
        } else {
            profile
        };
        // The alias is deprecated in favour of aws-runtime's type, which is
        // the same type; naming it here saves a direct dependency.
        #[allow(deprecated)]
        let files = ProfileFiles::builder()
            .with_file(ProfileFileKind::Config, config)
            .with_file(ProfileFileKind::Credentials, credentials)
            .build();
        let provider_config = ProviderConfig::without_region()
            .with_region(region)
            .with_http_client(http)
            .with_timeout_config(timeouts);
        let mut provider = ProfileFileCredentialsProvider::builder()
            .configure(&provider_config)
            .profile_files(files.clone())
            .profile_name(profile);
        // A profile's `credential_source` would reach the process
        // environment or the metadata services, which the caller ruled out.
        for source in ["Environment", "Ec2InstanceMetadata", "EcsContainer"] {
            provider = provider.with_custom_provider(source, Refused(source));
        }
        loader = loader
            .profile_files(files)
            .profile_name(profile)
            .credentials_provider(provider.build());
    } else if !profile.is_empty() {
        loader = loader.profile_name(profile);
    }
    loader.load().await
}

/// A `credential_source` that is not available with explicit shared files.
#[derive(Debug)]
struct Refused(&'static str);

impl ProvideCredentials for Refused {
    fn provide_credentials<'a>(&'a self) -> ProvideCredentialsFuture<'a>
    where
        Self: 'a,
    {
        ProvideCredentialsFuture::ready(Err(CredentialsError::not_loaded(format!(
            "credential_source {} is not used when AWS credentials come only from shared files",
            self.0
        ))))
    }
}

/// Splits `ARN+ROLE_ARN` at the role's `+arn:` (so every partition works).
fn split_role(id: &str) -> (String, String) {
    match id.find(ROLE_SEPARATOR) {
        Some(i) if i > 0 => (id[..i].to_owned(), id[i + 1..].to_owned()),
        _ => (id.to_owned(), String::new()),
    }
}

/// The region of `arn:aws[-partition]:kms:REGION:ACCOUNT:(key|alias)/…`
/// (sops' pattern), or `None` when `arn` does not have that form.
fn region_of(arn: &str) -> Option<String> {
    let mut parts = arn.splitn(6, ':');
    let (scheme, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let partition_ok = partition
        .strip_prefix("aws")
        // Go's `\w` is ASCII only.
        .is_some_and(|p| p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
    let resource_ok = ["key/", "alias/"]
        .iter()
        .any(|p| resource.strip_prefix(p).is_some_and(|r| !r.is_empty()));
    let ok = scheme == "arn"
        && partition_ok
        && service == "kms"
        && !region.is_empty()
        && !account.is_empty()
        && account.chars().all(|c| c.is_ascii_digit())
        && resource_ok;
    ok.then(|| region.to_owned())
}

/// sops' role session name: `sops@` and the host name with every character
/// AWS does not allow removed, cut to AWS' 64 characters.
fn session_name(host: &str) -> String {
    let allowed = |c: &char| c.is_ascii_alphanumeric() || "=,.@-_".contains(*c);
    let mut name: String = format!("sops@{}", host.chars().filter(allowed).collect::<String>());
    name.truncate(MAX_SESSION_NAME);
    name
}

/// The host name as Go's `os.Hostname` reads it on Linux (sops uses that);
/// `localhost` where it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The credentials failure behind an SDK error, if that is what it is.
fn credentials_error<E: std::error::Error + 'static>(err: &SdkError<E>) -> Option<&CredentialsError> {
    find_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::aws_kms::KIND;

    #[test]
    fn roles_split_at_the_role_arn() {
        assert_eq!(
            split_role("arn:aws:kms:eu-west-1:1:key/k+arn:aws:iam::1:role/r"),
            ("arn:aws:kms:eu-west-1:1:key/k".into(), "arn:aws:iam::1:role/r".into())
        );
        assert_eq!(
            split_role("arn:aws-cn:kms:cn-north-1:1:key/k+arn:aws-cn:iam::1:role/r").1,
            "arn:aws-cn:iam::1:role/r"
        );
        assert_eq!(split_role("arn:aws:kms:x:1:key/k").1, "");
        for (partition, region) in [
            ("aws-cn", "cn-north-1"),
            ("aws-us-gov", "us-gov-west-1"),
            ("aws-iso", "us-iso-east-1"),
            ("aws-iso-b", "us-isob-east-1"),
            ("aws-iso-e", "eu-isoe-west-1"),
            ("aws-iso-f", "us-isof-south-1"),
            ("aws-eusc", "eusc-de-east-1"),
        ] {
            let key = format!("arn:{partition}:kms:{region}:1:key/k");
            let role = format!("arn:{partition}:iam::1:role/r");
            assert_eq!(split_role(&format!("{key}+{role}")), (key.clone(), role));
            assert_eq!(region_of(&key).as_deref(), Some(region), "{key}");
        }
    }

    #[test]
    fn region_comes_from_the_arn() {
        assert_eq!(region_of("arn:aws:kms:eu-west-1:123:key/abc").as_deref(), Some("eu-west-1"));
        assert_eq!(region_of("arn:aws-us-gov:kms:us-gov-west-1:1:alias/a").as_deref(), Some("us-gov-west-1"));
        for bad in [
            "",
            "arn:aws:kms:eu-west-1:123:key/",
            "arn:aws:s3:eu-west-1:123:key/k",
            "arn:aws:kms::123:key/k",
            "arn:aws:kms:r:12a:key/k",
            "arn:gcp:kms:r:1:key/k",
            "arn:awsé:kms:r:1:key/k",
            "alias/foo",
        ] {
            assert_eq!(region_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn session_names_are_sanitised_and_bounded() {
        assert_eq!(session_name("host.example_1"), "sops@host.example_1");
        assert_eq!(session_name("h o/s#t"), "sops@host");
        assert_eq!(session_name(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn identifiers_follow_sops() {
        let spec = |id: &str, fields: &[(&str, &str)]| KeySpec {
            kind: KIND,
            id: id.to_owned(),
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let arn = "arn:aws:kms:us-east-1:1:key/k";
        let key = AwsKmsKey::from_spec(&spec(arn, &[]));
        assert_eq!(key.identifier(), arn);
        let key = AwsKmsKey::from_spec(&spec(
            &format!(" {arn}+arn:aws:iam::1:role/r"),
            &[("context.z", "1"), ("context.b", "2")],
        ));
        assert_eq!(key.identifier(), format!("{arn}+arn:aws:iam::1:role/r|b:2,z:1"));
        let key = AwsKmsKey::from_spec(&spec(arn, &[("aws_profile", "dev")]));
        assert_eq!(key.identifier(), format!("{arn}||dev"));
        // The entry written renders the same identity.
        let entry = key.entry(Some("ZW5j".into()));
        assert_eq!(entry.identifier(), key.identifier());
        assert_eq!(AwsKmsKey::from_entry(&entry).identifier(), key.identifier());
        let names: Vec<&str> = entry.fields.entries().map(|(k, _)| k).collect();
        assert_eq!(names, ["arn", "created_at", "enc", "aws_profile"]);
    }

    /// Set in the child process of a test that needs its own environment
    /// (the parent's is never changed: tests run in parallel).
    const CHILD: &str = "SOPS_CORE_TEST_CHILD";

    /// Runs the test `name` of this module again in a child process with
    /// `vars` added; true in that child (the caller then does the work),
    /// false in the parent, after the child passed.
    fn in_child(name: &str, vars: &[(&str, String)]) -> bool {
        if std::env::var(CHILD).is_ok_and(|v| v == name) {
            return true;
        }
        let test = format!("keys::aws_kms::key::tests::{name}");
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &test, "--nocapture", "--test-threads=1"])
            .env(CHILD, name)
            .envs(vars.iter().map(|(k, v)| (*k, v)))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "child {name} failed:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        false
    }

    fn spec_key(id: &str, fields: &[(&str, &str)]) -> AwsKmsKey {
        AwsKmsKey::from_spec(&KeySpec {
            kind: KIND,
            id: id.to_owned(),
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        })
    }

    /// With explicit shared files, credentials come from them only: the
    /// process environment's keys (which moto would accept) are not used.
    #[test]
    fn shared_files_are_the_only_credentials() {
        const ENV_SECRET: &str = "secret-from-the-environment";
        const FILE_SECRET: &str = "secret-from-the-file";
        let dir_var = "SOPS_CORE_TEST_DIR";
        if std::env::var(CHILD).is_err() {
            let endpoint = test_support::moto_endpoint();
            let arn = test_support::moto_create_key(&endpoint, "us-east-1");
            let dir = tempfile::tempdir().unwrap();
            let path = |name: &str| dir.path().join(name);
            std::fs::create_dir(path("home")).unwrap();
            std::fs::write(path("config"), "[profile ops]\nrole_arn = arn:aws:iam::123456789012:role/ops\nsource_profile = dev\n").unwrap();
            std::fs::write(
                path("credentials"),
                format!(
                    "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = {FILE_SECRET}\n\
                     [dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = {FILE_SECRET}\n"
                ),
            )
            .unwrap();
            std::fs::write(path("empty"), "").unwrap();
            let vars = [
                ("AWS_ACCESS_KEY_ID", "AKIDENV".to_owned()),
                ("AWS_SECRET_ACCESS_KEY", ENV_SECRET.to_owned()),
                ("AWS_PROFILE", "dev".to_owned()),
                ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
                ("AWS_ENDPOINT_URL_KMS", endpoint.clone()),
                ("AWS_ENDPOINT_URL_STS", endpoint),
                ("HOME", path("home").display().to_string()),
                ("SOPS_CORE_TEST_ARN", arn),
                (dir_var, dir.path().display().to_string()),
            ];
            assert!(!in_child("shared_files_are_the_only_credentials", &vars));
            return;
        }
        let dir = std::path::PathBuf::from(std::env::var(dir_var).unwrap());
        let arn = std::env::var("SOPS_CORE_TEST_ARN").unwrap();
        let files = |config: &str, credentials: &str| {
            KeyContext::builder()
                .aws_shared_files(dir.join(config), dir.join(credentials))
                .build()
        };
        let round_trip = |key: &AwsKmsKey, ctx: &KeyContext| -> Result<(), KeyError> {
            let entry = key.encrypt(b"0123456789abcdef", ctx)?;
            assert_eq!(*key.decrypt(&entry, ctx)?, b"0123456789abcdef");
            Ok(())
        };
        let plain = spec_key(&arn, &[]);
        // The environment's keys work (moto takes any), so the failures
        // below come from not using them.
        round_trip(&plain, &KeyContext::builder().build()).unwrap();
        // The default profile, a named one, and a role assumed from a
        // source profile, all from the files.
        let ctx = files("config", "credentials");
        round_trip(&plain, &ctx).unwrap();
        round_trip(&spec_key(&arn, &[("aws_profile", "dev")]), &ctx).unwrap();
        round_trip(&spec_key(&arn, &[("aws_profile", "ops")]), &ctx).unwrap();
        // The same key and role on top, as a sops role.
        round_trip(&spec_key(&format!("{arn}+arn:aws:iam::123456789012:role/r"), &[]), &ctx).unwrap();
        // Empty files: no credentials, whatever the environment holds.
        let err = round_trip(&plain, &files("empty", "empty")).unwrap_err();
        assert!(matches!(err, KeyError::NoCredentials(_)), "{err:?}");
        // A profile the files do not define.
        let err = round_trip(&spec_key(&arn, &[("aws_profile", "nope")]), &ctx).unwrap_err();
        assert!(matches!(err, KeyError::NoCredentials(_)), "{err:?}");
        // A missing file is named; no file content is ever shown.
        let err = round_trip(&plain, &files("config", "missing")).unwrap_err();
        assert!(matches!(err, KeyError::NoCredentials(_)), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&dir.join("missing").display().to_string()), "{text}");
        assert!(text.contains(&arn), "{text}");
        for err in [err, round_trip(&plain, &files("empty", "empty")).unwrap_err()] {
            let text = format!("{err} {err:?}");
            assert!(!text.contains(FILE_SECRET) && !text.contains(ENV_SECRET), "{text}");
        }
        let shown = format!("{ctx:?}");
        assert!(!shown.contains(FILE_SECRET), "{shown}");
    }

    #[test]
    fn malformed_arns_fail_when_used() {
        let key = AwsKmsKey::from_spec(&KeySpec {
            kind: KIND,
            id: "not-an-arn".into(),
            fields: Vec::new(),
        });
        let err = key.encrypt(b"k", &KeyContext::builder().build()).unwrap_err();
        assert!(err.to_string().contains("no valid ARN found in 'not-an-arn'"), "{err}");
    }
}
