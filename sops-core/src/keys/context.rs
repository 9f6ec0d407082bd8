//! [`KeyContext`]: the key material and settings the keystores may use,
//! given explicitly. The keystores read only its fields; the environment
//! is read once, by the constructors that say so ([`KeyContext::from_process_env`],
//! [`KeyContext::from_vars`]), and turned into the same explicit inputs a
//! library user or the Argo CD plugin passes to [`KeyContextBuilder`].

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use zeroize::Zeroizing;

use super::KeyError;
use super::hc_vault::inputs::VaultInputs;
use crate::metadata::{KeyEntry, KeyKind};

#[cfg(feature = "age")]
use super::age::{AgeIdentities, AgeSources, IdentitiesRef, IdentityCache};

/// Decides whether a master key may be used at all (see
/// [`KeyContextBuilder::key_filter`]).
pub type KeyFilter = dyn Fn(&KeyEntry) -> bool + Send + Sync;

/// Everything keystores may use to find key material.
pub struct KeyContext {
    inputs: KeyContextBuilder,
    #[cfg(feature = "age")]
    age: IdentityCache,
    unwrapped: UnwrapMemo,
    /// Clients a keystore keeps for the life of the context, by keystore
    /// name, because building one costs more than a call (credentials,
    /// token exchange, TLS): GCP KMS, whose credentials and endpoint are
    /// the context's own. (AWS clients depend on each key's region, role
    /// and profile, and are cached by the AWS keystore itself.)
    #[cfg_attr(not(any(feature = "gcp-kms", feature = "azure-kv")), allow(dead_code))]
    clients: Mutex<HashMap<&'static str, Arc<dyn Any + Send + Sync>>>,
    /// The key services, local first (see [`KeyContextBuilder::key_service`]).
    services: Vec<super::key_service::KeyService>,
}

/// The secrets unwrapped through one context, so that a wrapped key seen
/// again (the same data key in many files of one Argo CD app, or one
/// `updatekeys` over many files) costs one keystore call, not one per
/// file. Only successes are kept, wiped when the context is dropped.
#[derive(Default)]
struct UnwrapMemo {
    slots: Mutex<HashMap<MemoKey, Slot>>,
}

/// A wrapped key: its kind and every field of its entry but `created_at`
/// (so the ARN, role, context, profile … and `enc`), each as an
/// unambiguous `Debug` rendering of the value. Nothing secret: `enc` is
/// ciphertext.
type MemoKey = (KeyKind, Vec<(String, String)>);

/// One wrapped key's secret once unwrapped. The slot's lock is held while
/// it is being unwrapped, so a concurrent caller for the same key waits for
/// that result instead of calling the keystore again.
type Slot = Arc<Mutex<Option<Zeroizing<Vec<u8>>>>>;

impl UnwrapMemo {
    fn key_of(entry: &KeyEntry) -> MemoKey {
        let fields = entry
            .fields
            .entries()
            .filter(|(name, _)| *name != "created_at")
            .map(|(name, value)| (name.to_owned(), format!("{value:?}")))
            .collect();
        (entry.kind, fields)
    }

    fn unwrap_once(
        &self,
        entry: &KeyEntry,
        unwrap: impl FnOnce() -> Result<Zeroizing<Vec<u8>>, KeyError>,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if entry.enc().is_none_or(str::is_empty) {
            return unwrap();
        }
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(slots.entry(Self::key_of(entry)).or_default())
        };
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(secret) = slot.as_ref() {
            return Ok(Zeroizing::new(secret.to_vec()));
        }
        let secret = unwrap()?;
        *slot = Some(Zeroizing::new(secret.to_vec()));
        Ok(secret)
    }
}

/// The explicit inputs of a [`KeyContext`].
///
/// Age identity sources are all loaded (on first use), as sops does, in
/// this order whatever the order of the calls: SSH key files, the SSH keys
/// of the default locations, then the identity texts, parsed identities,
/// identity files and key command in the order they were added, then the
/// default `keys.txt`. Failures are kept per source for the error message.
#[derive(Default)]
pub struct KeyContextBuilder {
    filter: Option<Box<KeyFilter>>,
    bind_age_recipients: bool,
    gpg_home: Option<PathBuf>,
    gpg_program: Option<String>,
    kms_connect_timeout: Option<Duration>,
    kms_timeout: Option<Duration>,
    aws_shared_files: Option<(PathBuf, PathBuf)>,
    gcp: GcpInputs,
    vault: VaultInputs,
    hckms: super::hckms::HckmsInputs,
    azure: super::azure_kv::AzureInputs,
    #[cfg(feature = "age")]
    age: AgeSources,
    key_services: super::key_service::KeyServiceList,
}

/// GCP KMS credentials and endpoint. The token and the JSON are secrets:
/// wiped on drop, never printed.
#[derive(Default)]
struct GcpInputs {
    /// `GOOGLE_CREDENTIALS`: a path to a credentials file, or the JSON.
    credentials: Option<Zeroizing<String>>,
    /// `GOOGLE_OAUTH_ACCESS_TOKEN`: a bearer token used as is.
    access_token: Option<Zeroizing<String>>,
    /// `GOOGLE_APPLICATION_CREDENTIALS`: the ADC credentials file.
    adc_file: Option<PathBuf>,
    /// `SOPS_GCP_KMS_ENDPOINT`.
    endpoint: Option<String>,
    /// `SOPS_GCP_KMS_UNIVERSE_DOMAIN` (unused when `endpoint` is set).
    universe_domain: Option<String>,
    /// True when Application Default Credentials (and so the metadata
    /// server) must not be used; stored negated so the default allows them.
    no_adc: bool,
}

/// How long a cloud KMS call may take to connect, by default.
pub const DEFAULT_KMS_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a cloud KMS call may take in all (retries included), by default.
pub const DEFAULT_KMS_TIMEOUT: Duration = Duration::from_secs(30);

impl KeyContext {
    /// An empty builder: no identities, gpg from `PATH` with its own home.
    pub fn builder() -> KeyContextBuilder {
        KeyContextBuilder::default()
    }

    /// The process environment, read once now (see
    /// [`KeyContextBuilder::from_process_env`]).
    pub fn from_process_env() -> Self {
        KeyContextBuilder::from_process_env().build()
    }

    /// A fixed list of variables, resolved as the process environment
    /// would be (nothing else is visible; empty values count as unset).
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        KeyContextBuilder::from_vars(vars).build()
    }

    /// See [`KeyContextBuilder::key_filter`].
    // Hidden: its signature names the crate's internal types (for the workspace's binaries).
    #[doc(hidden)]
    pub fn with_key_filter(
        mut self,
        allow: impl Fn(&KeyEntry) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.inputs.filter = Some(Box::new(allow));
        self
    }

    /// See [`KeyContextBuilder::bind_age_recipients`].
    pub fn with_age_recipient_binding(mut self) -> Self {
        self.inputs.bind_age_recipients = true;
        self
    }

    /// True when age identities are bound to their recipients.
    pub fn binds_age_recipients(&self) -> bool {
        self.inputs.bind_age_recipients
    }

    /// The slot in which a keystore keeps its client for this context,
    /// created empty (`T::default()`) on first ask: e.g. an async once-cell,
    /// so that threads asking at once wait for one client to be built.
    #[cfg_attr(not(any(feature = "gcp-kms", feature = "azure-kv")), allow(dead_code))]
    pub(crate) fn client_slot<T: Default + Send + Sync + 'static>(
        &self,
        name: &'static str,
    ) -> Arc<T> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = clients
            .entry(name)
            .or_insert_with(|| Arc::new(T::default()));
        if let Ok(slot) = Arc::clone(slot).downcast::<T>() {
            return slot;
        }
        // Another type under the same name (never, by construction).
        let fresh = Arc::new(T::default());
        clients.insert(name, fresh.clone());
        fresh
    }

    /// Unwraps the secret of `entry` with `unwrap`, unless this context
    /// already did so for the same wrapped key (see [`UnwrapMemo`]): then
    /// the secret is returned again without calling `unwrap`. A caller that
    /// asks while the same key is being unwrapped on another thread waits
    /// for that result. Failures are not kept: the next caller tries again.
    /// The caller checks the key filter first ([`KeyContext::allows`]).
    pub(crate) fn unwrap_once(
        &self,
        entry: &KeyEntry,
        unwrap: impl FnOnce() -> Result<Zeroizing<Vec<u8>>, KeyError>,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.unwrapped.unwrap_once(entry, unwrap)
    }

    /// The key services, in the order they are asked.
    pub(crate) fn key_services(&self) -> &[super::key_service::KeyService] {
        &self.services
    }

    /// True if the key filter (if any) allows `entry`.
    // Hidden: its signature names the crate's internal types (for the workspace's binaries).
    #[doc(hidden)]
    pub fn allows(&self, entry: &KeyEntry) -> bool {
        self.inputs.filter.as_ref().is_none_or(|allow| allow(entry))
    }

    /// The `GNUPGHOME` given to gpg; `None`: gpg's own default.
    pub fn gpg_home(&self) -> Option<&Path> {
        self.inputs.gpg_home.as_deref()
    }

    /// The gpg program to run (`gpg` from `PATH` unless set).
    pub fn gpg_program(&self) -> &str {
        self.inputs.gpg_program.as_deref().unwrap_or("gpg")
    }

    /// The connect time-out of each cloud KMS call (`SOPS_KMS_CONNECT_TIMEOUT`).
    pub fn kms_connect_timeout(&self) -> Duration {
        self.inputs
            .kms_connect_timeout
            .unwrap_or(DEFAULT_KMS_CONNECT_TIMEOUT)
    }

    /// The total time-out of each cloud KMS call, retries included
    /// (`SOPS_KMS_TIMEOUT`).
    pub fn kms_timeout(&self) -> Duration {
        self.inputs.kms_timeout.unwrap_or(DEFAULT_KMS_TIMEOUT)
    }

    /// The AWS shared config and credentials files that are the only
    /// source of AWS credentials (see [`KeyContextBuilder::aws_shared_files`]);
    /// `None`: the SDK's standard chain.
    pub fn aws_shared_files(&self) -> Option<(&Path, &Path)> {
        self.inputs
            .aws_shared_files
            .as_ref()
            .map(|(config, credentials)| (config.as_path(), credentials.as_path()))
    }

    /// `GOOGLE_CREDENTIALS` (a path or the JSON itself), if given.
    #[cfg_attr(not(feature = "gcp-kms"), allow(dead_code))]
    pub(crate) fn gcp_credentials(&self) -> Option<&str> {
        self.inputs.gcp.credentials.as_deref().map(String::as_str)
    }

    /// `GOOGLE_OAUTH_ACCESS_TOKEN`, if given.
    #[cfg_attr(not(feature = "gcp-kms"), allow(dead_code))]
    pub(crate) fn gcp_access_token(&self) -> Option<&str> {
        self.inputs.gcp.access_token.as_deref().map(String::as_str)
    }

    /// The credentials file Application Default Credentials start from
    /// (`GOOGLE_APPLICATION_CREDENTIALS`), if given.
    #[cfg_attr(not(feature = "gcp-kms"), allow(dead_code))]
    pub(crate) fn gcp_adc_file(&self) -> Option<&Path> {
        self.inputs.gcp.adc_file.as_deref()
    }

    /// The GCP KMS endpoint (`SOPS_GCP_KMS_ENDPOINT`); `None`: Google's.
    pub fn gcp_endpoint(&self) -> Option<&str> {
        self.inputs.gcp.endpoint.as_deref()
    }

    /// The GCP universe domain (`SOPS_GCP_KMS_UNIVERSE_DOMAIN`); `None`:
    /// Google's (`googleapis.com`).
    pub fn gcp_universe_domain(&self) -> Option<&str> {
        self.inputs.gcp.universe_domain.as_deref()
    }

    /// Whether Application Default Credentials (credential files in their
    /// default places, the metadata server) may be used.
    pub fn gcp_application_default_credentials(&self) -> bool {
        !self.inputs.gcp.no_adc
    }

    /// Vault's inputs (keys/hc_vault/inputs.rs holds their builder methods).
    pub(crate) fn vault_inputs(&self) -> &VaultInputs {
        &self.inputs.vault
    }

    /// HuaweiCloud KMS credentials and endpoint settings.
    #[cfg_attr(not(feature = "hckms"), allow(dead_code))]
    pub(crate) fn hckms(&self) -> &super::hckms::HckmsInputs {
        &self.inputs.hckms
    }

    /// The Azure credential settings (`AZURE_*`).
    #[cfg_attr(not(feature = "azure-kv"), allow(dead_code))]
    pub(crate) fn azure(&self) -> &super::azure_kv::AzureInputs {
        &self.inputs.azure
    }

    /// The age identities, loaded on first use from the context's sources
    /// (key commands run without `SOPS_AGE_RECIPIENT`).
    // Hidden: its signature names the crate's internal types (for the workspace's binaries).
    #[doc(hidden)]
    #[cfg(feature = "age")]
    pub fn age_identities(&self) -> &AgeIdentities {
        self.age.shared(&self.inputs.age)
    }

    /// The age identities for decrypting `recipient`'s entries: key
    /// commands run with `SOPS_AGE_RECIPIENT=<recipient>`, once per
    /// recipient and context.
    #[cfg(feature = "age")]
    pub(crate) fn age_identities_for(&self, recipient: &str) -> IdentitiesRef<'_> {
        self.age.for_recipient(&self.inputs.age, recipient)
    }

    /// Where age identities will be looked for (locations only, never key
    /// material), in load order.
    #[cfg(feature = "age")]
    pub fn age_locations(&self) -> Vec<String> {
        self.inputs.age.locations()
    }
}

impl KeyContextBuilder {
    /// The process environment, read once now and resolved as sops 3.13
    /// does: `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, `SOPS_AGE_SSH_PRIVATE_KEY_CMD`,
    /// `~/.ssh/id_ed25519` and `id_rsa` (from `HOME`), `SOPS_AGE_KEY`
    /// (several identities per line allowed), `SOPS_AGE_KEY_FILE`,
    /// `SOPS_AGE_KEY_CMD`, `<user config dir>/sops/age/keys.txt` (from
    /// `XDG_CONFIG_HOME` or `HOME`); `SOPS_GPG_EXEC` and `GNUPGHOME` for
    /// PGP; `SOPS_KMS_CONNECT_TIMEOUT` and `SOPS_KMS_TIMEOUT` for cloud KMS
    /// calls (seconds, or a number with `ms`, `s` or `m`; a value that does
    /// not parse leaves the default); `GOOGLE_CREDENTIALS`,
    /// `GOOGLE_OAUTH_ACCESS_TOKEN`, `GOOGLE_APPLICATION_CREDENTIALS` and
    /// `SOPS_GCP_KMS_ENDPOINT` for GCP KMS; `VAULT_TOKEN` (else
    /// `$HOME/.vault-token`), `VAULT_NAMESPACE`, `VAULT_CACERT`,
    /// `VAULT_CAPATH`, `VAULT_SKIP_VERIFY` and `SOPS_HC_VAULT_ALLOWLIST` for
    /// Vault transit. Unset variables are listed as
    /// unused locations in age's errors, with sops' texts.
    pub fn from_process_env() -> Self {
        let names = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok());
        Self::from_lookup(|k| std::env::var(k).ok(), names)
    }

    /// Like [`KeyContextBuilder::from_process_env`] over a fixed list of
    /// variables (nothing else is visible).
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: std::collections::HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let names: Vec<String> = map.keys().cloned().collect();
        Self::from_lookup(|k| map.get(k).cloned(), names)
    }

    /// Resolves every variable the keystores use, once; empty values count
    /// as unset. `names` lists the variables there are, for those whose
    /// names are not fixed (HuaweiCloud's per-region endpoints).
    fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        names: impl IntoIterator<Item = String>,
    ) -> Self {
        let var = |k: &str| lookup(k).filter(|v| !v.is_empty());
        Self {
            filter: None,
            bind_age_recipients: false,
            gpg_home: var("GNUPGHOME").map(PathBuf::from),
            gpg_program: var("SOPS_GPG_EXEC"),
            kms_connect_timeout: var("SOPS_KMS_CONNECT_TIMEOUT").and_then(|v| parse_duration(&v)),
            kms_timeout: var("SOPS_KMS_TIMEOUT").and_then(|v| parse_duration(&v)),
            aws_shared_files: None,
            gcp: GcpInputs {
                credentials: var("GOOGLE_CREDENTIALS").map(Zeroizing::new),
                access_token: var("GOOGLE_OAUTH_ACCESS_TOKEN").map(Zeroizing::new),
                adc_file: var("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from),
                endpoint: var("SOPS_GCP_KMS_ENDPOINT"),
                universe_domain: var("SOPS_GCP_KMS_UNIVERSE_DOMAIN"),
                no_adc: false,
            },
            vault: VaultInputs::from_vars(&var),
            hckms: super::hckms::HckmsInputs::from_vars(&var, &mut names.into_iter()),
            azure: super::azure_kv::AzureInputs::from_vars(&var),
            #[cfg(feature = "age")]
            age: AgeSources::from_vars(&var),
            key_services: Default::default(),
        }
    }

    /// Restricts which master keys may be used, e.g. an operator's
    /// allow-list (the Argo CD plugin). [`super::recover_data_key`] asks the
    /// filter about every entry of every key group before the entry's
    /// master key is even built: an entry for which `allow` returns false is
    /// never asked to decrypt (no identity is tried, no KMS or Vault call is
    /// made) and is recorded as a [`super::KeyFailure`] with
    /// [`super::KeyError::SkippedByPolicy`]. Shamir thresholds apply
    /// unchanged to the keys that remain. Encryption is not filtered.
    /// Without a filter (the default) every key is allowed.
    // Hidden: its signature names the crate's internal types (for the workspace's binaries).
    #[doc(hidden)]
    pub fn key_filter(mut self, allow: impl Fn(&KeyEntry) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Box::new(allow));
        self
    }

    /// Uses an age identity only for the recipient it belongs to. sops tries
    /// every identity it holds on every age entry, so the `recipient` written
    /// in a file's metadata is only a label; a caller that makes decisions
    /// on that label (an allow-list) needs it to be true. With binding on, an
    /// X25519 identity is tried only on the entry whose recipient is its own
    /// public key; SSH identities only on `ssh-` recipients and plugin
    /// identities only on their plugin's recipients (their public keys are
    /// not derivable here, so for them the binding is by kind only).
    pub fn bind_age_recipients(mut self) -> Self {
        self.bind_age_recipients = true;
        self
    }

    /// The `GNUPGHOME` gpg runs with.
    pub fn gpg_home(mut self, home: impl Into<PathBuf>) -> Self {
        self.gpg_home = Some(home.into());
        self
    }

    /// The gpg program (default: `gpg` from `PATH`).
    pub fn gpg_program(mut self, program: impl Into<String>) -> Self {
        self.gpg_program = Some(program.into());
        self
    }

    /// The connect time-out of each cloud KMS call (default 5 s).
    pub fn kms_connect_timeout(mut self, timeout: Duration) -> Self {
        self.kms_connect_timeout = Some(timeout);
        self
    }

    /// The total time-out of each cloud KMS call, retries included
    /// (default 30 s).
    pub fn kms_timeout(mut self, timeout: Duration) -> Self {
        self.kms_timeout = Some(timeout);
        self
    }

    /// Takes AWS credentials only from these two shared files (the format
    /// of `~/.aws/config` and `~/.aws/credentials`), for a caller whose
    /// process environment is not the user's (the Argo CD plugin, with a
    /// mounted config). The profile is the key's `aws_profile`, else
    /// `default`; it may hold static keys, `role_arn` with
    /// `web_identity_token_file` or `source_profile`, or
    /// `credential_process`. The process environment's credential variables
    /// (`AWS_ACCESS_KEY_ID` …, `AWS_PROFILE`, `AWS_ROLE_ARN` and
    /// `AWS_WEB_IDENTITY_TOKEN_FILE`), `~/.aws` and instance or container
    /// metadata are then never used, nor is a profile's `credential_source`.
    /// Endpoint overrides (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_KMS`,
    /// `AWS_ENDPOINT_URL_STS`) still come from the process environment. A
    /// missing file makes every AWS KMS key fail with
    /// a "no credentials" error naming the file. Has no effect
    /// without the `aws-kms` feature.
    pub fn aws_shared_files(
        mut self,
        config: impl Into<PathBuf>,
        credentials: impl Into<PathBuf>,
    ) -> Self {
        self.aws_shared_files = Some((config.into(), credentials.into()));
        self
    }

    /// GCP credentials as sops' `GOOGLE_CREDENTIALS` gives them: the path
    /// of a credentials file (service account, authorized user, external
    /// account …) or its JSON text. Used before any other GCP credentials.
    pub fn gcp_credentials(mut self, json_or_path: impl Into<String>) -> Self {
        self.gcp.credentials = Some(Zeroizing::new(json_or_path.into()));
        self
    }

    /// A GCP OAuth access token sent as is (sops' `GOOGLE_OAUTH_ACCESS_TOKEN`);
    /// used when no [`KeyContextBuilder::gcp_credentials`] are given.
    pub fn gcp_access_token(mut self, token: impl Into<String>) -> Self {
        self.gcp.access_token = Some(Zeroizing::new(token.into()));
        self
    }

    /// The GCP KMS endpoint, e.g. `https://cloudkms.example:443` or a local
    /// `http://127.0.0.1:PORT` (sops 3.13's `SOPS_GCP_KMS_ENDPOINT`).
    pub fn gcp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.gcp.endpoint = Some(url.into());
        self
    }

    /// The GCP universe domain, e.g. `s3nsapis.fr`: KMS is then
    /// `https://cloudkms.<domain>` and credentials must belong to it (sops
    /// 3.13's `SOPS_GCP_KMS_UNIVERSE_DOMAIN`; an endpoint wins over it).
    pub fn gcp_universe_domain(mut self, domain: impl Into<String>) -> Self {
        self.gcp.universe_domain = Some(domain.into());
        self
    }

    /// Whether GCP Application Default Credentials may be used when neither
    /// credentials nor a token are given (default: yes). With `false` the
    /// metadata server and the default credential files are never
    /// consulted, and a GCP key without explicit credentials fails with a
    /// no-credentials error.
    pub fn gcp_application_default_credentials(mut self, allowed: bool) -> Self {
        self.gcp.no_adc = !allowed;
        self
    }

    /// HuaweiCloud access key, secret key and project id (the SDK's
    /// `HUAWEICLOUD_SDK_AK`, `_SK`, `_PROJECT_ID`); used before the
    /// credentials file.
    pub fn hckms_credentials(
        mut self,
        ak: impl Into<String>,
        sk: impl Into<String>,
        project_id: impl Into<String>,
    ) -> Self {
        self.hckms.ak = Some(ak.into());
        self.hckms.sk = Some(Zeroizing::new(sk.into()));
        self.hckms.project_id = Some(project_id.into());
        self
    }

    /// The security token of temporary HuaweiCloud credentials
    /// (`HUAWEICLOUD_SDK_SECURITY_TOKEN`), sent with the credentials given
    /// by [`KeyContextBuilder::hckms_credentials`].
    pub fn hckms_security_token(mut self, token: impl Into<String>) -> Self {
        self.hckms.security_token = Some(Zeroizing::new(token.into()));
        self
    }

    /// The HuaweiCloud credentials file (the SDK's INI format, section
    /// `[basic]`: `ak`, `sk`, `project_id`, `security_token`), used when no
    /// credentials are given directly. [`KeyContext::from_process_env`]
    /// uses `HUAWEICLOUD_SDK_CREDENTIALS_FILE`, else
    /// `~/.huaweicloud/credentials`; a builder uses none unless told.
    pub fn hckms_credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.hckms.credentials_file = Some(path.into());
        self
    }

    /// The HuaweiCloud regions file (the SDK's YAML: `KMS:` then a list of
    /// `id`, `endpoint`/`endpoints`), consulted after the per-region
    /// endpoints.
    pub fn hckms_regions_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.hckms.regions_file = Some(path.into());
        self
    }

    /// The endpoint (or a comma-separated list) of HuaweiCloud KMS in
    /// `region`, as the SDK's `HUAWEICLOUD_SDK_REGION_KMS_<REGION>` gives it.
    pub fn hckms_endpoint(mut self, region: &str, url: impl Into<String>) -> Self {
        let name = region.replace('-', "_").to_uppercase();
        self.hckms.endpoints.retain(|(r, _)| *r != name);
        self.hckms.endpoints.push((name, url.into()));
        self
    }

    /// Replaces the Azure credential settings with those of `vars`, read
    /// as the environment's are (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_CLIENT_SECRET`, `AZURE_CLIENT_CERTIFICATE_PATH`,
    /// `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_AUTHORITY_HOST`,
    /// `AZURE_TOKEN_CREDENTIALS`, `IDENTITY_ENDPOINT` …); whether managed
    /// identity and the developer tools may be used is kept.
    pub fn azure_settings<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let mut azure = super::azure_kv::AzureInputs::from_vars(&|k| map.get(k).cloned());
        azure.no_managed_identity = self.azure.no_managed_identity;
        azure.no_developer_tools = self.azure.no_developer_tools;
        self.azure = azure;
        self
    }

    /// Whether Azure managed identity (the instance metadata address, or
    /// App Service's `IDENTITY_ENDPOINT`) may be asked for a token; on by
    /// default, as in azidentity's default chain.
    pub fn azure_managed_identity(mut self, allowed: bool) -> Self {
        self.azure.no_managed_identity = !allowed;
        self
    }

    /// Whether the Azure CLI (`az`) and Azure Developer CLI (`azd`) may be
    /// run for a token; on by default, as in azidentity's default chain.
    pub fn azure_developer_tools(mut self, allowed: bool) -> Self {
        self.azure.no_developer_tools = !allowed;
        self
    }

    /// Age identities as text (one per line, `#` comments), named
    /// `location` in messages. A text that does not parse is reported as a
    /// whole, as sops does for `SOPS_AGE_KEY`.
    #[cfg(feature = "age")]
    pub fn age_identity_text(mut self, location: impl Into<String>, text: &str) -> Self {
        self.age.add_text(location.into(), text);
        self
    }

    /// An identity the caller already holds, named `location` in messages.
    #[cfg(feature = "age")]
    pub fn age_identity(
        mut self,
        location: impl Into<String>,
        identity: ::age::x25519::Identity,
    ) -> Self {
        self.age.add_identity(location.into(), identity);
        self
    }

    /// An identity file, read on first use
    /// (bounded, wiped after parsing); a missing file is an error.
    #[cfg(feature = "age")]
    pub fn age_identity_file(mut self, path: impl AsRef<Path>) -> Self {
        self.age.add_file(path.as_ref());
        self
    }

    /// A command whose standard output holds identities (sops'
    /// `SOPS_AGE_KEY_CMD`; messages name that variable). Split like a shell
    /// would, run without one, with `SOPS_AGE_RECIPIENT` set to the
    /// recipient being decrypted.
    #[cfg(feature = "age")]
    pub fn age_key_command(mut self, command: impl Into<String>) -> Self {
        self.age.add_command(command.into());
        self
    }

    /// An SSH private key file (ed25519 or RSA, not passphrase-protected).
    #[cfg(feature = "age")]
    pub fn age_ssh_key_file(mut self, path: impl AsRef<Path>) -> Self {
        self.age.add_ssh_file(path.as_ref());
        self
    }

    /// Also looks where sops looks by default: `<home>/.ssh/id_ed25519` and
    /// `<home>/.ssh/id_rsa` when they exist, and
    /// `<config_dir>/sops/age/keys.txt`.
    #[cfg(feature = "age")]
    pub fn age_default_locations(
        mut self,
        home: impl AsRef<Path>,
        config_dir: impl AsRef<Path>,
    ) -> Self {
        self.age
            .set_default_locations(home.as_ref(), config_dir.as_ref());
        self
    }

    /// Vault's inputs, for the builder methods in keys/hc_vault/inputs.rs.
    pub(crate) fn vault_inputs_mut(&mut self) -> &mut VaultInputs {
        &mut self.vault
    }

    // Key services (sops-cli.md §10).

    /// Whether this process' own key material is used (sops' local key
    /// service, `--enable-local-keyservice`); on by default. Off, only the
    /// remote key services wrap and unwrap.
    pub fn local_key_service(mut self, enabled: bool) -> Self {
        self.key_services.no_local = !enabled;
        self
    }

    /// Adds a remote key service (`sops keyservice`, `--keyservice`),
    /// asked after the local one and the services added before it. The
    /// connection is made on first use; the KMS time-outs bound each call.
    // Hidden: its signature names the crate's internal types (for the workspace's binaries).
    #[doc(hidden)]
    #[cfg(feature = "keyservice")]
    pub fn key_service(mut self, addr: super::KeyServiceAddr) -> Self {
        self.key_services.remote.push(addr);
        self
    }

    /// The context, with these inputs (nothing is read until a key needs it).
    pub fn build(self) -> KeyContext {
        KeyContext {
            services: self.key_services.build(),
            inputs: self,
            #[cfg(feature = "age")]
            age: IdentityCache::default(),
            unwrapped: UnwrapMemo::default(),
            clients: Mutex::default(),
        }
    }
}

/// Locations and settings only; key material, texts and the filter are
/// never printed.
impl fmt::Debug for KeyContextBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("KeyContextBuilder");
        #[cfg(feature = "age")]
        s.field("age_locations", &self.age.locations());
        s.field("gpg_home", &self.gpg_home)
            .field("gpg_program", &self.gpg_program)
            .field("key_filter", &self.filter.is_some())
            .field("bind_age_recipients", &self.bind_age_recipients)
            .field("kms_connect_timeout", &self.kms_connect_timeout)
            .field("kms_timeout", &self.kms_timeout)
            .field("aws_shared_files", &self.aws_shared_files)
            .field("gcp_credentials", &self.gcp.credentials.is_some())
            .field("gcp_access_token", &self.gcp.access_token.is_some())
            .field("gcp_adc_file", &self.gcp.adc_file)
            .field("gcp_endpoint", &self.gcp.endpoint)
            .field("gcp_application_default_credentials", &!self.gcp.no_adc)
            .field("vault", &self.vault)
            .field("hckms", &self.hckms)
            .field("azure", &self.azure)
            .field("local_key_service", &!self.key_services.no_local)
            .field("key_services", &self.key_services.remote)
            .finish()
    }
}

/// A time-out from the environment: `5`, `2.5`, `500ms`, `5s`, `1m`;
/// `None` for anything else (zero and negative values included).
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let seconds = number.trim().parse::<f64>().ok()? * scale;
    (seconds.is_finite() && seconds > 0.0)
        .then(|| Duration::try_from_secs_f64(seconds).ok())
        .flatten()
}

impl fmt::Debug for KeyContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyContext").field(&self.inputs).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::keys::{MasterKey, aws_kms};
    use crate::tree::{Branch, Value};

    /// A keystore that counts its unwraps; `fail_first` calls fail.
    #[derive(Debug, Default)]
    struct CountingKey {
        calls: AtomicUsize,
        fail_first: usize,
        delay: Duration,
    }

    impl MasterKey for CountingKey {
        fn kind(&self) -> KeyKind {
            aws_kms::KIND
        }
        fn identifier(&self) -> String {
            "counting".into()
        }
        fn encrypt(&self, _: &[u8], _: &KeyContext) -> Result<KeyEntry, KeyError> {
            Err(KeyError::Rejected("not used".into()))
        }
        fn decrypt(
            &self,
            entry: &KeyEntry,
            _: &KeyContext,
        ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(self.delay);
            if n < self.fail_first {
                return Err(KeyError::Rejected("unreachable".into()));
            }
            Ok(Zeroizing::new(
                format!("secret of {}", entry.enc().unwrap()).into_bytes(),
            ))
        }
    }

    fn entry(fields: &[(&str, &str)]) -> KeyEntry {
        let mut branch = Branch::new();
        for (k, v) in fields {
            branch.push(*k, Value::Str((*v).into()));
        }
        KeyEntry {
            kind: aws_kms::KIND,
            fields: branch,
        }
    }

    const ARN: &str = "arn:aws:kms:us-east-1:1:key/k";

    #[test]
    fn a_wrapped_key_is_unwrapped_once_per_context() {
        let key = CountingKey::default();
        let ctx = KeyContext::builder().build();
        let unwrap = |e: &KeyEntry| ctx.unwrap_once(e, || key.decrypt(e, &ctx)).unwrap();
        let calls = || key.calls.load(Ordering::SeqCst);
        let a = entry(&[("arn", ARN), ("created_at", "t1"), ("enc", "AAAA")]);
        assert_eq!(*unwrap(&a), *b"secret of AAAA");
        assert_eq!(*unwrap(&a), *b"secret of AAAA");
        assert_eq!(calls(), 1);
        // Another file's entry for the same wrapped key, written later.
        unwrap(&entry(&[
            ("arn", ARN),
            ("created_at", "t2"),
            ("enc", "AAAA"),
        ]));
        assert_eq!(calls(), 1);
        // Another ciphertext, role, profile or key: another call each.
        assert_eq!(
            *unwrap(&entry(&[("arn", ARN), ("enc", "BBBB")])),
            *b"secret of BBBB"
        );
        unwrap(&entry(&[
            ("arn", ARN),
            ("role", "arn:aws:iam::1:role/r"),
            ("enc", "AAAA"),
        ]));
        unwrap(&entry(&[
            ("arn", ARN),
            ("enc", "AAAA"),
            ("aws_profile", "dev"),
        ]));
        unwrap(&entry(&[
            ("arn", "arn:aws:kms:us-east-1:1:key/other"),
            ("enc", "AAAA"),
        ]));
        assert_eq!(calls(), 5);
        // Contexts that would render alike in an identifier still differ.
        let with_context = |pairs: &[(&str, &str)]| {
            let mut e = entry(&[("arn", ARN), ("enc", "CCCC")]);
            let mut context = Branch::new();
            for (k, v) in pairs {
                context.push(*k, Value::Str((*v).into()));
            }
            e.fields.push("context", Value::Map(context));
            e
        };
        unwrap(&with_context(&[("a", "b,c:d")]));
        unwrap(&with_context(&[("a", "b"), ("c", "d")]));
        unwrap(&with_context(&[("a", "b"), ("c", "d")]));
        assert_eq!(calls(), 7);
        // Entries without ciphertext are never remembered.
        let bare = entry(&[("arn", ARN)]);
        assert!(
            ctx.unwrap_once(&bare, || key.decrypt(&entry(&[("enc", "x")]), &ctx))
                .is_ok()
        );
        assert!(
            ctx.unwrap_once(&bare, || key.decrypt(&entry(&[("enc", "x")]), &ctx))
                .is_ok()
        );
        assert_eq!(calls(), 9);
        // A new context starts empty.
        let fresh = KeyContext::builder().build();
        fresh.unwrap_once(&a, || key.decrypt(&a, &fresh)).unwrap();
        assert_eq!(calls(), 10);
    }

    #[test]
    fn failures_are_not_remembered() {
        let key = CountingKey {
            fail_first: 1,
            ..CountingKey::default()
        };
        let ctx = KeyContext::builder().build();
        let a = entry(&[("arn", ARN), ("enc", "AAAA")]);
        let unwrap = || ctx.unwrap_once(&a, || key.decrypt(&a, &ctx));
        assert_eq!(
            unwrap().unwrap_err(),
            KeyError::Rejected("unreachable".into())
        );
        assert_eq!(*unwrap().unwrap(), *b"secret of AAAA");
        assert_eq!(*unwrap().unwrap(), *b"secret of AAAA");
        assert_eq!(key.calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn concurrent_lookups_of_one_key_wait_for_the_first() {
        let key = CountingKey {
            delay: Duration::from_millis(50),
            ..CountingKey::default()
        };
        let ctx = KeyContext::builder().build();
        let a = entry(&[("arn", ARN), ("enc", "AAAA")]);
        let b = entry(&[("arn", ARN), ("enc", "BBBB")]);
        let start = std::sync::Barrier::new(8);
        std::thread::scope(|s| {
            for i in 0..8 {
                let (ctx, key, start) = (&ctx, &key, &start);
                let e = if i % 2 == 0 { &a } else { &b };
                s.spawn(move || {
                    start.wait();
                    let got = ctx.unwrap_once(e, || key.decrypt(e, ctx)).unwrap();
                    assert_eq!(*got, format!("secret of {}", e.enc().unwrap()).into_bytes());
                });
            }
        });
        assert_eq!(key.calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_memo_is_never_shown() {
        let ctx = KeyContext::builder().build();
        let a = entry(&[("arn", ARN), ("enc", "AAAA")]);
        ctx.unwrap_once(&a, || Ok(Zeroizing::new(b"hunter2".to_vec())))
            .unwrap();
        let shown = format!("{ctx:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("AAAA"),
            "{shown}"
        );
    }

    #[test]
    fn kms_timeouts_from_variables() {
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration(" 2.5 "), Some(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("3s"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        for bad in ["", "0", "-1", "abc", "5h", "inf", "NaN", "1e300"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        let ctx =
            KeyContext::from_vars([("SOPS_KMS_TIMEOUT", "7"), ("SOPS_KMS_CONNECT_TIMEOUT", "x")]);
        assert_eq!(ctx.kms_timeout(), Duration::from_secs(7));
        assert_eq!(ctx.kms_connect_timeout(), DEFAULT_KMS_CONNECT_TIMEOUT);
        let ctx = KeyContext::builder()
            .kms_connect_timeout(Duration::from_secs(1))
            .build();
        assert_eq!(ctx.kms_connect_timeout(), Duration::from_secs(1));
        assert_eq!(ctx.kms_timeout(), DEFAULT_KMS_TIMEOUT);
    }

    #[test]
    fn gcp_inputs_from_variables_and_builder_never_printed() {
        let ctx = KeyContext::from_vars([
            (
                "GOOGLE_CREDENTIALS",
                "{\"type\": \"service_account\", \"private_key\": \"PRIVATE-KEY-TEXT\"}",
            ),
            ("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.TOKEN-TEXT"),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/adc.json"),
            ("SOPS_GCP_KMS_ENDPOINT", "http://127.0.0.1:1"),
        ]);
        assert!(ctx.gcp_credentials().unwrap().contains("PRIVATE-KEY-TEXT"));
        assert_eq!(ctx.gcp_access_token(), Some("ya29.TOKEN-TEXT"));
        assert_eq!(ctx.gcp_adc_file(), Some(Path::new("/adc.json")));
        assert_eq!(ctx.gcp_endpoint(), Some("http://127.0.0.1:1"));
        assert!(ctx.gcp_application_default_credentials());
        let debug = format!("{ctx:?}");
        assert!(
            !debug.contains("PRIVATE-KEY-TEXT") && !debug.contains("TOKEN-TEXT"),
            "{debug}"
        );
        assert!(debug.contains("gcp_access_token: true"), "{debug}");

        let ctx = KeyContext::builder()
            .gcp_access_token("t")
            .gcp_credentials("/creds.json")
            .gcp_endpoint("http://e")
            .gcp_application_default_credentials(false)
            .build();
        assert_eq!(ctx.gcp_credentials(), Some("/creds.json"));
        assert_eq!(ctx.gcp_access_token(), Some("t"));
        assert_eq!(ctx.gcp_endpoint(), Some("http://e"));
        assert!(!ctx.gcp_application_default_credentials());
        let empty = KeyContext::from_vars([("GOOGLE_OAUTH_ACCESS_TOKEN", "")]);
        assert_eq!(empty.gcp_access_token(), None);
        assert!(empty.gcp_application_default_credentials());
    }
}
