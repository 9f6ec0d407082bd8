//! HashiCorp Vault transit (`hc_vault`). Not built in yet: its entries are
//! read and written verbatim, and its flags and config fields are
//! recognised and refused.

use super::keystore::{
    CliFlags, ConfigForm, GroupForm, GroupsAdd, IdCompare, IdPart, KeyKind, KeystoreSpec,
    Normalise, Order, SopsBlockSlot,
};
use super::registry::Keystore;

pub const KIND: KeyKind = KeyKind::new(&SPEC);

const SPEC: KeystoreSpec = KeystoreSpec {
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
        help: "comma separated list of vault's key URI",
        add_help: None,
        rm_help: None,
        groups_add: GroupsAdd::NotYet {
            help: "the Vault transit key URIs the new group should contain (not supported yet)",
        },
    },
    allow_list: Some(IdCompare::Trimmed),
};

pub static KEYSTORE: Keystore = Keystore::descriptor_only(KIND);
