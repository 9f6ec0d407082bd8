//! Key services: where master keys are asked to wrap and unwrap the data
//! key (sops-cli.md §10). The local one is this process with the
//! [`KeyContext`]'s credentials; remote ones (feature `keyservice`) are
//! `sops keyservice` servers reached over gRPC, which use their own. A
//! context holds them in order, local first; [`super::wrap_data_key`] and
//! [`super::recover_data_key`] try each key with each service until one
//! succeeds, after the data-key memo and the key filter had their say.
//!
//! [`KeyContext`]: super::KeyContext

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

use super::{KeyContext, KeyError, MasterKey, master_key_for};
use crate::metadata::KeyEntry;
use crate::tree::{Branch, Value, time};

#[cfg(feature = "keyservice")]
mod client;
#[cfg(feature = "keyservice")]
mod proto;
#[cfg(feature = "keyservice")]
mod server;

#[cfg(feature = "keyservice")]
pub use server::{KeyServiceServer, Prompt, ServeError};

/// Where a remote key service listens: sops' `--keyservice` URI
/// (`tcp://host:port`, `unix:///path`) or `sops keyservice`'s
/// `--network`/`--address` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyServiceAddr {
    /// A socket address (`host:port`) of a Go network (`tcp`, `tcp4`,
    /// `tcp6`; other names fail when the service is called, as in sops).
    Net { network: String, address: String },
    /// A unix socket's path.
    Unix(PathBuf),
}

impl KeyServiceAddr {
    /// Parses a `--keyservice` URI as sops does (Go's `url.Parse`, then
    /// scheme `unix` → the path, any other scheme → that network with the
    /// URL's host). The error is Go's reason, for sops' warning.
    pub fn parse(uri: &str) -> Result<Self, String> {
        if let Some(bad) = bad_escape(uri) {
            return Err(format!("invalid URL escape {bad:?}"));
        }
        let Some((scheme, rest)) = uri.split_once(':') else {
            // A relative URL: Go parses it, and the empty network fails
            // when the service is called.
            return Ok(Self::Net {
                network: String::new(),
                address: String::new(),
            });
        };
        let scheme_ok = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return Err(if scheme.is_empty() {
                "missing protocol scheme".to_owned()
            } else {
                "first path segment in URL cannot contain colon".to_owned()
            });
        }
        let scheme = scheme.to_ascii_lowercase();
        let (host, path) = match rest.strip_prefix("//") {
            Some(auth_path) => match auth_path.find('/') {
                Some(i) => (&auth_path[..i], &auth_path[i..]),
                None => (auth_path, ""),
            },
            None => ("", rest),
        };
        let path = path.split(['?', '#']).next().unwrap_or_default();
        if scheme == "unix" {
            Ok(Self::Unix(PathBuf::from(percent_decode(path))))
        } else {
            // The user-info part is not part of the host.
            let host = host.rsplit('@').next().unwrap_or_default();
            Ok(Self::Net {
                network: scheme,
                address: host.to_owned(),
            })
        }
    }

    /// `sops keyservice --network NET --address ADDR`.
    pub fn listen(network: &str, address: &str) -> Self {
        if network == "unix" {
            Self::Unix(PathBuf::from(address))
        } else {
            Self::Net {
                network: network.to_owned(),
                address: address.to_owned(),
            }
        }
    }

    /// Go's network name (`tcp`, `unix` …).
    pub fn network(&self) -> &str {
        match self {
            Self::Net { network, .. } => network,
            Self::Unix(_) => "unix",
        }
    }

    /// The address without the network (`host:port`, or the path).
    pub fn address(&self) -> String {
        match self {
            Self::Net { address, .. } => address.clone(),
            Self::Unix(path) => path.display().to_string(),
        }
    }
}

/// `<network>://<address>`, as sops logs where it listens.
impl fmt::Display for KeyServiceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.network(), self.address())
    }
}

/// The first `%` not followed by two hex digits (Go refuses the URL).
fn bad_escape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%' {
            let ok = bytes.len() > i + 2
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit();
            if !ok {
                return Some(text[i..].chars().take(3).collect());
            }
        }
    }
    None
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(Some(h)), Some(Some(l))) = (
                bytes.get(i + 1).map(|b| hex(*b)),
                bytes.get(i + 2).map(|b| hex(*b)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The key services a context was given (see
/// [`super::KeyContextBuilder::key_service`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct KeyServiceList {
    /// Stored negated so that the default keeps the local service.
    pub(crate) no_local: bool,
    pub(crate) remote: Vec<KeyServiceAddr>,
}

/// One key service of a built context.
pub(crate) enum KeyService {
    Local,
    #[cfg(feature = "keyservice")]
    Remote(client::RemoteKeyService),
}

impl KeyServiceList {
    pub(crate) fn build(&self) -> Vec<KeyService> {
        let mut services = Vec::new();
        if !self.no_local {
            services.push(KeyService::Local);
        }
        #[cfg(feature = "keyservice")]
        services.extend(
            self.remote
                .iter()
                .cloned()
                .map(|addr| KeyService::Remote(client::RemoteKeyService::new(addr))),
        );
        services
    }
}

impl KeyService {
    /// Wraps `secret` for `key` and returns the entry to store.
    pub(crate) fn encrypt(
        &self,
        key: &dyn MasterKey,
        secret: &[u8],
        ctx: &KeyContext,
    ) -> Result<KeyEntry, KeyError> {
        match self {
            KeyService::Local => key.encrypt(secret, ctx),
            #[cfg(feature = "keyservice")]
            KeyService::Remote(remote) => {
                let template = key.entry_template().ok_or_else(|| {
                    KeyError::Rejected(format!(
                        "{} keys cannot be sent to a key service",
                        key.kind().display_name()
                    ))
                })?;
                let enc = remote.encrypt(&template, secret, ctx)?;
                Ok(with_enc(&template, enc))
            }
        }
    }

    /// Unwraps the secret stored in `entry`.
    pub(crate) fn decrypt(
        &self,
        entry: &KeyEntry,
        ctx: &KeyContext,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match self {
            KeyService::Local => master_key_for(entry).and_then(|k| k.decrypt(entry, ctx)),
            #[cfg(feature = "keyservice")]
            KeyService::Remote(remote) => remote.decrypt(entry, ctx),
        }
    }
}

/// Tries `op` with each service in order; the first success wins. One
/// service's failure is returned as it is, several as
/// [`KeyError::Services`] (one item per service, as sops lists them).
pub(crate) fn first_success<T>(
    services: &[KeyService],
    mut op: impl FnMut(&KeyService) -> Result<T, KeyError>,
) -> Result<T, Vec<KeyError>> {
    let mut errors = Vec::new();
    for service in services {
        match op(service) {
            Ok(found) => return Ok(found),
            Err(e) => errors.push(e),
        }
    }
    Err(errors)
}

/// `template` (an entry without `enc`) with the wrapped secret added, its
/// fields in the keystore's order; a keystore that records `created_at`
/// gets the current time unless the template kept one.
#[cfg_attr(not(feature = "keyservice"), allow(dead_code))]
pub(crate) fn with_enc(template: &KeyEntry, enc: String) -> KeyEntry {
    let spec = template.kind.spec();
    let mut fields = Branch::new();
    let mut enc = Some(enc);
    for name in spec.fields {
        match *name {
            "enc" => {
                if let Some(enc) = enc.take() {
                    fields.push("enc", Value::Str(enc));
                }
            }
            "created_at" => {
                let created = template
                    .field("created_at")
                    .map_or_else(time::now_rfc3339_seconds, str::to_owned);
                fields.push("created_at", Value::Str(created));
            }
            name => {
                if let Some(value) = template.fields.get(name) {
                    fields.push(name, value.clone());
                }
            }
        }
    }
    for (name, value) in template.fields.entries() {
        if !spec.fields.contains(&name) {
            fields.push(name, value.clone());
        }
    }
    KeyEntry {
        kind: template.kind,
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_as_sops_parses_them() {
        assert_eq!(
            KeyServiceAddr::parse("tcp://127.0.0.1:5000").unwrap(),
            KeyServiceAddr::Net {
                network: "tcp".into(),
                address: "127.0.0.1:5000".into()
            }
        );
        assert_eq!(
            KeyServiceAddr::parse("unix:///run/sops.sock").unwrap(),
            KeyServiceAddr::Unix("/run/sops.sock".into())
        );
        assert_eq!(
            KeyServiceAddr::parse("unix:///run/a%20b.sock").unwrap(),
            KeyServiceAddr::Unix("/run/a b.sock".into())
        );
        assert_eq!(
            KeyServiceAddr::parse("tcp://127.0.0.1:5000")
                .unwrap()
                .to_string(),
            "tcp://127.0.0.1:5000"
        );
        for bad in ["%zz", "127.0.0.1:5000", ":5000", "tcp://h:1/%zz"] {
            assert!(KeyServiceAddr::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            KeyServiceAddr::parse("%zz").unwrap_err(),
            "invalid URL escape \"%zz\""
        );
        assert_eq!(
            KeyServiceAddr::parse(":5000").unwrap_err(),
            "missing protocol scheme"
        );
        // Go parses a relative URL; its empty network fails per call.
        assert!(KeyServiceAddr::parse("localhost").is_ok());
        assert_eq!(
            KeyServiceAddr::parse("tcp://h:1/%zz").unwrap_err(),
            "invalid URL escape \"%zz\""
        );
    }

    #[test]
    fn the_local_service_comes_first_unless_disabled() {
        let list = KeyServiceList {
            no_local: false,
            remote: vec![KeyServiceAddr::Unix("/x".into())],
        };
        let built = list.build();
        assert!(matches!(built[0], KeyService::Local));
        assert_eq!(
            built.len(),
            if cfg!(feature = "keyservice") { 2 } else { 1 }
        );
        let none = KeyServiceList {
            no_local: true,
            remote: Vec::new(),
        };
        assert!(none.build().is_empty());
    }

    #[cfg(feature = "age")]
    #[test]
    fn enc_goes_where_the_keystore_writes_it() {
        let mut fields = Branch::new();
        fields.push("fp", Value::Str("ABC".into()));
        let pgp = KeyEntry {
            kind: crate::keys::pgp::KIND,
            fields,
        };
        let got = with_enc(&pgp, "x".into());
        let names: Vec<_> = got.fields.entries().map(|(n, _)| n).collect();
        assert_eq!(names, ["created_at", "enc", "fp"]);
        let mut fields = Branch::new();
        fields.push("recipient", Value::Str("age1x".into()));
        let age = KeyEntry {
            kind: crate::keys::age::KIND,
            fields,
        };
        let names: Vec<_> = with_enc(&age, "x".into())
            .fields
            .entries()
            .map(|(n, _)| n.to_owned())
            .collect();
        assert_eq!(names, ["recipient", "enc"]);
    }
}
