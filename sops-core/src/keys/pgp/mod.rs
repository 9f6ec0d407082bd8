//! PGP keystore, through the user's `gpg` as sops does when there is no
//! legacy keyring (the common case today): `gpg --encrypt -a` to wrap,
//! `gpg -d` to unwrap, so gpg-agent, pinentry and smartcards work as usual.
//! The key context names the program (`SOPS_GPG_EXEC` from the
//! environment) and the gpg home (`GNUPGHOME`), which is passed on.

use super::keystore::{
    CliFlags, ConfigForm, GroupForm, GroupsAdd, IdCompare, IdPart, KeyKind, KeystoreSpec,
    Normalise, Order, SopsBlockSlot,
};
use super::registry::Keystore;

pub const KIND: KeyKind = KeyKind::new(&SPEC);

const SPEC: KeystoreSpec = KeystoreSpec {
    name: "pgp",
    fields: &["created_at", "enc", "fp"],
    id_field: "fp",
    identifier: &[IdPart::Id],
    version_parts: 0,
    always_in_groups: false,
    order: Order {
        // sops writes `pgp` after `lastmodified` and `mac`.
        sops_block: SopsBlockSlot::AfterMac(10),
        key_group: 10,
        creation_rule: 20,
        key_flags: 60,
    },
    config: ConfigForm {
        rule_field: "pgp",
        normalise: Normalise::StripSpaces,
        options: &[],
        group_field: "pgp",
        group_form: GroupForm::Ids,
    },
    cli: CliFlags {
        flag: "pgp",
        short: Some('p'),
        env: "SOPS_PGP_FP",
        help: "comma separated list of PGP fingerprints",
        add_help: Some(
            "add the provided comma-separated list of PGP fingerprints to the list of master keys on the given file",
        ),
        rm_help: None,
        groups_add: GroupsAdd::NotYet {
            help: "the PGP fingerprints the new group should contain (not supported yet)",
        },
    },
    // gpg prints fingerprints in groups and either case.
    allow_list: Some(IdCompare::NoSpacesAnyCase),
};

#[cfg(feature = "pgp")]
pub static KEYSTORE: Keystore = Keystore {
    kind: KIND,
    from_entry: Some(|entry| {
        Ok(Box::new(PgpKey::parse(
            entry.field("fp").unwrap_or_default(),
        )?))
    }),
    from_spec: Some(|spec| Ok(Box::new(PgpKey::parse(&spec.id)?))),
};

#[cfg(not(feature = "pgp"))]
pub static KEYSTORE: Keystore = Keystore::descriptor_only(KIND);

// The implementation, behind the `pgp` feature. Each item carries its own
// gate (rather than moving into a submodule) so the spec above exists in
// every build and the implementation's history stays in this file.

#[cfg(feature = "pgp")]
use std::io::Write;
#[cfg(feature = "pgp")]
use std::process::{Command, Stdio};

#[cfg(feature = "pgp")]
use zeroize::Zeroizing;

#[cfg(feature = "pgp")]
use crate::keys::{KeyContext, KeyError, MasterKey};
#[cfg(feature = "pgp")]
use crate::metadata::KeyEntry;
#[cfg(feature = "pgp")]
use crate::tree::{Branch, Value, time};

/// A PGP key by fingerprint (spaces removed, case kept, as sops stores it).
#[cfg(feature = "pgp")]
#[derive(Debug, Clone)]
pub struct PgpKey {
    fingerprint: String,
}

#[cfg(feature = "pgp")]
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

#[cfg(feature = "pgp")]
impl MasterKey for PgpKey {
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
