//! The decrypted scratch copy that kustomize and helm render from.
//!
//! The whole repository root is copied because overlays reach their bases
//! and charts their values through `../`. Every file with sops metadata is
//! decrypted as a whole file with the MAC verified and written back 0600
//! ([`Scratch`]); the renderer then sees plain manifests, `secretGenerator`
//! sources, patches and chart files.
//!
//! Files of *other* apps in the same repository may be encrypted for keys
//! this project does not hold. A file outside the app dir that has no
//! usable key (or, with namespace binding, that is bound to another
//! namespace) is therefore copied still encrypted instead of failing the
//! app; if the render does use it, the output checks find the sops data
//! (leftover `sops` keys, `ENC[` values, or sops markers inside Secret data)
//! and the app fails closed. Inside the app dir every failure is fatal.

use std::path::Path;
use std::time::Instant;

use sops_core::Branch;
use sops_core::cipher::contains_encrypted_value;
use sops_core::ops::{self, DecryptOptions};
use sops_core::stores::{Format, looks_like_sops_file};
use zeroize::Zeroizing;

use crate::error::{EXIT_NO_KEY, Failure};
use crate::keys::Keys;
use crate::namespace;
use crate::render::Redactor;
use crate::scratch::Scratch;
use crate::settings::{Env, Settings};
use crate::stores::{limit_failure, store_for};
use crate::walk::{Entry, Roots};

/// A scratch copy with every usable sops file decrypted.
pub struct DecryptedCopy {
    pub scratch: Scratch,
    /// Every decrypted string, for filtering the renderer's stderr.
    pub redactor: Redactor,
    pub decrypted: usize,
    /// Encrypted files outside the app dir left as they are (no key).
    pub deferred: usize,
}

/// Copies the repository root into a fresh scratch dir, decrypting sops
/// files on the way. Files for which `keep_as_is` returns true (helm values
/// files, decrypted in memory instead) are copied unchanged.
pub fn build(
    roots: &Roots,
    keys: &mut Keys<'_>,
    env: &Env,
    op: &Settings,
    tmp: &Path,
    deadline: Instant,
    keep_as_is: &dyn Fn(&str) -> bool,
) -> Result<DecryptedCopy, Failure> {
    let mut scratch = Scratch::create(tmp)?;
    let mut redactor = Redactor::default();
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
        if keep_as_is(&entry.rel) {
            return Ok((bytes, false));
        }
        match decrypt_file(entry, &bytes, keys, env, op) {
            Ok(Some(plain)) => {
                redactor.add_docs(&plain.docs);
                if let Some(raw) = &plain.raw {
                    redactor.add_bytes(raw);
                }
                decrypted += 1;
                Ok((plain.bytes, true))
            }
            Ok(None) => Ok((bytes, false)),
            Err((_, true)) if !in_app(&entry.rel) => {
                deferred += 1;
                Ok((bytes, false))
            }
            Err((f, _)) => Err(f),
        }
    })?;
    Ok(DecryptedCopy {
        scratch,
        redactor,
        decrypted,
        deferred,
    })
}

/// One decrypted file; every part is wiped when dropped, and there is no
/// `Debug`.
pub struct Plain {
    /// The decrypted documents.
    pub docs: Zeroizing<Vec<Branch>>,
    /// The file re-emitted in its own format.
    pub bytes: Zeroizing<Vec<u8>>,
    /// For formats whose values are not tree strings (dotenv, INI, binary):
    /// the emitted bytes again, so the redactor can search them.
    pub raw: Option<Zeroizing<Vec<u8>>>,
}

/// Decrypts one file when it is a sops file: `Some(plain)`, or `None` when
/// it is not one. The error's flag says "not for this app" (no usable key,
/// or bound to another namespace): such a file outside the app dir is left
/// encrypted.
pub fn decrypt_file(
    entry: &Entry,
    bytes: &[u8],
    keys: &mut Keys<'_>,
    env: &Env,
    op: &Settings,
) -> Result<Option<Plain>, (Failure, bool)> {
    let fatal = |f: Failure| (f, false);
    let format = Format::for_path(Path::new(&entry.rel));
    let textual = !matches!(format, Format::Binary);
    if !looks_like_sops_file(bytes) {
        if textual && contains_encrypted_value(bytes) {
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
    let limits = &op.limits;
    let store = store_for(format, limits).map_err(fatal)?;
    let (docs, metadata) = match store.load_encrypted(bytes) {
        Ok(loaded) => loaded,
        // A non-sops file that merely mentions a marker (docs, binaries).
        Err(_) if !textual => return Ok(None),
        Err(e) => {
            if let Some(f) = limit_failure(&entry.shown, format, &e, limits) {
                return Err(fatal(f));
            }
            return Err(fatal(Failure::generic(format!(
                "{}: invalid sops file: {e}",
                entry.shown
            ))));
        }
    };
    // A project without keys has no usable key for this file.
    let ctx = keys.get().map_err(|f| (f, true))?;
    let mac_only = metadata.mac_only_encrypted;
    let plain =
        ops::decrypt_loaded(docs, metadata, ctx, &DecryptOptions::default()).map_err(|e| {
            let f = Failure::decrypt(&entry.shown, &e);
            let no_key = f.code == EXIT_NO_KEY;
            (f, no_key)
        })?;
    // Namespace binding; like a missing key, a file bound elsewhere may be
    // another app's and is only fatal inside the app dir. Only YAML/JSON
    // documents can be Kubernetes objects.
    let objects: &[Branch] = if matches!(format, Format::Yaml | Format::Json) {
        &plain.docs
    } else {
        &[]
    };
    namespace::check_namespace_binding(&entry.shown, objects, mac_only, op, env)
        .map_err(|f| (f, true))?;
    let bytes = Zeroizing::new(
        store
            .emit(&plain.docs, None)
            .map_err(|e| fatal(Failure::generic(format!("{}: {e}", entry.shown))))?,
    );
    let raw =
        matches!(format, Format::Dotenv | Format::Ini | Format::Binary).then(|| bytes.clone());
    Ok(Some(Plain {
        docs: plain.into_docs(),
        bytes,
        raw,
    }))
}
