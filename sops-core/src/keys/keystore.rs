//! What the file format, `.sops.yaml` and the command line know about a
//! keystore, as plain data: one [`KeystoreSpec`] per keystore, defined in
//! the keystore's own folder (`keys/<name>/mod.rs`) and listed once in
//! [`crate::keys::KEYSTORES`].
//!
//! This module is a leaf (it uses nothing else of the crate), so the
//! metadata types, the stores and the config parser can all depend on it
//! without a module circle; the constructors that need the implementations
//! live next to it in [`crate::keys::Keystore`].
//!
//! A spec holds no function pointers on purpose: [`KeyKind`] compares specs
//! with a derived `PartialEq`, which lets callers `match` on kind constants.

use std::fmt;
use std::hash::{Hash, Hasher};

/// The keystore of a master key: a small `Copy` handle to its
/// [`KeystoreSpec`]. Two kinds are equal when their specs are (in practice,
/// when their names are; the registry test checks names are unique).
///
/// Each keystore's folder exports its kind as `KIND` (`keys::age::KIND`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyKind(&'static KeystoreSpec);

impl KeyKind {
    /// The handle of a keystore's spec (used by the keystore folders).
    pub(crate) const fn new(spec: &'static KeystoreSpec) -> Self {
        Self(spec)
    }

    /// Everything the format, config and CLI know about this keystore.
    pub fn spec(self) -> &'static KeystoreSpec {
        self.0
    }

    /// The field name under `sops:` and in key groups (`kms`, `age` …).
    pub fn metadata_name(self) -> &'static str {
        self.0.name
    }

    /// The field that identifies a key of this kind in its entry.
    pub fn id_field(self) -> &'static str {
        self.0.id_field
    }
}

impl Hash for KeyKind {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Consistent with the derived `Eq`: equal specs have equal names.
        self.0.name.hash(state);
    }
}

impl fmt::Debug for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyKind({})", self.0.name)
    }
}

/// One keystore, as data.
#[derive(Debug, PartialEq, Eq)]
pub struct KeystoreSpec {
    /// The field name under `sops:` and in `key_groups` entries; also the
    /// name used in messages (`kms keys are not supported yet`).
    pub name: &'static str,
    /// How messages name the keystore (`age`, `PGP`, `AWS KMS` …).
    pub display_name: &'static str,
    /// The fields of a metadata entry, in the order sops 3.11 writes them
    /// (sops-format §3.3); unknown fields keep their order after these.
    pub fields: &'static [&'static str],
    /// The field that identifies a key (`recipient`, `fp`, `arn` …).
    pub id_field: &'static str,
    /// How [`crate::metadata::KeyEntry::identifier`] renders an entry.
    pub identifier: &'static [IdPart],
    /// How many parts at the end of `identifier` pin one version of the
    /// key (Azure Key Vault's `/<version>`); 0 when the identifier names no
    /// version. See [`crate::metadata::KeyEntry::unversioned_identifier`].
    pub version_parts: usize,
    /// Written inside every `key_groups` entry, as an empty list when the
    /// group has no key of this kind (sops does this for `hc_vault`, `age`).
    pub always_in_groups: bool,
    /// Where the keystore goes in each list sops writes in a fixed order.
    pub order: Order,
    /// Its `.sops.yaml` fields.
    pub config: ConfigForm,
    /// Its command-line flags.
    pub cli: CliFlags,
    /// How an operator's allow-list of master keys (the Argo CD plugin's
    /// `SOPS_CMP_KEY_POLICY`, whose sections are named by
    /// `config.group_field`) compares identifiers of this keystore; `None`
    /// when a list cannot name its keys, so that with a list they are never
    /// used.
    pub allow_list: Option<IdCompare>,
}

/// One piece of a rendered identifier.
#[derive(Debug, PartialEq, Eq)]
pub enum IdPart {
    /// The id field's value (`<unknown>` when missing).
    Id,
    /// Another field's value (empty when missing).
    Field(&'static str),
    /// Literal text.
    Text(&'static str),
    /// `prefix` and the field's value, or nothing when the field is missing
    /// or empty (kms' `+<role>`).
    Prefixed {
        prefix: &'static str,
        field: &'static str,
    },
    /// sops' kms suffix: `|k:v,…` (the map field's pairs sorted by key),
    /// present when the map has pairs or `last` is non-empty, then `|last`
    /// when `last` is non-empty (`arn||profile` for a profile without
    /// context).
    MapThenField {
        map: &'static str,
        last: &'static str,
    },
}

/// A keystore's rank in each fixed order sops uses; lower comes first.
/// Ranks must be unique per order (checked by a unit test).
#[derive(Debug, PartialEq, Eq)]
pub struct Order {
    /// The flat lists under `sops:` (a file with one key group), which is
    /// also the order entries are read into a group.
    pub sops_block: SopsBlockSlot,
    /// The lists inside a `key_groups` entry.
    pub key_group: u8,
    /// The keys a creation rule (or a `.sops.yaml` key group) names, which
    /// is also the order of `--add-X`/`--rm-X` and `groups add --X` flags.
    pub creation_rule: u8,
    /// The `--X` flags of encrypt/edit, and the order the keys they name
    /// are put in the new key group.
    pub key_flags: u8,
}

/// A flat list's place under `sops:`: sops writes some keystores before
/// `lastmodified` and `mac`, and `pgp` after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SopsBlockSlot {
    BeforeMac(u8),
    AfterMac(u8),
}

/// How a keystore appears in `.sops.yaml`.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigForm {
    /// The creation-rule field holding ids as a comma-separated string or
    /// a list of strings (`age`, `kms`, `hc_vault_transit_uri` …).
    pub rule_field: &'static str,
    /// How ids given as strings (the rule field, a string-list group field)
    /// are normalised.
    pub normalise: Normalise,
    /// Options of this keystore's keys: a creation-rule field copied into
    /// each key the rule field names, and the command-line flag that does
    /// the same for the keys given by flags.
    pub options: &'static [KeyOption],
    /// The field inside a `key_groups` entry.
    pub group_field: &'static str,
    /// The shape of that field.
    pub group_form: GroupForm,
}

/// Normalisation of an id given as a string in `.sops.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalise {
    AsIs,
    /// Every space removed (sops does this for PGP fingerprints and KMS ids).
    StripSpaces,
    /// Surrounding white space removed, and an id that is then empty names
    /// no key at all, in a creation rule and on the command line alike
    /// (sops' HuaweiCloud KMS lists: `a, ,b` is two keys).
    TrimDropEmpty,
}

impl Normalise {
    pub fn apply(self, id: &str) -> String {
        match self {
            Normalise::AsIs => id.to_owned(),
            Normalise::StripSpaces => id.chars().filter(|c| *c != ' ').collect(),
            Normalise::TrimDropEmpty => id.trim().to_owned(),
        }
    }

    /// False when `id`, an item of a comma-separated list or of a creation
    /// rule's list, names no key and is skipped ([`Normalise::TrimDropEmpty`]).
    pub fn names_a_key(self, id: &str) -> bool {
        self != Normalise::TrimDropEmpty || !id.trim().is_empty()
    }
}

/// How an allow-list entry and a key's identifier are made comparable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdCompare {
    /// Surrounding whitespace is ignored.
    Trimmed,
    /// Every whitespace character and ASCII case are ignored (PGP
    /// fingerprints, which gpg prints in groups of four, in either case).
    NoSpacesAnyCase,
}

impl IdCompare {
    /// `id` in the form that is compared.
    pub fn apply(self, id: &str) -> String {
        match self {
            IdCompare::Trimmed => id.trim().to_owned(),
            IdCompare::NoSpacesAnyCase => id
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_uppercase(),
        }
    }
}

/// The shape of a keystore's field inside a `.sops.yaml` key group.
#[derive(Debug, PartialEq, Eq)]
pub enum GroupForm {
    /// Ids as a comma-separated string or a list of strings.
    Ids,
    /// A list of mappings; `id` names the identifying field (`arn`,
    /// `vaultUrl` …), every other field is kept (nested mappings as `a.b`).
    Maps { id: &'static str },
}

/// An option of a keystore's keys (kms' `aws_profile`).
#[derive(Debug, PartialEq, Eq)]
pub struct KeyOption {
    /// The creation-rule field, also the [`KeySpec`] field it becomes.
    pub field: &'static str,
    /// The flag of encrypt/edit (`--aws-profile`), without dashes.
    pub flag: &'static str,
    /// The flag's help text.
    pub help: &'static str,
}

/// A keystore's command-line flags.
#[derive(Debug, PartialEq, Eq)]
pub struct CliFlags {
    /// `--<flag>` of encrypt/edit/the root form, `--add-<flag>` and
    /// `--rm-<flag>` of rotate, and `groups add --<flag>`.
    pub flag: &'static str,
    pub short: Option<char>,
    /// The variable `--<flag>` falls back to.
    pub env: &'static str,
    pub help: &'static str,
    pub add_help: Option<&'static str>,
    pub rm_help: Option<&'static str>,
    pub groups_add: GroupsAdd,
}

/// A keystore's flag of `groups add`.
#[derive(Debug, PartialEq, Eq)]
pub enum GroupsAdd {
    /// `groups add` has no flag for it.
    Absent,
    /// The flag exists (as in sops) but is refused for now.
    NotYet { help: &'static str },
    /// The flag works when the keystore is built in.
    Ready { help: &'static str },
}

/// One master key named by a creation rule or by command-line flags: its
/// keystore and its identity string (age recipient, PGP fingerprint, KMS
/// ARN …) and, for structured entries and key options, further fields.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySpec {
    pub kind: KeyKind,
    pub id: String,
    /// Extra fields of structured entries (kms role/context/aws_profile, azure version …).
    pub fields: Vec<(String, String)>,
}
