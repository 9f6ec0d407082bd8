//! The keystore registry's types and look-ups. The list itself is the
//! `keystores!` line in `keys/mod.rs` ([`KEYSTORES`]); the metadata reader
//! and writer, the `.sops.yaml` parser, [`super::master_key_for`], the CLI's
//! key flags and the plugin's key policy iterate over it. Adding a keystore
//! is its folder under `keys/`, its name in that line and its cargo feature.

use super::keystore::{KeyKind, KeySpec, KeystoreSpec};
use super::{KEYSTORES, KeyError, MasterKey};
use crate::metadata::KeyEntry;

/// Builds a master key from a metadata entry.
pub type FromEntry = fn(&KeyEntry) -> Result<Box<dyn MasterKey>, KeyError>;
/// Builds a master key from a creation rule's or the command line's spec.
pub type FromSpec = fn(&KeySpec) -> Result<Box<dyn MasterKey>, KeyError>;

/// A keystore: its spec and, when it is built in, its constructors.
#[derive(Debug)]
pub struct Keystore {
    pub kind: KeyKind,
    /// `None` when the keystore is not built in (or its feature is off).
    pub from_entry: Option<FromEntry>,
    /// `None` when the keystore is not built in (or its feature is off).
    pub from_spec: Option<FromSpec>,
}

impl Keystore {
    /// A keystore this build knows only as data.
    pub const fn descriptor_only(kind: KeyKind) -> Self {
        Self {
            kind,
            from_entry: None,
            from_spec: None,
        }
    }

    pub fn spec(&self) -> &'static KeystoreSpec {
        self.kind.spec()
    }

    /// True when this build can wrap and unwrap keys of this keystore.
    pub fn is_built_in(&self) -> bool {
        self.from_entry.is_some() && self.from_spec.is_some()
    }
}

/// The keystores this build can wrap and unwrap keys with, in the order
/// sops lists keystores in a creation rule (`age`, `pgp`, `kms` …).
pub fn built_in_keystores() -> Vec<&'static Keystore> {
    let mut all = keystores_by(|s| s.order.creation_rule);
    all.retain(|k| k.is_built_in());
    all
}

/// The keystores sorted by one of their ranks (see [`super::keystore::Order`]).
pub fn keystores_by<R: Ord>(rank: impl Fn(&KeystoreSpec) -> R) -> Vec<&'static Keystore> {
    let mut all = KEYSTORES.to_vec();
    all.sort_by_key(|k| rank(k.spec()));
    all
}

impl KeyKind {
    /// The registry entry of this kind (with its constructors, if built in).
    pub fn keystore(self) -> Option<&'static Keystore> {
        KEYSTORES.iter().copied().find(|k| k.kind == self)
    }

    /// The keystore's name in messages (`age`, `PGP`, `kms` …).
    pub fn display_name(self) -> &'static str {
        self.spec().display_name
    }

    /// The kind whose metadata section is `name`.
    pub fn from_metadata_name(name: &str) -> Option<Self> {
        KEYSTORES
            .iter()
            .map(|k| k.kind)
            .find(|k| k.metadata_name() == name)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::keys::keystore::{GroupForm, GroupsAdd, SopsBlockSlot};
    use crate::keys::{age, aws_kms, azure_kv, pgp};

    fn unique<T: std::hash::Hash + Eq>(what: &str, items: impl Iterator<Item = T>) {
        let mut seen = HashSet::new();
        for item in items {
            assert!(seen.insert(item), "duplicate {what}");
        }
    }

    #[test]
    fn names_flags_fields_and_ranks_are_unique() {
        let specs = || KEYSTORES.iter().map(|k| k.spec());
        unique("name", specs().map(|s| s.name));
        unique("flag", specs().map(|s| s.cli.flag));
        unique("env", specs().map(|s| s.cli.env));
        unique("short", specs().filter_map(|s| s.cli.short));
        unique("rule field", specs().map(|s| s.config.rule_field));
        unique("group field", specs().map(|s| s.config.group_field));
        unique("sops block rank", specs().map(|s| s.order.sops_block));
        unique("key group rank", specs().map(|s| s.order.key_group));
        unique("creation rule rank", specs().map(|s| s.order.creation_rule));
        unique("key flag rank", specs().map(|s| s.order.key_flags));
        for spec in specs() {
            assert!(spec.fields.contains(&spec.id_field), "{}", spec.name);
            assert!(spec.fields.contains(&"enc"), "{}", spec.name);
        }
    }

    #[test]
    fn kinds_find_their_registry_entry() {
        for ks in KEYSTORES {
            assert_eq!(KeyKind::from_metadata_name(ks.spec().name), Some(ks.kind));
            assert!(std::ptr::eq(ks.kind.keystore().unwrap(), *ks));
        }
        assert_eq!(KeyKind::from_metadata_name("nope"), None);
    }

    /// The orders sops 3.11 writes and reads (sops-format §4.1,
    /// sops-cli §8); the golden files check the bytes, this the data.
    #[test]
    fn orders_match_sops() {
        let names = |v: Vec<&'static Keystore>| v.iter().map(|k| k.spec().name).collect::<Vec<_>>();
        assert_eq!(
            names(keystores_by(|s| s.order.sops_block)),
            [
                "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "age", "pgp"
            ]
        );
        let after_mac: Vec<_> = KEYSTORES
            .iter()
            .filter(|k| matches!(k.spec().order.sops_block, SopsBlockSlot::AfterMac(_)))
            .map(|k| k.spec().name)
            .collect();
        assert_eq!(after_mac, ["pgp"]);
        assert_eq!(
            names(keystores_by(|s| s.order.key_group)),
            [
                "pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "age"
            ]
        );
        let always: Vec<_> = keystores_by(|s| s.order.key_group)
            .iter()
            .filter(|k| k.spec().always_in_groups)
            .map(|k| k.spec().name)
            .collect();
        assert_eq!(always, ["hc_vault", "age"]);
        let rule: Vec<_> = keystores_by(|s| s.order.creation_rule)
            .iter()
            .map(|k| (k.spec().config.rule_field, k.spec().config.group_field))
            .collect();
        assert_eq!(
            rule,
            [
                ("age", "age"),
                ("pgp", "pgp"),
                ("kms", "kms"),
                ("gcp_kms", "gcp_kms"),
                ("hckms", "hckms"),
                ("azure_keyvault", "azure_keyvault"),
                ("hc_vault_transit_uri", "hc_vault"),
            ]
        );
        let maps: Vec<_> = KEYSTORES
            .iter()
            .filter_map(|k| match k.spec().config.group_form {
                GroupForm::Maps { id } => Some((k.spec().name, id)),
                GroupForm::Ids => None,
            })
            .collect();
        assert_eq!(
            maps,
            [
                ("kms", "arn"),
                ("gcp_kms", "resource_id"),
                ("hckms", "key_id"),
                ("azure_kv", "vaultUrl"),
            ]
        );
        let flags: Vec<_> = keystores_by(|s| s.order.key_flags)
            .iter()
            .map(|k| (k.spec().cli.flag, k.spec().cli.env))
            .collect();
        assert_eq!(
            flags,
            [
                ("kms", "SOPS_KMS_ARN"),
                ("gcp-kms", "SOPS_GCP_KMS_IDS"),
                ("hckms", "SOPS_HUAWEICLOUD_KMS_IDS"),
                ("azure-kv", "SOPS_AZURE_KEYVAULT_URLS"),
                ("hc-vault-transit", "SOPS_VAULT_URIS"),
                ("pgp", "SOPS_PGP_FP"),
                ("age", "SOPS_AGE_RECIPIENTS"),
            ]
        );
        let groups_add: Vec<_> = keystores_by(|s| s.order.creation_rule)
            .iter()
            .filter(|k| !matches!(k.spec().cli.groups_add, GroupsAdd::Absent))
            .map(|k| k.spec().cli.flag)
            .collect();
        assert_eq!(
            groups_add,
            [
                "age",
                "pgp",
                "kms",
                "gcp-kms",
                "hckms",
                "azure-kv",
                "hc-vault-transit"
            ]
        );
    }

    /// The plugin's key policy names its sections by the `.sops.yaml`
    /// group field of each keystore that has an allow-list form.
    #[test]
    fn allow_list_forms() {
        let named: Vec<_> = keystores_by(|s| s.order.creation_rule)
            .iter()
            .filter(|k| k.spec().allow_list.is_some())
            .map(|k| k.spec().config.group_field)
            .collect();
        assert_eq!(
            named,
            [
                "age",
                "pgp",
                "kms",
                "gcp_kms",
                "hckms",
                "azure_keyvault",
                "hc_vault"
            ]
        );
        for ks in KEYSTORES {
            let spec = ks.spec();
            assert!(spec.version_parts < spec.identifier.len(), "{}", spec.name);
        }
        let pgp = pgp::KIND.spec().allow_list.unwrap();
        assert_eq!(pgp.apply(" 85d7 7543\tb3d6 "), "85D77543B3D6");
        let azure = |fields: &[(&str, &str)]| {
            let mut b = crate::tree::Branch::new();
            for (k, v) in fields {
                b.push(*k, crate::tree::Value::Str((*v).to_owned()));
            }
            KeyEntry {
                kind: azure_kv::KIND,
                fields: b,
            }
        };
        let e = azure(&[
            ("vault_url", "https://v.vault.azure.net"),
            ("name", "k"),
            ("version", "1"),
        ]);
        assert_eq!(e.identifier(), "https://v.vault.azure.net/keys/k/1");
        assert_eq!(
            e.unversioned_identifier().as_deref(),
            Some("https://v.vault.azure.net/keys/k")
        );
        let mut age = e.clone();
        age.kind = age::KIND;
        assert_eq!(age.unversioned_identifier(), None);
    }

    #[test]
    fn display_names() {
        assert_eq!(age::KIND.display_name(), "age");
        assert_eq!(pgp::KIND.display_name(), "PGP");
        assert_eq!(aws_kms::KIND.display_name(), "kms");
    }

    #[test]
    fn built_in_keystores_follow_features() {
        let built: Vec<_> = KEYSTORES
            .iter()
            .filter(|k| k.is_built_in())
            .map(|k| k.spec().name)
            .collect();
        let mut expected = Vec::new();
        if cfg!(feature = "aws-kms") {
            expected.push("kms");
        }
        if cfg!(feature = "gcp-kms") {
            expected.push("gcp_kms");
        }
        if cfg!(feature = "hckms") {
            expected.push("hckms");
        }
        if cfg!(feature = "azure-kv") {
            expected.push("azure_kv");
        }
        if cfg!(feature = "hc-vault") {
            expected.push("hc_vault");
        }
        if cfg!(feature = "age") {
            expected.push("age");
        }
        if cfg!(feature = "pgp") {
            expected.push("pgp");
        }
        assert_eq!(built, expected);
        let mut listed: Vec<_> = built_in_keystores().iter().map(|k| k.spec().name).collect();
        // built_in_keystores lists them in creation-rule order (age, pgp, kms, gcp_kms).
        listed.sort_by_key(|n| expected.iter().position(|e| e == n));
        assert_eq!(listed, expected);
    }
}
