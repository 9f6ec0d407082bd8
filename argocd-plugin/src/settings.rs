//! The operator's settings: what the sidecar's own environment says about
//! limits, key scoping, key policy and namespace binding, read once.
//!
//! Argo CD runs our commands with the sidecar container's own environment
//! (operator-owned: key files, policy, limits) plus variables the
//! repo-server adds per request. Of those, `ARGOCD_APP_PROJECT_NAME`,
//! `ARGOCD_APP_SOURCE_PATH`, `ARGOCD_APP_NAMESPACE` … are set by Argo CD
//! itself, while `ARGOCD_ENV_*`, `PARAM_*` and `ARGOCD_APP_PARAMETERS` are
//! tenant input (`params.rs`). Nothing here looks at tenant variables.
//!
//! A leaf: the other modules build on these settings, never the reverse.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use sops_core::keys::KeyServiceAddr;
use sops_core::stores::DEFAULT_MAX_DEPTH;

use crate::error::Failure;

/// A snapshot of the process environment (UTF-8 entries only), taken once.
/// It holds the sidecar's key variables (`SOPS_AGE_KEY` …), so its `Debug`
/// shows variable names only.
#[derive(Clone, Default)]
pub struct Env(HashMap<String, String>);

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.names().collect();
        names.sort_unstable();
        f.debug_struct("Env").field("names", &names).finish()
    }
}

impl Env {
    pub fn from_process() -> Self {
        Self(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        )
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    /// A variable; empty values count as unset (Argo CD 3.x passes empty ones).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The variable names (values are not shown).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// Hard limits on what a tenant's repository can make us do.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Directory entries visited (files and directories).
    pub max_files: usize,
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
    /// Internal deadline; below Argo CD's 60 s request timeout so the user
    /// sees our message rather than "context deadline exceeded".
    pub deadline: Duration,
    /// `SOPS_CMP_MAX_YAML_DEPTH`: nesting of mappings and sequences in a
    /// YAML or JSON file (root = 1), at most sops-core's default.
    pub max_yaml_depth: usize,
    /// `SOPS_CMP_MAX_YAML_ALIASES`: nodes YAML aliases may add to one file.
    pub max_yaml_aliases: usize,
    /// `SOPS_CMP_MAX_YAML_ALIAS_BYTES`: bytes of text YAML aliases may add
    /// to one file (a few aliases of one large scalar stay under the node cap).
    pub max_yaml_alias_bytes: usize,
    /// `SOPS_CMP_KEY_CONCURRENCY`: files decrypted at once (their keystore
    /// calls in flight together).
    pub key_concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_files: 10_000,
            max_file_bytes: 5 * 1024 * 1024,
            max_total_bytes: 64 * 1024 * 1024,
            deadline: Duration::from_secs(45),
            // Kubernetes objects nest about 20 deep; Helm values a few more.
            max_yaml_depth: 256,
            // Anchors in manifests copy a few labels or env blocks: hundreds
            // of nodes. 10 000 nodes stay below 1 MiB of output per file.
            max_yaml_aliases: 10_000,
            // Anchored labels and env blocks are kilobytes; 1 MiB is far
            // above that and a small share of the sidecar's 512 Mi.
            max_yaml_alias_bytes: 1024 * 1024,
            // Enough to hide a KMS round trip of tens of milliseconds behind
            // the others, few enough not to flood a keystore or a small
            // sidecar (each worker is a thread).
            key_concurrency: 16,
        }
    }
}

/// Most files an operator may have decrypted at once.
const MAX_KEY_CONCURRENCY: u64 = 256;

/// Longest deadline an operator may configure (Argo cuts the request at 60 s).
const MAX_DEADLINE: Duration = Duration::from_secs(58);

/// The operator's settings (`SOPS_CMP_*`), from the sidecar environment only.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub limits: Limits,
    /// `SOPS_CMP_PROJECT_KEYS_DIR`: identities only from `<dir>/<project>/`
    /// (and `<dir>/_shared/`).
    pub project_keys_dir: Option<PathBuf>,
    /// `SOPS_CMP_KEY_POLICY`: the file listing the master keys each project
    /// may use (parsed once at startup, `key_policy.rs`).
    pub key_policy_file: Option<PathBuf>,
    /// `SOPS_CMP_BIND_NAMESPACE=true`: decrypted namespaced objects must be
    /// in the app's destination namespace (`namespace.rs`).
    pub bind_namespace: bool,
    /// `SOPS_CMP_KEYSERVICE`: key services (comma list of
    /// `tcp://host:port`, `unix:///path`) asked after the plugin's own
    /// keys, e.g. a sidecar that holds the cloud credentials.
    pub key_services: Vec<KeyServiceAddr>,
    /// `SOPS_CMP_LOCAL_KEYSERVICE=false`: the plugin's own keys (identity
    /// files, project directories, cloud credentials) are never used, only
    /// the key services. (Negated so that the default uses them.)
    pub no_local_key_service: bool,
    pub debug: bool,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, Failure> {
        let mut limits = Limits::default();
        if let Some(v) = env.get("SOPS_CMP_MAX_FILES") {
            limits.max_files = parse_count("SOPS_CMP_MAX_FILES", v)? as usize;
        }
        if let Some(v) = env.get("SOPS_CMP_MAX_FILE_BYTES") {
            limits.max_file_bytes = parse_count("SOPS_CMP_MAX_FILE_BYTES", v)?;
        }
        if let Some(v) = env.get("SOPS_CMP_MAX_TOTAL_BYTES") {
            limits.max_total_bytes = parse_count("SOPS_CMP_MAX_TOTAL_BYTES", v)?;
        }
        if let Some(v) = env.get("SOPS_CMP_DEADLINE") {
            limits.deadline = parse_duration("SOPS_CMP_DEADLINE", v)?;
        }
        if let Some(v) = env.get("SOPS_CMP_MAX_YAML_DEPTH") {
            limits.max_yaml_depth = parse_count("SOPS_CMP_MAX_YAML_DEPTH", v)?
                .try_into()
                .ok()
                .filter(|&n| n <= DEFAULT_MAX_DEPTH)
                .ok_or_else(|| {
                    Failure::config(format!(
                        "SOPS_CMP_MAX_YAML_DEPTH must be at most {DEFAULT_MAX_DEPTH}"
                    ))
                })?;
        }
        if let Some(v) = env.get("SOPS_CMP_MAX_YAML_ALIASES") {
            limits.max_yaml_aliases = parse_count("SOPS_CMP_MAX_YAML_ALIASES", v)?
                .try_into()
                .unwrap_or(usize::MAX);
        }
        if let Some(v) = env.get("SOPS_CMP_MAX_YAML_ALIAS_BYTES") {
            limits.max_yaml_alias_bytes = parse_count("SOPS_CMP_MAX_YAML_ALIAS_BYTES", v)?
                .try_into()
                .unwrap_or(usize::MAX);
        }
        if let Some(v) = env.get("SOPS_CMP_KEY_CONCURRENCY") {
            limits.key_concurrency = parse_count("SOPS_CMP_KEY_CONCURRENCY", v)?
                .try_into()
                .ok()
                .filter(|&n: &usize| n as u64 <= MAX_KEY_CONCURRENCY)
                .ok_or_else(|| {
                    Failure::config(format!(
                        "SOPS_CMP_KEY_CONCURRENCY must be at most {MAX_KEY_CONCURRENCY}"
                    ))
                })?;
        }
        let bind_namespace = match env.get("SOPS_CMP_BIND_NAMESPACE") {
            Some(v) => parse_bool_setting("SOPS_CMP_BIND_NAMESPACE", v)?,
            None => false,
        };
        let local_key_service = match env.get("SOPS_CMP_LOCAL_KEYSERVICE") {
            Some(v) => parse_bool_setting("SOPS_CMP_LOCAL_KEYSERVICE", v)?,
            None => true,
        };
        let mut key_services = Vec::new();
        for uri in env
            .get("SOPS_CMP_KEYSERVICE")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            // Unlike sops, which skips such a URI, a setting that does not
            // parse fails every command: the operator meant a service.
            let addr = KeyServiceAddr::parse(uri).map_err(|e| {
                Failure::config(format!("SOPS_CMP_KEYSERVICE: cannot parse {uri:?}: {e}"))
            })?;
            key_services.push(addr);
        }
        if !local_key_service && key_services.is_empty() {
            return Err(Failure::config(
                "SOPS_CMP_LOCAL_KEYSERVICE=false needs SOPS_CMP_KEYSERVICE".to_owned(),
            ));
        }
        Ok(Self {
            limits,
            key_services,
            no_local_key_service: !local_key_service,
            project_keys_dir: env.get("SOPS_CMP_PROJECT_KEYS_DIR").map(PathBuf::from),
            key_policy_file: env.get("SOPS_CMP_KEY_POLICY").map(PathBuf::from),
            bind_namespace,
            debug: env.get("SOPS_CMP_DEBUG") == Some("1"),
        })
    }
}

fn parse_count(name: &str, v: &str) -> Result<u64, Failure> {
    match v.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Failure::config(format!(
            "{name} must be a positive integer"
        ))),
    }
}

/// `45s`, `45` (seconds) or `500ms`.
fn parse_duration(name: &str, v: &str) -> Result<Duration, Failure> {
    let d = if let Some(ms) = v.strip_suffix("ms") {
        ms.parse::<u64>().ok().map(Duration::from_millis)
    } else {
        v.strip_suffix('s')
            .unwrap_or(v)
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
    };
    match d {
        Some(d) if !d.is_zero() && d <= MAX_DEADLINE => Ok(d),
        _ => Err(Failure::config(format!(
            "{name} must be a duration such as 45s, at most {}s",
            MAX_DEADLINE.as_secs()
        ))),
    }
}

/// A boolean operator setting: `true` or `false`, nothing else.
pub fn parse_bool_setting(name: &str, v: &str) -> Result<bool, Failure> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Failure::config(format!("{name} must be true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_services_parse() {
        let op = Settings::from_env(&Env::from_pairs(&[])).unwrap();
        assert!(!op.no_local_key_service && op.key_services.is_empty());
        assert!(!Settings::default().no_local_key_service);
        let env = Env::from_pairs(&[
            (
                "SOPS_CMP_KEYSERVICE",
                "unix:///run/ks.sock, tcp://127.0.0.1:5000",
            ),
            ("SOPS_CMP_LOCAL_KEYSERVICE", "false"),
        ]);
        let op = Settings::from_env(&env).unwrap();
        assert!(op.no_local_key_service);
        assert_eq!(
            op.key_services,
            [
                KeyServiceAddr::Unix("/run/ks.sock".into()),
                KeyServiceAddr::parse("tcp://127.0.0.1:5000").unwrap()
            ]
        );
        for bad in [
            &[("SOPS_CMP_KEYSERVICE", "127.0.0.1:5000")][..],
            &[("SOPS_CMP_LOCAL_KEYSERVICE", "false")],
            &[
                ("SOPS_CMP_LOCAL_KEYSERVICE", "no"),
                ("SOPS_CMP_KEYSERVICE", "unix:///x"),
            ],
        ] {
            assert!(Settings::from_env(&Env::from_pairs(bad)).is_err());
        }
    }

    #[test]
    fn limits_parse() {
        let env = Env::from_pairs(&[("SOPS_CMP_DEADLINE", "10s"), ("SOPS_CMP_MAX_FILES", "5")]);
        let op = Settings::from_env(&env).unwrap();
        assert_eq!(op.limits.deadline, Duration::from_secs(10));
        assert_eq!(op.limits.max_files, 5);
        for bad in ["0", "59s", "x", "-1"] {
            let env = Env::from_pairs(&[("SOPS_CMP_DEADLINE", bad)]);
            assert!(Settings::from_env(&env).is_err(), "{bad}");
        }
        let op = Settings::from_env(&Env::default()).unwrap();
        assert_eq!(
            (op.limits.max_yaml_depth, op.limits.max_yaml_aliases),
            (256, 10_000)
        );
        let env = Env::from_pairs(&[
            ("SOPS_CMP_MAX_YAML_DEPTH", "20"),
            ("SOPS_CMP_MAX_YAML_ALIASES", "50"),
        ]);
        let op = Settings::from_env(&env).unwrap();
        assert_eq!(
            (op.limits.max_yaml_depth, op.limits.max_yaml_aliases),
            (20, 50)
        );
        for bad in ["0", "1001", "x"] {
            let env = Env::from_pairs(&[("SOPS_CMP_MAX_YAML_DEPTH", bad)]);
            assert!(Settings::from_env(&env).is_err(), "{bad}");
        }
        assert_eq!(op.limits.max_yaml_alias_bytes, 1024 * 1024);
        let env = Env::from_pairs(&[("SOPS_CMP_MAX_YAML_ALIAS_BYTES", "4096")]);
        let op = Settings::from_env(&env).unwrap();
        assert_eq!(op.limits.max_yaml_alias_bytes, 4096);
        for bad in ["0", "1M", "-1"] {
            let env = Env::from_pairs(&[("SOPS_CMP_MAX_YAML_ALIAS_BYTES", bad)]);
            assert!(Settings::from_env(&env).is_err(), "{bad}");
        }
        assert_eq!(op.limits.key_concurrency, 16);
        let env = Env::from_pairs(&[("SOPS_CMP_KEY_CONCURRENCY", "1")]);
        assert_eq!(Settings::from_env(&env).unwrap().limits.key_concurrency, 1);
        for bad in ["0", "257", "x", "-1"] {
            let env = Env::from_pairs(&[("SOPS_CMP_KEY_CONCURRENCY", bad)]);
            assert!(Settings::from_env(&env).is_err(), "{bad}");
        }
    }

    #[test]
    fn bool_settings() {
        assert!(parse_bool_setting("X", "true").unwrap());
        assert!(!parse_bool_setting("X", "false").unwrap());
        for bad in ["1", "yes", "True", "on", " true"] {
            assert!(parse_bool_setting("X", bad).is_err(), "{bad}");
        }
        let op = |v: &str| Settings::from_env(&Env::from_pairs(&[("SOPS_CMP_BIND_NAMESPACE", v)]));
        assert!(op("true").unwrap().bind_namespace);
        assert!(!op("false").unwrap().bind_namespace);
        assert!(op("yes").is_err());
        assert!(!Settings::from_env(&Env::default()).unwrap().bind_namespace);
    }

    #[test]
    fn debug_shows_names_never_values() {
        let env = Env::from_pairs(&[
            ("SOPS_AGE_KEY", "AGE-SECRET-KEY-1XYZ"),
            ("HOME", "/home/argocd"),
        ]);
        let shown = format!("{env:?}");
        assert_eq!(shown, r#"Env { names: ["HOME", "SOPS_AGE_KEY"] }"#);
    }
}
