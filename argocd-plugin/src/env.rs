//! What the plugin reads from its environment, split by trust level.
//!
//! Argo CD runs our commands with the sidecar container's own environment
//! (operator-owned: key files, policy, limits) plus variables the
//! repo-server adds per request. Of those, `ARGOCD_APP_PROJECT_NAME`,
//! `ARGOCD_APP_SOURCE_PATH`, `ARGOCD_APP_NAMESPACE` … are set by Argo CD
//! itself, while `ARGOCD_ENV_*`, `PARAM_*` and `ARGOCD_APP_PARAMETERS` are
//! tenant input (anyone who can push to the app's repository controls them
//! through `.argocd-source.yaml`). Tenant input only ever selects rendering
//! options ([`Params`]); key material and policy come from [`Operator`] and
//! [`key_context`], which never look at tenant variables.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sops_core::keys::KeyContext;
use sops_core::stores::DEFAULT_MAX_DEPTH;
use zeroize::Zeroizing;

use crate::error::Failure;
use crate::policy::{self, KeyPolicy};

/// A snapshot of the process environment (UTF-8 entries only), taken once.
#[derive(Debug, Clone, Default)]
pub struct Env(HashMap<String, String>);

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

    fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

// --- operator settings (sidecar env only) -----------------------------------

/// Variables of the sidecar environment that may feed the key context: the
/// age variables our CLI reads, the directories sops derives the default
/// key file from, and gpg's home. `SOPS_AGE_KEY_CMD` and `SOPS_GPG_EXEC` are
/// left out on purpose: the plugin never runs a command of the operator's
/// choosing to obtain keys (gpg is run from `PATH`).
pub const KEY_VARS: &[&str] = &[
    "SOPS_AGE_KEY_FILE",
    "SOPS_AGE_KEY",
    "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
    "HOME",
    "XDG_CONFIG_HOME",
    "GNUPGHOME",
];

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
        }
    }
}

/// Longest deadline an operator may configure (Argo cuts the request at 60 s).
const MAX_DEADLINE: Duration = Duration::from_secs(58);

/// Operator policy, from the sidecar environment only.
#[derive(Debug, Clone, Default)]
pub struct Operator {
    pub limits: Limits,
    /// `SOPS_CMP_PROJECT_KEYS_DIR`: identities only from `<dir>/<project>/`
    /// (and `<dir>/_shared/`).
    pub project_keys_dir: Option<PathBuf>,
    /// `SOPS_CMP_KEY_POLICY`: the master keys each project may use.
    pub key_policy: Option<Arc<KeyPolicy>>,
    /// `SOPS_CMP_BIND_NAMESPACE=true`: decrypted namespaced objects must be
    /// in the app's destination namespace ([`policy::check_namespace_binding`]).
    pub bind_namespace: bool,
    pub debug: bool,
}

impl Operator {
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
        let key_policy = match env.get("SOPS_CMP_KEY_POLICY") {
            Some(path) => Some(Arc::new(KeyPolicy::load(Path::new(path))?)),
            None => None,
        };
        let bind_namespace = match env.get("SOPS_CMP_BIND_NAMESPACE") {
            Some(v) => policy::parse_bool_setting("SOPS_CMP_BIND_NAMESPACE", v)?,
            None => false,
        };
        Ok(Self {
            limits,
            project_keys_dir: env.get("SOPS_CMP_PROJECT_KEYS_DIR").map(PathBuf::from),
            key_policy,
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

/// Builds the key context from the sidecar's own settings.
///
/// Without project scoping: the [`KEY_VARS`] of the sidecar environment.
/// With `SOPS_CMP_PROJECT_KEYS_DIR`: only the identity files found in
/// `<dir>/<project>/` and `<dir>/_shared/` (hidden entries such as the
/// `..data` links of a Kubernetes Secret volume are skipped); the global
/// variables are ignored so one project cannot use another's keys.
///
/// With `SOPS_CMP_KEY_POLICY`, the context only lets the master keys the
/// policy allows for `ARGOCD_APP_PROJECT_NAME` be used.
pub fn key_context(env: &Env, op: &Operator) -> Result<KeyContext, Failure> {
    // Identities open only the entries labelled with their own recipient, so
    // the recipients in a file's metadata (which the policy and the error
    // messages rely on) cannot be forged.
    let ctx = identities(env, op)?.with_age_recipient_binding();
    Ok(match &op.key_policy {
        Some(p) => p.apply(ctx, env.get("ARGOCD_APP_PROJECT_NAME")),
        None => ctx,
    })
}

fn identities(env: &Env, op: &Operator) -> Result<KeyContext, Failure> {
    let Some(dir) = &op.project_keys_dir else {
        let vars: HashMap<String, String> = KEY_VARS
            .iter()
            .filter_map(|k| Some(((*k).to_owned(), env.get(k)?.to_owned())))
            .collect();
        return Ok(KeyContext::from_lookup(move |k| vars.get(k).cloned()));
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
    let mut text = Zeroizing::new(String::new());
    read_identity_dir(&own, &mut text)?;
    let shared = dir.join("_shared");
    if shared.is_dir() {
        read_identity_dir(&shared, &mut text)?;
    }
    let text = Zeroizing::new(text.to_string());
    // gpg would otherwise use the sidecar's own keyring for every project:
    // a project's PGP keys live in `<dir>/<project>/gnupg` (a writable gpg
    // home the operator provides); without it the project has no PGP keys.
    let gnupg_home = own.join("gnupg").display().to_string();
    Ok(KeyContext::from_lookup(move |k| match k {
        "SOPS_AGE_KEY" => Some(text.to_string()),
        "GNUPGHOME" => Some(gnupg_home.clone()),
        _ => None,
    }))
}

fn read_identity_dir(dir: &Path, out: &mut String) -> Result<(), Failure> {
    let io_err =
        |what: &Path| Failure::config(format!("cannot read key directory {}", what.display()));
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
        let data = Zeroizing::new(std::fs::read_to_string(&path).map_err(|_| io_err(&path))?);
        out.push_str(&data);
        out.push('\n');
    }
    Ok(())
}

// --- tenant parameters ------------------------------------------------------

/// How the app is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Auto,
    Directory,
    Kustomize,
    Helm,
}

/// Tenant parameters (spec §3.10), with the defaults we announce.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub mode: Mode,
    pub recurse: bool,
    pub include: Option<String>,
    pub exclude: Option<String>,
    pub allow_empty: bool,
    pub helm: HelmParams,
}

/// The `helm-*` parameters.
#[derive(Debug, Clone, Default)]
pub struct HelmParams {
    /// Values files in merge order; app-relative, or repo-relative with a
    /// leading `/` (as Argo CD's `valueFiles`).
    pub values_files: Vec<String>,
    /// Inline values, merged after the files.
    pub values: Option<String>,
    /// `--set` pairs, in the given order.
    pub parameters: Vec<(String, String)>,
    /// Default: `ARGOCD_APP_NAME`.
    pub release_name: Option<String>,
    pub skip_crds: bool,
    pub skip_tests: bool,
}

/// Every parameter name we announce; anything else is an error (typos).
const KNOWN: &[&str] = &[
    "mode",
    "directory-recurse",
    "directory-include",
    "directory-exclude",
    "helm-values-files",
    "helm-values",
    "helm-parameters",
    "helm-release-name",
    "helm-skip-crds",
    "helm-skip-tests",
    "decrypt-rendered",
    "allow-empty",
];

/// The `PARAM_*` spelling of a name: upper case, other chars → `_`.
fn param_var(name: &str) -> String {
    name.chars()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if c.is_ascii_uppercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Params {
    /// Resolves parameters: `ARGOCD_APP_PARAMETERS` (JSON) when set, else
    /// `PARAM_<NAME>`, else the legacy `ARGOCD_ENV_<NAME>` alias.
    pub fn from_env(env: &Env) -> Result<Self, Failure> {
        let mut strings: HashMap<&'static str, String> = HashMap::new();
        let mut arrays: HashMap<&'static str, Vec<String>> = HashMap::new();
        let mut maps: HashMap<&'static str, Vec<(String, String)>> = HashMap::new();
        if let Some(json) = env.get("ARGOCD_APP_PARAMETERS") {
            let parsed: serde_json::Value = serde_json::from_str(json).map_err(|_| {
                Failure::param("ARGOCD_APP_PARAMETERS is not valid JSON".to_owned())
            })?;
            let list = parsed.as_array().ok_or_else(|| {
                Failure::param("ARGOCD_APP_PARAMETERS is not a JSON array".to_owned())
            })?;
            for entry in list {
                let name = entry.get("name").and_then(|n| n.as_str()).unwrap_or("");
                let known = KNOWN.iter().find(|k| **k == name).ok_or_else(|| {
                    Failure::param(format!("unknown parameter {}", printable(name)))
                })?;
                let not_strings =
                    || Failure::param(format!("parameter {known} must hold strings only"));
                if let Some(s) = entry.get("string").and_then(|s| s.as_str()) {
                    strings.insert(known, s.to_owned());
                }
                if let Some(items) = entry.get("array").and_then(|a| a.as_array()) {
                    let items = items
                        .iter()
                        .map(|i| i.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(not_strings)?;
                    arrays.insert(known, items);
                }
                if let Some(map) = entry.get("map").and_then(|m| m.as_object()) {
                    let pairs = map
                        .iter()
                        .map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(not_strings)?;
                    maps.insert(known, pairs);
                }
            }
        } else {
            let mut indexed: Vec<(&'static str, usize, String)> = Vec::new();
            for var in env.names() {
                let Some(rest) = var.strip_prefix("PARAM_") else {
                    continue;
                };
                let known = KNOWN.iter().find(|k| {
                    let p = param_var(k);
                    rest == p || rest.strip_prefix(&p).is_some_and(|r| r.starts_with('_'))
                });
                let Some(known) = known else {
                    return Err(Failure::param(format!("unknown parameter {var}")));
                };
                let Some(v) = env.get(var) else { continue };
                let suffix = &rest[param_var(known).len()..];
                if suffix.is_empty() {
                    strings.insert(known, v.to_owned());
                } else if *known == "helm-values-files" {
                    // Arrays arrive as PARAM_<NAME>_<index>.
                    let i = suffix[1..]
                        .parse::<usize>()
                        .map_err(|_| Failure::param(format!("unknown parameter {var}")))?;
                    indexed.push((known, i, v.to_owned()));
                } else if *known == "helm-parameters" {
                    // Map keys arrive upper-cased; only the JSON form keeps them.
                    return Err(Failure::param(
                        "parameter helm-parameters needs ARGOCD_APP_PARAMETERS \
                         (Argo CD 2.6 or later)"
                            .to_owned(),
                    ));
                }
            }
            indexed.sort_by_key(|(_, i, _)| *i);
            for (known, _, v) in indexed {
                arrays.entry(known).or_default().push(v);
            }
            for known in KNOWN {
                if strings.contains_key(known) {
                    continue;
                }
                if let Some(v) = env.get(&format!("ARGOCD_ENV_{}", param_var(known))) {
                    strings.insert(known, v.to_owned());
                }
            }
        }

        let mut p = Self::default();
        if let Some(v) = strings.get("mode") {
            p.mode = match v.as_str() {
                "auto" => Mode::Auto,
                "directory" => Mode::Directory,
                "kustomize" => Mode::Kustomize,
                "helm" => Mode::Helm,
                _ => {
                    return Err(Failure::param(
                        "parameter mode must be auto, directory, kustomize or helm".to_owned(),
                    ));
                }
            };
        }
        let flag = |name: &str| strings.get(name).map(|v| parse_bool(name, v)).transpose();
        p.recurse = flag("directory-recurse")?.unwrap_or(false);
        p.allow_empty = flag("allow-empty")?.unwrap_or(false);
        p.helm.skip_crds = flag("helm-skip-crds")?.unwrap_or(false);
        p.helm.skip_tests = flag("helm-skip-tests")?.unwrap_or(false);
        if flag("decrypt-rendered")?.unwrap_or(false) {
            return Err(Failure::param(
                "parameter decrypt-rendered is not supported by this version".to_owned(),
            ));
        }
        p.include = strings.get("directory-include").cloned();
        p.exclude = strings.get("directory-exclude").cloned();
        p.helm.values_files = arrays.remove("helm-values-files").unwrap_or_default();
        if strings.contains_key("helm-values-files") {
            return Err(Failure::param(
                "parameter helm-values-files must be an array".to_owned(),
            ));
        }
        p.helm.values = strings.get("helm-values").cloned();
        p.helm.parameters = maps.remove("helm-parameters").unwrap_or_default();
        p.helm.release_name = strings.get("helm-release-name").cloned();
        Ok(p)
    }
}

fn parse_bool(name: &str, v: &str) -> Result<bool, Failure> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Failure::param(format!(
            "parameter {name} must be true or false"
        ))),
    }
}

/// A tenant-supplied name, shortened and stripped of control characters
/// before it is echoed in an error.
pub fn printable(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(64).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    format!("{out:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_from_json_take_precedence() {
        let env = Env::from_pairs(&[
            (
                "ARGOCD_APP_PARAMETERS",
                r#"[{"name":"directory-recurse","string":"true"},{"name":"helm-values-files","array":[]},{"name":"helm-parameters","map":{}}]"#,
            ),
            ("PARAM_DIRECTORY_RECURSE", "false"),
        ]);
        let p = Params::from_env(&env).unwrap();
        assert!(p.recurse);
    }

    #[test]
    fn params_from_param_vars_and_legacy_env() {
        let env = Env::from_pairs(&[
            ("PARAM_DIRECTORY_EXCLUDE", "*.bak.yaml"),
            ("PARAM_HELM_VALUES_FILES_0", "a.yaml"),
            ("ARGOCD_ENV_ALLOW_EMPTY", "true"),
            ("ARGOCD_ENV_SOMETHING_ELSE", "x"),
        ]);
        let p = Params::from_env(&env).unwrap();
        assert_eq!(p.exclude.as_deref(), Some("*.bak.yaml"));
        assert!(p.allow_empty);
        assert!(!p.recurse);
    }

    #[test]
    fn unknown_and_invalid_params_are_errors() {
        for pairs in [
            &[("PARAM_SOPS_AGE_KEY_FILE", "/keys/other")][..],
            &[(
                "ARGOCD_APP_PARAMETERS",
                r#"[{"name":"sops-age-key","string":"x"}]"#,
            )][..],
            &[("ARGOCD_APP_PARAMETERS", "{")][..],
            &[("PARAM_ALLOW_EMPTY", "yes")][..],
            &[("PARAM_MODE", "jsonnet")][..],
        ] {
            assert!(
                Params::from_env(&Env::from_pairs(pairs)).is_err(),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn key_context_ignores_tenant_variables() {
        let env = Env::from_pairs(&[
            ("ARGOCD_ENV_SOPS_AGE_KEY", "AGE-SECRET-KEY-1TENANT"),
            ("PARAM_SOPS_AGE_KEY_FILE", "/tmp/k"),
            ("SOPS_AGE_KEY_FILE", "/keys/age.txt"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
        ]);
        let ctx = key_context(&env, &Operator::default()).unwrap();
        assert_eq!(
            ctx.var("SOPS_AGE_KEY_FILE").as_deref(),
            Some("/keys/age.txt")
        );
        assert_eq!(ctx.var("SOPS_AGE_KEY"), None);
        assert_eq!(ctx.var("AWS_SECRET_ACCESS_KEY"), None);
    }

    #[test]
    fn project_names_are_validated() {
        let op = Operator {
            project_keys_dir: Some(PathBuf::from("/nonexistent")),
            ..Operator::default()
        };
        for bad in ["", "../etc", "A", "x/y"] {
            let env = Env::from_pairs(&[("ARGOCD_APP_PROJECT_NAME", bad)]);
            assert!(key_context(&env, &op).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_parse() {
        let env = Env::from_pairs(&[("SOPS_CMP_DEADLINE", "10s"), ("SOPS_CMP_MAX_FILES", "5")]);
        let op = Operator::from_env(&env).unwrap();
        assert_eq!(op.limits.deadline, Duration::from_secs(10));
        assert_eq!(op.limits.max_files, 5);
        for bad in ["0", "59s", "x", "-1"] {
            let env = Env::from_pairs(&[("SOPS_CMP_DEADLINE", bad)]);
            assert!(Operator::from_env(&env).is_err(), "{bad}");
        }
        let op = Operator::from_env(&Env::default()).unwrap();
        assert_eq!(
            (op.limits.max_yaml_depth, op.limits.max_yaml_aliases),
            (256, 10_000)
        );
        let env = Env::from_pairs(&[
            ("SOPS_CMP_MAX_YAML_DEPTH", "20"),
            ("SOPS_CMP_MAX_YAML_ALIASES", "50"),
        ]);
        let op = Operator::from_env(&env).unwrap();
        assert_eq!(
            (op.limits.max_yaml_depth, op.limits.max_yaml_aliases),
            (20, 50)
        );
        for bad in ["0", "1001", "x"] {
            let env = Env::from_pairs(&[("SOPS_CMP_MAX_YAML_DEPTH", bad)]);
            assert!(Operator::from_env(&env).is_err(), "{bad}");
        }
    }
}
