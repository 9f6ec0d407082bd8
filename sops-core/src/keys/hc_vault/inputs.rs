//! The Vault settings and credentials of a [`KeyContext`]: the token, where
//! the token file is, the namespace, TLS trust and the address allow-list,
//! read once from the context's variables as sops (and the Vault client it
//! uses) reads them, or given through [`KeyContextBuilder`].

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::keys::{KeyContext, KeyContextBuilder};

/// Vault inputs. The token is a secret: wiped on drop, never printed.
#[derive(Default, Clone)]
pub(crate) struct VaultInputs {
    /// `VAULT_TOKEN`; used before the token file.
    pub(crate) token: Option<Zeroizing<String>>,
    /// The token file, `$HOME/.vault-token` unless given; read when a key
    /// needs it (a missing file means "no token").
    pub(crate) token_file: Option<PathBuf>,
    /// `VAULT_NAMESPACE`, sent as `X-Vault-Namespace`.
    pub(crate) namespace: Option<String>,
    /// `VAULT_CACERT`: a PEM file of CA certificates.
    pub(crate) ca_cert: Option<PathBuf>,
    /// `VAULT_CAPATH`: a directory of PEM files (used without `ca_cert`).
    pub(crate) ca_path: Option<PathBuf>,
    /// `VAULT_SKIP_VERIFY` as given; parsed (as Go's `strconv.ParseBool`)
    /// when a key is used, so a bad value fails that key, as in sops.
    pub(crate) skip_verify: Option<String>,
    /// `SOPS_HC_VAULT_ALLOWLIST` as given (sops 3.13); `None`: `all`.
    pub(crate) allowlist: Option<String>,
    /// `VAULT_CLIENT_CERT` and `VAULT_CLIENT_KEY`: PEM files of a TLS
    /// client certificate and its key (a credential, like the token).
    pub(crate) client_cert: Option<PathBuf>,
    pub(crate) client_key: Option<PathBuf>,
}

impl VaultInputs {
    /// From the context's variables (empty values already count as unset).
    pub(crate) fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            token: var("VAULT_TOKEN").map(Zeroizing::new),
            token_file: var("HOME").map(|home| PathBuf::from(home).join(".vault-token")),
            namespace: var("VAULT_NAMESPACE"),
            ca_cert: var("VAULT_CACERT").map(PathBuf::from),
            ca_path: var("VAULT_CAPATH").map(PathBuf::from),
            skip_verify: var("VAULT_SKIP_VERIFY"),
            allowlist: var("SOPS_HC_VAULT_ALLOWLIST"),
            client_cert: var("VAULT_CLIENT_CERT").map(PathBuf::from),
            client_key: var("VAULT_CLIENT_KEY").map(PathBuf::from),
        }
    }
}

/// Settings only: whether a token is set, never the token.
impl fmt::Debug for VaultInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultInputs")
            .field("token", &self.token.is_some())
            .field("token_file", &self.token_file)
            .field("namespace", &self.namespace)
            .field("ca_cert", &self.ca_cert)
            .field("ca_path", &self.ca_path)
            .field("skip_verify", &self.skip_verify)
            .field("allowlist", &self.allowlist)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .finish()
    }
}

impl KeyContext {
    /// True when a Vault token is given directly (`VAULT_TOKEN`); the token
    /// itself is never handed out.
    pub fn has_vault_token(&self) -> bool {
        self.vault_inputs().token.is_some()
    }

    /// The file the Vault token is read from when none is given directly
    /// (`~/.vault-token` by default).
    pub fn vault_token_file(&self) -> Option<&std::path::Path> {
        self.vault_inputs().token_file.as_deref()
    }

    /// The Vault namespace sent with every request (`VAULT_NAMESPACE`).
    pub fn vault_namespace(&self) -> Option<&str> {
        self.vault_inputs().namespace.as_deref()
    }
}

impl KeyContextBuilder {
    /// Vault's settings from `vars` as the environment gives them
    /// (`VAULT_NAMESPACE`, `VAULT_CACERT`, `VAULT_CAPATH`,
    /// `VAULT_SKIP_VERIFY`, `SOPS_HC_VAULT_ALLOWLIST`; empty values count as
    /// unset), replacing those set before. Never a credential: `VAULT_TOKEN`,
    /// `HOME` (the token file), `VAULT_CLIENT_CERT` and `VAULT_CLIENT_KEY` in
    /// `vars` are ignored; those set before are kept. For a caller whose credentials come
    /// from elsewhere than its settings (the Argo CD plugin's projects).
    pub fn vault_settings_from_vars<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: std::collections::HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let read = VaultInputs::from_vars(&|k| map.get(k).cloned());
        let own = self.vault_inputs_mut();
        *own = VaultInputs {
            token: own.token.take(),
            token_file: own.token_file.take(),
            client_cert: own.client_cert.take(),
            client_key: own.client_key.take(),
            ..read
        };
        self
    }

    /// A Vault token (sops' `VAULT_TOKEN`), used before the token file.
    pub fn vault_token(mut self, token: impl Into<String>) -> Self {
        self.vault_inputs_mut().token = Some(Zeroizing::new(token.into()));
        self
    }

    /// The file a Vault token is read from when no token is given (default
    /// `$HOME/.vault-token`; leading and trailing white space is removed).
    /// A file that does not exist means "no token".
    pub fn vault_token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.vault_inputs_mut().token_file = Some(path.into());
        self
    }

    /// The Vault namespace (`VAULT_NAMESPACE`), sent as `X-Vault-Namespace`.
    pub fn vault_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.vault_inputs_mut().namespace = Some(namespace.into());
        self
    }

    /// A PEM file of CA certificates trusted for Vault besides the
    /// system's roots (`VAULT_CACERT`).
    pub fn vault_ca_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.vault_inputs_mut().ca_cert = Some(path.into());
        self
    }

    /// A directory whose files are PEM CA certificates trusted for Vault
    /// (`VAULT_CAPATH`); ignored when [`Self::vault_ca_cert`] is set.
    pub fn vault_ca_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.vault_inputs_mut().ca_path = Some(path.into());
        self
    }

    /// A TLS client certificate for Vault: PEM files of the certificate
    /// (chain) and its private key (`VAULT_CLIENT_CERT`, `VAULT_CLIENT_KEY`).
    pub fn vault_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        let own = self.vault_inputs_mut();
        own.client_cert = Some(cert.into());
        own.client_key = Some(key.into());
        self
    }

    /// Whether Vault's certificate goes unchecked (`VAULT_SKIP_VERIFY`).
    pub fn vault_skip_verify(mut self, skip: bool) -> Self {
        self.vault_inputs_mut().skip_verify = Some(skip.to_string());
        self
    }

    /// Which Vault addresses keys may use (sops 3.13's
    /// `SOPS_HC_VAULT_ALLOWLIST`): `all` (the default), `none`, or a
    /// comma-separated list of URL prefixes (each matched up to a `/`). A
    /// key whose address is not allowed fails before any request.
    pub fn vault_allowlist(mut self, list: impl Into<String>) -> Self {
        self.vault_inputs_mut().allowlist = Some(list.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_vars_never_take_credentials() {
        let ctx = KeyContextBuilder::default()
            .vault_token_file("/keys/team-a/vault/token")
            .vault_settings_from_vars([
                ("VAULT_TOKEN", "s.SIDECAR"),
                ("HOME", "/home/sidecar"),
                ("VAULT_NAMESPACE", "team-a"),
                ("VAULT_CACERT", "/ca.pem"),
                ("VAULT_SKIP_VERIFY", ""),
                ("VAULT_CLIENT_CERT", "/sidecar/cert.pem"),
                ("VAULT_CLIENT_KEY", "/sidecar/key.pem"),
            ])
            .build();
        assert!(!ctx.has_vault_token());
        assert_eq!(
            ctx.vault_token_file(),
            Some(std::path::Path::new("/keys/team-a/vault/token"))
        );
        assert_eq!(ctx.vault_namespace(), Some("team-a"));
        let inputs = ctx.vault_inputs();
        assert_eq!(inputs.ca_cert.as_deref(), Some(std::path::Path::new("/ca.pem")));
        assert_eq!(inputs.skip_verify, None);
        assert_eq!(inputs.client_cert, None);
        let ctx = KeyContext::from_vars([("VAULT_TOKEN", "s.TOKEN"), ("HOME", "/h")]);
        assert!(ctx.has_vault_token());
        assert_eq!(
            ctx.vault_token_file(),
            Some(std::path::Path::new("/h/.vault-token"))
        );
        assert!(!format!("{ctx:?}").contains("s.TOKEN"));
    }
}
