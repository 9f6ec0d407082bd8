//! AWS KMS (`kms`). Not built in yet: its entries are read and written
//! verbatim, and its flags and config fields are recognised and refused.

use super::keystore::{
    CliFlags, ConfigForm, GroupForm, GroupsAdd, IdCompare, IdPart, KeyKind, KeyOption,
    KeystoreSpec, Normalise, Order, SopsBlockSlot,
};
use super::registry::Keystore;

pub const KIND: KeyKind = KeyKind::new(&SPEC);

const SPEC: KeystoreSpec = KeystoreSpec {
    name: "kms",
    display_name: "kms",
    fields: &["arn", "role", "context", "created_at", "enc", "aws_profile"],
    id_field: "arn",
    identifier: &[IdPart::Id],
    version_parts: 0,
    always_in_groups: false,
    order: Order {
        sops_block: SopsBlockSlot::BeforeMac(10),
        key_group: 20,
        creation_rule: 30,
        key_flags: 10,
    },
    config: ConfigForm {
        rule_field: "kms",
        normalise: Normalise::StripSpaces,
        options: &[KeyOption {
            field: "aws_profile",
            flag: "aws-profile",
            help: "The AWS profile to use for requests to AWS",
        }],
        group_field: "kms",
        group_form: GroupForm::Maps { id: "arn" },
    },
    cli: CliFlags {
        flag: "kms",
        short: Some('k'),
        env: "SOPS_KMS_ARN",
        help: "comma separated list of KMS ARNs",
        add_help: None,
        rm_help: None,
        groups_add: GroupsAdd::NotYet {
            help: "the KMS ARNs the new group should contain (not supported yet)",
        },
    },
    allow_list: Some(IdCompare::Trimmed),
};

pub static KEYSTORE: Keystore = Keystore::descriptor_only(KIND);
