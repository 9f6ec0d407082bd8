//! The HTTP client of the keystores that are plain HTTPS + JSON APIs with
//! no SDK of ours (Vault transit, Azure Key Vault, HuaweiCloud KMS): one
//! place that decides time-outs, TLS roots and proxies, so each keystore
//! only builds its requests. Calls run on the cloud runtime
//! ([`super::cloud::block_on`]).
//!
//! Proxies follow Go's `net/http` (sops is a Go program): `HTTPS_PROXY`
//! for `https://` URLs, `HTTP_PROXY` for `http://` ones (lower-case forms
//! too), minus the hosts of `NO_PROXY`; loopback addresses and `localhost`
//! are never proxied.
//!
//! Redirects are never followed: a keystore call goes to the endpoint its
//! key names and nowhere else (reqwest would pass a custom credential
//! header such as Vault's `X-Vault-Token` on to a redirect's host, past
//! any address allow-list); a redirect comes back as the response.

// A build with only some of the keystores leaves some helpers unused; the
// build with all of them (CI's) still checks for dead code.
#![cfg_attr(
    not(all(
        feature = "aws-kms",
        feature = "gcp-kms",
        feature = "azure-kv",
        feature = "hc-vault",
        feature = "hckms",
        feature = "keyservice"
    )),
    allow(dead_code)
)]

use std::net::IpAddr;
use std::time::Duration;

use super::KeyContext;
use super::cloud::install_crypto_provider;

/// How a keystore's server is trusted.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsTrust {
    /// CA certificates (PEM, one or more) trusted besides the system's
    /// roots, e.g. `VAULT_CACERT`.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// Certificates are not verified at all (`VAULT_SKIP_VERIFY`).
    pub skip_verify: bool,
}

/// A client with the context's time-outs (`SOPS_KMS_CONNECT_TIMEOUT`,
/// `SOPS_KMS_TIMEOUT`), the given trust, and the process' proxy variables.
/// Build one per keystore and context (building costs more than a call),
/// e.g. in [`KeyContext::client_slot`].
pub(crate) fn client(ctx: &KeyContext, trust: &TlsTrust) -> Result<reqwest::Client, String> {
    client_with_identity(ctx, trust, None)
}

/// Like [`client`], presenting a TLS client certificate (Vault's
/// `VAULT_CLIENT_CERT`).
pub(crate) fn client_with_identity(
    ctx: &KeyContext,
    trust: &TlsTrust,
    identity: Option<reqwest::Identity>,
) -> Result<reqwest::Client, String> {
    let mut builder = builder_with(ctx.kms_connect_timeout(), ctx.kms_timeout(), trust, &|k| {
        std::env::var(k).ok()
    })?;
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    builder
        .build()
        .map_err(|e| format!("could not create the HTTP client: {e}"))
}

#[cfg(test)]
fn client_with(
    connect_timeout: Duration,
    timeout: Duration,
    trust: &TlsTrust,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<reqwest::Client, String> {
    builder_with(connect_timeout, timeout, trust, var)?
        .build()
        .map_err(|e| format!("could not create the HTTP client: {e}"))
}

fn builder_with(
    connect_timeout: Duration,
    timeout: Duration,
    trust: &TlsTrust,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<reqwest::ClientBuilder, String> {
    install_crypto_provider();
    let proxies = ProxyVars::from_env(var);
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_rustls()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .no_proxy()
        .proxy(reqwest::Proxy::custom(move |url| proxies.proxy_for(url)));
    if let Some(pem) = &trust.extra_roots_pem {
        let roots = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("could not read the CA certificates: {e}"))?;
        if roots.is_empty() {
            return Err("could not read the CA certificates: no certificate found".to_owned());
        }
        builder = builder.tls_certs_merge(roots);
    }
    if trust.skip_verify {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    Ok(builder)
}

/// The proxy variables, read once when the client is built.
#[derive(Debug, Clone, Default)]
struct ProxyVars {
    https: Option<String>,
    http: Option<String>,
    no_proxy: Vec<String>,
}

impl ProxyVars {
    fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Self {
        let first = |names: [&str; 2]| names.iter().find_map(|n| var(n).filter(|v| !v.is_empty()));
        Self {
            https: first(["HTTPS_PROXY", "https_proxy"]),
            http: first(["HTTP_PROXY", "http_proxy"]),
            no_proxy: first(["NO_PROXY", "no_proxy"])
                .map(|list| {
                    list.split(',')
                        .map(|e| e.trim().to_ascii_lowercase())
                        .filter(|e| !e.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The proxy URL for a request to `url`, or `None` to connect directly.
    fn proxy_for(&self, url: &reqwest::Url) -> Option<String> {
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']');
        let host = host.to_ascii_lowercase();
        if host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
            return None;
        }
        let port = url.port_or_known_default();
        if self
            .no_proxy
            .iter()
            .any(|entry| no_proxy_matches(entry, &host, port))
        {
            return None;
        }
        match url.scheme() {
            "https" => self.https.clone(),
            "http" => self.http.clone(),
            _ => None,
        }
    }
}

/// One `NO_PROXY` entry against a host, as Go reads it: `*` matches all;
/// `host[:port]` matches that host and its subdomains (a leading `.` only
/// the subdomains); an IP address matches itself.
fn no_proxy_matches(entry: &str, host: &str, port: Option<u16>) -> bool {
    if entry == "*" {
        return true;
    }
    let (name, entry_port) = match entry.rsplit_once(':') {
        Some((name, p)) if !name.contains(':') || name.ends_with(']') => {
            (name, p.parse::<u16>().ok())
        }
        _ => (entry, None),
    };
    if entry_port.is_some() && entry_port != port {
        return false;
    }
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if let Some(suffix) = name.strip_prefix('.') {
        return host.ends_with(&format!(".{suffix}"));
    }
    host == name || host.ends_with(&format!(".{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> ProxyVars {
        let map: std::collections::HashMap<String, String> = list
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ProxyVars::from_env(&|k| map.get(k).cloned())
    }

    fn proxy(v: &ProxyVars, url: &str) -> Option<String> {
        v.proxy_for(&reqwest::Url::parse(url).unwrap())
    }

    #[test]
    fn scheme_picks_the_variable_and_loopback_is_never_proxied() {
        let v = vars(&[("HTTPS_PROXY", "http://p:1"), ("http_proxy", "http://q:2")]);
        assert_eq!(
            proxy(&v, "https://vault.example:8200/v1").as_deref(),
            Some("http://p:1")
        );
        assert_eq!(
            proxy(&v, "http://vault.example/v1").as_deref(),
            Some("http://q:2")
        );
        assert_eq!(proxy(&v, "https://127.0.0.1:8200/"), None);
        assert_eq!(proxy(&v, "https://[::1]:8200/"), None);
        assert_eq!(proxy(&v, "http://localhost/"), None);
        assert_eq!(proxy(&vars(&[]), "https://vault.example/"), None);
    }

    #[test]
    fn no_proxy_entries_match_as_go_reads_them() {
        let v = vars(&[
            ("HTTPS_PROXY", "http://p:1"),
            ("NO_PROXY", "example.com, .internal,10.0.0.1,other.net:8443"),
        ]);
        assert_eq!(proxy(&v, "https://example.com/"), None);
        assert_eq!(proxy(&v, "https://kv.example.com/"), None);
        assert!(proxy(&v, "https://notexample.com/").is_some());
        assert_eq!(proxy(&v, "https://a.internal/"), None);
        assert!(proxy(&v, "https://internal/").is_some());
        assert_eq!(proxy(&v, "https://10.0.0.1/"), None);
        assert_eq!(proxy(&v, "https://other.net:8443/"), None);
        assert!(proxy(&v, "https://other.net/").is_some());
        assert_eq!(
            proxy(
                &vars(&[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "*")]),
                "https://x/"
            ),
            None
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let trust = TlsTrust {
            extra_roots_pem: Some(b"not a certificate".to_vec()),
            skip_verify: false,
        };
        let err = client_with(
            Duration::from_secs(1),
            Duration::from_secs(1),
            &trust,
            &|_| None,
        )
        .unwrap_err();
        assert!(err.contains("CA certificates"), "{err}");
    }
}
