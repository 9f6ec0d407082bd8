//! GCP KMS (`gcp_kms`): the data key is sent to Cloud KMS `Encrypt`/`Decrypt`
//! of the key's resource id; `enc` is the base64 ciphertext.
//!
//! Built in with the `gcp-kms` feature (the binaries turn it on); without
//! it, entries are read and written verbatim and the flags are refused.
//! Credentials and the endpoint come from the [`KeyContext`] only, as sops
//! reads them: `GOOGLE_CREDENTIALS` (a path or the JSON), else
//! `GOOGLE_OAUTH_ACCESS_TOKEN`, else Application Default Credentials
//! (`GOOGLE_APPLICATION_CREDENTIALS`, then the client library's chain:
//! gcloud's file, the metadata server); `SOPS_GCP_KMS_ENDPOINT` (sops 3.13)
//! replaces Google's endpoint (`host:port` without a scheme is HTTPS), else
//! `SOPS_GCP_KMS_UNIVERSE_DOMAIN` (3.13) makes it `cloudkms.<domain>` and
//! refuses credentials of another universe (an access token names none
//! and is taken to be of it). `SOPS_GCP_KMS_CLIENT_TYPE` (3.12) needs no
//! reading: sops takes any value, and our client always speaks HTTP/JSON.
//!
//! [`KeyContext`]: crate::keys::KeyContext

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
        add_help: Some(
            "add the provided comma-separated list of GCP KMS key resource IDs to the list of master keys on the given file",
        ),
        rm_help: Some(
            "remove the provided comma-separated list of GCP KMS key resource IDs from the list of master keys on the given file",
        ),
        groups_add: GroupsAdd::Ready {
            help: "the GCP KMS Resource ID the new group should contain. Can be specified more than once",
        },
    },
    allow_list: Some(IdCompare::Trimmed),
};

#[cfg(feature = "gcp-kms")]
pub static KEYSTORE: Keystore = Keystore {
    kind: KIND,
    from_entry: Some(|entry| Ok(Box::new(GcpKmsKey::from_entry(entry)))),
    from_spec: Some(|spec| Ok(Box::new(GcpKmsKey::from_spec(spec)))),
};

#[cfg(not(feature = "gcp-kms"))]
pub static KEYSTORE: Keystore = Keystore::descriptor_only(KIND);

// The implementation, behind the `gcp-kms` feature; the spec above exists
// in every build so files with gcp_kms entries keep them verbatim without it.
#[cfg(feature = "gcp-kms")]
mod key;

#[cfg(feature = "gcp-kms")]
pub use key::GcpKmsKey;
#[cfg(feature = "publish")]
pub(crate) use key::{CredentialsFailure, credentials};
