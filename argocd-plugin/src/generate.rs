//! `generate`: the manifest stream of one app.
//!
//! Directory apps: every `*.yaml`, `*.yml` and `*.json` of the app dir
//! (optionally recursive, with include/exclude globs), in path order then
//! document order. Files with sops metadata are decrypted in memory with the
//! MAC verified, so directory mode writes no plaintext to disk at all (a
//! SIGTERM from the cmp-server leaves nothing behind, and nothing has
//! reached stdout yet). Kustomize and Helm apps go through a private
//! scratch copy (see `decrypted_copy.rs`, `kustomize.rs`, `helm.rs`).

use std::path::Path;
use std::time::Instant;

use sops_core::Branch;
use sops_core::keys::KeyContext;
use sops_core::parallel;
use zeroize::Zeroizing;

use crate::error::Failure;
use crate::key_policy::KeyPolicy;
use crate::keys::Keys;
use crate::params::{Mode, Params};
use crate::settings::{Env, Settings};
use crate::walk::{self, Roots, Select};
use crate::{glob, helm, kustomize, manifest, namespace};

/// Produces the whole output, or fails without producing any.
pub fn run(
    env: &Env,
    cwd: &Path,
    deadline: Instant,
    op: &Settings,
    policy: Option<&KeyPolicy>,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let params = Params::from_env(env)?;
    let mut keys = Keys::new(env, op, policy);
    let roots = Roots::derive(cwd, env.get("ARGOCD_APP_SOURCE_PATH"))?;
    let mode = match params.mode {
        Mode::Auto => detect(&roots.app),
        m => m,
    };
    match mode {
        Mode::Directory | Mode::Auto => directory(env, &roots, &params, op, &mut keys, deadline),
        Mode::Kustomize => kustomize::run(env, &roots, &params, op, &mut keys, deadline),
        Mode::Helm => helm::run(env, &roots, &params, op, &mut keys, deadline),
    }
}

/// Argo CD's order: a kustomization wins over a chart, else plain files.
fn detect(app: &Path) -> Mode {
    let kustomization = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|n| app.join(n).is_file());
    let chart = app.join("Chart.yaml").is_file();
    if kustomization && chart {
        eprintln!(
            "argocd-sops-plugin: note: both a kustomization and Chart.yaml; rendering with \
             kustomize as Argo CD would (set mode=helm for the chart)"
        );
    }
    if kustomization {
        Mode::Kustomize
    } else if chart {
        Mode::Helm
    } else {
        Mode::Directory
    }
}

fn directory(
    env: &Env,
    roots: &Roots,
    params: &Params,
    op: &Settings,
    keys: &mut Keys<'_>,
    deadline: Instant,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    for (name, pattern) in [
        ("directory-include", &params.include),
        ("directory-exclude", &params.exclude),
    ] {
        if let Some(p) = pattern {
            glob::validate(p).map_err(|why| Failure::param(format!("parameter {name} {why}")))?;
        }
    }
    let wanted = |rel: &str| {
        (rel.ends_with(".yaml") || rel.ends_with(".yml") || rel.ends_with(".json"))
            && params
                .include
                .as_deref()
                .is_none_or(|p| glob::matches(p, rel))
            && !params
                .exclude
                .as_deref()
                .is_some_and(|p| glob::matches(p, rel))
    };
    let sel = Select {
        recurse: params.recurse,
        wanted: &wanted,
        skip_hidden: true,
        max_matches: None,
        escape_is_error: true,
    };
    let limits = &op.limits;
    let entries = walk::collect(roots, &sel, limits, deadline)?;

    // Read in walk order under the byte budget; a file that cannot be read
    // is reported once every file before it has been checked.
    let mut files: Vec<Zeroizing<Vec<u8>>> = Vec::with_capacity(entries.len());
    let mut unread = None;
    let mut total = 0u64;
    for entry in &entries {
        let read = walk::check_deadline(deadline, limits, &format!("reading {}", entry.shown))
            .and_then(|()| walk::read_bounded(entry, limits, &mut total));
        match read {
            Ok(bytes) => files.push(Zeroizing::new(bytes)),
            Err(f) => {
                unread = Some(f);
                break;
            }
        }
    }
    // Keys are resolved only if some file needs them, so a plain app of a
    // project without keys still renders; from the first file that looks
    // encrypted on, every file gets the key context (or its failure).
    let first_encrypted = files.iter().position(|b| looks_encrypted(b));
    let empty = KeyContext::builder().build();
    let key_ctx = first_encrypted.map(|_| keys.get());
    // Files are decrypted concurrently (their keystore calls overlap); the
    // results come back in walk order, and the first failure in walk order
    // is the one reported, as in a sequential run.
    let load = |i: usize| -> Result<manifest::Loaded, Failure> {
        let entry = &entries[i];
        walk::check_deadline(deadline, limits, &format!("reading {}", entry.shown))?;
        let ctx = match (&key_ctx, first_encrypted) {
            (Some(got), Some(first)) if i >= first => got.as_ref().map_err(|f| f.clone())?,
            _ => &empty,
        };
        let loaded = manifest::load(&entry.shown, Path::new(&entry.rel), &files[i], ctx, limits)?;
        if loaded.decrypted {
            let mac_only = loaded.mac_only_encrypted;
            namespace::check_namespace_binding(&entry.shown, &loaded.docs, mac_only, op, env)?;
        }
        for doc in loaded.docs.iter() {
            manifest::check(doc, &entry.shown)?;
        }
        Ok(loaded)
    };
    let results = parallel::map_ordered(files.len(), limits.key_concurrency, load, Result::is_err);
    drop(files);
    // Decrypted documents, wiped when dropped (after the output is emitted).
    let mut docs: Zeroizing<Vec<Branch>> = Zeroizing::new(Vec::new());
    let mut decrypted_files = 0usize;
    for result in results {
        let mut loaded = result?;
        decrypted_files += usize::from(loaded.decrypted);
        // Moved from one wiping holder into the other.
        docs.append(&mut loaded.docs);
    }
    if let Some(f) = unread {
        return Err(f);
    }
    if op.debug {
        eprintln!(
            "argocd-sops-plugin: debug: {} files, {} decrypted, {} documents",
            entries.len(),
            decrypted_files,
            docs.len()
        );
    }
    walk::check_deadline(deadline, limits, "emitting the manifests")?;
    manifest::finish_output(
        &docs,
        params.allow_empty,
        "directory mode",
        env.get("ARGOCD_APP_SOURCE_PATH"),
    )
}

/// Cheap test for a top-level `sops` key, so the key context is only built
/// when a file may need it (the parser decides for real).
fn looks_encrypted(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w == b"sops")
}
