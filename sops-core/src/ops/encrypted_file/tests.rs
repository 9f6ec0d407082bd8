use std::path::PathBuf;

use super::*;
use crate::ops::{self, Decrypted};
use crate::stores::Format;
use crate::stores::yaml::YamlStore;
use crate::test_vectors::{
    TestIdentity as Identity, context_of as ctx, data_key, group_of as group, vector,
};
use crate::tree::path::parse_path;

const PLAIN: &[u8] =
    b"user: admin\npassword: hunter2\nport: 8080\nnested:\n    list:\n        - a\n        - b\n";

/// An encrypted YAML file for `ids`.
fn encrypted_for(ids: &[&Identity]) -> Vec<u8> {
    crate::test_vectors::encrypted_yaml(PLAIN, ids)
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The lines of `after` that differ from `before` (same line count).
fn changed_lines(before: &[u8], after: &[u8]) -> Vec<String> {
    let (b, a) = (lines(before), lines(after));
    assert_eq!(a.len(), b.len(), "line count changed");
    a.into_iter()
        .zip(b)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a)
        .collect()
}

fn decrypt(bytes: &[u8], ctx: &KeyContext) -> Decrypted {
    ops::decrypt(
        &YamlStore::default(),
        bytes,
        ctx,
        &DecryptOptions::default(),
    )
    .unwrap()
}

#[test]
fn setting_a_value_keeps_every_other_ciphertext() {
    let id = Identity::generate();
    let input = encrypted_for(&[&id]);
    let store = YamlStore::default();
    let mut plain = EncryptedFile::open(&store, &input)
        .unwrap()
        .decrypt(&ctx(&[&id]), &DecryptOptions::default())
        .unwrap();
    assert!(
        plain
            .set(
                &parse_path(r#"["password"]"#).unwrap(),
                Value::Str("changed".into())
            )
            .unwrap()
    );
    let output = plain.encrypt().unwrap().emit(&store).unwrap();
    // `lastmodified` may or may not change within the same second.
    let changed = changed_lines(&input, &output);
    assert!(changed[0].starts_with("password: ENC["), "{changed:#?}");
    assert!(
        changed[1..].iter().any(|l| l.contains("mac: ENC[")),
        "{changed:#?}"
    );
    assert!(
        changed[1..]
            .iter()
            .all(|l| l.contains("mac: ENC[") || l.contains("lastmodified:")),
        "{changed:#?}"
    );
    let back = decrypt(&output, &ctx(&[&id]));
    assert_eq!(
        back.docs[0].get("password"),
        Some(&Value::Str("changed".into()))
    );
}

#[test]
fn a_reference_file_reencrypted_unchanged_differs_only_in_date_and_mac() {
    let input = vector("yaml_comments.enc.yaml");
    let store = YamlStore::default();
    let file = EncryptedFile::open(&store, &input).unwrap();
    let plain = file
        .decrypt_with_key(data_key("yaml_comments"), false)
        .unwrap();
    let output = plain.encrypt().unwrap().emit(&store).unwrap();
    let changed = changed_lines(&input, &output);
    assert_eq!(changed.len(), 2, "{changed:#?}");
    assert!(
        changed
            .iter()
            .all(|l| l.contains("lastmodified") || l.contains("mac:"))
    );
}

#[test]
fn unset_removes_a_value() {
    let id = Identity::generate();
    let store = YamlStore::default();
    let mut plain = EncryptedFile::open(&store, &encrypted_for(&[&id]))
        .unwrap()
        .decrypt(&ctx(&[&id]), &DecryptOptions::default())
        .unwrap();
    plain.unset(&parse_path(r#"["user"]"#).unwrap()).unwrap();
    assert!(plain.unset(&parse_path(r#"["user"]"#).unwrap()).is_err());
    let output = plain.encrypt().unwrap().emit(&store).unwrap();
    assert_eq!(decrypt(&output, &ctx(&[&id])).docs[0].get("user"), None);
}

#[test]
fn rotate_changes_the_data_key_and_keeps_the_values() {
    let (a, b) = (Identity::generate(), Identity::generate());
    let input = encrypted_for(&[&a]);
    let store = YamlStore::default();
    let file = EncryptedFile::open(&store, &input).unwrap();
    let old_key = file.recover_key(&ctx(&[&a]), &[]).unwrap();
    let mut plain = file
        .decrypt(&ctx(&[&a]), &DecryptOptions::default())
        .unwrap();
    plain.rotate(&[group(&[&b])], &ctx(&[])).unwrap();
    let rotated = plain.encrypt().unwrap();
    let new_key = rotated.recover_key(&ctx(&[&b]), &[]).unwrap();
    assert_ne!(old_key.expose(), new_key.expose());
    // Only b can open it now.
    assert!(rotated.recover_key(&ctx(&[&a]), &[]).is_err());
    let output = rotated.emit(&store).unwrap();
    let user = |b: &[u8]| lines(b).into_iter().find(|l| l.starts_with("user: ENC["));
    assert!(user(&output).is_some());
    assert_ne!(user(&output), user(&input));
    assert_eq!(
        decrypt(&output, &ctx(&[&b])).docs,
        decrypt(&input, &ctx(&[&a])).docs
    );
}

#[test]
fn rotate_refuses_an_empty_group() {
    let a = Identity::generate();
    let mut plain = EncryptedFile::open(&YamlStore::default(), &encrypted_for(&[&a]))
        .unwrap()
        .decrypt(&ctx(&[&a]), &DecryptOptions::default())
        .unwrap();
    assert!(matches!(
        plain.rotate(&[group(&[&a]), Vec::new()], &ctx(&[])),
        Err(Error::NoKeys)
    ));
}

#[test]
fn new_key_groups_keep_values_date_and_mac() {
    let (a, b, c) = (
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
    );
    let input = encrypted_for(&[&a]);
    let store = YamlStore::default();
    let mut file = EncryptedFile::open(&store, &input).unwrap();
    let key = file.recover_key(&ctx(&[&a]), &[]).unwrap();
    file.set_key_groups(&key, &[group(&[&b]), group(&[&c])], 2, &ctx(&[]))
        .unwrap();
    assert_eq!(file.metadata().shamir_threshold, 2);
    assert_eq!(file.metadata().key_groups.len(), 2);
    let output = file.emit(&store).unwrap();
    let (before, after) = (lines(&input), lines(&output));
    let values = |l: &Vec<String>| -> Vec<String> {
        l.iter()
            .filter(|l| l.contains("ENC[") || l.contains("lastmodified"))
            .filter(|l| !l.trim_start().starts_with("enc:"))
            .cloned()
            .collect()
    };
    assert_eq!(values(&after), values(&before));
    // Both groups are needed, and together they open the file.
    assert!(
        EncryptedFile::open(&store, &output)
            .unwrap()
            .recover_key(&ctx(&[&b]), &[])
            .is_err()
    );
    let plain = decrypt(&output, &ctx(&[&b, &c]));
    assert_eq!(plain.docs[0].get("user"), Some(&Value::Str("admin".into())));
}

#[test]
fn a_new_file_encrypts_for_its_groups() {
    let a = Identity::generate();
    let store = YamlStore::default();
    let docs = store.load(PLAIN).unwrap();
    let plain = DecryptedFile::create(docs, &[group(&[&a])], &ctx(&[]), &EncryptOptions::default())
        .unwrap();
    assert!(plain.metadata().mac.is_empty());
    let output = plain.encrypt().unwrap().emit(&store).unwrap();
    assert_eq!(
        store
            .emit_plain(&decrypt(&output, &ctx(&[&a])).docs)
            .unwrap(),
        PLAIN
    );
}

#[test]
fn a_wrong_mac_fails_unless_ignored() {
    let id = Identity::generate();
    let input = String::from_utf8(encrypted_for(&[&id])).unwrap();
    // Drop the last value line's effect on the MAC: change the port.
    let store = YamlStore::default();
    let mut plain = EncryptedFile::open(&store, input.as_bytes())
        .unwrap()
        .decrypt(&ctx(&[&id]), &DecryptOptions::default())
        .unwrap();
    plain
        .set(&parse_path(r#"["port"]"#).unwrap(), Value::Int(1))
        .unwrap();
    let changed = String::from_utf8(plain.encrypt().unwrap().emit(&store).unwrap()).unwrap();
    let port_line = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("port:"))
            .unwrap()
            .to_owned()
    };
    // The old MAC with the new port value: a mismatch.
    let tampered = input.replace(&port_line(&input), &port_line(&changed));
    let opened = || EncryptedFile::open(&store, tampered.as_bytes()).unwrap();
    let err = opened()
        .decrypt(&ctx(&[&id]), &DecryptOptions::default())
        .unwrap_err();
    assert!(
        matches!(err, Error::Tree(crate::ops::TreeError::Mac(_))),
        "{err:?}"
    );
    let opts = DecryptOptions {
        ignore_mac: true,
        ..DecryptOptions::default()
    };
    assert!(opened().decrypt(&ctx(&[&id]), &opts).is_ok());
}

#[test]
fn debug_output_shows_no_values() {
    let id = Identity::generate();
    let plain = EncryptedFile::open(&YamlStore::default(), &encrypted_for(&[&id]))
        .unwrap()
        .decrypt(&ctx(&[&id]), &DecryptOptions::default())
        .unwrap();
    let text = format!("{plain:?}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[cfg(unix)]
mod save {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &PathBuf) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn save_replaces_the_file_and_keeps_its_mode() {
        let id = Identity::generate();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.yaml");
        std::fs::write(&path, encrypted_for(&[&id])).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let store = Format::for_path(&path).store().unwrap();
        let mut plain = EncryptedFile::open_path(store.as_ref(), &path)
            .unwrap()
            .decrypt(&ctx(&[&id]), &DecryptOptions::default())
            .unwrap();
        plain
            .set(
                &parse_path(r#"["user"]"#).unwrap(),
                Value::Str("root".into()),
            )
            .unwrap();
        plain
            .encrypt()
            .unwrap()
            .save(store.as_ref(), &path)
            .unwrap();
        assert_eq!(mode(&path), 0o640);
        let back = ops::decrypt_file(&path, &ctx(&[&id])).unwrap();
        assert!(String::from_utf8_lossy(&back).contains("user: root"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_save_leaves_the_old_file() {
        let id = Identity::generate();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.yaml");
        let original = encrypted_for(&[&id]);
        std::fs::write(&path, &original).unwrap();
        let store = YamlStore::default();
        let file = EncryptedFile::open_path(&store, &path).unwrap();
        // A store that cannot emit the file (dotenv has no nested maps):
        // nothing is written.
        let failing = crate::stores::dotenv::DotenvStore;
        assert!(matches!(
            file.save(&failing, &path),
            Err(Error::Store { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), original);
        // The destination cannot be written (a directory where the file
        // should go): the error names the step and the path.
        let taken = dir.path().join("taken.yaml");
        std::fs::create_dir(&taken).unwrap();
        match file.save(&store, &taken) {
            Err(Error::Write { path: p, step, .. }) => {
                assert_eq!(p, taken);
                assert_eq!(step, crate::error::WriteStep::Open);
            }
            other => panic!("{other:?}"),
        }
        assert!(taken.is_dir());
        assert_eq!(std::fs::read(&path).unwrap(), original);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn open_path_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.yaml");
        let err = EncryptedFile::open_path(&YamlStore::default(), &path).unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: p, .. } if *p == path),
            "{err:?}"
        );
        std::fs::write(&path, b"a: [").unwrap();
        let err = EncryptedFile::open_path(&YamlStore::default(), &path).unwrap_err();
        assert!(
            matches!(&err, Error::Store { path: Some(p), .. } if *p == path),
            "{err:?}"
        );
    }
}
