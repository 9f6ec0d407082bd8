//! HuaweiCloud KMS (`hckms`). Not built in yet: its entries are read and
//! written verbatim, and its flags and config fields are recognised and
//! refused.

use super::keystore::{
    CliFlags, ConfigForm, GroupForm, GroupsAdd, IdPart, KeyKind, KeystoreSpec, Normalise, Order,
    SopsBlockSlot,
};
use super::registry::Keystore;

pub const KIND: KeyKind = KeyKind::new(&SPEC);

const SPEC: KeystoreSpec = KeystoreSpec {
    name: "hckms",
    fields: &["key_id", "created_at", "enc"],
    id_field: "key_id",
    identifier: &[IdPart::Id],
    always_in_groups: false,
    order: Order {
        sops_block: SopsBlockSlot::BeforeMac(30),
        key_group: 40,
        creation_rule: 50,
        key_flags: 30,
    },
    config: ConfigForm {
        rule_field: "hckms",
        normalise: Normalise::AsIs,
        options: &[],
        group_field: "hckms",
        group_form: GroupForm::Maps { id: "key_id" },
    },
    cli: CliFlags {
        flag: "hckms",
        short: None,
        env: "SOPS_HUAWEICLOUD_KMS_IDS",
        help: "comma separated list of HuaweiCloud KMS key IDs",
        add_help: None,
        rm_help: None,
        groups_add: GroupsAdd::Absent,
    },
};

pub static KEYSTORE: Keystore = Keystore::descriptor_only(KIND);
