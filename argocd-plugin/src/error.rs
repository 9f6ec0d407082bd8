//! The one error type of the plugin: a value-free message, an optional hint
//! line, and the exit code (sops' codes where the cause is a sops error, so
//! operators can alert on them).
//!
//! Messages are built here from file names, YAML key paths and master-key
//! identifiers only. sops-core's errors are value-free by contract; tenant
//! strings that are echoed are shortened and stripped of control characters.

use std::fmt;

use sops_core::Error as SopsError;
use sops_core::error::chain;
use sops_core::exit_code;
use sops_core::keys::{KeyError, RecoveryError};
use sops_core::mac::MacError;
use sops_core::ops::TreeError;

/// Anything else.
pub const EXIT_GENERIC: u8 = exit_code::ERROR_GENERIC;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(code: u8, message: String) -> Self {
        Self {
            code,
            message,
            hint: None,
        }
    }

    pub fn generic(message: String) -> Self {
        Self::new(EXIT_GENERIC, message)
    }

    /// Invalid operator configuration (sidecar env).
    pub fn config(message: String) -> Self {
        Self::generic(message)
    }

    /// Invalid tenant parameter.
    pub fn param(message: String) -> Self {
        Self::generic(message).with_hint(
            "parameters: mode, directory-recurse, directory-include, directory-exclude, \
             helm-values-files, helm-values, helm-parameters, helm-release-name, \
             helm-skip-crds, helm-skip-tests, allow-empty (see the plugin's README)",
        )
    }

    /// Refused by operator policy.
    pub fn policy(message: String) -> Self {
        Self::generic(message)
    }

    pub fn with_hint(mut self, hint: &str) -> Self {
        self.hint = Some(hint.to_owned());
        self
    }

    /// The hint sops-core gives for `err` (the `sops` binary prints the
    /// same), when it has one. Key recovery keeps the sidecar's own hint:
    /// here keys come only from the sidecar.
    fn with_core_hint(mut self, err: &SopsError) -> Self {
        if let Some(hint) = err.hint() {
            self.hint = Some(hint);
        }
        self
    }

    /// Maps a sops-core failure while decrypting `file`; the exit code is
    /// sops' own for that failure ([`SopsError::exit_code`]).
    pub fn decrypt(file: &str, err: &SopsError) -> Self {
        let code = err.exit_code();
        match err {
            SopsError::Tree(TreeError::Mac(MacError::Mismatch { .. })) => Self::new(
                code,
                format!(
                    "{file}: integrity check failed (MAC mismatch); the file was edited after encryption"
                ),
            )
            .with_core_hint(err),
            SopsError::Tree(TreeError::Mac(e)) => Self::new(
                code,
                format!("{file}: integrity check failed: {}", chain(e)),
            )
            .with_core_hint(err),
            SopsError::Tree(TreeError::Decrypt { path, source }) => Self::new(
                code,
                format!(
                    "{file}: value at {path} could not be decrypted: {}",
                    chain(source)
                ),
            )
            .with_core_hint(err),
            SopsError::Tree(TreeError::NotEncrypted { path, .. }) => Self::new(
                code,
                format!(
                    "{file}: value at {path} should be encrypted under the file's rules but is not \
                     a valid sops value"
                ),
            )
            .with_core_hint(err),
            SopsError::Recovery(r) if skipped_by_policy(r) => {
                Self::new(code, no_usable_key(file, r)).with_hint(
                    "the operator's key policy (SOPS_CMP_KEY_POLICY) lists the master keys \
                     this project may use; re-encrypt the file for one of them",
                )
            }
            SopsError::Recovery(r) => Self::new(code, no_usable_key(file, r)).with_hint(
                "keys and cloud credentials come only from the sidecar (SOPS_AGE_KEY_FILE, \
                 SOPS_AGE_KEY, SOPS_CMP_PROJECT_KEYS_DIR, its own AWS and Google credentials); \
                 ARGOCD_ENV_*, parameters and repository files cannot supply them",
            ),
            SopsError::Store { source, .. } => {
                Self::new(code, format!("{file}: invalid sops file: {source}")).with_core_hint(err)
            }
            other => Self::new(code, format!("cannot decrypt {file}: {}", chain(other)))
                .with_core_hint(err),
        }
    }
}

/// True if some key of a failed group was not tried because of the policy.
fn skipped_by_policy(r: &RecoveryError) -> bool {
    r.groups
        .iter()
        .filter_map(|g| g.as_ref().err())
        .flatten()
        .any(|f| f.error == KeyError::SkippedByPolicy)
}

fn no_usable_key(file: &str, r: &RecoveryError) -> String {
    if let Some(e) = &r.combine_error {
        return format!("cannot decrypt {file}: could not combine the key groups' shares: {e}");
    }
    let mut out = format!("cannot decrypt {file}: no usable key");
    for (i, group) in r.groups.iter().enumerate() {
        if let Err(failures) = group {
            for f in failures {
                let reason = f.error.to_string().replace('\n', " ");
                out.push_str(&format!("\n  group {i}: {}: {reason}", f.identifier));
            }
        }
    }
    out
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "argocd-sops-plugin: {}", Escaped(&self.message))?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {}", Escaped(hint))?;
        }
        Ok(())
    }
}

/// A message with every control character but the newlines we put there
/// ourselves escaped: the last line of defence, should some tenant string
/// reach a message unquoted (paths go through `walk::shown_path`).
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() && c != '\n' {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}
