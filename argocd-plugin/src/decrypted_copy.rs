//! The decrypted scratch copy that kustomize and helm render from.
//!
//! The whole repository root is copied because overlays reach their bases
//! and charts their values through `../`. Every file with sops metadata is
//! decrypted as a whole file with the MAC verified and written back 0600
//! ([`Scratch`]); the renderer then sees plain manifests, `secretGenerator`
//! sources, patches and chart files.
//!
//! Which files a render reads is only known to the renderer, and a
//! repository holds files of other apps and teams: encrypted for keys this
//! project does not hold, bound to another namespace, or simply broken (a
//! hand edit, a MAC mismatch). So a sops file that fails to decrypt, for
//! whatever reason and wherever it is, is not an error by itself: it is
//! copied still encrypted and its failure is remembered ([`Deferred`]),
//! together with the `ENC[…]` strings it holds (ciphertext, nothing
//! secret). If the render uses it, its sops data reaches the output, where
//! the output checks find it (as a `sops` block, `ENC[…]` values, inside
//! string values, inside base64); the app then fails with *that file's*
//! error, recognised by its `ENC[…]` strings. A failed file is never
//! written in plaintext.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use sops_core::Branch;
use sops_core::cipher::contains_encrypted_value;
use sops_core::keys::KeyContext;
use sops_core::ops::{self, DecryptOptions};
use sops_core::stores::{Format, looks_like_sops_file};
use zeroize::Zeroizing;

use crate::error::Failure;
use crate::keys::Keys;
use crate::manifest::{SopsData, enc_tokens};
use crate::namespace;
use crate::render::{self, Job, Redactor, Rendered};
use crate::scratch::Scratch;
use crate::settings::{Env, Limits, Settings};
use crate::stores::{limit_failure, store_for};
use crate::walk::{self, Entry, Roots};
use sops_core::parallel;

/// A scratch copy with every usable sops file decrypted.
pub struct DecryptedCopy {
    pub scratch: Scratch,
    /// Every decrypted string, for filtering the renderer's stderr.
    pub redactor: Redactor,
    pub decrypted: usize,
    /// Sops files left encrypted because they failed to decrypt.
    pub deferred: Deferred,
}

/// What rendering a copy leaves once its plaintext is gone.
pub struct RenderedCopy {
    pub out: Rendered,
    /// How many files were decrypted in the copy.
    pub decrypted: usize,
    pub deferred: Deferred,
}

impl DecryptedCopy {
    /// Runs the renderer on the copy, then removes the plaintext copy at
    /// once, before the output is checked; a renderer failure names the
    /// files that were left encrypted.
    pub fn render(
        self,
        job: &Job<'_>,
        limits: &Limits,
        deadline: Instant,
    ) -> Result<RenderedCopy, Failure> {
        let out = render::run(job, &self.redactor, limits, deadline);
        let DecryptedCopy {
            scratch,
            decrypted,
            deferred,
            ..
        } = self;
        drop(scratch);
        let out = out.map_err(|f| deferred.explain(f))?;
        Ok(RenderedCopy {
            out,
            decrypted,
            deferred,
        })
    }
}

/// The sops files of a copy that failed to decrypt and were left
/// encrypted, with their failures.
#[derive(Default)]
pub struct Deferred {
    files: Vec<(Failure, HashSet<Vec<u8>>)>,
}

impl Deferred {
    /// Remembers the failure of a file whose (encrypted) bytes are `bytes`.
    pub fn push(&mut self, failure: Failure, bytes: &[u8]) {
        let tokens = enc_tokens(bytes).map(<[u8]>::to_vec).collect();
        self.files.push((failure, tokens));
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// The failure of the first deferred file (in copy order) one of whose
    /// `ENC[…]` strings is among `found`: the file a leftover in the output
    /// comes from.
    pub fn source_of(&self, found: &SopsData) -> Option<Failure> {
        self.files
            .iter()
            .find(|(_, tokens)| found.tokens.iter().any(|t| tokens.contains(t)))
            .map(|(f, _)| f.clone())
    }

    /// Adds the deferred files to a renderer's failure as a hint: a
    /// renderer may fail on a file it could not read because it stayed
    /// encrypted.
    pub fn explain(&self, mut failure: Failure) -> Failure {
        if self.files.is_empty() || failure.hint.is_some() {
            return failure;
        }
        let mut hint = format!(
            "{} sops file(s) could not be decrypted and were left encrypted:",
            self.files.len()
        );
        for (f, _) in self.files.iter().take(3) {
            let first = f.message.lines().next().unwrap_or("");
            hint.push_str(&format!("\n  {first}"));
        }
        if self.files.len() > 3 {
            hint.push_str("\n  …");
        }
        failure.hint = Some(hint);
        failure
    }

    /// The first line of each failure, for debug output.
    pub fn summary(&self) -> impl Iterator<Item = &str> {
        self.files
            .iter()
            .map(|(f, _)| f.message.lines().next().unwrap_or(""))
    }
}

/// Copies the repository root into a fresh scratch dir, decrypting sops
/// files on the way. Files for which `keep_as_is` returns true (helm values
/// files, decrypted in memory instead) are copied unchanged.
///
/// Other files are copied as they are met; sops files are kept aside and
/// decrypted once the walk is done, concurrently (at most
/// `SOPS_CMP_KEY_CONCURRENCY` at a time, so that their keystore calls
/// overlap), then written and recorded in copy order.
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
    let mut sops_files: Vec<(Entry, Zeroizing<Vec<u8>>)> = Vec::new();
    scratch.copy_repo(roots, &op.limits, deadline, &mut |entry, bytes| {
        if keep_as_is(&entry.rel) || !may_be_sops(entry, &bytes) {
            return Ok(Some((bytes, false)));
        }
        sops_files.push((entry.clone(), bytes));
        Ok(None)
    })?;
    let key_ctx = (!sops_files.is_empty()).then(|| keys.get());
    let limits = &op.limits;
    let decrypt = |i: usize| -> Option<Result<Option<Plain>, Failure>> {
        // Past the deadline nothing more is started; the check below fails.
        if Instant::now() >= deadline {
            return None;
        }
        let (entry, bytes) = &sops_files[i];
        let ctx = key_ctx.as_ref()?.as_ref().copied();
        Some(decrypt_with(entry, bytes, ctx, env, op))
    };
    let results = parallel::map_ordered(
        sops_files.len(),
        limits.key_concurrency,
        decrypt,
        Option::is_none,
    );
    walk::check_deadline(deadline, limits, "decrypting the repository")?;
    let mut redactor = Redactor::default();
    let mut decrypted = 0usize;
    let mut deferred = Deferred::default();
    for ((entry, bytes), result) in sops_files.iter().zip(results) {
        match result {
            Some(Ok(Some(plain))) => {
                redactor.add_docs(&plain.docs);
                if let Some(raw) = &plain.raw {
                    redactor.add_bytes(raw);
                }
                decrypted += 1;
                scratch.write(&entry.rel, &plain.bytes, true)?;
            }
            Some(Ok(None)) | None => scratch.write(&entry.rel, bytes, false)?,
            Some(Err(f)) => {
                deferred.push(f, bytes);
                scratch.write(&entry.rel, bytes, false)?;
            }
        }
    }
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

/// The cheap test [`decrypt_file`] starts with: false means the file is
/// certainly not a sops file.
fn may_be_sops(entry: &Entry, bytes: &[u8]) -> bool {
    let textual = !matches!(Format::for_path(Path::new(&entry.rel)), Format::Binary);
    looks_like_sops_file(bytes) || (textual && contains_encrypted_value(bytes))
}

/// Decrypts one file when it is a sops file: `Some(plain)`, or `None` when
/// it is not one.
pub fn decrypt_file(
    entry: &Entry,
    bytes: &[u8],
    keys: &mut Keys<'_>,
    env: &Env,
    op: &Settings,
) -> Result<Option<Plain>, Failure> {
    if !may_be_sops(entry, bytes) {
        return Ok(None);
    }
    let ctx = keys.get();
    decrypt_with(entry, bytes, ctx.as_ref().copied(), env, op)
}

/// [`decrypt_file`] with the key context already looked up. The lookup's
/// failure is this file's failure only if the file is a sops file.
fn decrypt_with(
    entry: &Entry,
    bytes: &[u8],
    ctx: Result<&KeyContext, &Failure>,
    env: &Env,
    op: &Settings,
) -> Result<Option<Plain>, Failure> {
    let format = Format::for_path(Path::new(&entry.rel));
    let textual = !matches!(format, Format::Binary);
    // ENC[…] values without a MAC line the pre-check knows: the MAC may
    // still be there in a form sops reads (an escaped key, a tag, a block
    // scalar), so the store decides before the file is refused.
    let sniffed = looks_like_sops_file(bytes);
    let values_only = !sniffed && textual && contains_encrypted_value(bytes);
    if !sniffed && !values_only {
        return Ok(None);
    }
    let limits = &op.limits;
    let store = store_for(format, limits)?;
    let (docs, metadata) = match store.load_encrypted(bytes) {
        Ok(loaded) => loaded,
        Err(_) if values_only => {
            return Err(Failure::generic(format!(
                "{}: found ENC[...] values but no sops metadata",
                entry.shown
            ))
            .with_hint(
                "the sops block was removed or the file was hand-edited; re-encrypt it with sops",
            ));
        }
        // A non-sops file that merely mentions a marker (docs, binaries).
        Err(_) if !textual => return Ok(None),
        Err(e) => {
            if let Some(f) = limit_failure(&entry.shown, format, &e, limits) {
                return Err(f);
            }
            return Err(Failure::generic(format!(
                "{}: invalid sops file: {e}",
                entry.shown
            )));
        }
    };
    // A project without keys has no usable key for this file.
    let ctx = ctx.map_err(Failure::clone)?;
    let mac_only = metadata.mac_only_encrypted;
    let plain = ops::decrypt_loaded(docs, metadata, ctx, &DecryptOptions::default())
        .map_err(|e| Failure::decrypt(&entry.shown, &e))?;
    // Namespace binding. Only YAML/JSON documents can be Kubernetes objects.
    let objects: &[Branch] = if matches!(format, Format::Yaml | Format::Json) {
        &plain.docs
    } else {
        &[]
    };
    namespace::check_namespace_binding(&entry.shown, objects, mac_only, op, env)?;
    let bytes = Zeroizing::new(
        store
            .emit_plain(&plain.docs)
            .map_err(|e| Failure::generic(format!("{}: {e}", entry.shown)))?,
    );
    let raw =
        matches!(format, Format::Dotenv | Format::Ini | Format::Binary).then(|| bytes.clone());
    Ok(Some(Plain {
        docs: plain.into_docs(),
        bytes,
        raw,
    }))
}
