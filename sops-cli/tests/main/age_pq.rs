//! age hybrid post-quantum keys (sops 3.12, age 1.3): `age1pq1…` recipients
//! and `AGE-SECRET-KEY-PQ-1…` identities, made by our `sops age-keygen --pq`,
//! against the reference (which encrypts to them and decrypts with them).

use std::path::{Path, PathBuf};

use crate::support::{AgeKey, Bin, Sandbox, assert_same_bytes, read};

const PLAIN: &str = "# comment\nuser: alice\npassword: hunter2\nlist:\n    - 1\n    - two\n";

/// A PQ key pair from `sops age-keygen --pq -o <name>.agekey`.
fn pq_keygen(sb: &Sandbox, name: &str) -> AgeKey {
    let identity_file = sb.path(&format!("{name}.agekey"));
    let out = sb.run(
        Bin::Ours,
        [
            "age-keygen".into(),
            "--pq".into(),
            "-o".into(),
            identity_file.clone().into_os_string(),
        ],
    );
    out.ok();
    let text = String::from_utf8(read(&identity_file)).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    assert_eq!(out.stderr, format!("Public key: {recipient}\n"));
    AgeKey {
        recipient,
        identity_file,
    }
}

fn decrypt(sb: &Sandbox, bin: Bin, file: &Path, keys: &[&AgeKey]) -> Vec<u8> {
    let joined: Vec<u8> = keys.iter().flat_map(|k| read(&k.identity_file)).collect();
    let keys_file = sb.write("joined.agekey", joined);
    sb.cmd(bin, ["decrypt".into(), file.as_os_str().to_owned()])
        .env("SOPS_AGE_KEY_FILE", keys_file)
        .run()
        .ok()
}

#[test]
fn age_keygen_writes_age_keygen_format_private_and_never_overwrites() {
    let sb = Sandbox::new();
    let key = pq_keygen(&sb, "pq");
    let text = String::from_utf8(read(&key.identity_file)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("# created: 20"), "{}", lines[0]);
    assert!(key.recipient.starts_with("age1pq1") && key.recipient.len() == 1959);
    assert!(lines[2].starts_with("AGE-SECRET-KEY-PQ-1") && lines[2].len() == 77);
    assert!(text.ends_with('\n'));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key.identity_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = sb.run(
        Bin::Ours,
        [
            "age-keygen".into(),
            "--pq".into(),
            "-o".into(),
            key.identity_file.clone().into_os_string(),
        ],
    );
    again.fails_with(3, &["refusing to overwrite a key file"]);
    assert_same_bytes("key file kept", &read(&key.identity_file), text.as_bytes());
    assert!(!again.stderr.contains("AGE-SECRET-KEY"));

    // Without -o: the file on stdout; without --pq: X25519.
    let out = String::from_utf8(sb.run(Bin::Ours, ["age-keygen"]).ok()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[1].starts_with("# public key: age1") && !lines[1].contains("age1pq1"));
    assert!(lines[2].starts_with("AGE-SECRET-KEY-1"));
    let out = String::from_utf8(sb.run(Bin::Ours, ["age-keygen", "--pq"]).ok()).unwrap();
    assert!(
        out.lines()
            .nth(2)
            .unwrap()
            .starts_with("AGE-SECRET-KEY-PQ-1")
    );
}

/// Each binary encrypts to a PQ recipient alone and next to an X25519 one;
/// each binary decrypts every result with the PQ identity (and the mixed
/// file with the X25519 one): ours→ours, reference→ours, ours→reference.
#[test]
fn pq_round_trips_with_the_reference_alone_and_next_to_x25519() {
    let sb = Sandbox::new();
    let pq = pq_keygen(&sb, "pq");
    let x = sb.age_keygen("x");
    let plain = sb.write("p.yaml", PLAIN);
    let mixed = format!("{},{}", x.recipient, pq.recipient);
    for enc_bin in Bin::BOTH {
        for (what, recipients, keys) in [
            ("pq", pq.recipient.as_str(), vec![&pq]),
            ("x25519+pq", mixed.as_str(), vec![&pq, &x]),
        ] {
            let out = sb
                .run(
                    enc_bin,
                    [
                        "encrypt".into(),
                        "--age".into(),
                        recipients.into(),
                        plain.clone().into_os_string(),
                    ],
                )
                .ok();
            let file = sb.write(&format!("{enc_bin}-{what}.enc.yaml"), &out);
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.contains(&format!("recipient: {}", pq.recipient)),
                "{text}"
            );
            for dec_bin in Bin::BOTH {
                for key in &keys {
                    assert_same_bytes(
                        &format!(
                            "{dec_bin} decrypts {enc_bin}'s {what} file with {}",
                            &key.recipient[..10]
                        ),
                        &decrypt(&sb, dec_bin, &file, &[key]),
                        PLAIN.as_bytes(),
                    );
                }
            }
        }
    }
}

/// The identity from every source: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE (above),
/// SOPS_AGE_KEY_CMD and the default keys.txt; the recipient from
/// SOPS_AGE_RECIPIENTS and .sops.yaml.
#[test]
fn pq_identity_from_every_source_and_recipient_from_env_and_config() {
    let sb = Sandbox::new();
    let pq = pq_keygen(&sb, "pq");
    let plain = sb.write("p.yaml", PLAIN);
    let from_env = sb
        .cmd(
            Bin::Ours,
            ["encrypt".into(), plain.clone().into_os_string()],
        )
        .env("SOPS_AGE_RECIPIENTS", &pq.recipient)
        .run()
        .ok();
    let env_file = sb.write("env.enc.yaml", from_env);
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: >-\n      {}\n", pq.recipient),
    );
    let from_config = sb.run(Bin::Ours, ["encrypt", "p.yaml"]).ok();
    let config_file = sb.write("config.enc.yaml", from_config);
    std::fs::remove_file(sb.path(".sops.yaml")).unwrap();

    let identity = String::from_utf8(read(&pq.identity_file)).unwrap();
    let identity_line = identity.lines().nth(2).unwrap().to_owned();
    let sources: [(&str, Vec<(&str, String)>); 3] = [
        (
            "SOPS_AGE_KEY",
            vec![("SOPS_AGE_KEY", identity_line.clone())],
        ),
        (
            "SOPS_AGE_KEY_CMD",
            vec![(
                "SOPS_AGE_KEY_CMD",
                format!("cat {}", pq.identity_file.display()),
            )],
        ),
        ("keys.txt", vec![]),
    ];
    for (what, vars) in sources {
        let default = sb.path(".config/sops/age/keys.txt");
        if what == "keys.txt" {
            sb.write(".config/sops/age/keys.txt", &identity);
        }
        for bin in Bin::BOTH {
            for file in [&env_file, &config_file] {
                let mut cmd = sb.cmd(bin, ["decrypt".into(), file.clone().into_os_string()]);
                for (k, v) in &vars {
                    cmd = cmd.env(k, v);
                }
                assert_same_bytes(
                    &format!("{bin} with the identity from {what}"),
                    &cmd.run().ok(),
                    PLAIN.as_bytes(),
                );
            }
        }
        let _ = std::fs::remove_file(default);
    }
}

/// updatekeys adds a PQ recipient from the config; groups add takes one.
#[test]
fn pq_recipient_in_updatekeys_and_groups_add() {
    let sb = Sandbox::new();
    let x = sb.age_keygen("x");
    let pq = pq_keygen(&sb, "pq");
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {}\n", x.recipient),
    );
    sb.write("p.yaml", PLAIN);
    let enc = sb.run(Bin::Ours, ["encrypt", "p.yaml"]).ok();
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - age: {},{}\n",
            x.recipient, pq.recipient
        ),
    );
    let file: PathBuf = sb.write("u.yaml", &enc);
    sb.cmd(
        Bin::Ours,
        [
            "updatekeys".into(),
            "-y".into(),
            file.clone().into_os_string(),
        ],
    )
    .env("SOPS_AGE_KEY_FILE", x.identity_file.clone())
    .run()
    .ok();
    for bin in Bin::BOTH {
        assert_same_bytes(
            &format!("{bin}: updatekeys added the PQ recipient"),
            &decrypt(&sb, bin, &file, &[&pq]),
            PLAIN.as_bytes(),
        );
    }

    let file = sb.write("g.yaml", &enc);
    let f = file.to_str().unwrap();
    sb.cmd(
        Bin::Ours,
        ["groups", "add", "--file", f, "--age", &pq.recipient, "-i"],
    )
    .env("SOPS_AGE_KEY_FILE", x.identity_file.clone())
    .run()
    .ok();
    assert_same_bytes(
        "groups add: x and pq together",
        &decrypt(&sb, Bin::Reference, &file, &[&x, &pq]),
        PLAIN.as_bytes(),
    );
}

/// A malformed `age1pq1` recipient fails in both binaries with sops' text.
#[test]
fn malformed_pq_recipient_is_refused_like_the_reference() {
    let sb = Sandbox::new();
    let pq = pq_keygen(&sb, "pq");
    sb.write("p.yaml", PLAIN);
    let truncated = &pq.recipient[..pq.recipient.len() - 1];
    for bad in ["age1pq1qqqq", truncated] {
        for bin in Bin::BOTH {
            sb.run(bin, ["encrypt", "--age", bad, "p.yaml"]).fails_with(
                1,
                &["failed to parse input as Bech32-encoded age public key"],
            );
        }
    }
}
