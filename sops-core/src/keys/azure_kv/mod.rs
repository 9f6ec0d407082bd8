//! Azure Key Vault (`azure_kv`): the data key is wrapped by the Key Vault
//! key's `encrypt` operation with RSA-OAEP-256; `enc` is the result in
//! URL-safe base64 without padding.
//!
//! Built in with the `azure-kv` feature (the binaries turn it on); without
//! it, entries are read and written verbatim and the flags are refused.
//! Keys are named `https://<vault>/keys/<name>[/<version>]`; a key named
//! without a version gets the current one from the vault when it first
//! wraps a key (sops 3.11 asks when it loads the key). Requests follow Key
//! Vault's challenge: the first goes without a token, and the 401's
//! `WWW-Authenticate` names the tenant and the resource to get a token for.
//! Tokens come from azidentity's `DefaultAzureCredential` chain, rebuilt
//! over the [`KeyContext`]'s settings (`credentials.rs`).
//!
//! [`KeyContext`]: crate::keys::KeyContext

use super::keystore::{
    CliFlags, ConfigForm, GroupForm, GroupsAdd, IdCompare, IdPart, KeyKind, KeystoreSpec,
    Normalise, Order, SopsBlockSlot,
};
use super::registry::Keystore;

pub const KIND: KeyKind = KeyKind::new(&SPEC);

const SPEC: KeystoreSpec = KeystoreSpec {
    name: "azure_kv",
    display_name: "azure_kv",
    fields: &["vault_url", "name", "version", "created_at", "enc"],
    id_field: "vault_url",
    // sops' key URL form: `{vault_url}/keys/{name}/{version}`.
    identifier: &[
        IdPart::Id,
        IdPart::Text("/keys/"),
        IdPart::Field("name"),
        IdPart::Text("/"),
        IdPart::Field("version"),
    ],
    // `/<version>`: a key named without it means every version.
    version_parts: 2,
    always_in_groups: false,
    order: Order {
        sops_block: SopsBlockSlot::BeforeMac(40),
        key_group: 50,
        creation_rule: 60,
        key_flags: 40,
    },
    config: ConfigForm {
        rule_field: "azure_keyvault",
        normalise: Normalise::AsIs,
        options: &[],
        group_field: "azure_keyvault",
        group_form: GroupForm::Maps { id: "vaultUrl" },
    },
    cli: CliFlags {
        flag: "azure-kv",
        short: None,
        env: "SOPS_AZURE_KEYVAULT_URLS",
        help: "comma separated list of Azure Key Vault URLs",
        add_help: Some(
            "add the provided comma-separated list of Azure Key Vault key URLs to the list of master keys on the given file",
        ),
        rm_help: Some(
            "remove the provided comma-separated list of Azure Key Vault key URLs from the list of master keys on the given file",
        ),
        groups_add: GroupsAdd::Ready {
            help: "the Azure Key Vault key URL the new group should contain. Can be specified more than once",
        },
    },
    allow_list: Some(IdCompare::Trimmed),
};

#[cfg(feature = "azure-kv")]
pub static KEYSTORE: Keystore = Keystore {
    kind: KIND,
    from_entry: Some(|entry| Ok(Box::new(AzureKvKey::from_entry(entry)))),
    from_spec: Some(|spec| Ok(Box::new(AzureKvKey::from_spec(spec)?))),
};

#[cfg(not(feature = "azure-kv"))]
pub static KEYSTORE: Keystore = Keystore::descriptor_only(KIND);

mod inputs;
pub(crate) use inputs::AzureInputs;

// The implementation, behind the `azure-kv` feature; the spec above exists
// in every build so files with azure_kv entries keep them verbatim without it.
#[cfg(feature = "azure-kv")]
mod certificate;
#[cfg(feature = "azure-kv")]
mod credentials;
#[cfg(feature = "azure-kv")]
mod key;

#[cfg(feature = "azure-kv")]
pub use key::AzureKvKey;

/// URL-safe base64 without padding, Azure's encoding for JWTs (the
/// certificate credential) and Key Vault values alike.
#[cfg(feature = "azure-kv")]
fn b64url(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}
