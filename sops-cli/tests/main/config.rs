//! `.sops.yaml` creation rules and the `stores` section, against the reference.

use crate::support::{Bin, Sandbox, assert_same_bytes, assert_same_layout};

const PLAIN: &str =
    "user: admin\npassword: hunter2\nnested:\n    password_hint: blue\n    port: 5432\n";

#[test]
fn creation_rules_pick_keys_and_options_like_sops() {
    let sb = Sandbox::new();
    let a = sb.age_keygen("a");
    let b = sb.age_keygen("b");
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {}\n    encrypted_regex: ^pass\n  - age:\n      - {}\n    mac_only_encrypted: true\n    unencrypted_suffix: _hint\n",
            a.recipient, b.recipient
        ),
    );
    sb.write("secrets/db.yaml", PLAIN);
    sb.write("other.yaml", PLAIN);
    for (file, right, wrong) in [("secrets/db.yaml", &a, &b), ("other.yaml", &b, &a)] {
        let ours = sb.run(Bin::Ours, ["encrypt", file]).ok();
        let reference = sb.run(Bin::Reference, ["encrypt", file]).ok();
        assert_same_layout(file, &ours, &reference, false);
        let ours_path = sb.write("ours.enc.yaml", &ours);
        for bin in Bin::BOTH {
            let plain = sb
                .cmd(bin, ["decrypt".into(), ours_path.clone().into_os_string()])
                .env("SOPS_AGE_KEY_FILE", right.identity_file.clone())
                .run()
                .ok();
            assert_same_bytes(
                &format!("{bin} decrypts our {file}"),
                &plain,
                PLAIN.as_bytes(),
            );
            sb.cmd(bin, ["decrypt".into(), ours_path.clone().into_os_string()])
                .env("SOPS_AGE_KEY_FILE", wrong.identity_file.clone())
                .run()
                .fails_with(128, &["Failed to get the data key"]);
        }
    }
}

#[test]
fn key_flags_replace_the_rule_keys_but_a_rule_must_match() {
    let sb = Sandbox::new();
    let a = sb.age_keygen("a");
    let b = sb.age_keygen("b");
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: \\.yaml$\n    age: {}\n",
            a.recipient
        ),
    );
    sb.write("f.yaml", PLAIN);
    sb.write("f.json", "{\"a\": 1}\n");
    for bin in Bin::BOTH {
        let enc = sb
            .run(bin, ["encrypt", "--age", &b.recipient, "f.yaml"])
            .ok();
        let text = String::from_utf8_lossy(&enc).into_owned();
        assert!(
            text.contains(&b.recipient) && !text.contains(&a.recipient),
            "{bin}: {text}"
        );
        sb.run(bin, ["encrypt", "--age", &b.recipient, "f.json"])
            .fails_with(
                1,
                &["error loading config: no matching creation rules found"],
            );
    }
}

#[test]
fn config_errors_match_sops_exit_codes() {
    let sb = Sandbox::new();
    let a = sb.age_keygen("a");
    sb.write("f.yaml", PLAIN);
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - age: {}\n    encrypted_regex: a\n    unencrypted_suffix: b\n",
            a.recipient
        ),
    );
    for bin in Bin::BOTH {
        sb.run(bin, ["encrypt", "f.yaml"])
            .fails_with(1, &["cannot use more than one of"]);
        let missing = sb.path("missing.yaml").into_os_string();
        sb.cmd(
            bin,
            [
                "--config".into(),
                missing,
                "encrypt".into(),
                "f.yaml".into(),
            ],
        )
        .run()
        .fails_with(1, &["missing.yaml"]);
    }
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - age: {}\n    encrypted_regex: a\n",
            a.recipient
        ),
    );
    for bin in Bin::BOTH {
        sb.run(bin, ["encrypt", "--unencrypted-suffix", "x", "f.yaml"])
            .fails_with(8, &["cannot use more than one of"]);
    }
}

#[test]
fn stores_indent_applies_to_decrypt_output() {
    let mut sb = Sandbox::new();
    let a = sb.age_keygen("a");
    sb.use_identity(&a);
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {}\nstores:\n  yaml:\n    indent: 2\n  json:\n    indent: 3\n", a.recipient),
    );
    sb.write("f.yaml", PLAIN);
    sb.write("g.json", "{\"a\": {\"b\": [1, 2]}}\n");
    for file in ["f.yaml", "g.json"] {
        let enc = sb.run(Bin::Reference, ["encrypt", file]).ok();
        let enc_path = sb.write(&format!("enc.{file}"), &enc);
        let reference = sb
            .run(
                Bin::Reference,
                ["decrypt".into(), enc_path.clone().into_os_string()],
            )
            .ok();
        let ours = sb
            .run(Bin::Ours, ["decrypt".into(), enc_path.into_os_string()])
            .ok();
        assert_same_bytes(
            &format!("decrypt {file} with stores indent"),
            &ours,
            &reference,
        );
    }
}

/// Bad configurations: same exit code as the reference, and `encrypt -i`
/// leaves the file as it was. Unknown fields are ignored, as sops does.
#[test]
fn bad_configs_fail_like_sops_and_leave_the_file() {
    let sb = Sandbox::new();
    let a = sb.age_keygen("a");
    let b = sb.age_keygen("b");
    let file = sb.write("f.yaml", PLAIN);
    for (config, code, fragment) in [
        (
            format!("creation_rules:\n  - age: [{}\n", a.recipient),
            1,
            "error loading config",
        ),
        (
            format!(
                "creation_rules:\n  - shamir_threshold: 3\n    key_groups:\n      - age: [{}]\n      - age: [{}]\n",
                a.recipient, b.recipient
            ),
            1,
            "Could not generate data key: [could not split data key into parts for Shamir: parts cannot be less than threshold]",
        ),
        (
            "creation_rules:\n  - path_regex: \\.json$\n".to_owned(),
            1,
            "no matching creation rules found",
        ),
        (
            format!(
                "creation_rules:\n  - age: 1234\n    pgp: [{}]\n",
                a.recipient
            ),
            1,
            "",
        ),
    ] {
        sb.write(".sops.yaml", &config);
        for bin in Bin::BOTH {
            let out = sb.run(bin, ["encrypt", "-i", "f.yaml"]);
            let fragments: &[&str] = if fragment.is_empty() || bin == Bin::Reference {
                &[]
            } else {
                &[fragment]
            };
            out.fails_with(code, fragments);
            assert_eq!(
                std::fs::read_to_string(&file).unwrap(),
                PLAIN,
                "{bin}: {config}"
            );
        }
    }
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - age: {}\n    some_future_field: 1\nunknown_top: {{}}\n",
            a.recipient
        ),
    );
    for bin in Bin::BOTH {
        let enc = sb.run(bin, ["encrypt", "f.yaml"]).ok();
        assert!(
            String::from_utf8_lossy(&enc).contains(&a.recipient),
            "{bin}"
        );
    }
}
