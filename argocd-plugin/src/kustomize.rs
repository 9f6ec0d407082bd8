//! Kustomize apps: decrypt in a private copy of the repository
//! ([`decrypted_copy`]), then run `kustomize build` (or `kubectl kustomize`)
//! on it.

use std::path::Path;
use std::time::Instant;

use zeroize::Zeroizing;

use crate::decrypted_copy::{self, RenderedCopy};
use crate::error::Failure;
use crate::keys::Keys;
use crate::params::Params;
use crate::render::{self, Job};
use crate::scratch;
use crate::settings::{Env, Settings};
use crate::walk::Roots;

/// What `SOPS_CMP_KUSTOMIZE_BIN` or `PATH` gives when nothing is set.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

pub fn run(
    env: &Env,
    roots: &Roots,
    params: &Params,
    op: &Settings,
    keys: &mut Keys<'_>,
    deadline: Instant,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let started = Instant::now();
    let (name, bin) = renderer(env)?;
    let tmp = scratch::parent(env);
    let copy = decrypted_copy::build(roots, keys, env, op, &tmp, deadline, &|_| false)?;
    let app_rel = roots.app.strip_prefix(&roots.repo).unwrap_or(Path::new(""));
    let copied = started.elapsed();

    let app = copy.scratch.repo.join(app_rel);
    let app_arg = app.display().to_string();
    let argv: Vec<String> = if name == "kubectl kustomize" {
        vec![bin, "kustomize".into(), app_arg]
    } else {
        vec![bin, "build".into(), app_arg]
    };
    let mut argv = argv;
    // Never --enable-exec, --enable-alpha-plugins or --enable-helm.
    argv.extend([
        "--load-restrictor".into(),
        "LoadRestrictionsRootOnly".into(),
    ]);
    let child_env = vec![
        (
            "PATH".to_owned(),
            env.get("PATH").unwrap_or(DEFAULT_PATH).to_owned(),
        ),
        (
            "HOME".to_owned(),
            copy.scratch.home()?.display().to_string(),
        ),
    ];
    let job = Job {
        name: &name,
        argv: &argv,
        cwd: &app,
        env: &child_env,
        stdin: None,
    };
    // The plaintext copy is gone before the output checks.
    let RenderedCopy {
        out,
        decrypted,
        deferred,
    } = copy.render(&job, &op.limits, deadline)?;
    if op.debug {
        eprintln!(
            "argocd-sops-plugin: debug: kustomize mode: {decrypted} files decrypted, \
             {} left encrypted, copy {} ms, total {} ms",
            deferred.len(),
            copied.as_millis(),
            started.elapsed().as_millis()
        );
        for line in deferred.summary() {
            eprintln!("argocd-sops-plugin: debug: left encrypted: {line}");
        }
    }
    render::finish(&out.stdout, &name, env, params, &op.limits, &|found| {
        deferred.source_of(found)
    })
}

/// The renderer: `SOPS_CMP_KUSTOMIZE_BIN` (sidecar env), else `kustomize`,
/// else `kubectl` (which embeds kustomize) from the sidecar's `PATH`.
fn renderer(env: &Env) -> Result<(String, String), Failure> {
    let path = env.get("PATH").unwrap_or(DEFAULT_PATH);
    let bin = match env.get("SOPS_CMP_KUSTOMIZE_BIN") {
        Some(b) => Path::new(b).to_path_buf(),
        None => render::which(path, "kustomize")
            .or_else(|| render::which(path, "kubectl"))
            .ok_or_else(|| {
                Failure::config("neither kustomize nor kubectl is installed in the sidecar".into())
                    .with_hint(
                        "put kustomize or kubectl on the sidecar's PATH, or set SOPS_CMP_KUSTOMIZE_BIN",
                    )
            })?,
    };
    let is_kubectl = bin
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("kubectl"));
    let name = if is_kubectl {
        "kubectl kustomize"
    } else {
        "kustomize build"
    };
    Ok((name.to_owned(), bin.display().to_string()))
}
