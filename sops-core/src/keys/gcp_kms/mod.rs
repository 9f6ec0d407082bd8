//! GCP KMS (`gcp_kms`). Not built in yet: its entries are read and written
//! verbatim, and its flags and config fields are recognised and refused.

use super::keystore::{
    CliFlags, ConfigForm, GroupForm, GroupsAdd, IdCompare, IdPart, KeyKind, KeystoreSpec,
    Normalise, Order, SopsBlockSlot,
};
use super::registry::Keystore;

pub const KIND: KeyKind = KeyKind::new(&SPEC);

const SPEC: KeystoreSpec = KeystoreSpec {
    name: "gcp_kms",
    display_name: "gcp_kms",
    fields: &["resource_id", "created_at", "enc"],
    id_field: "resource_id",
    identifier: &[IdPart::Id],
    version_parts: 0,
    always_in_groups: false,
    order: Order {
        sops_block: SopsBlockSlot::BeforeMac(20),
        key_group: 30,
        creation_rule: 40,
        key_flags: 20,
    },
    config: ConfigForm {
        rule_field: "gcp_kms",
        normalise: Normalise::StripSpaces,
        options: &[],
        group_field: "gcp_kms",
        group_form: GroupForm::Maps { id: "resource_id" },
    },
    cli: CliFlags {
        flag: "gcp-kms",
        short: None,
        env: "SOPS_GCP_KMS_IDS",
        help: "comma separated list of GCP KMS resource IDs",
        add_help: None,
        rm_help: None,
        groups_add: GroupsAdd::NotYet {
            help: "the GCP KMS resource IDs the new group should contain (not supported yet)",
        },
    },
    allow_list: Some(IdCompare::Trimmed),
};

pub static KEYSTORE: Keystore = Keystore::descriptor_only(KIND);
