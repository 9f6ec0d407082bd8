//! PGP keystore, through the user's `gpg` as sops does when there is no
//! legacy keyring (the common case today): `gpg --encrypt -a` to wrap,
//! `gpg -d` to unwrap, so gpg-agent, pinentry and smartcards work as usual.
//! The key context names the program (`SOPS_GPG_EXEC` from the
//! environment) and the gpg home (`GNUPGHOME`), which is passed on.

use super::keystore::{
    CliFlags, ConfigForm, GroupForm, GroupsAdd, IdCompare, IdPart, KeyKind, KeystoreSpec,
    Normalise, Order, SopsBlockSlot,
};
use super::registry::Keystore;

pub const KIND: KeyKind = KeyKind::new(&SPEC);

const SPEC: KeystoreSpec = KeystoreSpec {
    name: "pgp",
    display_name: "PGP",
    fields: &["created_at", "enc", "fp"],
    id_field: "fp",
    identifier: &[IdPart::Id],
    version_parts: 0,
    always_in_groups: false,
    order: Order {
        // sops writes `pgp` after `lastmodified` and `mac`.
        sops_block: SopsBlockSlot::AfterMac(10),
        key_group: 10,
        creation_rule: 20,
        key_flags: 60,
    },
    config: ConfigForm {
        rule_field: "pgp",
        normalise: Normalise::StripSpaces,
        options: &[],
        group_field: "pgp",
        group_form: GroupForm::Ids,
    },
    cli: CliFlags {
        flag: "pgp",
        short: Some('p'),
        env: "SOPS_PGP_FP",
        help: "comma separated list of PGP fingerprints",
        add_help: Some(
            "add the provided comma-separated list of PGP fingerprints to the list of master keys on the given file",
        ),
        rm_help: Some(
            "remove the provided comma-separated list of PGP fingerprints from the list of master keys on the given file",
        ),
        groups_add: GroupsAdd::NotYet {
            help: "the PGP fingerprints the new group should contain (not supported yet)",
        },
    },
    // gpg prints fingerprints in groups and either case.
    allow_list: Some(IdCompare::NoSpacesAnyCase),
};

#[cfg(feature = "pgp")]
pub static KEYSTORE: Keystore = Keystore {
    kind: KIND,
    from_entry: Some(|entry| {
        Ok(Box::new(PgpKey::parse(
            entry.field("fp").unwrap_or_default(),
        )?))
    }),
    from_spec: Some(|spec| Ok(Box::new(PgpKey::parse(&spec.id)?))),
};

#[cfg(not(feature = "pgp"))]
pub static KEYSTORE: Keystore = Keystore::descriptor_only(KIND);

// The implementation, behind the `pgp` feature; the spec above exists in
// every build so files with PGP entries keep them verbatim without it.
#[cfg(feature = "pgp")]
mod key;

#[cfg(feature = "pgp")]
pub use key::PgpKey;
