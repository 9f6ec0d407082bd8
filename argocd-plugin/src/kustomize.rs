//! Kustomize apps: decrypt in a private copy of the repository, then run
//! `kustomize build` (or `kubectl kustomize`) on it.
//!
//! The whole repository root is copied because overlays reach their bases
//! through `../`. Every file with sops metadata is decrypted as a whole file
//! with the MAC verified and written back 0600 ([`Scratch`]); kustomize then
//! sees plain manifests, `secretGenerator` sources and patches.
//!
//! Files of *other* apps in the same repository may be encrypted for keys
//! this project does not hold. A file outside the app dir that has no
//! usable key is therefore copied still encrypted instead of failing the
//! app; if the kustomization does use it, the output checks find the sops
//! data (leftover `sops` keys, `ENC[` values, or sops markers inside Secret
//! data) and the app fails closed. Inside the app dir every failure is fatal.

use std::path::Path;
use std::time::Instant;

use sops_core::keys::KeyContext;
use sops_core::ops::{self, DecryptOptions};
use sops_core::stores::{Format, StoreError};
use zeroize::Zeroizing;

use crate::discover::has_marker;
use crate::env::{self, Env, Operator, Params};
use crate::error::{EXIT_NO_KEY, Failure};
use crate::manifest;
use crate::render::{self, Job, Redactor};
use crate::scratch::Scratch;
use crate::walk::{Entry, Roots};

/// What `SOPS_CMP_KUSTOMIZE_BIN` or `PATH` gives when nothing is set.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

pub fn run(
    env: &Env,
    roots: &Roots,
    params: &Params,
    op: &Operator,
    deadline: Instant,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let started = Instant::now();
    let (name, bin) = renderer(env)?;
    let tmp = env.get("TMPDIR").unwrap_or("/tmp");
    let mut scratch = Scratch::create(Path::new(tmp))?;
    let mut redactor = Redactor::default();
    let mut ctx: Option<Result<KeyContext, Failure>> = None;
    let (mut decrypted, mut deferred) = (0usize, 0usize);
    let app_rel = roots.app.strip_prefix(&roots.repo).unwrap_or(Path::new(""));
    let app_prefix = app_rel.to_string_lossy().into_owned();
    let in_app = |rel: &str| {
        app_prefix.is_empty()
            || rel
                .strip_prefix(app_prefix.as_str())
                .is_some_and(|r| r.starts_with('/'))
    };
    scratch.copy_repo(roots, &op.limits, deadline, &mut |entry, bytes| {
        let bytes = Zeroizing::new(bytes);
        match prepare(entry, &bytes, env, op, &mut ctx, &mut redactor) {
            Ok(Some(plain)) => {
                decrypted += 1;
                Ok((plain.to_vec(), true))
            }
            Ok(None) => Ok((bytes.to_vec(), false)),
            Err((_, true)) if !in_app(&entry.rel) => {
                deferred += 1;
                Ok((bytes.to_vec(), false))
            }
            Err((f, _)) => Err(f),
        }
    })?;
    let copied = started.elapsed();

    let app = scratch.repo.join(app_rel);
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
        ("HOME".to_owned(), scratch.home()?.display().to_string()),
    ];
    let job = Job {
        name: &name,
        argv: &argv,
        cwd: &app,
        env: &child_env,
        stdin: None,
    };
    let out = render::run(&job, &redactor, &op.limits, deadline)?;
    // The plaintext copy is no longer needed.
    drop(scratch);
    if op.debug {
        eprintln!(
            "argocd-sops-plugin: debug: kustomize mode: {decrypted} files decrypted, \
             {deferred} left encrypted (no key, outside the app), copy {} ms, total {} ms",
            copied.as_millis(),
            started.elapsed().as_millis()
        );
    }
    finish(&out.stdout, &name, env, params)
}

/// Parses, checks and re-emits a renderer's output stream.
pub fn finish(
    stdout: &[u8],
    name: &str,
    env: &Env,
    params: &Params,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let store = Format::Yaml
        .store()
        .map_err(|e| Failure::generic(format!("cannot parse YAML: {e}")))?;
    let shown = format!("{name} output");
    let mut docs = match store.load(stdout) {
        Ok(d) => d,
        Err(StoreError::Empty) => Vec::new(),
        Err(e) => return Err(Failure::generic(format!("{shown}: malformed YAML: {e}"))),
    };
    docs.retain(|d| d.entries().next().is_some());
    for doc in &docs {
        manifest::check(doc, &shown)?;
    }
    manifest::finish_output(
        &docs,
        params.allow_empty,
        name,
        env.get("ARGOCD_APP_SOURCE_PATH"),
    )
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

/// Decrypts one file of the copy when it is a sops file: `Some(plaintext)`,
/// or `None` to copy it as it is. The error's flag says "no usable key".
fn prepare(
    entry: &Entry,
    bytes: &[u8],
    env: &Env,
    op: &Operator,
    ctx: &mut Option<Result<KeyContext, Failure>>,
    redactor: &mut Redactor,
) -> Result<Option<Zeroizing<Vec<u8>>>, (Failure, bool)> {
    let fatal = |f: Failure| (f, false);
    let format = Format::for_path(Path::new(&entry.rel));
    let textual = !matches!(format, Format::Binary);
    if !has_marker(bytes) {
        if textual && contains(bytes, b"ENC[AES256_GCM,") {
            return Err(fatal(
                Failure::generic(format!(
                    "{}: found ENC[...] values but no sops metadata",
                    entry.shown
                ))
                .with_hint(
                    "the sops block was removed or the file was hand-edited; re-encrypt it with sops",
                ),
            ));
        }
        return Ok(None);
    }
    let store = format
        .store()
        .map_err(|e| fatal(Failure::generic(format!("{}: {e}", entry.shown))))?;
    let (docs, metadata) = match store.load_encrypted(bytes) {
        Ok(loaded) => loaded,
        // A non-sops file that merely mentions a marker (docs, binaries).
        Err(_) if !textual => return Ok(None),
        Err(e) => {
            return Err(fatal(Failure::generic(format!(
                "{}: invalid sops file: {e}",
                entry.shown
            ))));
        }
    };
    let ctx = ctx
        .get_or_insert_with(|| env::key_context(env, op))
        .as_ref()
        // A project without keys has no usable key for this file.
        .map_err(|f| (f.clone(), true))?;
    let plain =
        ops::decrypt_loaded(docs, metadata, ctx, &DecryptOptions::default()).map_err(|e| {
            let f = Failure::decrypt(&entry.shown, &e);
            let no_key = f.code == EXIT_NO_KEY;
            (f, no_key)
        })?;
    redactor.add_docs(&plain.docs);
    let out = Zeroizing::new(
        store
            .emit(&plain.docs, None)
            .map_err(|e| fatal(Failure::generic(format!("{}: {e}", entry.shown))))?,
    );
    if matches!(format, Format::Dotenv | Format::Ini | Format::Binary) {
        redactor.add_bytes(&out);
    }
    Ok(Some(out))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
