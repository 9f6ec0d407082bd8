//! The tenant's parameters (spec §3.10): `ARGOCD_APP_PARAMETERS`,
//! `PARAM_*` and the legacy `ARGOCD_ENV_*`. Anyone who can push to the
//! app's repository controls them (through `.argocd-source.yaml`), so they
//! only ever select rendering options; key material and policy come from
//! the operator's settings (`settings.rs`, `keys.rs`).

use std::collections::HashMap;

use crate::error::Failure;
use crate::settings::Env;

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
}
