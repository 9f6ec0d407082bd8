//! `sops doctor`: why a file can or cannot be decrypted on this machine.
//!
//! [`diagnose`] tries every master key of an encrypted file on its own
//! (where decryption stops at the first key that works in each group), says
//! whether the Shamir threshold is met, decrypts the values in memory to
//! check the MAC, and returns a [`FileReport`] that holds identifiers,
//! locations and reasons only, never a value or key material.
//! [`offered_credentials`] lists where this machine's identities and cloud
//! credentials would come from; [`key_drift`] compares a file's key groups
//! with those of the creation rule that applies to it now (the comparison
//! `updatekeys` makes).

use crate::Error;
use crate::keys::{self, KeyContext, KeyError, unwrap_entry};
use crate::metadata::{KeyEntry, KeyKind, Metadata};
use crate::ops::EncryptedFile;

/// What [`diagnose`] found about one encrypted file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FileReport {
    /// The key groups in file order, each key with the result of trying it.
    pub groups: Vec<GroupReport>,
    /// How many groups must give their part (1 for a single group).
    pub threshold: usize,
    /// How many groups have at least one key that works here.
    pub groups_available: usize,
    /// Whether the data key could be recovered and every value decrypted.
    pub decrypts: bool,
    /// The MAC check.
    pub mac: MacCheck,
    /// Why the file does not decrypt (`None` when it does), one line, no
    /// values: the recovery or value error.
    pub error: Option<String>,
    /// sops' exit code for that failure (0 when the file decrypts).
    pub exit_code: u8,
}

impl FileReport {
    /// True when enough groups can give their part.
    pub fn threshold_met(&self) -> bool {
        self.groups_available >= self.threshold
    }
}

/// One key group.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GroupReport {
    pub keys: Vec<KeyReport>,
}

impl GroupReport {
    /// True when a key of the group works here.
    pub fn available(&self) -> bool {
        self.keys.iter().any(|k| k.status == KeyStatus::Ok)
    }
}

/// One master key of a file and what trying it gave.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeyReport {
    /// The keystore's metadata name (`age`, `pgp`, `kms`, `gcp_kms` …).
    pub keystore: &'static str,
    /// The identifier sops prints (recipient, fingerprint, ARN, URL …).
    pub identifier: String,
    pub status: KeyStatus,
    /// The keystore's own reason when it failed (the text of the decrypt
    /// error for this key).
    pub reason: Option<String>,
    /// What this machine has for this key, when it can tell without a
    /// call: the location of the age identity whose recipient this is, or
    /// whether gpg holds the secret key.
    pub local: Option<String>,
}

/// The outcome of trying one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyStatus {
    /// It unwrapped its secret.
    Ok,
    /// No identity or credentials for it here ("not mine to try").
    NoCredentials,
    /// Tried and failed (wrong identity, access denied, wrong encryption
    /// context, unreachable endpoint …: see the reason).
    Failed,
    /// Its keystore is not built into this program.
    Unsupported,
    /// Its entry is malformed.
    Invalid,
    /// The context's key filter does not allow it.
    SkippedByPolicy,
}

impl KeyStatus {
    /// A stable lowercase name (`ok`, `no-credentials`, `failed`,
    /// `unsupported`, `invalid`, `skipped-by-policy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NoCredentials => "no-credentials",
            Self::Failed => "failed",
            Self::Unsupported => "unsupported",
            Self::Invalid => "invalid",
            Self::SkippedByPolicy => "skipped-by-policy",
        }
    }

    fn of(error: &KeyError) -> Self {
        match error {
            KeyError::NoCredentials(_) => Self::NoCredentials,
            KeyError::Unsupported(_) => Self::Unsupported,
            KeyError::Invalid { .. } => Self::Invalid,
            KeyError::SkippedByPolicy => Self::SkippedByPolicy,
            KeyError::Services(errors) if errors.len() == 1 => Self::of(&errors[0]),
            _ => Self::Failed,
        }
    }
}

/// The MAC check of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MacCheck {
    /// Every value decrypted and the MAC matches.
    Verified,
    /// The values decrypt but the MAC does not match (or is missing or
    /// unreadable): the file was changed outside sops.
    Mismatch,
    /// Not checked: the data key could not be recovered, or a value did
    /// not decrypt.
    NotChecked,
}

impl MacCheck {
    /// `verified`, `mismatch` or `not-checked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Mismatch => "mismatch",
            Self::NotChecked => "not-checked",
        }
    }
}

/// How many keys of a file [`diagnose`] tries at once (the work is waiting
/// on keystores, not the CPU).
const KEYS_AT_ONCE: usize = 8;

/// Tries every master key of `file`, then decrypts its values in memory
/// (wiped at once) to check the MAC. `decryption_order` is
/// [`crate::ops::DecryptOptions::decryption_order`]. Each key is asked at
/// most once: the final decryption uses only the keys that worked, whose
/// secrets the context remembers.
pub fn diagnose(file: EncryptedFile, ctx: &KeyContext, decryption_order: &[String]) -> FileReport {
    let (docs, metadata) = file.into_parts();
    let age_ids = age_identities(ctx, &metadata);
    // Every key at once: a cloud key that times out does not hold up the
    // others. The secrets stay in the context's memo for the final pass.
    let entries: Vec<&KeyEntry> = metadata.key_groups.iter().flat_map(|g| &g.0).collect();
    let mut results = crate::parallel::map_ordered(
        entries.len(),
        KEYS_AT_ONCE,
        |i| unwrap_entry(entries[i], ctx).map(drop),
        |_| false,
    )
    .into_iter();
    let mut groups = Vec::new();
    let mut working = metadata.clone();
    for (g, group) in metadata.key_groups.iter().enumerate() {
        let mut keys = Vec::new();
        let mut ok_entries = Vec::new();
        for entry in &group.0 {
            let result = results
                .next()
                .unwrap_or(Err(KeyError::Services(Vec::new())));
            let (status, reason) = match &result {
                Ok(_) => (KeyStatus::Ok, None),
                Err(e) => (KeyStatus::of(e), Some(one_line(&e.to_string()))),
            };
            if result.is_ok() {
                ok_entries.push(entry.clone());
            }
            keys.push(KeyReport {
                keystore: entry.kind.metadata_name(),
                identifier: entry.identifier(),
                status,
                reason,
                local: local_note(entry, ctx, &age_ids),
            });
        }
        working.key_groups[g].0 = ok_entries;
        groups.push(GroupReport { keys });
    }
    let groups_available = groups.iter().filter(|g| g.available()).count();
    let threshold = if metadata.key_groups.len() <= 1 {
        1
    } else {
        metadata.effective_threshold()
    };
    // Only the keys that worked, all remembered by the context: no key is
    // asked twice, and a failing one (a KMS time-out) is not waited on again.
    let outcome = EncryptedFile::from_parts(docs, working)
        .decrypt(
            ctx,
            &crate::ops::DecryptOptions {
                ignore_mac: false,
                decryption_order: decryption_order.to_vec(),
            },
        )
        .map(drop);
    let (decrypts, mac, error, exit_code) = match outcome {
        Ok(()) => (true, MacCheck::Verified, None, 0),
        Err(e) => {
            let mac = match &e {
                Error::Tree(crate::ops::TreeError::Mac(_)) => MacCheck::Mismatch,
                _ => MacCheck::NotChecked,
            };
            let text = match &e {
                // The per-key detail is in the report already.
                Error::Recovery(r) if r.combine_error.is_none() => format!(
                    "could not recover the data key: {groups_available} of {threshold} required key group(s) available"
                ),
                other => one_line(&crate::error::chain(other).to_string()),
            };
            (false, mac, Some(text), e.exit_code())
        }
    };
    FileReport {
        groups,
        threshold,
        groups_available,
        decrypts,
        mac,
        error,
        exit_code,
    }
}

/// Joins a multi-line keystore message into one line.
fn one_line(text: &str) -> String {
    text.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The age identities' recipients and locations, loaded only when the file
/// has age keys.
fn age_identities(ctx: &KeyContext, metadata: &Metadata) -> Vec<(String, String)> {
    let has_age = metadata
        .key_groups
        .iter()
        .flat_map(|g| &g.0)
        .any(|e| e.kind == keys::age::KIND);
    #[cfg(feature = "age")]
    if has_age {
        return ctx.age_identities().described();
    }
    let _ = (ctx, has_age);
    Vec::new()
}

fn local_note(entry: &KeyEntry, ctx: &KeyContext, age_ids: &[(String, String)]) -> Option<String> {
    let kind = entry.kind;
    if kind == keys::age::KIND {
        let recipient = entry.field("recipient").unwrap_or_default().trim();
        return Some(
            match age_ids.iter().find(|(_, public)| public == recipient) {
                Some((location, _)) => format!("identity for this recipient from {location}"),
                None if age_ids.is_empty() => "no age identity loaded".to_owned(),
                None => format!(
                    "none of the {} age identities loaded is this recipient's",
                    age_ids.len()
                ),
            },
        );
    }
    #[cfg(feature = "pgp")]
    if kind == keys::pgp::KIND {
        let fp = entry.field("fp").unwrap_or_default();
        return keys::pgp::PgpKey::parse(fp)
            .ok()
            .map(|key| match key.has_secret_key(ctx) {
                Ok(true) => "secret key in the gpg keyring".to_owned(),
                Ok(false) => "no secret key for this fingerprint in the gpg keyring".to_owned(),
                Err(e) => e,
            });
    }
    let _ = ctx;
    None
}

/// Where one keystore's credentials would come from on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CredentialSource {
    /// The keystore's metadata name (`age`, `pgp`, `kms` …).
    pub keystore: &'static str,
    /// The variable, file or mechanism.
    pub location: String,
    /// What is there: `set`, `unset`, `missing`, an identity's recipient,
    /// a load error … never a secret.
    pub state: String,
}

/// The sources of identities and credentials this machine offers for the
/// keystores in `kinds`: those the context holds (age identities with
/// their locations, errors and unused locations; gpg's home; GCP, Azure,
/// Vault and HuaweiCloud settings), and for AWS, whose SDK reads its own
/// chain, the variables and files of that chain, looked up with `var`
/// (`std::env::var` for the process). Names and presence only.
pub fn offered_credentials(
    ctx: &KeyContext,
    kinds: &[KeyKind],
    var: &dyn Fn(&str) -> Option<String>,
) -> Vec<CredentialSource> {
    let mut out = Vec::new();
    let mut add = |keystore: &'static str, location: &str, state: String| {
        out.push(CredentialSource {
            keystore,
            location: location.to_owned(),
            state,
        });
    };
    let set = |v: &str| {
        if var(v).is_some_and(|v| !v.is_empty()) {
            "set"
        } else {
            "unset"
        }
        .to_owned()
    };
    let file_state =
        |p: &std::path::Path| if p.exists() { "present" } else { "missing" }.to_owned();
    let home = var("HOME").filter(|h| !h.is_empty());
    for &kind in kinds {
        let name = kind.metadata_name();
        if kind == keys::age::KIND {
            #[cfg(feature = "age")]
            {
                let ids = ctx.age_identities();
                for (location, what) in ids.described() {
                    add(name, &location, format!("identity {what}"));
                }
                for e in ids.errors() {
                    add(name, "error", one_line(e));
                }
                for location in ids.unused_described() {
                    add(name, &location, "no identity (unset or missing)".to_owned());
                }
            }
        } else if kind == keys::pgp::KIND {
            let home = match ctx.gpg_home() {
                Some(h) => format!("GNUPGHOME={}", h.display()),
                None => "gpg's default home (GNUPGHOME unset)".to_owned(),
            };
            add(name, &home, format!("gpg program {}", ctx.gpg_program()));
        } else if kind == keys::aws_kms::KIND {
            if let Some((config, credentials)) = ctx.aws_shared_files() {
                add(name, &config.display().to_string(), file_state(config));
                add(
                    name,
                    &credentials.display().to_string(),
                    file_state(credentials),
                );
                continue;
            }
            for v in [
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN",
                "AWS_PROFILE",
                "AWS_REGION",
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            ] {
                add(name, v, set(v));
            }
            for (v, default) in [
                ("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"),
                ("AWS_CONFIG_FILE", ".aws/config"),
            ] {
                let path = var(v)
                    .filter(|p| !p.is_empty())
                    .or_else(|| home.as_ref().map(|h| format!("{h}/{default}")));
                match path {
                    Some(p) => add(name, &p, file_state(std::path::Path::new(&p))),
                    None => add(name, v, "unset (no HOME)".to_owned()),
                }
            }
            add(
                name,
                "instance metadata (IMDS)",
                "last in the SDK's chain".to_owned(),
            );
        } else if kind == keys::gcp_kms::KIND {
            let given = |x: bool| if x { "set" } else { "unset" }.to_owned();
            add(
                name,
                "GOOGLE_OAUTH_ACCESS_TOKEN",
                given(ctx.gcp_access_token().is_some()),
            );
            add(
                name,
                "GOOGLE_CREDENTIALS",
                given(ctx.gcp_credentials().is_some()),
            );
            match ctx.gcp_adc_file() {
                Some(p) => add(
                    name,
                    &format!("GOOGLE_APPLICATION_CREDENTIALS={}", p.display()),
                    file_state(p),
                ),
                None => add(name, "GOOGLE_APPLICATION_CREDENTIALS", "unset".to_owned()),
            }
            if ctx.gcp_application_default_credentials() {
                let config = var("CLOUDSDK_CONFIG")
                    .filter(|c| !c.is_empty())
                    .or_else(|| home.as_ref().map(|h| format!("{h}/.config/gcloud")));
                if let Some(dir) = config {
                    let p = format!("{dir}/application_default_credentials.json");
                    add(name, &p, file_state(std::path::Path::new(&p)));
                }
                add(
                    name,
                    "metadata server",
                    "last in Application Default Credentials".to_owned(),
                );
            } else {
                add(
                    name,
                    "Application Default Credentials",
                    "disabled".to_owned(),
                );
            }
            if let Some(endpoint) = ctx.gcp_endpoint() {
                add(name, "SOPS_GCP_KMS_ENDPOINT", endpoint.to_owned());
            }
        } else if kind == keys::azure_kv::KIND {
            let az = ctx.azure();
            let given = |x: bool| if x { "set" } else { "unset" }.to_owned();
            add(
                name,
                "AZURE_TOKEN_CREDENTIALS",
                az.token_credentials
                    .clone()
                    .unwrap_or_else(|| "unset".to_owned()),
            );
            add(name, "AZURE_TENANT_ID", given(az.tenant_id.is_some()));
            add(name, "AZURE_CLIENT_ID", given(az.client_id.is_some()));
            add(
                name,
                "AZURE_CLIENT_SECRET",
                given(az.client_secret.is_some()),
            );
            match &az.certificate_path {
                Some(p) => add(
                    name,
                    &format!("AZURE_CLIENT_CERTIFICATE_PATH={}", p.display()),
                    file_state(p),
                ),
                None => add(name, "AZURE_CLIENT_CERTIFICATE_PATH", "unset".to_owned()),
            }
            match &az.federated_token_file {
                Some(p) => add(
                    name,
                    &format!("AZURE_FEDERATED_TOKEN_FILE={}", p.display()),
                    file_state(p),
                ),
                None => add(name, "AZURE_FEDERATED_TOKEN_FILE", "unset".to_owned()),
            }
            let allowed = |off: bool| if off { "disabled" } else { "allowed" }.to_owned();
            add(name, "managed identity", allowed(az.no_managed_identity));
            add(name, "az / azd login", allowed(az.no_developer_tools));
        } else if kind == keys::hc_vault::KIND {
            let vault = ctx.vault_inputs();
            add(
                name,
                "VAULT_TOKEN",
                if vault.token.is_some() {
                    "set"
                } else {
                    "unset"
                }
                .to_owned(),
            );
            match &vault.token_file {
                Some(p) => add(name, &p.display().to_string(), file_state(p)),
                None => add(name, "~/.vault-token", "unset (no HOME)".to_owned()),
            }
        } else if kind == keys::hckms::KIND {
            let hc = ctx.hckms();
            let given = |x: bool| if x { "set" } else { "unset" }.to_owned();
            add(name, "HUAWEICLOUD_SDK_AK", given(hc.ak.is_some()));
            add(name, "HUAWEICLOUD_SDK_SK", given(hc.sk.is_some()));
            add(
                name,
                "HUAWEICLOUD_SDK_SECURITY_TOKEN",
                given(hc.security_token.is_some()),
            );
            if let Some(p) = &hc.credentials_file {
                add(name, &p.display().to_string(), file_state(p));
            }
        }
    }
    out
}

/// The keystores of `metadata`'s keys, in order of first appearance.
pub fn keystores_of(metadata: &Metadata) -> Vec<KeyKind> {
    let mut kinds: Vec<KeyKind> = Vec::new();
    for entry in metadata.key_groups.iter().flat_map(|g| &g.0) {
        if !kinds.contains(&entry.kind) {
            kinds.push(entry.kind);
        }
    }
    kinds
}

/// How a file's key groups differ from the ones its creation rule names
/// now (what `sops updatekeys` would change).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyDrift {
    /// Per group index (the longer of both lists).
    pub groups: Vec<GroupDrift>,
    pub old_threshold: usize,
    pub new_threshold: usize,
}

/// One group's keys: in both, only in the rule, only in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupDrift {
    pub kept: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Compares the file's key groups and threshold with the identifiers of
/// the rule's groups (`rule_groups`, in rule order); `None` when
/// `updatekeys` would change nothing. Groups are compared as sets (a file
/// stores a group's keys in keystore order, a rule names them in its own);
/// the new threshold is the file's, capped at the rule's number of groups,
/// as `updatekeys` computes it.
pub fn key_drift(metadata: &Metadata, rule_groups: &[Vec<String>]) -> Option<KeyDrift> {
    let old: Vec<Vec<String>> = metadata
        .key_groups
        .iter()
        .map(|g| g.0.iter().map(KeyEntry::identifier).collect())
        .collect();
    let old_threshold = metadata.shamir_threshold;
    let new_threshold = old_threshold.min(rule_groups.len());
    let sorted = |groups: &[Vec<String>]| -> Vec<Vec<String>> {
        groups
            .iter()
            .map(|g| {
                let mut g = g.clone();
                g.sort();
                g
            })
            .collect()
    };
    if sorted(&old) == sorted(rule_groups) && old_threshold == new_threshold {
        return None;
    }
    let empty = Vec::new();
    let groups = (0..old.len().max(rule_groups.len()))
        .map(|i| {
            let (o, n) = (
                old.get(i).unwrap_or(&empty),
                rule_groups.get(i).unwrap_or(&empty),
            );
            GroupDrift {
                kept: o.iter().filter(|k| n.contains(k)).cloned().collect(),
                added: n.iter().filter(|k| !o.contains(k)).cloned().collect(),
                removed: o.iter().filter(|k| !n.contains(k)).cloned().collect(),
            }
        })
        .collect();
    Some(KeyDrift {
        groups,
        old_threshold,
        new_threshold,
    })
}

#[cfg(all(test, feature = "age"))]
mod tests {
    use super::*;
    use crate::ops::EncryptOptions;
    use crate::test_vectors::{TestIdentity as Id, context_of as ctx};

    fn file_for(groups: &[&[&Id]], threshold: usize) -> EncryptedFile {
        let groups: Vec<Vec<Box<dyn keys::MasterKey>>> = groups
            .iter()
            .map(|g| g.iter().map(|id| id.key()).collect())
            .collect();
        let opts = EncryptOptions {
            shamir_threshold: threshold,
            ..EncryptOptions::default()
        };
        let mut doc = crate::tree::Branch::new();
        doc.push("k", crate::tree::Value::Str("v".into()));
        crate::ops::DecryptedFile::create(vec![doc], &groups, &ctx(&[]), &opts)
            .unwrap()
            .encrypt()
            .unwrap()
    }

    #[test]
    fn every_key_is_tried_even_after_one_works() {
        let (a, b) = (Id::generate(), Id::generate());
        let report = diagnose(file_for(&[&[&a, &b]], 0), &ctx(&[&a, &b]), &[]);
        assert!(report.decrypts);
        assert_eq!(report.mac, MacCheck::Verified);
        let statuses: Vec<KeyStatus> = report.groups[0].keys.iter().map(|k| k.status).collect();
        assert_eq!(statuses, [KeyStatus::Ok, KeyStatus::Ok]);
        assert_eq!((report.threshold, report.groups_available), (1, 1));
    }

    #[test]
    fn a_threshold_not_met_is_exit_128_with_each_reason() {
        let (a, b, c) = (Id::generate(), Id::generate(), Id::generate());
        let file = file_for(&[&[&a], &[&b], &[&c]], 2);
        let report = diagnose(file, &ctx(&[&b]), &[]);
        assert!(!report.decrypts && !report.threshold_met());
        assert_eq!((report.threshold, report.groups_available), (2, 1));
        assert_eq!(report.exit_code, crate::exit_code::COULD_NOT_RETRIEVE_KEY);
        assert_eq!(report.mac, MacCheck::NotChecked);
        assert_eq!(report.groups[0].keys[0].status, KeyStatus::Failed);
        assert!(report.groups[0].keys[0].reason.is_some());
        assert_eq!(
            report.groups[1].keys[0].local.as_deref(),
            Some("identity for this recipient from SOPS_AGE_KEY")
        );
    }

    #[test]
    fn drift_lists_added_and_removed_keys_per_group() {
        let (a, b) = (Id::generate(), Id::generate());
        let file = file_for(&[&[&a]], 0);
        let meta = file.metadata();
        assert_eq!(key_drift(meta, &[vec![a.recipient.clone()]]), None);
        let drift = key_drift(meta, &[vec![b.recipient.clone(), a.recipient.clone()]]).unwrap();
        assert_eq!(drift.groups[0].kept, std::slice::from_ref(&a.recipient));
        assert_eq!(drift.groups[0].added, std::slice::from_ref(&b.recipient));
        assert!(drift.groups[0].removed.is_empty());
        let drift = key_drift(meta, &[vec![b.recipient.clone()]]).unwrap();
        assert_eq!(drift.groups[0].removed, std::slice::from_ref(&a.recipient));
    }
}
