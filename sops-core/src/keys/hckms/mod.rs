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
    display_name: "hckms",
    fields: &["key_id", "created_at", "enc"],
    id_field: "key_id",
    identifier: &[IdPart::Id],
    version_parts: 0,
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
    // The plugin's key policy has no section for HuaweiCloud KMS: with a
    // policy, these keys are never used (as documented in its README).
    allow_list: None,
};

pub static KEYSTORE: Keystore = Keystore::descriptor_only(KIND);
