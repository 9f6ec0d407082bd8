//! The PGP keystore's implementation (behind the `pgp` feature): gpg runs.

use std::io::Write;
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use super::KIND;
use crate::keys::{KeyContext, KeyError, KeyKind, MasterKey};
use crate::metadata::KeyEntry;
use crate::tree::{Branch, Value, time};

/// A PGP key by fingerprint (spaces removed, case kept, as sops stores it).
#[derive(Debug, Clone)]
pub struct PgpKey {
    fingerprint: String,
}

impl PgpKey {
    pub fn parse(fingerprint: &str) -> Result<Self, KeyError> {
        let fingerprint: String = fingerprint.chars().filter(|c| *c != ' ').collect();
        if fingerprint.is_empty() {
            return Err(KeyError::Invalid {
                identifier: String::new(),
                reason: "empty PGP fingerprint".into(),
            });
        }
        Ok(Self { fingerprint })
    }

    fn gpg(ctx: &KeyContext) -> Command {
        let mut cmd = Command::new(ctx.gpg_program());
        if let Some(home) = ctx.gpg_home() {
            cmd.env("GNUPGHOME", home);
        }
        cmd
    }

    /// Whether gpg's keyring (the context's `GNUPGHOME`) holds a secret
    /// key for this fingerprint (`sops doctor`); `Err`: gpg could not be
    /// asked.
    pub fn has_secret_key(&self, ctx: &KeyContext) -> Result<bool, String> {
        let out = Self::gpg(ctx)
            .args(["--batch", "--with-colons", "--list-secret-keys", "--"])
            .arg(&self.fingerprint)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not run gpg: {e}"))?;
        Ok(out.status.success()
            && String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.starts_with("sec:")))
    }

    /// Runs gpg with `input` on stdin; stdout on success, stderr's text on failure.
    fn run(mut cmd: Command, input: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not run gpg: {e}"))?;
        let mut stdin = child.stdin.take().ok_or("could not write to gpg")?;
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child
            .wait_with_output()
            .map_err(|e| format!("gpg failed: {e}"))?;
        let _ = writer.join();
        if out.status.success() {
            Ok(Zeroizing::new(out.stdout))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}

impl MasterKey for PgpKey {
    fn entry_template(&self) -> Option<KeyEntry> {
        let mut fields = Branch::new();
        fields.push("fp", Value::Str(self.fingerprint.clone()));
        Some(KeyEntry { kind: KIND, fields })
    }

    fn kind(&self) -> KeyKind {
        KIND
    }

    fn identifier(&self) -> String {
        self.fingerprint.clone()
    }

    fn encrypt(&self, secret: &[u8], ctx: &KeyContext) -> Result<KeyEntry, KeyError> {
        let short = &self.fingerprint[self.fingerprint.len().saturating_sub(16)..];
        let mut cmd = Self::gpg(ctx);
        cmd.args([
            "--no-default-recipient",
            "--yes",
            "--encrypt",
            "-a",
            "-r",
            &self.fingerprint,
        ])
        .args(["--trusted-key", short, "--no-encrypt-to"]);
        let armored = Self::run(cmd, secret).map_err(|e| {
            KeyError::Rejected(format!(
                "could not encrypt data key with PGP key: GnuPG binary error: failed to encrypt sops data key with pgp: {e}"
            ))
        })?;
        // sops stores the armor without its final newline.
        let text = String::from_utf8_lossy(&armored).trim_end().to_owned();
        let mut fields = Branch::new();
        fields.push("created_at", Value::Str(time::now_rfc3339_seconds()));
        fields.push("enc", Value::Str(text));
        fields.push("fp", Value::Str(self.fingerprint.clone()));
        Ok(KeyEntry { kind: KIND, fields })
    }

    fn decrypt(&self, entry: &KeyEntry, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let enc = entry
            .enc()
            .ok_or_else(|| KeyError::Rejected("the PGP entry has no enc field".into()))?;
        let mut cmd = Self::gpg(ctx);
        cmd.arg("-d");
        Self::run(cmd, enc.as_bytes()).map_err(|e| {
            KeyError::Rejected(format!(
                "could not decrypt data key with PGP key: GnuPG binary error: failed to decrypt sops data key with pgp: {e}"
            ))
        })
    }
}
