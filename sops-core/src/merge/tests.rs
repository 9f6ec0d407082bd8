//! [`merge_files`] on files made here: the metadata rules (the document
//! rules are `tree`'s tests; real `git merge`s are the CLI's tests).

use super::*;
use crate::stores::yaml::YamlStore;
use crate::test_vectors::{TestIdentity as Identity, context_of as ctx, group_of as group};

/// An encrypted file with `plain` for `ids` (a new data key).
fn encrypted(plain: &str, ids: &[&Identity]) -> Vec<u8> {
    crate::test_vectors::encrypted_yaml(plain.as_bytes(), ids)
}

/// `input` with `plain` in it and its data key wrapped for `groups` (as
/// `sops set` and `sops updatekeys` would leave it).
fn changed(input: &[u8], plain: &str, groups: &[&[&Identity]], openers: &[&Identity]) -> Vec<u8> {
    let store = YamlStore::default();
    let mut file = EncryptedFile::open(&store, input).unwrap();
    let key = file.recover_key(&ctx(openers), &[]).unwrap();
    let groups: Vec<_> = groups.iter().map(|ids| group(ids)).collect();
    file.set_key_groups(&key, &groups, 0, &ctx(&[])).unwrap();
    let bytes = file.emit(&store).unwrap();
    let mut plain_file = EncryptedFile::open(&store, &bytes)
        .unwrap()
        .decrypt(&ctx(openers), &DecryptOptions::default())
        .unwrap();
    plain_file.replace_docs(store.load(plain.as_bytes()).unwrap());
    plain_file.encrypt().unwrap().emit(&store).unwrap()
}

fn merge(base: &[u8], ours: &[u8], theirs: &[u8], id: &Identity) -> MergeOutcome {
    merge_files(
        &YamlStore::default(),
        base,
        ours,
        theirs,
        &ctx(&[id]),
        &DecryptOptions::default(),
    )
    .unwrap()
}

fn recipients(file: &EncryptedFile) -> Vec<String> {
    file.metadata()
        .all_keys()
        .map(KeyEntry::identifier)
        .collect()
}

fn plain_of(file: EncryptedFile, id: &Identity) -> String {
    let store = YamlStore::default();
    let plain = file
        .decrypt(&ctx(&[id]), &DecryptOptions::default())
        .unwrap();
    String::from_utf8(store.emit_plain(plain.docs()).unwrap()).unwrap()
}

#[test]
fn recipients_changed_on_both_sides_are_merged_key_by_key() {
    let (a, b, c) = (
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
    );
    let base = encrypted("x: 1\n", &[&a, &b]);
    let ours = changed(&base, "x: 2\n", &[&[&a, &b, &c]], &[&a]);
    let theirs = changed(&base, "x: 1\nw: 3\n", &[&[&a]], &[&a]);
    let MergeOutcome::Merged {
        file, conflicts, ..
    } = merge(&base, &ours, &theirs, &a)
    else {
        panic!("not merged")
    };
    assert!(conflicts.is_empty());
    assert_eq!(
        recipients(&file),
        [a.recipient.clone(), c.recipient.clone()]
    );
    // The added recipient's stored `enc` opens the merged file.
    assert_eq!(plain_of(file, &c), "x: 2\nw: 3\n");
}

#[test]
fn a_data_key_rotated_on_both_sides_keeps_ours() {
    let a = Identity::generate();
    let base = encrypted("x: 1\n", &[&a]);
    let ours = encrypted("x: 2\n", &[&a]);
    let theirs = encrypted("x: 3\n", &[&a]);
    let MergeOutcome::KeepOurs { reason } = merge(&base, &ours, &theirs, &a) else {
        panic!("merged")
    };
    assert!(reason.contains("rotated on both sides"), "{reason}");
}

#[test]
fn no_common_ancestor_with_one_data_key_merges() {
    let a = Identity::generate();
    let ours = encrypted("x: 1\n", &[&a]);
    let theirs = changed(&ours, "x: 1\nw: 2\n", &[&[&a]], &[&a]);
    let MergeOutcome::Merged { file, .. } = merge(b"", &ours, &theirs, &a) else {
        panic!("not merged")
    };
    assert_eq!(plain_of(file, &a), "x: 1\nw: 2\n");
}

#[test]
fn shamir_groups_changed_on_both_sides_keep_ours() {
    let (a, b, c) = (
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
    );
    let base = changed(
        &encrypted("x: 1\n", &[&a]),
        "x: 1\n",
        &[&[&a], &[&b]],
        &[&a, &b],
    );
    let ours = changed(&base, "x: 1\n", &[&[&a, &c], &[&b]], &[&a, &b]);
    let theirs = changed(&base, "x: 1\n", &[&[&a], &[&b, &c]], &[&a, &b]);
    let both = ctx(&[&a, &b]);
    let outcome = merge_files(
        &YamlStore::default(),
        &base,
        &ours,
        &theirs,
        &both,
        &DecryptOptions::default(),
    )
    .unwrap();
    assert!(
        matches!(outcome, MergeOutcome::KeepOurs { .. }),
        "{outcome:?}"
    );
}

#[test]
fn an_undecryptable_side_is_named() {
    let (a, b) = (Identity::generate(), Identity::generate());
    let base = encrypted("x: 1\n", &[&a]);
    let theirs = encrypted("x: 1\n", &[&b]);
    let err = merge_files(
        &YamlStore::default(),
        &base,
        &base,
        &theirs,
        &ctx(&[&a]),
        &DecryptOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            MergeError::Decrypt {
                side: Side::Theirs,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "could not decrypt theirs");
}

#[test]
fn a_rotation_wins_over_recipients_changed_on_the_other_side_with_a_note() {
    let (a, c) = (Identity::generate(), Identity::generate());
    let base = encrypted("x: 1\n", &[&a]);
    let ours = encrypted("x: 1\n", &[&a]); // rotated: a new data key
    let theirs = changed(&base, "x: 2\n", &[&[&a, &c]], &[&a]);
    let MergeOutcome::Merged {
        file,
        notes,
        conflicts,
    } = merge(&base, &ours, &theirs, &a)
    else {
        panic!("not merged")
    };
    assert!(conflicts.is_empty());
    assert_eq!(
        notes,
        ["ours rotated the data key: its key groups win over theirs' changes to them"]
    );
    assert_eq!(recipients(&file), [a.recipient.as_str()]);
    assert_eq!(plain_of(file, &a), "x: 2\n");
}
