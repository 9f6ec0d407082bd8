//! HashiCorp Vault transit (`hc_vault`): the data key is sent to the
//! transit engine's `encrypt`/`decrypt` of the key
//! (`PUT {vault_address}/v1/{engine_path}/encrypt/{key_name}`); `enc` is
//! Vault's `vault:v1:…` ciphertext.
//!
//! Built in with the `hc-vault` feature (the binaries turn it on); without
//! it, entries are read and written verbatim and the flags are refused.
//! Token, namespace, TLS trust and the address allow-list come from the
//! [`KeyContext`] only (`inputs.rs`), as sops and its Vault client read
//! them: `VAULT_TOKEN`, else `~/.vault-token`; `VAULT_NAMESPACE`;
//! `VAULT_CACERT`, `VAULT_CAPATH`, `VAULT_SKIP_VERIFY`;
//! `SOPS_HC_VAULT_ALLOWLIST` (sops 3.13).
//!
//! [`KeyContext`]: crate::keys::KeyContext

use super::keystore::{
    CliFlags, ConfigForm, GroupForm, GroupsAdd, IdCompare, IdPart, KeyKind, KeystoreSpec,
    Normalise, Order, SopsBlockSlot,
};
use super::registry::Keystore;

pub const KIND: KeyKind = KeyKind::new(&SPEC);

pub(crate) const SPEC: KeystoreSpec = KeystoreSpec {
    name: "hc_vault",
    display_name: "hc_vault",
    fields: &[
        "vault_address",
        "engine_path",
        "key_name",
        "created_at",
        "enc",
    ],
    id_field: "vault_address",
    // sops' key URI form: `{vault_address}/v1/{engine_path}/keys/{key_name}`.
    identifier: &[
        IdPart::Id,
        IdPart::Text("/v1/"),
        IdPart::Field("engine_path"),
        IdPart::Text("/keys/"),
        IdPart::Field("key_name"),
    ],
    version_parts: 0,
    always_in_groups: true,
    order: Order {
        sops_block: SopsBlockSlot::BeforeMac(50),
        key_group: 60,
        creation_rule: 70,
        key_flags: 50,
    },
    config: ConfigForm {
        rule_field: "hc_vault_transit_uri",
        normalise: Normalise::AsIs,
        options: &[],
        group_field: "hc_vault",
        group_form: GroupForm::Ids,
    },
    cli: CliFlags {
        flag: "hc-vault-transit",
        short: None,
        env: "SOPS_VAULT_URIS",
        help: "comma separated list of vault's key URI (e.g. 'https://vault.example.org:8200/v1/transit/keys/dev')",
        add_help: Some(
            "add the provided comma-separated list of Vault's URI key to the list of master keys on the given file ( eg. https://vault.example.org:8200/v1/transit/keys/dev)",
        ),
        rm_help: Some(
            "remove the provided comma-separated list of Vault's URI key from the list of master keys on the given file ( eg. https://vault.example.org:8200/v1/transit/keys/dev)",
        ),
        groups_add: GroupsAdd::Ready {
            help: "the full vault path to the key used to encrypt/decrypt. Make you choose and configure a key with encryption/decryption enabled (e.g. 'https://vault.example.org:8200/v1/transit/keys/dev'). Can be specified more than once",
        },
    },
    allow_list: Some(IdCompare::Trimmed),
};

#[cfg(feature = "hc-vault")]
pub static KEYSTORE: Keystore = Keystore {
    kind: KIND,
    from_entry: Some(|entry| Ok(Box::new(HcVaultKey::from_entry(entry)))),
    from_spec: Some(|spec| Ok(Box::new(HcVaultKey::from_spec(spec)?))),
};

#[cfg(not(feature = "hc-vault"))]
pub static KEYSTORE: Keystore = Keystore::descriptor_only(KIND);

pub(crate) mod inputs;

// The implementation, behind the `hc-vault` feature; the spec above exists
// in every build so files with hc_vault entries keep them verbatim without it.
#[cfg(feature = "hc-vault")]
mod key;

#[cfg(feature = "hc-vault")]
pub use key::HcVaultKey;
/// The Vault client settings and token lookup `publish`'s Vault KV
/// destination shares with the transit keys.
#[cfg(feature = "hc-vault")]
#[cfg_attr(not(feature = "publish"), allow(unused_imports))]
pub(crate) use key::{TokenProblem, client, context_token};
