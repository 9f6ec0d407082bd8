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

    // Keys are resolved only if some file needs them, so a plain app of a
    // project without keys still renders.
    let mut needs_keys = false;
    let empty = KeyContext::builder().build();
    let mut total = 0u64;
    // Decrypted documents, wiped when dropped (after the output is emitted).
    let mut docs: Zeroizing<Vec<Branch>> = Zeroizing::new(Vec::new());
    let mut decrypted_files = 0usize;
    for entry in &entries {
        walk::check_deadline(deadline, limits, &format!("reading {}", entry.shown))?;
        let bytes = Zeroizing::new(walk::read_bounded(entry, limits, &mut total)?);
        needs_keys = needs_keys || looks_encrypted(&bytes);
        let ctx = if needs_keys { keys.get()? } else { &empty };
        let mut loaded = manifest::load(&entry.shown, Path::new(&entry.rel), &bytes, ctx, limits)?;
        if loaded.decrypted {
            decrypted_files += 1;
            let mac_only = loaded.mac_only_encrypted;
            namespace::check_namespace_binding(&entry.shown, &loaded.docs, mac_only, op, env)?;
        }
        for doc in loaded.docs.iter() {
            manifest::check(doc, &entry.shown)?;
        }
        // Moved from one wiping holder into the other.
        docs.append(&mut loaded.docs);
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
