//! Azure Key Vault (`azure_kv`). Not built in yet: its entries are read and
//! written verbatim, and its flags and config fields are recognised and
//! refused.

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
        add_help: None,
        rm_help: None,
        groups_add: GroupsAdd::NotYet {
            help: "the Azure Key Vault key URLs the new group should contain (not supported yet)",
        },
    },
    allow_list: Some(IdCompare::Trimmed),
};

pub static KEYSTORE: Keystore = Keystore::descriptor_only(KIND);
