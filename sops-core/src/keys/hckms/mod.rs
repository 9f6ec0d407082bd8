//! HuaweiCloud KMS (`hckms`, sops 3.12): the data key, as base64 text, is
//! sent to KMS `encrypt-data` of the key `region:key-uuid`; `enc` is the
//! returned `cipher_text` verbatim.
//!
//! Built in with the `hckms` feature (the binaries turn it on); without it,
//! entries are read and written verbatim and the flags are refused.
//! Credentials and endpoints come from the [`KeyContext`] only, as Huawei's
//! Go SDK reads them for sops: `HUAWEICLOUD_SDK_AK`/`_SK`/`_PROJECT_ID`
//! (and `_SECURITY_TOKEN`), else the credentials file
//! (`HUAWEICLOUD_SDK_CREDENTIALS_FILE`, `~/.huaweicloud/credentials`);
//! never the instance metadata service. A region's endpoint is
//! `HUAWEICLOUD_SDK_REGION_KMS_<REGION>`, else the regions file
//! (`HUAWEICLOUD_SDK_REGIONS_FILE`, `~/.huaweicloud/regions.yaml`), else
//! the SDK's built-in list. Requests are signed SDK-HMAC-SHA256.
//!
//! [`KeyContext`]: crate::keys::KeyContext

use super::keystore::{
    CliFlags, ConfigForm, GroupForm, GroupsAdd, IdCompare, IdPart, KeyKind, KeystoreSpec,
    Normalise, Order, SopsBlockSlot,
};
use super::registry::Keystore;

mod inputs;
pub(crate) use inputs::HckmsInputs;

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
        normalise: Normalise::TrimDropEmpty,
        options: &[],
        group_field: "hckms",
        group_form: GroupForm::Maps { id: "key_id" },
    },
    cli: CliFlags {
        flag: "hckms",
        short: None,
        env: "SOPS_HUAWEICLOUD_KMS_IDS",
        help: "comma separated list of HuaweiCloud KMS key IDs (format: region:key-uuid)",
        add_help: Some(
            "add the provided comma-separated list of HuaweiCloud KMS key IDs (format: region:key-uuid) to the list of master keys on the given file",
        ),
        rm_help: Some(
            "remove the provided comma-separated list of HuaweiCloud KMS key IDs (format: region:key-uuid) from the list of master keys on the given file",
        ),
        groups_add: GroupsAdd::Ready {
            help: "the HuaweiCloud KMS key ID (format: region:key-uuid) the new group should contain. Can be specified more than once",
        },
    },
    allow_list: Some(IdCompare::Trimmed),
};

#[cfg(feature = "hckms")]
pub static KEYSTORE: Keystore = Keystore {
    kind: KIND,
    from_entry: Some(|entry| Ok(Box::new(HckmsKey::from_entry(entry)?))),
    from_spec: Some(|spec| Ok(Box::new(HckmsKey::from_spec(spec)?))),
};

#[cfg(not(feature = "hckms"))]
pub static KEYSTORE: Keystore = Keystore::descriptor_only(KIND);

// The implementation, behind the `hckms` feature; the spec above exists in
// every build so files with hckms entries keep them verbatim without it.
#[cfg(feature = "hckms")]
mod credentials;
#[cfg(feature = "hckms")]
mod key;
#[cfg(feature = "hckms")]
mod regions;
#[cfg(feature = "hckms")]
mod signer;

#[cfg(feature = "hckms")]
pub use key::HckmsKey;
