//! Key management against the reference: `rotate` with --add-age/--rm-age,
//! `updatekeys` after the config changes, and key groups with a Shamir
//! threshold written by ours and read by the reference (and back).

use std::path::Path;

use crate::support::{AgeKey, Bin, Sandbox, assert_same_bytes, read};

const PLAIN: &str = "user: admin\npassword: hunter2\nlist:\n    - one\n    - 2\n";

fn decrypt_with(sb: &Sandbox, bin: Bin, file: &Path, keys: &[&AgeKey]) -> crate::support::Output {
    let joined = sb.path("joined.agekey");
    let text: String = keys
        .iter()
        .map(|k| String::from_utf8(read(&k.identity_file)).unwrap())
        .collect();
    std::fs::write(&joined, text).unwrap();
    sb.cmd(bin, ["decrypt".into(), file.as_os_str().to_owned()])
        .env("SOPS_AGE_KEY_FILE", joined.into_os_string())
        .run()
}

#[test]
fn rotate_adds_and_removes_age_keys() {
    let mut sb = Sandbox::new();
    let a = sb.age_keygen("a");
    let b = sb.age_keygen("b");
    sb.use_identity(&a);
    let plain = sb.write("p.yaml", PLAIN);
    let enc = sb
        .run(
            Bin::Reference,
            [
                "encrypt".into(),
                "--age".into(),
                a.recipient.clone().into(),
                plain.into_os_string(),
            ],
        )
        .ok();
    let file = sb.write("f.yaml", &enc);
    sb.run(
        Bin::Ours,
        [
            "rotate",
            "-i",
            "--add-age",
            &b.recipient,
            file.to_str().unwrap(),
        ],
    )
    .ok();
    let rotated = String::from_utf8(read(&file)).unwrap();
    let before = String::from_utf8(enc.clone()).unwrap();
    assert!(
        !rotated
            .lines()
            .any(|l| l.contains("ENC[") && before.contains(l)),
        "every value must be re-encrypted with the new data key"
    );
    for key in [&a, &b] {
        assert_same_bytes(
            "decrypt after rotate",
            &decrypt_with(&sb, Bin::Reference, &file, &[key]).ok(),
            PLAIN.as_bytes(),
        );
    }
    sb.run(
        Bin::Ours,
        [
            "rotate",
            "-i",
            "--rm-age",
            &a.recipient,
            file.to_str().unwrap(),
        ],
    )
    .ok();
    decrypt_with(&sb, Bin::Reference, &file, &[&a])
        .fails_with(128, &["Failed to get the data key"]);
    assert_same_bytes(
        "decrypt with b",
        &decrypt_with(&sb, Bin::Reference, &file, &[&b]).ok(),
        PLAIN.as_bytes(),
    );
    // Missing files, as the reference.
    let missing = sb.path("missing.yaml");
    for bin in Bin::BOTH {
        sb.run(
            bin,
            [
                "rotate".into(),
                "--add-age".into(),
                b.recipient.clone().into(),
                missing.clone().into_os_string(),
            ],
        )
        .fails_with(49, &["cannot add or remove keys on non-existent file"]);
        sb.run(bin, ["rotate".into(), missing.clone().into_os_string()])
            .fails_with(2, &["no such file or directory"]);
    }
}

#[test]
fn updatekeys_follows_the_config_like_sops() {
    let mut sb = Sandbox::new();
    let a = sb.age_keygen("a");
    let b = sb.age_keygen("b");
    sb.use_identity(&a);
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {}\n", a.recipient),
    );
    sb.write("f.yaml", PLAIN);
    let enc = sb.run(Bin::Reference, ["encrypt", "f.yaml"]).ok();
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - age: {},{}\n",
            a.recipient, b.recipient
        ),
    );
    let mut outputs = Vec::new();
    for bin in Bin::BOTH {
        let file = sb.write(&format!("{bin}.yaml"), &enc);
        // No answer on stdin: EOF is an error and nothing changes.
        // (sops prints the planned changes and the prompt before failing.)
        let eof = sb.run(bin, ["updatekeys".into(), file.clone().into_os_string()]);
        assert_eq!(eof.code, 1, "{bin}: {eof:?}");
        assert!(
            eof.stderr.contains("EOF") && eof.stdout_str().contains("Is this okay? (y/n):"),
            "{bin}: {eof:?}"
        );
        assert_same_bytes("after EOF", &read(&file), &enc);
        let no = sb
            .cmd(bin, ["updatekeys".into(), file.clone().into_os_string()])
            .stdin("n\n")
            .run();
        assert_eq!(no.code, 0, "{bin}: {no:?}");
        assert_same_bytes("after n", &read(&file), &enc);
        let out = sb
            .run(
                bin,
                [
                    "updatekeys".into(),
                    "-y".into(),
                    file.clone().into_os_string(),
                ],
            )
            .ok();
        outputs.push(
            String::from_utf8(out)
                .unwrap()
                .replace(&a.recipient, "A")
                .replace(&b.recipient, "B"),
        );
        assert_same_bytes(
            "decrypt with b",
            &decrypt_with(&sb, Bin::Reference, &file, &[&b]).ok(),
            PLAIN.as_bytes(),
        );
        // Values, lastmodified and the MAC are untouched.
        let now = String::from_utf8(read(&file)).unwrap();
        let before = String::from_utf8(enc.clone()).unwrap();
        for line in before
            .lines()
            .filter(|l| l.contains("ENC[") || l.contains("lastmodified"))
        {
            assert!(now.contains(line), "{bin}: {line} changed");
        }
        let again = sb.run(
            bin,
            [
                "updatekeys".into(),
                "-y".into(),
                file.clone().into_os_string(),
            ],
        );
        assert_eq!(again.code, 0);
        assert!(
            again.stderr.contains("already up to date"),
            "{bin}: {}",
            again.stderr
        );
    }
    assert_eq!(
        outputs[0], outputs[1],
        "updatekeys reports the same changes"
    );
    assert!(
        outputs[0].contains("Group 1\n    A\n+++ B\n"),
        "{}",
        outputs[0]
    );
}

/// A sandbox whose `.sops.yaml` has one rule of three age key groups (one
/// key each, `rule_head` before `key_groups`), and `f.yaml` holding PLAIN.
fn three_age_groups(rule_head: &str) -> (Sandbox, Vec<AgeKey>) {
    let mut sb = Sandbox::new();
    let keys: Vec<AgeKey> = ["a", "b", "c"].iter().map(|n| sb.age_keygen(n)).collect();
    sb.use_identity(&keys[0]);
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - {rule_head}key_groups:\n      - age: [{}]\n      - age: [{}]\n      - age: [{}]\n",
            keys[0].recipient, keys[1].recipient, keys[2].recipient
        ),
    );
    sb.write("f.yaml", PLAIN);
    (sb, keys)
}

#[test]
fn key_groups_with_a_threshold_interoperate() {
    let (sb, keys) = three_age_groups("shamir_threshold: 2\n    ");
    for writer in Bin::BOTH {
        let enc = sb.run(writer, ["encrypt", "f.yaml"]).ok();
        let file = sb.write(&format!("groups.{writer}.yaml"), &enc);
        for reader in Bin::BOTH {
            decrypt_with(&sb, reader, &file, &[&keys[1]]).fails_with(
                128,
                &[
                    "Shamir threshold of",
                    "only 1 part(s) were successfully recovered",
                ],
            );
            for pair in [
                [&keys[0], &keys[1]],
                [&keys[1], &keys[2]],
                [&keys[0], &keys[2]],
            ] {
                let out = decrypt_with(&sb, reader, &file, &pair).ok();
                assert_same_bytes(
                    &format!("{reader} decrypts what {writer} wrote"),
                    &out,
                    PLAIN.as_bytes(),
                );
            }
        }
    }
}

/// A file with several key groups whose `shamir_threshold` was removed by
/// hand: sops combines whatever parts it recovers, so with one group's key
/// it fails combining them (128, "less than two parts …"), with two of
/// three it gets a wrong data key (25), with every key it decrypts.
#[test]
fn key_groups_without_a_stored_threshold_as_sops() {
    let (sb, keys) = three_age_groups("");
    let enc = String::from_utf8(sb.run(Bin::Reference, ["encrypt", "f.yaml"]).ok()).unwrap();
    assert!(enc.contains("\n    shamir_threshold: 3\n"), "{enc}");
    let edited = enc.replace("    shamir_threshold: 3\n", "");
    let file = sb.write("edited.enc.yaml", edited);
    let (a, b, c) = (&keys[0], &keys[1], &keys[2]);
    let other = sb.age_keygen("other");
    for found in [&[a][..], &[&other], &[a, c], &[a, b, c]] {
        let [ours, reference] = Bin::BOTH.map(|bin| decrypt_with(&sb, bin, &file, found));
        assert_eq!(
            ours.code,
            reference.code,
            "{} keys: ours said\n{}\nthe reference\n{}",
            found.len(),
            ours.stderr,
            reference.stderr
        );
        match found.len() {
            1 => {
                let text = "could not get data key from shamir parts: less than two parts cannot be used to reconstruct the secret\n";
                assert_eq!((ours.code, reference.stderr.as_str()), (128, text));
                assert_eq!(ours.stderr, text);
            }
            2 => assert_eq!(ours.code, 25),
            _ => assert_same_bytes("all keys", &ours.ok(), PLAIN.as_bytes()),
        }
    }
}

#[test]
fn groups_add_and_delete_like_sops() {
    let mut sb = Sandbox::new();
    let a = sb.age_keygen("a");
    let b = sb.age_keygen("b");
    let c = sb.age_keygen("c");
    sb.use_identity(&a);
    let plain = sb.write("p.yaml", PLAIN);
    let enc = sb
        .run(
            Bin::Reference,
            [
                "encrypt".into(),
                "--age".into(),
                a.recipient.clone().into(),
                plain.into_os_string(),
            ],
        )
        .ok();
    for bin in Bin::BOTH {
        let file = sb.write(&format!("{bin}.yaml"), &enc);
        let f = file.to_str().unwrap();
        sb.run(
            bin,
            ["groups", "add", "--file", f, "--age", &b.recipient, "-i"],
        )
        .ok();
        decrypt_with(&sb, Bin::Reference, &file, &[&a]).fails_with(128, &["Shamir threshold of"]);
        assert_same_bytes(
            "a+b",
            &decrypt_with(&sb, Bin::Reference, &file, &[&a, &b]).ok(),
            PLAIN.as_bytes(),
        );
        // From now on two groups are needed to recover the data key.
        let ab = sb.write(
            "ab.agekey",
            [read(&a.identity_file), read(&b.identity_file)].concat(),
        );
        let bc = sb.write(
            "bc.agekey",
            [read(&b.identity_file), read(&c.identity_file)].concat(),
        );
        let with = |keys: &std::path::PathBuf, args: &[&str]| {
            sb.cmd(bin, args.iter().copied())
                .env("SOPS_AGE_KEY_FILE", keys.clone().into_os_string())
                .run()
        };
        with(
            &ab,
            &["groups", "add", "--file", f, "--age", &c.recipient, "-i"],
        )
        .ok();
        with(
            &ab,
            &[
                "groups",
                "delete",
                "--file",
                f,
                "-i",
                "--shamir-secret-sharing-threshold",
                "2",
                "0",
            ],
        )
        .ok();
        decrypt_with(&sb, Bin::Reference, &file, &[&a])
            .fails_with(128, &["Failed to get the data key"]);
        assert_same_bytes(
            "b+c",
            &decrypt_with(&sb, Bin::Reference, &file, &[&b, &c]).ok(),
            PLAIN.as_bytes(),
        );
        with(&bc, &["groups", "delete", "--file", f, "-i", "0"]).fails_with(
            1,
            &["removing this key group will make the Shamir threshold impossible to satisfy"],
        );
        // Values, lastmodified and the MAC are untouched by group changes.
        let now = String::from_utf8(read(&file)).unwrap();
        let before = String::from_utf8(enc.clone()).unwrap();
        for line in before
            .lines()
            .filter(|l| l.contains("ENC[") || l.contains("lastmodified"))
        {
            assert!(now.contains(line), "{bin}: {line} changed");
        }
    }
}
