//! AWS KMS (`kms`): the data key is sent to KMS `Encrypt`/`Decrypt` with
//! the key's encryption context; `enc` is the base64 ciphertext blob.
//!
//! Built in with the `aws-kms` feature (the binaries turn it on); without
//! it, entries are read and written verbatim and the flags are refused.
//! Unlike the other keystores, credentials, profiles and endpoint
//! overrides (`AWS_ENDPOINT_URL[_KMS]`) are resolved by the AWS SDK's
//! standard chain from the process environment and the shared config
//! files, as sops does; the time-outs come from the [`KeyContext`], and so
//! may the credentials: with [`KeyContextBuilder::aws_shared_files`] only
//! the two files given are read.
//!
//! One SDK client per distinct (region, profile, role, time-outs, shared
//! files) serves the whole process, so many calls load the configuration
//! and assume a role once and share connections.
//!
//! [`KeyContext`]: crate::keys::KeyContext
//! [`KeyContextBuilder::aws_shared_files`]: crate::keys::KeyContextBuilder::aws_shared_files

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
    // sops' identity string: `<arn>[+<role>][|<k:v,…>][|<profile>]`, which
    // `--rm-kms` and `updatekeys` compare and the failure listing shows.
    identifier: &[
        IdPart::Id,
        IdPart::Prefixed {
            prefix: "+",
            field: "role",
        },
        IdPart::MapThenField {
            map: "context",
            last: "aws_profile",
        },
    ],
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
            help: "the AWS profile to use for requests to AWS",
        }],
        group_field: "kms",
        group_form: GroupForm::Maps { id: "arn" },
    },
    cli: CliFlags {
        flag: "kms",
        short: Some('k'),
        env: "SOPS_KMS_ARN",
        help: "comma separated list of KMS ARNs",
        add_help: Some(
            "add the provided comma-separated list of KMS ARNs to the list of master keys on the given file",
        ),
        rm_help: Some(
            "remove the provided comma-separated list of KMS ARNs from the list of master keys on the given file",
        ),
        groups_add: GroupsAdd::Ready {
            help: "the KMS ARNs the new group should contain. Can be specified more than once",
        },
    },
    allow_list: Some(IdCompare::Trimmed),
};

#[cfg(feature = "aws-kms")]
pub static KEYSTORE: Keystore = Keystore {
    kind: KIND,
    from_entry: Some(|entry| Ok(Box::new(AwsKmsKey::from_entry(entry)))),
    from_spec: Some(|spec| Ok(Box::new(AwsKmsKey::from_spec(spec)))),
};

#[cfg(not(feature = "aws-kms"))]
pub static KEYSTORE: Keystore = Keystore::descriptor_only(KIND);

// The implementation, behind the `aws-kms` feature; the spec above exists
// in every build so files with kms entries keep them verbatim without it.
#[cfg(feature = "aws-kms")]
mod key;

#[cfg(feature = "aws-kms")]
pub use key::AwsKmsKey;
#[cfg(feature = "publish")]
pub(crate) use key::base_config;
