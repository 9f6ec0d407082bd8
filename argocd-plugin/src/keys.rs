//! Key material for one run: the sops-core key context, built from the
//! operator's settings and the sidecar's own key variables, never from
//! tenant input (`ARGOCD_ENV_*`, parameters, repository files).
//!
//! Cloud credentials follow the same rule. Without project scoping, AWS KMS
//! uses the SDK's standard chain over the sidecar's own process environment
//! and files (static keys, `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE` as
//! IRSA injects them, a mounted `AWS_CONFIG_FILE` /
//! `AWS_SHARED_CREDENTIALS_FILE`, EKS Pod Identity); Argo CD hands tenant
//! values to us only as `ARGOCD_ENV_*` and `PARAM_*`, which the SDK does not
//! read, and `main` leaves the app directory first, so no relative path
//! (`~/.aws/config` without `HOME`) resolves into the repository. GCP KMS
//! gets the [`KEY_VARS`] of the sidecar (`GOOGLE_CREDENTIALS`,
//! `GOOGLE_OAUTH_ACCESS_TOKEN`, `GOOGLE_APPLICATION_CREDENTIALS`, then
//! Application Default Credentials, i.e. GKE workload identity). Vault
//! transit gets the sidecar's `VAULT_TOKEN`, else its `~/.vault-token`, and
//! its settings ([`VAULT_SETTINGS`]). HuaweiCloud KMS gets the sidecar's `HUAWEICLOUD_SDK_*` credential
//! variables, its `~/.huaweicloud/credentials` (or
//! `HUAWEICLOUD_SDK_CREDENTIALS_FILE`), and its endpoint settings
//! (`HUAWEICLOUD_SDK_REGION_KMS_<REGION>`, `HUAWEICLOUD_SDK_REGIONS_FILE`).
//! Azure Key Vault gets the sidecar's [`AZURE_VARS`] (client secret or certificate,
//! AKS workload identity, `AZURE_TOKEN_CREDENTIALS`) and managed identity;
//! the developer tools of azidentity's chain (`az`, `azd`) are never run.
//!
//! With `SOPS_CMP_PROJECT_KEYS_DIR=<dir>`, everything comes from the
//! project's own directory, `<dir>/<project>/`:
//!
//! ```text
//! <dir>/<project>/*                      age identity files (non-hidden regular files)
//! <dir>/<project>/gnupg/                 writable gpg home with the project's PGP keys
//! <dir>/<project>/aws/config             AWS shared config of the project (profiles,
//! <dir>/<project>/aws/credentials          role_arn + web_identity_token_file or
//!                                          source_profile, credential_process)
//! <dir>/<project>/gcp/credentials.json   GCP credentials JSON (service account key)
//! <dir>/<project>/vault/token            Vault token (surrounding white space ignored)
//! <dir>/<project>/vault/client.pem       Vault TLS client certificate and its key
//! <dir>/<project>/vault/client-key.pem     (optional; both or neither)
//! <dir>/<project>/huaweicloud/credentials  HuaweiCloud credentials (the SDK's INI file,
//!                                          section [basic]: ak, sk, project_id)
//! <dir>/<project>/azure/credentials.env  Azure credentials as `NAME=value` lines
//!                                          (AZURE_TENANT_ID, AZURE_CLIENT_ID with
//!                                          AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH
//!                                          or AZURE_FEDERATED_TOKEN_FILE)
//! <dir>/_shared/*                        age identity files every project may use
//! ```
//!
//! AWS credentials then come only from the project's two files (both must
//! exist; either may be empty), with the profile a key names or `default`,
//! never from the sidecar's environment, IRSA or the instance metadata; GCP credentials only from its `credentials.json`,
//! with Application Default Credentials (and so the GKE metadata server) off;
//! a Vault token only from its `vault/token`, never the sidecar's
//! `VAULT_TOKEN` or `~/.vault-token`; HuaweiCloud credentials only from its
//! `huaweicloud/credentials`. A project without those files has no cloud
//! credentials, and a KMS or Vault key of its files fails with "no
//! credentials" / "no Vault token". `_shared/` holds age identities only.
//! Endpoints (`AWS_ENDPOINT_URL*`, `SOPS_GCP_KMS_ENDPOINT`,
//! `SOPS_GCP_KMS_UNIVERSE_DOMAIN`,
//! `HUAWEICLOUD_SDK_REGION_KMS_*`, `HUAWEICLOUD_SDK_REGIONS_FILE`) and
//! Vault's [`VAULT_SETTINGS`] stay sidecar settings, as does
//! `AZURE_AUTHORITY_HOST` unless the project's file sets it. Azure
//! credentials come only from its `azure/credentials.env`, with managed
//! identity (the pod's own) off.

use std::path::Path;

use sops_core::keys::{KeyContext, KeyContextBuilder, read_secret_file};

use crate::error::Failure;
use crate::key_policy::KeyPolicy;
use crate::settings::{Env, Settings};

/// Variables of the sidecar environment that may feed the key context: the
/// age variables our CLI reads, the directories sops derives the default
/// key file from, gpg's home, the KMS time-outs and GCP's credential and
/// endpoint variables (the AWS SDK reads the process environment itself).
/// `SOPS_AGE_KEY_CMD`, `SOPS_AGE_SSH_PRIVATE_KEY_CMD` and `SOPS_GPG_EXEC` are
/// left out on purpose: the plugin never runs a command of the operator's
/// choosing to obtain keys (gpg is run from `PATH`).
pub const KEY_VARS: &[&str] = &[
    "SOPS_AGE_KEY_FILE",
    "SOPS_AGE_KEY",
    "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
    "HOME",
    "XDG_CONFIG_HOME",
    "GNUPGHOME",
    "SOPS_KMS_CONNECT_TIMEOUT",
    "SOPS_KMS_TIMEOUT",
    "GOOGLE_CREDENTIALS",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "SOPS_GCP_KMS_ENDPOINT",
    "SOPS_GCP_KMS_UNIVERSE_DOMAIN",
    "VAULT_TOKEN",
    "VAULT_NAMESPACE",
    "VAULT_CACERT",
    "VAULT_CAPATH",
    "VAULT_SKIP_VERIFY",
    "SOPS_HC_VAULT_ALLOWLIST",
    "VAULT_CLIENT_CERT",
    "VAULT_CLIENT_KEY",
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_PROJECT_ID",
    "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
    "HUAWEICLOUD_SDK_REGIONS_FILE",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AZURE_TOKEN_CREDENTIALS",
    "AZURE_ADDITIONALLY_ALLOWED_TENANTS",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
];

/// The names a project's `azure/credentials.env` may set: the service
/// principal and workload identity settings (no managed identity, which is
/// the pod's own).
pub const AZURE_VARS: &[&str] = &[
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AZURE_TOKEN_CREDENTIALS",
    "AZURE_ADDITIONALLY_ALLOWED_TENANTS",
];

/// Vault's settings (no credential among them), which are the sidecar's
/// for every project: the namespace, TLS trust and the address allow-list.
pub const VAULT_SETTINGS: &[&str] = &[
    "VAULT_NAMESPACE",
    "VAULT_CACERT",
    "VAULT_CAPATH",
    "VAULT_SKIP_VERIFY",
    "SOPS_HC_VAULT_ALLOWLIST",
];

/// The prefix of HuaweiCloud's per-region KMS endpoint variables, which
/// are sidecar settings too (their names depend on the region).
const HCKMS_ENDPOINT_PREFIX: &str = "HUAWEICLOUD_SDK_REGION_KMS_";

/// Parses the operator's key policy (`SOPS_CMP_KEY_POLICY`), if any. Done
/// once at startup so a broken policy fails every command, closed.
pub fn load_policy(op: &Settings) -> Result<Option<KeyPolicy>, Failure> {
    op.key_policy_file
        .as_deref()
        .map(KeyPolicy::load)
        .transpose()
}

/// The key context, built on first use (a plain app needs no keys, and a
/// project without keys may still render plain apps).
pub struct Keys<'a> {
    env: &'a Env,
    op: &'a Settings,
    policy: Option<&'a KeyPolicy>,
    ctx: Option<Result<KeyContext, Failure>>,
}

impl<'a> Keys<'a> {
    pub fn new(env: &'a Env, op: &'a Settings, policy: Option<&'a KeyPolicy>) -> Self {
        Self {
            env,
            op,
            policy,
            ctx: None,
        }
    }

    pub fn get(&mut self) -> Result<&KeyContext, Failure> {
        self.ctx
            .get_or_insert_with(|| key_context(self.env, self.op, self.policy))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Builds the key context from the sidecar's own settings.
///
/// Without project scoping: the [`KEY_VARS`] of the sidecar environment,
/// resolved as our CLI resolves the environment.
/// With `SOPS_CMP_PROJECT_KEYS_DIR`: only the identity files found in
/// `<dir>/<project>/` and `<dir>/_shared/` (hidden entries such as the
/// `..data` links of a Kubernetes Secret volume are skipped) and the
/// project's cloud credentials (module docs); the global variables are
/// ignored so one project cannot use another's keys.
///
/// With `SOPS_CMP_KEY_POLICY`, the context only lets the master keys the
/// policy allows for `ARGOCD_APP_PROJECT_NAME` be used; the policy is
/// applied before any key service is asked.
///
/// With `SOPS_CMP_KEYSERVICE`, the key services are asked after the
/// plugin's own keys (or instead of them with
/// `SOPS_CMP_LOCAL_KEYSERVICE=false`). A service unwraps with its own
/// credentials, whatever the project: only the key policy scopes it.
pub fn key_context(
    env: &Env,
    op: &Settings,
    policy: Option<&KeyPolicy>,
) -> Result<KeyContext, Failure> {
    // Identities open only the entries labelled with their own recipient, so
    // the recipients in a file's metadata (which the policy and the error
    // messages rely on) cannot be forged.
    // Without the local service the plugin's own keys are never used, so
    // they are not looked for (a project needs no key directory then);
    // the KMS time-outs still bound each call to a service.
    let base = if !op.no_local_key_service {
        identities(env, op)?
    } else {
        KeyContextBuilder::from_vars(
            ["SOPS_KMS_CONNECT_TIMEOUT", "SOPS_KMS_TIMEOUT"]
                .iter()
                .filter_map(|k| Some((*k, env.get(k)?))),
        )
    };
    let mut builder = base
        .bind_age_recipients()
        .local_key_service(!op.no_local_key_service);
    // A Vault key's address comes from the tenant's `sops` block. Without
    // a key policy (which names the allowed keys) or the operator's
    // SOPS_HC_VAULT_ALLOWLIST, no address is trusted with the sidecar's
    // Vault token: sops' default (`all`) suits one user, not many tenants.
    if policy.is_none() && env.get("SOPS_HC_VAULT_ALLOWLIST").is_none_or(str::is_empty) {
        builder = builder.vault_allowlist("none");
    }
    for addr in &op.key_services {
        builder = builder.key_service(addr.clone());
    }
    let ctx = builder.build();
    Ok(match policy {
        Some(p) => p.apply(ctx, env.get("ARGOCD_APP_PROJECT_NAME")),
        None => ctx,
    })
}

fn identities(env: &Env, op: &Settings) -> Result<KeyContextBuilder, Failure> {
    let Some(dir) = &op.project_keys_dir else {
        let endpoints = env.names().filter(|n| n.starts_with(HCKMS_ENDPOINT_PREFIX));
        let vars = KEY_VARS
            .iter()
            .copied()
            .chain(endpoints)
            .filter_map(|k| Some((k, env.get(k)?)));
        // A deployed service: no developer tools (`az`, `azd`) for tokens.
        return Ok(KeyContextBuilder::from_vars(vars).azure_developer_tools(false));
    };
    let project = env.get("ARGOCD_APP_PROJECT_NAME").unwrap_or("");
    if project.is_empty()
        || !project
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(Failure::policy(
            "ARGOCD_APP_PROJECT_NAME is missing or not a valid project name; \
             project key scoping is on (SOPS_CMP_PROJECT_KEYS_DIR)"
                .to_owned(),
        ));
    }
    let own = dir.join(project);
    if !own.is_dir() {
        return Err(Failure::policy(format!(
            "project {project} has no keys configured"
        )));
    }
    // The operator's KMS time-outs apply to every project; parsed as the
    // CLI parses them, through a context that holds nothing else.
    let timeouts = KeyContextBuilder::from_vars(
        ["SOPS_KMS_CONNECT_TIMEOUT", "SOPS_KMS_TIMEOUT"]
            .iter()
            .filter_map(|k| Some((*k, env.get(k)?))),
    )
    .build();
    let builder = KeyContext::builder()
        .kms_connect_timeout(timeouts.kms_connect_timeout())
        .kms_timeout(timeouts.kms_timeout());
    let mut builder = add_identity_dir(builder, &own)?;
    let shared = dir.join("_shared");
    if shared.is_dir() {
        builder = add_identity_dir(builder, &shared)?;
    }
    // The project's own AWS credentials, never the sidecar's (its env,
    // IRSA, metadata): without these files the project has none.
    let aws = own.join("aws");
    builder = builder.aws_shared_files(aws.join("config"), aws.join("credentials"));
    // GCP likewise: only the project's credentials file, and never
    // Application Default Credentials, which would be the pod's own
    // workload identity, the same for every project.
    builder = builder.gcp_application_default_credentials(false);
    let gcp = own.join("gcp").join("credentials.json");
    if gcp.is_file() {
        builder = builder.gcp_credentials(gcp.to_string_lossy().into_owned());
    }
    if let Some(endpoint) = env.get("SOPS_GCP_KMS_ENDPOINT") {
        builder = builder.gcp_endpoint(endpoint);
    }
    if let Some(domain) = env.get("SOPS_GCP_KMS_UNIVERSE_DOMAIN") {
        builder = builder.gcp_universe_domain(domain);
    }
    // Vault: only the project's token file (a missing one means no token),
    // never the sidecar's VAULT_TOKEN or ~/.vault-token.
    let vault = own.join("vault");
    let (cert, cert_key) = (vault.join("client.pem"), vault.join("client-key.pem"));
    if cert.is_file() || cert_key.is_file() {
        builder = builder.vault_client_cert(cert, cert_key);
    }
    builder = builder
        .vault_token_file(vault.join("token"))
        .vault_settings_from_vars(
            VAULT_SETTINGS
                .iter()
                .filter_map(|k| Some((*k, env.get(k)?))),
        );
    // HuaweiCloud likewise: only the project's credentials file (a missing
    // one means no credentials); the endpoints are the sidecar's.
    builder = builder.hckms_credentials_file(own.join("huaweicloud").join("credentials"));
    for name in env.names().filter(|n| n.starts_with(HCKMS_ENDPOINT_PREFIX)) {
        if let Some(url) = env.get(name) {
            builder = builder.hckms_endpoint(&name[HCKMS_ENDPOINT_PREFIX.len()..], url);
        }
    }
    if let Some(file) = env.get("HUAWEICLOUD_SDK_REGIONS_FILE") {
        builder = builder.hckms_regions_file(file);
    }
    // Azure likewise: only the project's `credentials.env`, never managed
    // identity (the pod's own) nor the developer tools.
    builder = builder
        .azure_managed_identity(false)
        .azure_developer_tools(false)
        .azure_settings(azure_settings(
            env,
            &own.join("azure").join("credentials.env"),
        )?);
    // gpg would otherwise use the sidecar's own keyring for every project:
    // a project's PGP keys live in `<dir>/<project>/gnupg` (a writable gpg
    // home the operator provides); without it the project has no PGP keys.
    Ok(builder.gpg_home(own.join("gnupg")))
}

/// The Azure settings of a project's `credentials.env` (`NAME=value` lines;
/// blank lines and `#` comments skipped; names other than [`AZURE_VARS`]
/// refused), plus the sidecar's `AZURE_AUTHORITY_HOST` unless the file sets
/// one. None when the file does not exist.
fn azure_settings(env: &Env, file: &Path) -> Result<Vec<(String, String)>, Failure> {
    if !file.is_file() {
        return Ok(Vec::new());
    }
    let shown = crate::walk::shown_path(file);
    let bad = |why: String| Failure::config(format!("{shown}: {why}"));
    let data = read_secret_file(file).map_err(|_| bad("cannot be read".to_owned()))?;
    let text = std::str::from_utf8(&data).map_err(|_| bad("is not UTF-8".to_owned()))?;
    let mut vars = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Only the name is ever shown: the value may be a secret.
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| bad(format!("line {} is not NAME=value", n + 1)))?;
        let name = name.trim();
        if !AZURE_VARS.contains(&name) {
            return Err(bad(format!(
                "line {}: {name} is not an Azure setting",
                n + 1
            )));
        }
        vars.push((name.to_owned(), value.trim().to_owned()));
    }
    if !vars.iter().any(|(k, _)| k == "AZURE_AUTHORITY_HOST")
        && let Some(host) = env.get("AZURE_AUTHORITY_HOST")
    {
        vars.push(("AZURE_AUTHORITY_HOST".to_owned(), host.to_owned()));
    }
    Ok(vars)
}

/// Adds every identity file of `dir` (in name order), each named by its
/// path in messages. Files are read now, through sops-core's bounded,
/// zeroizing reader, so an unreadable one is a configuration error.
fn add_identity_dir(
    mut builder: KeyContextBuilder,
    dir: &Path,
) -> Result<KeyContextBuilder, Failure> {
    let io_err = |what: &Path| {
        Failure::config(format!(
            "cannot read key directory {}",
            crate::walk::shown_path(what)
        ))
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|_| io_err(dir))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follows the Secret volume's symlinks; directories are not searched.
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let data = read_secret_file(&path).map_err(|_| io_err(&path))?;
        let text = std::str::from_utf8(&data).map_err(|_| io_err(&path))?;
        builder = builder.age_identity_text(crate::walk::shown_path(&path), text);
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn key_context_ignores_tenant_variables() {
        let env = Env::from_pairs(&[
            ("ARGOCD_ENV_SOPS_AGE_KEY", "AGE-SECRET-KEY-1TENANT"),
            ("PARAM_SOPS_AGE_KEY_FILE", "/tmp/k"),
            ("SOPS_AGE_KEY_FILE", "/keys/age.txt"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
        ]);
        let ctx = key_context(&env, &Settings::default(), None).unwrap();
        let locations = ctx.age_locations();
        assert!(
            locations.contains(&"SOPS_AGE_KEY_FILE=/keys/age.txt".to_owned()),
            "{locations:?}"
        );
        assert!(
            locations.contains(&"SOPS_AGE_KEY (unset)".to_owned()),
            "{locations:?}"
        );
        let shown = format!("{ctx:?}");
        assert!(
            !shown.contains("TENANT") && !shown.contains("/tmp/k"),
            "{shown}"
        );
        assert!(!shown.contains("AWS"), "{shown}");
    }

    /// The key commands never reach the context: the plugin runs no
    /// command of anyone's choosing to obtain keys.
    #[test]
    fn key_commands_are_never_passed() {
        let env = Env::from_pairs(&[
            ("SOPS_AGE_KEY_CMD", "cat /keys/age.txt"),
            ("SOPS_AGE_SSH_PRIVATE_KEY_CMD", "cat /keys/id_ed25519"),
            ("SOPS_AGE_KEY_FILE", "/keys/age.txt"),
        ]);
        let ctx = key_context(&env, &Settings::default(), None).unwrap();
        let locations = ctx.age_locations();
        for unset in [
            "SOPS_AGE_KEY_CMD (unset)",
            "SOPS_AGE_SSH_PRIVATE_KEY_CMD (unset)",
        ] {
            assert!(locations.contains(&unset.to_owned()), "{locations:?}");
        }
    }

    /// HuaweiCloud settings come from the sidecar (never the tenant), and
    /// with project scoping its credentials only from the project's file.
    #[test]
    fn hckms_inputs_come_from_the_sidecar() {
        let env = Env::from_pairs(&[
            ("HUAWEICLOUD_SDK_AK", "SIDECAR-AK"),
            ("HUAWEICLOUD_SDK_SK", "SIDECAR-SK"),
            ("HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1", "https://kms.lab:1"),
            ("ARGOCD_ENV_HUAWEICLOUD_SDK_AK", "TENANT-AK"),
            (
                "ARGOCD_ENV_HUAWEICLOUD_SDK_REGION_KMS_CN_NORTH_4",
                "https://evil",
            ),
            ("ARGOCD_APP_PROJECT_NAME", "team-a"),
        ]);
        let shown = format!(
            "{:?}",
            key_context(&env, &Settings::default(), None).unwrap()
        );
        assert!(
            shown.contains("SIDECAR-AK") && shown.contains("https://kms.lab:1"),
            "{shown}"
        );
        assert!(
            !shown.contains("TENANT") && !shown.contains("evil"),
            "{shown}"
        );
        assert!(!shown.contains("SIDECAR-SK"), "{shown}");

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("team-a")).unwrap();
        let op = Settings {
            project_keys_dir: Some(dir.path().to_owned()),
            ..Settings::default()
        };
        let shown = format!("{:?}", key_context(&env, &op, None).unwrap());
        assert!(!shown.contains("SIDECAR-AK"), "{shown}");
        assert!(shown.contains("team-a/huaweicloud/credentials"), "{shown}");
        assert!(shown.contains("https://kms.lab:1"), "{shown}");
    }

    /// Where GCP KMS is (its endpoint, its universe) is the sidecar's
    /// setting with or without project scoping; a tenant's variables of the
    /// same names never redirect the call that carries the credentials.
    #[test]
    fn gcp_endpoint_and_universe_come_from_the_sidecar() {
        let env = Env::from_pairs(&[
            ("SOPS_GCP_KMS_ENDPOINT", "https://kms.sidecar:1"),
            ("SOPS_GCP_KMS_UNIVERSE_DOMAIN", "sidecar.test"),
            ("ARGOCD_ENV_SOPS_GCP_KMS_ENDPOINT", "https://evil"),
            ("PARAM_SOPS_GCP_KMS_UNIVERSE_DOMAIN", "evil.test"),
            ("ARGOCD_APP_PROJECT_NAME", "team-a"),
        ]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("team-a")).unwrap();
        let scoped = Settings {
            project_keys_dir: Some(dir.path().to_owned()),
            ..Settings::default()
        };
        for op in [Settings::default(), scoped] {
            let ctx = key_context(&env, &op, None).unwrap();
            assert_eq!(ctx.gcp_endpoint(), Some("https://kms.sidecar:1"));
            assert_eq!(ctx.gcp_universe_domain(), Some("sidecar.test"));
        }
        let env = Env::from_pairs(&[
            ("ARGOCD_ENV_SOPS_GCP_KMS_ENDPOINT", "https://evil"),
            ("ARGOCD_ENV_SOPS_GCP_KMS_UNIVERSE_DOMAIN", "evil.test"),
        ]);
        let ctx = key_context(&env, &Settings::default(), None).unwrap();
        assert_eq!(
            (ctx.gcp_endpoint(), ctx.gcp_universe_domain()),
            (None, None)
        );
    }

    #[test]
    fn project_names_are_validated() {
        let op = Settings {
            project_keys_dir: Some(PathBuf::from("/nonexistent")),
            ..Settings::default()
        };
        for bad in ["", "../etc", "A", "x/y"] {
            let env = Env::from_pairs(&[("ARGOCD_APP_PROJECT_NAME", bad)]);
            assert!(key_context(&env, &op, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn tenant_variables_cannot_set_policy() {
        let env = Env::from_pairs(&[
            ("ARGOCD_ENV_SOPS_CMP_BIND_NAMESPACE", "true"),
            ("ARGOCD_ENV_SOPS_CMP_KEY_POLICY", "/nonexistent"),
        ]);
        let op = Settings::from_env(&env).unwrap();
        assert!(!op.bind_namespace && load_policy(&op).unwrap().is_none());
        let op = Settings::from_env(&Env::from_pairs(&[(
            "SOPS_CMP_KEY_POLICY",
            "/nonexistent/policy.yaml",
        )]))
        .unwrap();
        assert!(load_policy(&op).is_err());
    }
}
