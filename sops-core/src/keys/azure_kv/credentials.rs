//! Tokens for Azure Key Vault: azidentity's `DefaultAzureCredential` chain
//! (the one sops uses), over the context's [`AzureInputs`]:
//!
//! 1. environment: `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` with
//!    `AZURE_CLIENT_SECRET`, or else `AZURE_CLIENT_CERTIFICATE_PATH` (a PEM
//!    file with the certificate and its unencrypted RSA key);
//! 2. workload identity: `AZURE_FEDERATED_TOKEN_FILE` + `AZURE_CLIENT_ID` +
//!    `AZURE_TENANT_ID` (what the AKS webhook sets);
//! 3. managed identity: App Service's `IDENTITY_ENDPOINT` +
//!    `IDENTITY_HEADER`, else the instance metadata service, whose first
//!    request gets one second (so a machine outside Azure moves on);
//! 4. the Azure CLI (`az account get-access-token`), then the Azure
//!    Developer CLI (`azd auth token`).
//!
//! `AZURE_TOKEN_CREDENTIALS` selects part of the chain as azidentity does:
//! `dev` (the two CLIs), `prod` (the first three) or one credential's name
//! (`AzureCLICredential` …, any case). A credential that is not configured
//! is "unavailable" and the next one is tried; the first that gives a token
//! is the only one used afterwards. Token endpoints are under
//! `AZURE_AUTHORITY_HOST` (default `https://login.microsoftonline.com/`).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use super::AzureInputs;
use crate::keys::cloud::{block_on, chain, one_line};
use crate::keys::read_secret_file;

const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/";
const IMDS: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// How long the first managed-identity request may take in the default
/// chain (azidentity's probe), so that a machine outside Azure moves on.
const IMDS_PROBE: Duration = Duration::from_secs(1);
/// azidentity's limit for the CLI credentials.
const CLI_TIMEOUT: Duration = Duration::from_secs(10);

/// One credential of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CredentialKind {
    Environment,
    WorkloadIdentity,
    ManagedIdentity,
    AzureCli,
    AzureDeveloperCli,
}

const CHAIN: [CredentialKind; 5] = [
    CredentialKind::Environment,
    CredentialKind::WorkloadIdentity,
    CredentialKind::ManagedIdentity,
    CredentialKind::AzureCli,
    CredentialKind::AzureDeveloperCli,
];

impl CredentialKind {
    /// azidentity's name, as `AZURE_TOKEN_CREDENTIALS` and messages use it.
    pub(super) fn name(self) -> &'static str {
        match self {
            CredentialKind::Environment => "EnvironmentCredential",
            CredentialKind::WorkloadIdentity => "WorkloadIdentityCredential",
            CredentialKind::ManagedIdentity => "ManagedIdentityCredential",
            CredentialKind::AzureCli => "AzureCLICredential",
            CredentialKind::AzureDeveloperCli => "AzureDeveloperCLICredential",
        }
    }
}

/// The credentials `AZURE_TOKEN_CREDENTIALS` selects, in chain order.
pub(super) fn selected(inputs: &AzureInputs) -> Result<Vec<CredentialKind>, String> {
    use CredentialKind::*;
    let Some(value) = inputs.token_credentials.as_deref() else {
        return Ok(CHAIN.to_vec());
    };
    // azidentity compares the two groups exactly and the names in any case.
    match value {
        "dev" => return Ok(vec![AzureCli, AzureDeveloperCli]),
        "prod" => return Ok(vec![Environment, WorkloadIdentity, ManagedIdentity]),
        _ => {}
    }
    CHAIN
        .iter()
        .find(|k| k.name().eq_ignore_ascii_case(value))
        .map(|k| vec![*k])
        .ok_or_else(|| {
            format!(
                "invalid AZURE_TOKEN_CREDENTIALS value \"{value}\". Valid values are \"dev\", \
                 \"prod\", or the name of any credential type in the default chain"
            )
        })
}

/// An access token; never printed.
pub(super) struct Token {
    pub secret: Zeroizing<String>,
    pub expires_at: Instant,
}

impl Token {
    /// Still good for a while (azcore refreshes five minutes ahead).
    pub(super) fn is_fresh(&self) -> bool {
        self.expires_at > Instant::now() + Duration::from_secs(300)
    }

    fn new(secret: String, lifetime: Duration) -> Self {
        Self {
            secret: Zeroizing::new(secret),
            expires_at: Instant::now() + lifetime,
        }
    }
}

/// Why a credential gave no token.
#[derive(Debug)]
pub(super) enum TokenError {
    /// Not configured here: the chain tries the next one.
    Unavailable(String),
    /// Configured, and the attempt failed: the chain stops.
    Failed(String),
}

/// What a token is asked for: the tenant and the scope of the vault's
/// challenge.
pub(super) struct TokenRequest<'a> {
    pub tenant: &'a str,
    pub scope: &'a str,
}

/// A token from the chain. `chosen` is the credential that gave the last
/// token (then the only one tried, as azidentity does). Failures are
/// `Err((true, message))` when no credential was available at all.
pub(super) fn chain_token(
    inputs: &AzureInputs,
    client: &reqwest::Client,
    chosen: &mut Option<CredentialKind>,
    req: &TokenRequest<'_>,
) -> Result<Token, (bool, String)> {
    let kinds = match *chosen {
        Some(kind) => vec![kind],
        None => selected(inputs).map_err(|e| (false, e))?,
    };
    let mut attempts = Vec::new();
    for kind in kinds {
        match credential_token(kind, inputs, client, req) {
            Ok(token) => {
                *chosen = Some(kind);
                return Ok(token);
            }
            Err(TokenError::Unavailable(why)) => attempts.push(format!("{}: {why}", kind.name())),
            Err(TokenError::Failed(why)) => {
                return Err((false, format!("{}: {why}", kind.name())));
            }
        }
    }
    Err((
        true,
        format!(
            "DefaultAzureCredential: failed to acquire a token. Attempted credentials: {}",
            attempts.join("; ")
        ),
    ))
}

fn credential_token(
    kind: CredentialKind,
    inputs: &AzureInputs,
    client: &reqwest::Client,
    req: &TokenRequest<'_>,
) -> Result<Token, TokenError> {
    check_scope(req.scope)?;
    match kind {
        CredentialKind::Environment => environment(inputs, client, req),
        CredentialKind::WorkloadIdentity => workload_identity(inputs, client, req),
        CredentialKind::ManagedIdentity => managed_identity(inputs, client, req),
        CredentialKind::AzureCli => azure_cli(inputs, req),
        CredentialKind::AzureDeveloperCli => azure_developer_cli(inputs, req),
    }
}

// --- environment and workload identity -----------------------------------

fn environment(
    inputs: &AzureInputs,
    client: &reqwest::Client,
    req: &TokenRequest<'_>,
) -> Result<Token, TokenError> {
    let unavailable = |what: &str| Err(TokenError::Unavailable(what.to_owned()));
    let Some(tenant) = inputs.tenant_id.as_deref() else {
        return unavailable("missing environment variable AZURE_TENANT_ID");
    };
    let Some(client_id) = inputs.client_id.as_deref() else {
        return unavailable("missing environment variable AZURE_CLIENT_ID");
    };
    let tenant = resolve_tenant(Some(tenant), req.tenant, inputs)?;
    if let Some(secret) = &inputs.client_secret {
        let form = [
            ("client_id", client_id),
            ("scope", req.scope),
            ("grant_type", "client_credentials"),
            ("client_secret", secret.as_str()),
        ];
        return token_endpoint(inputs, client, &tenant, &form)
            .map_err(|e| TokenError::Failed(format!("ClientSecretCredential authentication failed: {e}")));
    }
    if let Some(path) = &inputs.certificate_path {
        let assertion = super::certificate::assertion(
            path,
            inputs.certificate_password.as_ref().map(|p| p.as_str()),
            client_id,
            &token_url(inputs, &tenant)?,
        )
        .map_err(|e| TokenError::Failed(format!("ClientCertificateCredential: {e}")))?;
        let form = [
            ("client_id", client_id),
            ("scope", req.scope),
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ];
        return token_endpoint(inputs, client, &tenant, &form).map_err(|e| {
            TokenError::Failed(format!("ClientCertificateCredential authentication failed: {e}"))
        });
    }
    if inputs.username.is_some() {
        return Err(TokenError::Failed(
            "username and password authentication (AZURE_USERNAME) is not supported; use a \
             client secret, a client certificate, workload identity or the Azure CLI"
                .to_owned(),
        ));
    }
    unavailable(
        "incomplete environment variable configuration. Only AZURE_TENANT_ID and \
         AZURE_CLIENT_ID are set",
    )
}

fn workload_identity(
    inputs: &AzureInputs,
    client: &reqwest::Client,
    req: &TokenRequest<'_>,
) -> Result<Token, TokenError> {
    let unavailable = |what: &str| Err(TokenError::Unavailable(what.to_owned()));
    let Some(file) = &inputs.federated_token_file else {
        return unavailable("no token file specified (AZURE_FEDERATED_TOKEN_FILE)");
    };
    let Some(client_id) = inputs.client_id.as_deref() else {
        return unavailable("no client ID specified (AZURE_CLIENT_ID)");
    };
    let Some(tenant) = inputs.tenant_id.as_deref() else {
        return unavailable("no tenant ID specified (AZURE_TENANT_ID)");
    };
    let tenant = resolve_tenant(Some(tenant), req.tenant, inputs)?;
    // Read on every exchange: Kubernetes rotates the projected token.
    let raw = read_secret_file(file).map_err(|e| {
        TokenError::Failed(format!(
            "could not read the federated token file {}: {e}",
            file.display()
        ))
    })?;
    let assertion = Zeroizing::new(String::from_utf8_lossy(&raw).trim().to_owned());
    if assertion.is_empty() {
        return Err(TokenError::Failed(format!(
            "the federated token file {} is empty",
            file.display()
        )));
    }
    let form = [
        ("client_id", client_id),
        ("scope", req.scope),
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    token_endpoint(inputs, client, &tenant, &form)
        .map_err(|e| TokenError::Failed(format!("authentication failed: {e}")))
}

/// `<authority>/<tenant>/oauth2/v2.0/token`; the authority must be https.
fn token_url(inputs: &AzureInputs, tenant: &str) -> Result<String, TokenError> {
    let host = inputs
        .authority_host
        .as_deref()
        .unwrap_or(DEFAULT_AUTHORITY)
        .trim_end_matches('/');
    if !host.to_ascii_lowercase().starts_with("https://") {
        return Err(TokenError::Failed(format!(
            "cannot use an authority host without https (AZURE_AUTHORITY_HOST={host})"
        )));
    }
    Ok(format!("{host}/{tenant}/oauth2/v2.0/token"))
}

/// The client-credentials grant at the tenant's token endpoint.
fn token_endpoint(
    inputs: &AzureInputs,
    client: &reqwest::Client,
    tenant: &str,
    form: &[(&str, &str)],
) -> Result<Token, String> {
    let url = token_url(inputs, tenant).map_err(|e| match e {
        TokenError::Failed(m) | TokenError::Unavailable(m) => m,
    })?;
    let body = form_body(form);
    let request = client
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", "application/json")
        .body(body.as_bytes().to_vec());
    let (status, _, bytes) =
        send(request).map_err(|e| format!("POST {url}: {e}"))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if !status.is_success() {
        let text = |k: &str| json.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let detail = one_line(&format!("{} {}", text("error"), text("error_description")));
        return Err(format!("POST {url}: HTTP {}: {}", status.as_u16(), detail.trim()));
    }
    let token = json
        .get("access_token")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("POST {url}: the reply holds no access token"))?;
    let lifetime = json
        .get("expires_in")
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
        .unwrap_or(3600);
    Ok(Token::new(token.to_owned(), Duration::from_secs(lifetime)))
}

// --- managed identity ----------------------------------------------------

fn managed_identity(
    inputs: &AzureInputs,
    client: &reqwest::Client,
    req: &TokenRequest<'_>,
) -> Result<Token, TokenError> {
    if inputs.no_managed_identity {
        return Err(TokenError::Unavailable(
            "managed identity is disabled by the key context".to_owned(),
        ));
    }
    let resource = resource_of(req.scope);
    let mut params = vec![("resource", resource)];
    if let Some(id) = inputs.client_id.as_deref() {
        params.push(("client_id", id));
    }
    if let (Some(endpoint), Some(header)) = (&inputs.identity_endpoint, &inputs.identity_header) {
        // App Service / Functions.
        params.insert(0, ("api-version", "2019-08-01"));
        let url = format!("{endpoint}?{}", form_body(&params).as_str());
        let request = client.get(&url).header("X-IDENTITY-HEADER", header.as_str());
        return managed_identity_reply(send(request), endpoint, false);
    }
    params.insert(0, ("api-version", "2018-02-01"));
    let url = format!("{IMDS}?{}", form_body(&params).as_str());
    let request = client
        .get(&url)
        .header("Metadata", "true")
        .timeout(IMDS_PROBE);
    managed_identity_reply(send(request), IMDS, true)
}

fn managed_identity_reply(
    reply: Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>), String>,
    endpoint: &str,
    imds: bool,
) -> Result<Token, TokenError> {
    let (status, _, bytes) = reply.map_err(|e| {
        if imds {
            TokenError::Unavailable(format!("no managed identity endpoint responded ({e})"))
        } else {
            TokenError::Failed(format!("GET {endpoint}: {e}"))
        }
    })?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if !status.is_success() {
        let message = json
            .get("error_description")
            .or_else(|| json.get("message"))
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let text = one_line(&format!("GET {endpoint}: HTTP {}: {message}", status.as_u16()));
        // IMDS answers 400 when the machine has no identity assigned.
        return Err(if imds && status.as_u16() == 400 {
            TokenError::Unavailable(text)
        } else {
            TokenError::Failed(text)
        });
    }
    let token = json
        .get("access_token")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::Failed(format!("GET {endpoint}: the reply holds no access token")))?;
    let expires_on = json
        .get("expires_on")
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
    Ok(Token::new(token.to_owned(), lifetime_until(expires_on)))
}

// --- developer tools -----------------------------------------------------

fn azure_cli(inputs: &AzureInputs, req: &TokenRequest<'_>) -> Result<Token, TokenError> {
    if inputs.no_developer_tools {
        return Err(TokenError::Unavailable(
            "the Azure CLI is disabled by the key context".to_owned(),
        ));
    }
    let tenant = resolve_tenant(None, req.tenant, inputs)?;
    let mut args = vec![
        "account",
        "get-access-token",
        "-o",
        "json",
        "--resource",
        resource_of(req.scope),
    ];
    if !tenant.is_empty() {
        args.extend(["--tenant", tenant.as_str()]);
    }
    let out = run_tool("az", &args, "Azure CLI", "az login")?;
    let json: serde_json::Value = serde_json::from_slice(&out).map_err(|_| {
        TokenError::Unavailable("unexpected output from az account get-access-token".to_owned())
    })?;
    let token = json
        .get("accessToken")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            TokenError::Unavailable("az account get-access-token returned no token".to_owned())
        })?;
    let expires_on = json.get("expires_on").and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_str()?.parse().ok())
    });
    Ok(Token::new(token.to_owned(), lifetime_until(expires_on)))
}

fn azure_developer_cli(inputs: &AzureInputs, req: &TokenRequest<'_>) -> Result<Token, TokenError> {
    if inputs.no_developer_tools {
        return Err(TokenError::Unavailable(
            "the Azure Developer CLI is disabled by the key context".to_owned(),
        ));
    }
    let tenant = resolve_tenant(None, req.tenant, inputs)?;
    let mut args = vec![
        "auth",
        "token",
        "--output",
        "json",
        "--no-prompt",
        "--scope",
        req.scope,
    ];
    if !tenant.is_empty() {
        args.extend(["--tenant-id", tenant.as_str()]);
    }
    let out = run_tool("azd", &args, "Azure Developer CLI", "azd auth login")?;
    let json: serde_json::Value = serde_json::from_slice(&out).map_err(|_| {
        TokenError::Unavailable("unexpected output from azd auth token".to_owned())
    })?;
    let token = json
        .get("token")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::Unavailable("azd auth token returned no token".to_owned()))?;
    // azd reports a local RFC 3339 time; the token is used for this run's
    // calls and asked again afterwards.
    let expires_on = None;
    Ok(Token::new(token.to_owned(), lifetime_until(expires_on)))
}

/// Runs a developer tool from `PATH` (never through a shell) within
/// [`CLI_TIMEOUT`]; its stdout. Every failure makes the credential
/// unavailable, as in azidentity's default chain. Its output is never put
/// in a message (it holds the token); its error output only as a hint.
fn run_tool(
    program: &str,
    args: &[&str],
    what: &str,
    login: &str,
) -> Result<Zeroizing<Vec<u8>>, TokenError> {
    let unavailable = |m: String| TokenError::Unavailable(m);
    let mut child = Command::new(program)
        .args(args)
        // A relative PATH entry must not pick a program out of the
        // working directory (a checked-out repository).
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                unavailable(format!("{what} not found on path"))
            } else {
                unavailable(format!("could not run {program}: {e}"))
            }
        })?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.take(1 << 20).read_to_end(&mut buf);
        }
        Zeroizing::new(buf)
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(64 << 10).read_to_end(&mut buf);
        }
        buf
    });
    let deadline = Instant::now() + CLI_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(unavailable(format!(
                    "{what} timed out after {}s",
                    CLI_TIMEOUT.as_secs()
                )));
            }
            Err(e) => return Err(unavailable(format!("could not wait for {program}: {e}"))),
        }
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if status.success() {
        return Ok(out);
    }
    let err = String::from_utf8_lossy(&err);
    if err.contains(login) || err.contains("az account set") {
        return Err(unavailable(format!("please run '{login}' to set up an account")));
    }
    let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
    let first: String = one_line(first).chars().take(300).collect();
    Err(unavailable(format!("{program} failed ({status}): {first}")))
}

// --- shared --------------------------------------------------------------

/// azidentity's tenant rule: the challenge's tenant is used when it is the
/// credential's own, when the credential has none (the CLIs), or when it is
/// additionally allowed; otherwise the request fails.
fn resolve_tenant(
    default: Option<&str>,
    requested: &str,
    inputs: &AzureInputs,
) -> Result<String, TokenError> {
    let default = default.unwrap_or_default();
    let chosen = if requested.is_empty() || requested == default || inputs.disable_multitenant {
        default
    } else if default.is_empty()
        || inputs
            .additionally_allowed_tenants
            .iter()
            .any(|t| t == "*" || t == requested)
    {
        requested
    } else {
        return Err(TokenError::Failed(format!(
            "the credential isn't configured to acquire tokens for tenant \"{requested}\" (its \
             own is \"{default}\"); add it to AZURE_ADDITIONALLY_ALLOWED_TENANTS, or \"*\" for \
             any tenant"
        )));
    };
    if !chosen
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(TokenError::Failed(format!(
            "invalid tenant ID \"{chosen}\": only alphanumeric characters, '.' and '-' are allowed"
        )));
    }
    Ok(chosen.to_owned())
}

/// The scope goes into command lines and URLs: only the characters
/// azidentity allows.
fn check_scope(scope: &str) -> Result<(), TokenError> {
    if !scope.is_empty()
        && scope
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_:/".contains(c))
    {
        return Ok(());
    }
    Err(TokenError::Failed(format!("invalid scope \"{scope}\"")))
}

/// The resource of a `<resource>/.default` scope.
fn resource_of(scope: &str) -> &str {
    scope.strip_suffix("/.default").unwrap_or(scope)
}

fn lifetime_until(expires_on: Option<u64>) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    match expires_on {
        Some(at) => Duration::from_secs(at.saturating_sub(now)),
        // Unknown: good for this run's calls, refreshed on the next.
        None => Duration::from_secs(600),
    }
}

/// `application/x-www-form-urlencoded` pairs (a client secret or assertion
/// among them: wiped after use).
pub(super) fn form_body(pairs: &[(&str, &str)]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        form_encode(&mut out, k);
        out.push('=');
        form_encode(&mut out, v);
    }
    out
}

/// The WHATWG form encoding: `*-._` and alphanumerics kept, space as `+`,
/// every other byte as `%XX`.
fn form_encode(out: &mut String, text: &str) {
    for b in text.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
    }
}

/// Sends a request on the cloud runtime; the status, headers and body.
pub(super) fn send(
    request: reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>), String> {
    block_on(async move {
        let reply = request.send().await?;
        let status = reply.status();
        let headers = reply.headers().clone();
        let body = reply.bytes().await?;
        Ok::<_, reqwest::Error>((status, headers, body.to_vec()))
    })?
    .map_err(|e| describe(&e))
}

/// A transport error in a few words: time-out, refused connection, or the
/// error chain.
pub(super) fn describe(e: &reqwest::Error) -> String {
    let detail = one_line(&chain(e));
    if e.is_timeout() {
        format!("endpoint unreachable: timed out: {detail}")
    } else if e.is_connect() {
        format!("endpoint unreachable: {detail}")
    } else {
        detail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(vars: &[(&str, &str)]) -> AzureInputs {
        let map: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        AzureInputs::from_vars(&|k| map.get(k).cloned())
    }

    #[test]
    fn token_credentials_select_as_azidentity_does() {
        use CredentialKind::*;
        assert_eq!(selected(&inputs(&[])).unwrap(), CHAIN);
        let sel = |v: &str| selected(&inputs(&[("AZURE_TOKEN_CREDENTIALS", v)]));
        assert_eq!(sel("dev").unwrap(), [AzureCli, AzureDeveloperCli]);
        assert_eq!(
            sel("prod").unwrap(),
            [Environment, WorkloadIdentity, ManagedIdentity]
        );
        assert_eq!(sel("azureclicredential").unwrap(), [AzureCli]);
        assert_eq!(sel("ManagedIdentityCredential").unwrap(), [ManagedIdentity]);
        assert!(sel("DEV").unwrap_err().contains("invalid AZURE_TOKEN_CREDENTIALS value \"DEV\""));
        assert!(sel("bogus").is_err());
    }

    #[test]
    fn tenants_follow_azidentity() {
        let none = inputs(&[]);
        let ok = |d, r, i: &AzureInputs| resolve_tenant(d, r, i).unwrap();
        assert_eq!(ok(Some("a"), "", &none), "a");
        assert_eq!(ok(Some("a"), "a", &none), "a");
        assert_eq!(ok(None, "b", &none), "b");
        assert!(matches!(
            resolve_tenant(Some("a"), "b", &none),
            Err(TokenError::Failed(_))
        ));
        let star = inputs(&[("AZURE_ADDITIONALLY_ALLOWED_TENANTS", "*")]);
        assert_eq!(ok(Some("a"), "b", &star), "b");
        let off = inputs(&[("AZURE_IDENTITY_DISABLE_MULTITENANTAUTH", "true")]);
        assert_eq!(ok(Some("a"), "b", &off), "a");
        assert!(resolve_tenant(None, "x; rm -rf /", &none).is_err());
        assert!(resolve_tenant(None, "a/../b", &none).is_err());
    }

    #[test]
    fn environment_needs_tenant_and_client() {
        let ctx = crate::keys::KeyContext::builder().build();
        let client =
            crate::keys::http::client(&ctx, &crate::keys::http::TlsTrust::default()).unwrap();
        let req = TokenRequest {
            tenant: "t",
            scope: "https://vault.azure.net/.default",
        };
        let (none, message) = chain_token(
            &inputs(&[("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")]),
            &client,
            &mut None,
            &req,
        )
        .err()
        .unwrap();
        assert!(none);
        assert_eq!(
            message,
            "DefaultAzureCredential: failed to acquire a token. Attempted credentials: \
             EnvironmentCredential: missing environment variable AZURE_TENANT_ID"
        );
        let only_ids = inputs(&[
            ("AZURE_TOKEN_CREDENTIALS", "prod"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
        ]);
        let mut only_ids = only_ids;
        only_ids.no_managed_identity = true;
        let (none, message) = chain_token(&only_ids, &client, &mut None, &req).err().unwrap();
        assert!(none, "{message}");
        assert!(message.contains("incomplete environment variable configuration"), "{message}");
        assert!(message.contains("WorkloadIdentityCredential: no token file"), "{message}");
        assert!(message.contains("ManagedIdentityCredential: managed identity is disabled"), "{message}");
    }

    #[test]
    fn authority_hosts_must_be_https() {
        let i = inputs(&[("AZURE_AUTHORITY_HOST", "http://127.0.0.1:1")]);
        assert!(matches!(token_url(&i, "t"), Err(TokenError::Failed(_))));
        let i = inputs(&[("AZURE_AUTHORITY_HOST", "https://login.example/")]);
        assert_eq!(
            token_url(&i, "t").ok().unwrap(),
            "https://login.example/t/oauth2/v2.0/token"
        );
        assert_eq!(
            token_url(&inputs(&[]), "t").ok().unwrap(),
            "https://login.microsoftonline.com/t/oauth2/v2.0/token"
        );
    }

    #[test]
    fn forms_are_url_encoded() {
        assert_eq!(
            form_body(&[("a", "b c"), ("s", "x&y=z/")]).as_str(),
            "a=b+c&s=x%26y%3Dz%2F"
        );
        assert_eq!(form_body(&[("k", "é~*")]).as_str(), "k=%C3%A9%7E*");
        assert_eq!(resource_of("https://vault.azure.net/.default"), "https://vault.azure.net");
        assert!(check_scope("https://vault.azure.net/.default").is_ok());
        assert!(check_scope("https://x --tenant y").is_err());
    }

    /// App Service's managed identity endpoint (plain HTTP on loopback
    /// here): the resource, API version, client id and secret header are
    /// sent, the token and its expiry read.
    #[test]
    fn app_service_managed_identity() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let expires = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 3600;
            let body = format!("{{\"access_token\":\"mi-token\",\"expires_on\":\"{expires}\"}}");
            let mut conn = conn;
            write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            head
        });
        let endpoint = format!("http://127.0.0.1:{port}/msi/token");
        let i = inputs(&[
            ("IDENTITY_ENDPOINT", endpoint.as_str()),
            ("IDENTITY_HEADER", "header-secret"),
            ("AZURE_CLIENT_ID", "mi-client"),
        ]);
        let ctx = crate::keys::KeyContext::builder().build();
        let client =
            crate::keys::http::client(&ctx, &crate::keys::http::TlsTrust::default()).unwrap();
        let req = TokenRequest {
            tenant: "t",
            scope: "https://vault.azure.net/.default",
        };
        let token = credential_token(CredentialKind::ManagedIdentity, &i, &client, &req).unwrap();
        assert_eq!(token.secret.as_str(), "mi-token");
        assert!(token.is_fresh());
        let head = server.join().unwrap().to_ascii_lowercase();
        assert!(
            head.starts_with(
                "get /msi/token?api-version=2019-08-01&resource=https%3a%2f%2fvault.azure.net&client_id=mi-client "
            ),
            "{head}"
        );
        assert!(head.contains("x-identity-header: header-secret"), "{head}");
        let mut off = i.clone();
        off.no_managed_identity = true;
        assert!(matches!(
            credential_token(CredentialKind::ManagedIdentity, &off, &client, &req),
            Err(TokenError::Unavailable(_))
        ));
    }

    #[test]
    fn missing_tools_are_unavailable() {
        let err = run_tool("sops-test-no-such-tool", &[], "Azure CLI", "az login").unwrap_err();
        assert!(
            matches!(&err, TokenError::Unavailable(m) if m == "Azure CLI not found on path"),
            "{err:?}"
        );
    }
}
