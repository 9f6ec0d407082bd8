//! The Azure settings of a [`crate::keys::KeyContext`]: what azidentity's
//! `DefaultAzureCredential` reads from the environment, read once. The
//! client secret, the certificate password and the managed-identity header
//! are secrets: wiped on drop, never printed.

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

/// The Azure credential settings (`AZURE_*`, `IDENTITY_*`).
#[derive(Default, Clone)]
#[cfg_attr(not(feature = "azure-kv"), allow(dead_code))]
pub(crate) struct AzureInputs {
    /// `AZURE_TOKEN_CREDENTIALS`: `dev`, `prod` or one credential's name.
    pub token_credentials: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Zeroizing<String>>,
    pub certificate_path: Option<PathBuf>,
    pub certificate_password: Option<Zeroizing<String>>,
    pub username: Option<String>,
    /// `AZURE_FEDERATED_TOKEN_FILE` (workload identity).
    pub federated_token_file: Option<PathBuf>,
    /// `AZURE_AUTHORITY_HOST`, default `https://login.microsoftonline.com/`.
    pub authority_host: Option<String>,
    /// `AZURE_ADDITIONALLY_ALLOWED_TENANTS` (`;`-separated).
    pub additionally_allowed_tenants: Vec<String>,
    /// `AZURE_IDENTITY_DISABLE_MULTITENANTAUTH`.
    pub disable_multitenant: bool,
    /// App Service managed identity: `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`.
    pub identity_endpoint: Option<String>,
    pub identity_header: Option<Zeroizing<String>>,
    /// True when managed identity (and so the instance metadata address)
    /// must not be used; stored negated so the default allows it.
    pub no_managed_identity: bool,
    /// True when the developer tools (`az`, `azd`) must not be run.
    pub no_developer_tools: bool,
}

impl AzureInputs {
    /// The settings from variables (`var` returns `None` for unset or
    /// empty ones).
    pub(crate) fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            token_credentials: var("AZURE_TOKEN_CREDENTIALS").map(|v| v.trim().to_owned()),
            tenant_id: var("AZURE_TENANT_ID"),
            client_id: var("AZURE_CLIENT_ID"),
            client_secret: var("AZURE_CLIENT_SECRET").map(Zeroizing::new),
            certificate_path: var("AZURE_CLIENT_CERTIFICATE_PATH").map(PathBuf::from),
            certificate_password: var("AZURE_CLIENT_CERTIFICATE_PASSWORD").map(Zeroizing::new),
            username: var("AZURE_USERNAME"),
            federated_token_file: var("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from),
            authority_host: var("AZURE_AUTHORITY_HOST"),
            additionally_allowed_tenants: var("AZURE_ADDITIONALLY_ALLOWED_TENANTS")
                .map(|v| {
                    v.split(';')
                        .map(|t| t.trim().to_owned())
                        .filter(|t| !t.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            disable_multitenant: var("AZURE_IDENTITY_DISABLE_MULTITENANTAUTH")
                .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true")),
            identity_endpoint: var("IDENTITY_ENDPOINT"),
            identity_header: var("IDENTITY_HEADER").map(Zeroizing::new),
            no_managed_identity: false,
            no_developer_tools: false,
        }
    }
}

impl fmt::Debug for AzureInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureInputs")
            .field("token_credentials", &self.token_credentials)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.is_some())
            .field("certificate_path", &self.certificate_path)
            .field("certificate_password", &self.certificate_password.is_some())
            .field("federated_token_file", &self.federated_token_file)
            .field("authority_host", &self.authority_host)
            .field("identity_endpoint", &self.identity_endpoint)
            .field("managed_identity", &!self.no_managed_identity)
            .field("developer_tools", &!self.no_developer_tools)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug() {
        let vars = |k: &str| match k {
            "AZURE_CLIENT_SECRET" => Some("SECRET-VALUE".to_owned()),
            "IDENTITY_HEADER" => Some("HEADER-VALUE".to_owned()),
            "AZURE_TENANT_ID" => Some("t".to_owned()),
            "AZURE_ADDITIONALLY_ALLOWED_TENANTS" => Some("a; b;;".to_owned()),
            _ => None,
        };
        let inputs = AzureInputs::from_vars(&vars);
        assert_eq!(inputs.additionally_allowed_tenants, ["a", "b"]);
        let shown = format!("{inputs:?}");
        assert!(!shown.contains("SECRET-VALUE") && !shown.contains("HEADER-VALUE"), "{shown}");
        assert!(shown.contains("client_secret: true"), "{shown}");
    }
}
