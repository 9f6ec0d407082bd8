//! age keystore: X25519, hybrid post-quantum (`age1pq1…`), SSH and plugin
//! recipients; identities from every source sops 3.13 reads (sops-cli §9.2).
//!
//! Each key wraps the secret (data key or Shamir share) for exactly one
//! recipient and stores it as an ASCII-armored age file with a trailing
//! newline, byte-for-byte in the layout sops writes (sops-format §3.2).

use super::keystore::{
    CliFlags, ConfigForm, GroupForm, GroupsAdd, IdCompare, IdPart, KeyKind, KeystoreSpec,
    Normalise, Order, SopsBlockSlot,
};
use super::registry::Keystore;

pub const KIND: KeyKind = KeyKind::new(&SPEC);

const SPEC: KeystoreSpec = KeystoreSpec {
    name: "age",
    display_name: "age",
    fields: &["recipient", "enc"],
    id_field: "recipient",
    identifier: &[IdPart::Id],
    version_parts: 0,
    always_in_groups: true,
    order: Order {
        sops_block: SopsBlockSlot::BeforeMac(60),
        key_group: 70,
        creation_rule: 10,
        key_flags: 70,
    },
    config: ConfigForm {
        rule_field: "age",
        normalise: Normalise::AsIs,
        options: &[],
        group_field: "age",
        group_form: GroupForm::Ids,
    },
    cli: CliFlags {
        flag: "age",
        short: Some('a'),
        env: "SOPS_AGE_RECIPIENTS",
        help: "comma separated list of age recipients",
        add_help: Some(
            "add the provided comma-separated list of age recipients to the list of master keys on the given file",
        ),
        rm_help: Some(
            "remove the provided comma-separated list of age recipients from the list of master keys on the given file",
        ),
        groups_add: GroupsAdd::Ready {
            help: "the age recipient the new group should contain. Can be specified more than once",
        },
    },
    allow_list: Some(IdCompare::Trimmed),
};

#[cfg(feature = "age")]
pub static KEYSTORE: Keystore = Keystore {
    kind: KIND,
    from_entry: Some(|entry| {
        let recipient = entry.field("recipient").unwrap_or_default();
        Ok(Box::new(AgeKey::from_stored(recipient)))
    }),
    from_spec: Some(|spec| Ok(Box::new(AgeKey::parse(&spec.id)?))),
};

#[cfg(not(feature = "age"))]
pub static KEYSTORE: Keystore = Keystore::descriptor_only(KIND);

// The implementation, behind the `age` feature; the spec above exists in
// every build so files with age entries keep them verbatim without it.
#[cfg(feature = "age")]
mod identities;
#[cfg(feature = "age")]
mod key;
#[cfg(feature = "age")]
mod keygen;
#[cfg(feature = "age")]
mod passphrase;
#[cfg(feature = "age")]
mod plugins;
#[cfg(feature = "age")]
mod pq;

#[cfg(feature = "age")]
pub use identities::AgeIdentities;
#[cfg(feature = "age")]
pub(crate) use identities::{AgeSources, IdentitiesRef, IdentityCache};
#[cfg(feature = "age")]
pub use key::AgeKey;
#[cfg(feature = "age")]
pub use keygen::{AgeKeyPair, generate_key_pair};
