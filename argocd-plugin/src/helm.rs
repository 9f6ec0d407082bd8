//! Helm apps: `helm template` on a decrypted copy of the repository.
//!
//! The repository is copied and its sops files decrypted as for kustomize
//! ([`decrypted_copy`]), except the values files named by
//! `helm-values-files`: those are decrypted in memory and reach Helm on its
//! stdin (`-f -`), so decrypted values are never written anywhere.
//!
//! Helm merges values files in argument order, and only one of them can be
//! stdin. The encrypted files, together with any plain ones between the
//! first and the last encrypted file, are therefore merged here (maps
//! merged key by key, anything else replaced, as Helm does) into the one
//! stdin document, which takes the place of that run; plain files before
//! and after it are passed by path so Helm reads them itself. Inline
//! `helm-values` follow as a file (tenant text, not secret), then
//! `helm-parameters` as `--set`.
//!
//! Arguments mirror what Argo CD passes: release name (default
//! `ARGOCD_APP_NAME`), `--namespace $ARGOCD_APP_NAMESPACE`, `--kube-version
//! $KUBE_VERSION`, one `--api-versions` per `KUBE_API_VERSIONS` entry and
//! `--include-crds`. Never `--post-renderer`, no `helm dependency build`
//! (vendored `charts/` work), no plugins (Helm's dirs are private and empty).

use std::collections::HashMap;
use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::Instant;

use sops_core::stores::{Format, StoreError};
use sops_core::{Branch, Item, Value};
use zeroize::{Zeroize, Zeroizing};

use crate::decrypted_copy::{self, RenderedCopy};
use crate::error::Failure;
use crate::keys::Keys;
use crate::params::{HelmParams, Params, printable};
use crate::render::{self, Job};
use crate::scratch;
use crate::settings::{Env, Limits, Settings};
use crate::stores::{limit_failure, store_for};
use crate::walk::{self, Entry, Roots};

/// Used when the sidecar has no `PATH`.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// Helm's limit on release names.
const MAX_RELEASE_NAME: usize = 53;

pub fn run(
    env: &Env,
    roots: &Roots,
    params: &Params,
    op: &Settings,
    keys: &mut Keys<'_>,
    deadline: Instant,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let started = Instant::now();
    let helm = &params.helm;
    let bin = helm_binary(env)?;
    if !roots.app.join("Chart.yaml").is_file() {
        return Err(Failure::generic(format!(
            "no Chart.yaml in {}; helm mode needs a chart directory",
            walk::shown_path(Path::new(env.get("ARGOCD_APP_SOURCE_PATH").unwrap_or(".")))
        )));
    }
    let release = release_name(env, helm)?;
    let cluster = Cluster::from_env(env)?;
    let values_files = helm
        .values_files
        .iter()
        .map(|p| resolve_values_file(roots, p))
        .collect::<Result<Vec<_>, _>>()?;
    let keep: HashSet<&str> = values_files.iter().map(|v| v.rel.as_str()).collect();

    let tmp = scratch::parent(env);
    let mut copy = decrypted_copy::build(roots, keys, env, op, &tmp, deadline, &|rel| {
        keep.contains(rel)
    })?;
    let copied = started.elapsed();

    // Each values file: decrypted in memory, or left for Helm to read.
    let mut sources = Vec::with_capacity(values_files.len());
    for v in &values_files {
        let entry = Entry {
            rel: v.rel.clone(),
            shown: walk::shown_path(Path::new(&v.rel)),
            real: copy.scratch.repo.join(&v.rel),
        };
        let mut uncounted = 0;
        let bytes = Zeroizing::new(walk::read_bounded(&entry, &op.limits, &mut uncounted)?);
        match decrypted_copy::decrypt_file(&entry, &bytes, keys, env, op) {
            Ok(Some(mut plain)) => {
                copy.redactor.add_docs(&plain.docs);
                // Helm reads only the first document; it moves from one
                // wiping holder into another.
                let first = plain.docs.first_mut().map(std::mem::take);
                sources.push(Source::Decrypted {
                    doc: Zeroizing::new(first.unwrap_or_default()),
                });
            }
            Ok(None) => sources.push(Source::Plain {
                shown: entry.shown.clone(),
                path: entry.real.display().to_string(),
                bytes,
            }),
            Err(f) => return Err(f),
        }
    }
    let ValuesArguments {
        args: value_args,
        stdin,
    } = values_arguments(&sources, &op.limits)?;

    let app_rel = roots.app.strip_prefix(&roots.repo).unwrap_or(Path::new(""));
    let chart = copy.scratch.repo.join(app_rel);
    let mut argv = vec![
        bin,
        "template".to_owned(),
        release,
        chart.display().to_string(),
    ];
    argv.extend(cluster.arguments());
    if !helm.skip_crds {
        argv.push("--include-crds".into());
    }
    if helm.skip_tests {
        argv.push("--skip-tests".into());
    }
    argv.extend(value_args);
    if let Some(inline) = &helm.values {
        let path = copy
            .scratch
            .write_aside("inline-values.yaml", inline.as_bytes())?;
        argv.extend(["--values".into(), path.display().to_string()]);
    }
    for (key, value) in &helm.parameters {
        argv.extend(["--set".into(), set_argument(key, value)?]);
    }

    let home = copy.scratch.home()?;
    let child_env: Vec<(String, String)> = vec![
        (
            "PATH".to_owned(),
            env.get("PATH").unwrap_or(DEFAULT_PATH).to_owned(),
        ),
        ("HOME".to_owned(), home.display().to_string()),
        // Helm's own dirs, private and empty: no repositories, no plugins.
        (
            "HELM_CACHE_HOME".to_owned(),
            home.join("cache").display().to_string(),
        ),
        (
            "HELM_CONFIG_HOME".to_owned(),
            home.join("config").display().to_string(),
        ),
        (
            "HELM_DATA_HOME".to_owned(),
            home.join("data").display().to_string(),
        ),
    ];
    let job = Job {
        name: "helm template",
        argv: &argv,
        cwd: &chart,
        env: &child_env,
        stdin: stdin.as_ref().map(|s| s.as_slice()),
    };
    // The plaintext copy is gone before the output checks.
    let RenderedCopy {
        out,
        decrypted,
        deferred,
    } = copy.render(&job, &op.limits, deadline)?;
    if op.debug {
        eprintln!(
            "argocd-sops-plugin: debug: helm mode: {decrypted} files decrypted in the copy, \
             {} left encrypted, {} values files ({} on stdin), copy {} ms, total {} ms",
            deferred.len(),
            sources.len(),
            sources
                .iter()
                .filter(|s| matches!(s, Source::Decrypted { .. }))
                .count(),
            copied.as_millis(),
            started.elapsed().as_millis()
        );
        for line in deferred.summary() {
            eprintln!("argocd-sops-plugin: debug: left encrypted: {line}");
        }
    }
    render::finish(
        &out.stdout,
        "helm template",
        env,
        params,
        &op.limits,
        &|found| deferred.source_of(found),
    )
}

/// `SOPS_CMP_HELM_BIN` (sidecar env), else `helm` on the sidecar's `PATH`.
fn helm_binary(env: &Env) -> Result<String, Failure> {
    if let Some(b) = env.get("SOPS_CMP_HELM_BIN") {
        return Ok(b.to_owned());
    }
    render::which(env.get("PATH").unwrap_or(DEFAULT_PATH), "helm")
        .map(|p| p.display().to_string())
        .ok_or_else(|| {
            Failure::config("helm is not installed in the sidecar".to_owned())
                .with_hint("put helm on the sidecar's PATH, or set SOPS_CMP_HELM_BIN")
        })
}

/// `helm-release-name`, else `ARGOCD_APP_NAME`, checked against Helm's rules
/// (DNS-1123 labels joined by dots, at most 53 characters).
fn release_name(env: &Env, helm: &HelmParams) -> Result<String, Failure> {
    let (name, from) = match &helm.release_name {
        Some(n) => (n.as_str(), "parameter helm-release-name"),
        None => (env.get("ARGOCD_APP_NAME").unwrap_or(""), "ARGOCD_APP_NAME"),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() <= MAX_RELEASE_NAME && name.split('.').all(label_ok) {
        Ok(name.to_owned())
    } else {
        Err(Failure::param(format!(
            "{from} {} is not a valid Helm release name (lower-case letters, digits, '-' \
             and '.', at most {MAX_RELEASE_NAME} characters)",
            printable(name)
        ))
        .with_hint("set the parameter helm-release-name"))
    }
}

/// What Argo CD tells us about the destination cluster.
struct Cluster {
    namespace: Option<String>,
    kube_version: Option<String>,
    api_versions: Vec<String>,
}

impl Cluster {
    fn from_env(env: &Env) -> Result<Self, Failure> {
        let checked = |name: &str, v: &str, extra: &[u8]| {
            let ok = v.len() <= 253
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b));
            if ok {
                Ok(v.to_owned())
            } else {
                Err(Failure::generic(format!(
                    "{name} {} is not valid",
                    printable(v)
                )))
            }
        };
        let namespace = env
            .get("ARGOCD_APP_NAMESPACE")
            .map(|v| checked("ARGOCD_APP_NAMESPACE", v, b"-"))
            .transpose()?;
        let kube_version = env
            .get("KUBE_VERSION")
            .map(|v| checked("KUBE_VERSION", v, b".+-"))
            .transpose()?;
        let api_versions = env
            .get("KUBE_API_VERSIONS")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| checked("KUBE_API_VERSIONS entry", v, b"./-"))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            namespace,
            kube_version,
            api_versions,
        })
    }

    fn arguments(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(ns) = &self.namespace {
            args.extend(["--namespace".to_owned(), ns.clone()]);
        }
        if let Some(v) = &self.kube_version {
            args.extend(["--kube-version".to_owned(), v.clone()]);
        }
        for v in &self.api_versions {
            args.extend(["--api-versions".to_owned(), v.clone()]);
        }
        args
    }
}

/// A values file named by `helm-values-files`.
struct ValuesFile {
    /// Path relative to the repo root, after resolving symlinks (also how
    /// messages name it).
    rel: String,
}

/// Resolves a `helm-values-files` entry: relative to the app dir, or to the
/// repo root with a leading `/`; symlinks followed, the result confined to
/// the repository.
fn resolve_values_file(roots: &Roots, param: &str) -> Result<ValuesFile, Failure> {
    let shown = printable(param);
    if param.contains("://") {
        return Err(Failure::param(format!(
            "helm-values-files entry {shown}: remote values files are not supported"
        )));
    }
    let joined = match param.strip_prefix('/') {
        Some(from_root) => roots.repo.join(from_root),
        None => roots.app.join(param),
    };
    let canonical = fs::canonicalize(&joined).map_err(|_| {
        Failure::param(format!(
            "helm-values-files entry {shown} does not exist in the repository"
        ))
    })?;
    let rel = canonical
        .strip_prefix(&roots.repo)
        .map_err(|_| {
            Failure::param(format!(
                "helm-values-files entry {shown} resolves outside the repository"
            ))
        })?
        .to_string_lossy()
        .into_owned();
    if !canonical.is_file() || rel.is_empty() || rel == ".git" || rel.starts_with(".git/") {
        return Err(Failure::param(format!(
            "helm-values-files entry {shown} is not a file of the repository"
        )));
    }
    Ok(ValuesFile { rel })
}

/// A values file, loaded.
enum Source {
    /// Decrypted in memory (only ever sent on stdin).
    Decrypted { doc: Zeroizing<Branch> },
    /// A plain file Helm reads by path, unless it sits between encrypted
    /// files and has to be merged into the stdin document.
    Plain {
        shown: String,
        path: String,
        bytes: Zeroizing<Vec<u8>>,
    },
}

/// How the values files reach Helm.
struct ValuesArguments {
    /// `--values` arguments in merge order.
    args: Vec<String>,
    /// The document read as `--values -`, if any file was encrypted.
    stdin: Option<Zeroizing<Vec<u8>>>,
}

/// The `--values` arguments in merge order, and the stdin document if any
/// file was encrypted.
fn values_arguments(sources: &[Source], limits: &Limits) -> Result<ValuesArguments, Failure> {
    let is_secret = |s: &Source| matches!(s, Source::Decrypted { .. });
    let first = sources.iter().position(is_secret);
    let last = sources.iter().rposition(is_secret);
    let mut args = Vec::new();
    // Holds decrypted values once the first encrypted file is merged in.
    let mut merged = Zeroizing::new(Branch::new());
    let mut stdin = None;
    for (i, source) in sources.iter().enumerate() {
        let in_stdin_run = first.is_some_and(|f| i >= f) && last.is_some_and(|l| i <= l);
        match source {
            Source::Plain { path, .. } if !in_stdin_run => {
                args.extend(["--values".to_owned(), path.clone()]);
            }
            Source::Plain { shown, path, bytes } => {
                merge(&mut merged, parse_values(shown, path, bytes, limits)?);
            }
            Source::Decrypted { doc, .. } => merge(&mut merged, Branch::clone(doc)),
        }
        if last == Some(i) {
            let store = Format::Yaml
                .store()
                .map_err(|e| Failure::generic(format!("cannot emit values: {e}")))?;
            let text = store
                .emit_plain(std::slice::from_ref(&*merged))
                .map_err(|e| Failure::generic(format!("cannot emit the decrypted values: {e}")))?;
            stdin = Some(Zeroizing::new(text));
            args.extend(["--values".to_owned(), "-".to_owned()]);
        }
    }
    Ok(ValuesArguments { args, stdin })
}

/// The first document of a values file (Helm reads only that one).
fn first_doc(docs: Vec<Branch>) -> Branch {
    docs.into_iter().next().unwrap_or_default()
}

fn parse_values(shown: &str, path: &str, bytes: &[u8], limits: &Limits) -> Result<Branch, Failure> {
    let format = match Format::for_path(Path::new(path)) {
        Format::Json => Format::Json,
        _ => Format::Yaml,
    };
    match store_for(format, limits)?.load(bytes) {
        Ok(docs) => Ok(first_doc(docs)),
        Err(StoreError::Empty) => Ok(Branch::new()),
        Err(e) => Err(limit_failure(shown, format, &e, limits)
            .unwrap_or_else(|| Failure::generic(format!("{shown}: malformed values file: {e}")))),
    }
}

/// Helm's merge of values files: nested maps merged key by key, any other
/// value (lists included) replaced by the later one.
/// `over` may be decrypted: what is not kept of it (comments, values it
/// replaces in `base`) is wiped here; the caller wipes `base`.
fn merge(base: &mut Branch, over: Branch) {
    // Where each key of `base` is (its first entry, as a search from the
    // start finds it): a values file may have thousands of top-level keys,
    // and a search per key made merging it quadratic (16% of a 20 MB file's
    // run). Keys are in clear in encrypted files too.
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, item) in base.0.iter().enumerate() {
        if let Item::Entry(k, _) = item {
            index.entry(k.clone()).or_insert(i);
        }
    }
    for item in over.0 {
        let (key, value) = match item {
            Item::Entry(key, value) => (key, value),
            mut comment => {
                comment.zeroize();
                continue;
            }
        };
        let slot = index.get(&key).and_then(|&i| match base.0.get_mut(i) {
            Some(Item::Entry(_, v)) => Some(v),
            _ => None,
        });
        match (slot, value) {
            (Some(Value::Map(b)), Value::Map(o)) => merge(b, o),
            (Some(slot), value) => std::mem::replace(slot, value).zeroize(),
            (None, value) => {
                index.insert(key.clone(), base.0.len());
                base.push(key, value);
            }
        }
    }
}

/// One `--set` argument: the key checked, commas in the value escaped so
/// Helm does not split it (a `{a,b}` list is passed as a list), as Argo CD
/// does.
fn set_argument(key: &str, value: &str) -> Result<String, Failure> {
    if key.is_empty() || key.contains('=') || key.chars().any(char::is_control) {
        return Err(Failure::param(format!(
            "helm-parameters key {} is not a valid Helm value path",
            printable(key)
        )));
    }
    if value.starts_with('{') && value.ends_with('}') {
        return Ok(format!("{key}={value}"));
    }
    let mut escaped = String::with_capacity(value.len() + 4);
    let mut backslash = false;
    for c in value.chars() {
        if c == ',' && !backslash {
            escaped.push('\\');
        }
        backslash = c == '\\' && !backslash;
        escaped.push(c);
    }
    Ok(format!("{key}={escaped}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Branch {
        Format::Yaml
            .store()
            .unwrap()
            .load(text.as_bytes())
            .unwrap()
            .remove(0)
    }

    #[test]
    fn merge_follows_helm() {
        let mut base = yaml("a:\n  x: 1\n  y: [1, 2]\nb: keep\nc:\n  d: 1\n");
        merge(
            &mut base,
            yaml("a:\n  y: [3]\n  z: new\nc: scalar\ne: added\n"),
        );
        assert_eq!(
            base,
            yaml("a:\n  x: 1\n  y: [3]\n  z: new\nb: keep\nc: scalar\ne: added\n")
        );
    }

    #[test]
    fn stdin_takes_the_place_of_the_encrypted_run() {
        let plain = |name: &str, text: &str| Source::Plain {
            shown: name.to_owned(),
            path: format!("/copy/{name}"),
            bytes: Zeroizing::new(text.as_bytes().to_vec()),
        };
        let secret = |text: &str| Source::Decrypted {
            doc: Zeroizing::new(yaml(text)),
        };
        let sources = vec![
            plain("a.yaml", "n: 1\n"),
            secret("n: 2\npw: one\n"),
            plain("b.yaml", "n: 3\npw: plain\n"),
            secret("pw: two\n"),
            plain("c.yaml", "n: 5\n"),
        ];
        let ValuesArguments { args, stdin } =
            values_arguments(&sources, &Limits::default()).unwrap();
        assert_eq!(
            args,
            [
                "--values",
                "/copy/a.yaml",
                "--values",
                "-",
                "--values",
                "/copy/c.yaml"
            ]
        );
        assert_eq!(
            yaml(std::str::from_utf8(&stdin.unwrap()).unwrap()),
            yaml("n: 3\npw: two\n")
        );
        let ValuesArguments { args, stdin } =
            values_arguments(&[plain("a.yaml", "")], &Limits::default()).unwrap();
        assert_eq!(args, ["--values", "/copy/a.yaml"]);
        assert!(stdin.is_none());
    }

    #[test]
    fn set_values_are_escaped() {
        assert_eq!(set_argument("a.b", "x,y").unwrap(), "a.b=x\\,y");
        assert_eq!(set_argument("a", "x\\,y").unwrap(), "a=x\\,y");
        assert_eq!(set_argument("l", "{1,2}").unwrap(), "l={1,2}");
        assert!(set_argument("a=b", "x").is_err());
        assert!(set_argument("", "x").is_err());
    }

    #[test]
    fn release_names_follow_helm() {
        let env = Env::from_pairs(&[("ARGOCD_APP_NAME", "guestbook")]);
        let mut p = HelmParams::default();
        assert_eq!(release_name(&env, &p).unwrap(), "guestbook");
        for bad in ["Upper", "a_b", "-a", "a-", &"x".repeat(54)] {
            p.release_name = Some(bad.to_owned());
            assert!(release_name(&env, &p).is_err(), "{bad}");
        }
        p.release_name = Some("my-app.v2".to_owned());
        assert_eq!(release_name(&env, &p).unwrap(), "my-app.v2");
    }
}
