//! AWS KMS keys against moto's KMS and STS (`SOPS_TEST_MOTO_ENDPOINT`, which
//! `scripts/test.sh` starts): plain ARNs, roles, encryption contexts,
//! profiles, key groups mixing KMS and age, `.sops.yaml` rules, rotate and
//! `groups add`, and interop both ways with the reference sops on the same
//! server. Every command runs with dummy credentials, no instance-metadata
//! probing and a temporary `HOME`; nothing leaves 127.0.0.1.

use std::time::Duration;

use test_support::{aws_test_env, moto_create_key, moto_endpoint};

use super::cloud_support::{
    Keystore, PLAIN, age_group_is_needed, creation_rule_with_two_keys, decrypts, encrypt,
    encrypt_with_ids_variable, rotate_adds_and_removes_keys_and_groups_add, round_trips_both_ways,
    sandbox_with, shamir_groups_with_age, unreachable_fails_quickly, updatekeys_adds_the_rule_key,
};
use super::support::{AgeKey, Bin, Sandbox};

const ROLE: &str = "arn:aws:iam::123456789012:role/sops-test";

/// A sandbox wired to moto, with a fresh KMS key (and an age key).
fn kms_sandbox() -> (Sandbox, String, AgeKey) {
    let endpoint = moto_endpoint();
    let (sb, age) = sandbox_with(aws_test_env(&endpoint));
    let arn = moto_create_key(&endpoint, "us-east-1");
    (sb, arn, age)
}

#[test]
fn kms_plain_arn_round_trips_and_interops() {
    let (sb, arn, _) = kms_sandbox();
    round_trips_both_ways(
        &sb,
        &["--kms", &arn],
        &[&format!("- arn: {arn}\n"), "aws_profile: \"\"\n"],
    );
    // `SOPS_KMS_ARN` and the legacy `-e` form.
    encrypt_with_ids_variable(&sb, "SOPS_KMS_ARN", &arn);
    decrypts(&sb, Bin::Reference, "enc2.yaml");
}

#[test]
fn kms_role_is_assumed_through_sts() {
    let (sb, arn, _) = kms_sandbox();
    let key = format!("{arn}+{ROLE}");
    for (writer, reader) in [(Bin::Ours, Bin::Reference), (Bin::Reference, Bin::Ours)] {
        let enc = encrypt(&sb, writer, &["--kms", &key]);
        assert!(enc.contains(&format!("role: {ROLE}\n")), "{enc}");
        decrypts(&sb, reader, "enc.yaml");
    }
}

/// Keys and roles of every partition (sops 3.12, #2042 split `ARN+ROLE` at
/// `+arn:`; before, only `+arn:aws:` was a role): moto makes keys whose ARN
/// carries the region's partition; the role is assumed through STS. The
/// reference here predates #2042 (it sends `ARN+ROLE` as the key id), so
/// only ours writes; both read, as the entry holds `arn` and `role` apart.
#[test]
fn kms_keys_and_roles_of_every_partition() {
    let (sb, _, _) = kms_sandbox();
    let endpoint = moto_endpoint();
    for (region, partition) in [
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ] {
        let arn = moto_create_key(&endpoint, region);
        assert!(
            arn.starts_with(&format!("arn:{partition}:kms:{region}:")),
            "{arn}"
        );
        let role = format!("arn:{partition}:iam::123456789012:role/sops-test");
        let key = format!("{arn}+{role}");
        let enc = encrypt(&sb, Bin::Ours, &["--kms", &key]);
        assert!(
            enc.contains(&format!("- arn: {arn}\n          role: {role}\n")),
            "{enc}"
        );
        decrypts(&sb, Bin::Ours, "enc.yaml");
        decrypts(&sb, Bin::Reference, "enc.yaml");
    }
}

#[test]
fn kms_encryption_context_is_sent_and_enforced() {
    let (sb, arn, _) = kms_sandbox();
    let context = ["--encryption-context", "env:test,app:demo"];
    for (writer, reader) in [(Bin::Ours, Bin::Reference), (Bin::Reference, Bin::Ours)] {
        let mut args = vec!["--kms", arn.as_str()];
        args.extend(context);
        let enc = encrypt(&sb, writer, &args);
        assert!(
            enc.contains("context:\n            app: demo\n            env: test\n"),
            "{enc}"
        );
        decrypts(&sb, reader, "enc.yaml");
    }
    // moto checks the context: a changed one does not decrypt (exit 128),
    // and the failure names the key with its context.
    let enc = std::fs::read_to_string(sb.path("enc.yaml")).unwrap();
    sb.write("wrong.yaml", enc.replace("app: demo", "app: other"));
    sb.run(Bin::Ours, ["decrypt", "wrong.yaml"]).fails_with(
        128,
        &[
            &format!("{arn}|app:other,env:test: FAILED"),
            "invalid ciphertext or encryption context",
        ],
    );
    sb.run(Bin::Reference, ["decrypt", "wrong.yaml"])
        .fails_with(128, &["InvalidCiphertextException"]);
    // An item that is not `key:value` is sops' exit 6.
    sb.run(
        Bin::Ours,
        [
            "encrypt",
            "--kms",
            &arn,
            "--encryption-context",
            "a:b:c",
            "plain.yaml",
        ],
    )
    .fails_with(6, &["Invalid KMS encryption context format"]);
}

/// sops 3.12 (#2021): `--encryption-context` of the root form (`-e`)
/// reaches the KMS keys of a rule's flat `kms:` list; the `encrypt`
/// subcommand drops it (sops 3.13.2 loads the rule first there, and so does
/// the reference); a `key_groups` KMS entry keeps its own context.
#[test]
fn kms_encryption_context_reaches_the_rule_keys() {
    let (sb, arn, _) = kms_sandbox();
    sb.write(".sops.yaml", format!("creation_rules:\n  - kms: {arn}\n"));
    let root_form = |bin: Bin| {
        let out = sb
            .run(
                bin,
                ["-e", "--encryption-context", "app:demo", "plain.yaml"],
            )
            .ok();
        sb.write("enc.yaml", &out);
        String::from_utf8(out).unwrap()
    };
    for (writer, reader) in [(Bin::Ours, Bin::Reference), (Bin::Reference, Bin::Ours)] {
        let enc = root_form(writer);
        assert!(
            enc.contains("context:\n            app: demo\n"),
            "{writer}: {enc}"
        );
        decrypts(&sb, reader, "enc.yaml");
        let enc = encrypt(&sb, writer, &["--encryption-context", "app:demo"]);
        assert!(!enc.contains("context:"), "{writer}: {enc}");
        decrypts(&sb, reader, "enc.yaml");
    }
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - key_groups:\n      - kms:\n          - arn: {arn}\n            context:\n              team: a\n"
        ),
    );
    for (writer, reader) in [(Bin::Ours, Bin::Reference), (Bin::Reference, Bin::Ours)] {
        let enc = root_form(writer);
        assert!(
            enc.contains("context:\n            team: a\n"),
            "{writer}: {enc}"
        );
        assert!(!enc.contains("app: demo"), "{writer}: {enc}");
        decrypts(&sb, reader, "enc.yaml");
    }
}

/// sops 3.13.0 and 3.13.1 wrote a context value of the flattened
/// metadata (dotenv, INI) as a pointer address; 3.13.2 (#2219) writes the
/// string again, as we always have: the value is the context's, and both
/// binaries decrypt the file.
#[test]
fn kms_context_in_flat_metadata_is_its_string() {
    let (sb, arn, _) = kms_sandbox();
    sb.write("plain.env", "secret=hunter2\n");
    let out = sb
        .run(
            Bin::Ours,
            [
                "encrypt",
                "--kms",
                &arn,
                "--encryption-context",
                "tenant:example-tenant",
                "plain.env",
            ],
        )
        .ok();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        text.contains("sops_kms__list_0__map_context__map_tenant=example-tenant\n"),
        "{text}"
    );
    sb.write("enc.env", out);
    for bin in [Bin::Ours, Bin::Reference] {
        let plain = sb.run(bin, ["decrypt", "enc.env"]).ok();
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            "secret=hunter2\n",
            "{bin}"
        );
    }
}

/// `--aws-profile` reads credentials from the profile in `~/.aws` (the
/// sandbox's `HOME`), not from the environment.
#[test]
fn kms_aws_profile_selects_shared_config_credentials() {
    let (mut sb, arn, _) = kms_sandbox();
    sb.remove_env("AWS_ACCESS_KEY_ID");
    sb.remove_env("AWS_SECRET_ACCESS_KEY");
    sb.write(".aws/config", "[profile dev]\nregion = eu-west-3\n");
    sb.write(
        ".aws/credentials",
        "[dev]\naws_access_key_id = test\naws_secret_access_key = test\n",
    );
    for (writer, reader) in [(Bin::Ours, Bin::Reference), (Bin::Reference, Bin::Ours)] {
        let enc = encrypt(&sb, writer, &["--kms", &arn, "--aws-profile", "dev"]);
        assert!(enc.contains("aws_profile: dev\n"), "{enc}");
        decrypts(&sb, reader, "enc.yaml");
    }
    // Without the profile there are no credentials: exit 128, naming the key.
    let enc = std::fs::read_to_string(sb.path("enc.yaml")).unwrap();
    sb.write(
        "noprofile.yaml",
        enc.replace("aws_profile: dev", "aws_profile: \"\""),
    );
    let out = sb.run(Bin::Ours, ["decrypt", "noprofile.yaml"]);
    out.fails_with(128, &[&arn]);
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
}

#[test]
fn kms_and_age_in_shamir_groups_from_sops_yaml() {
    let (sb, arn, age) = kms_sandbox();
    shamir_groups_with_age(
        &sb,
        &age,
        &format!("kms:\n          - arn: {arn}\n            context:\n              team: a"),
        "team: a",
    );
    // Both groups are needed: without the age identity, 128.
    age_group_is_needed(&sb);
}

#[test]
fn kms_creation_rule_with_aws_profile() {
    let (mut sb, arn, _) = kms_sandbox();
    let other = moto_create_key(&moto_endpoint(), "us-east-1");
    sb.remove_env("AWS_ACCESS_KEY_ID");
    sb.remove_env("AWS_SECRET_ACCESS_KEY");
    sb.write(
        ".aws/credentials",
        "[dev]\naws_access_key_id = test\naws_secret_access_key = test\n",
    );
    creation_rule_with_two_keys(
        &sb,
        &format!("kms: '{arn}, {other}'\n    aws_profile: dev"),
        "aws_profile: dev\n",
        &other,
    );
}

#[test]
fn kms_rotate_adds_and_removes_keys_and_groups_add() {
    let (sb, arn, age) = kms_sandbox();
    let second = moto_create_key(&moto_endpoint(), "us-east-1");
    rotate_adds_and_removes_keys_and_groups_add(
        &sb,
        &age,
        &Keystore {
            flag: "kms",
            key: &arn,
            other: &second,
            shows_key: &format!("- arn: {arn}\n"),
            gone: &arn,
            shows_other: &second,
        },
    );
    // A KMS key is removed only by its whole identity (context included).
    let with_ctx = sb
        .run(
            Bin::Ours,
            [
                "rotate",
                "--add-kms",
                &second,
                "--encryption-context",
                "k:v",
                "added.yaml",
            ],
        )
        .ok();
    sb.write("ctx.yaml", &with_ctx);
    let kept = sb
        .run(Bin::Ours, ["rotate", "--rm-kms", &second, "ctx.yaml"])
        .ok();
    assert!(String::from_utf8(kept).unwrap().contains(&second));
    let gone = sb
        .run(
            Bin::Ours,
            [
                "rotate",
                "--rm-kms",
                &second,
                "--encryption-context",
                "k:v",
                "ctx.yaml",
            ],
        )
        .ok();
    assert!(!String::from_utf8(gone).unwrap().contains(&second));
}

/// A KMS endpoint nobody listens on fails within the time-out, exit 128,
/// naming the key and saying it is unreachable.
#[test]
fn kms_unreachable_endpoint_fails_quickly() {
    let (sb, arn, _) = kms_sandbox();
    encrypt(&sb, Bin::Ours, &["--kms", &arn]);
    let took = unreachable_fails_quickly(
        sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"]),
        &[
            ("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9"),
            ("SOPS_KMS_TIMEOUT", "5s"),
        ],
        |out| {
            out.fails_with(128, &[&format!("{arn}: FAILED"), "unreachable"]);
        },
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

/// `updatekeys` adds the rule's KMS key (same data key), after which the
/// reference decrypts with KMS alone; run again it is "already up to date"
/// (it said "synced" before: the file stores kms before age, the rule age
/// before kms, and the groups were compared in order).
#[test]
fn kms_updatekeys_follows_the_rule() {
    let (sb, arn, age) = kms_sandbox();
    updatekeys_adds_the_rule_key(
        &sb,
        &age.recipient,
        &format!("kms: {arn}\n    aws_profile: ''"),
        &arn,
    );
    let updated = std::fs::read_to_string(sb.path("enc.yaml")).unwrap();
    assert!(updated.contains(&format!("- arn: {arn}\n")), "{updated}");
    sb.cmd(Bin::Reference, ["decrypt", "enc.yaml"])
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .run()
        .ok();
}

/// `HTTP_PROXY`/`HTTPS_PROXY` are honoured as sops (Go) honours them: the
/// endpoint is a loopback address nothing listens on, outside the built-in
/// exceptions (`localhost`, `127.0.0.1`, `::1`), so only a call through the
/// proxy (the fake KMS, which answers absolute-form requests itself) can
/// succeed; with the endpoint host in `NO_PROXY` the call goes direct and
/// fails. Ours only: Go bypasses every loopback address, so the reference
/// would never use the proxy here.
#[test]
fn kms_calls_go_through_the_environment_proxy() {
    let proxy = test_support::fake_kms::FakeKms::start(Duration::ZERO);
    let unreachable = "http://127.0.0.2:9";
    let mut sb = Sandbox::new();
    for (k, v) in aws_test_env(unreachable) {
        sb.set_env(k, v);
    }
    sb.set_env("SOPS_KMS_CONNECT_TIMEOUT", "2s");
    sb.write("plain.yaml", PLAIN);
    let arn = "arn:aws:kms:us-east-1:123456789012:key/proxied";
    // The sandbox points every proxy variable at a closed port; HTTPS_PROXY
    // would win over HTTP_PROXY, so it is emptied (empty counts as unset).
    sb.set_env("HTTPS_PROXY", "");
    sb.set_env("https_proxy", "");
    for (proxy_var, other) in [("HTTP_PROXY", "http_proxy"), ("http_proxy", "HTTP_PROXY")] {
        sb.set_env(proxy_var, proxy.endpoint());
        sb.set_env(other, "");
        encrypt(&sb, Bin::Ours, &["--kms", arn]);
        decrypts(&sb, Bin::Ours, "enc.yaml");
    }
    assert_eq!(proxy.calls("Encrypt"), 2);
    assert_eq!(proxy.calls("Decrypt"), 2);

    sb.set_env("HTTP_PROXY", proxy.endpoint());
    sb.set_env("NO_PROXY", "127.0.0.2");
    sb.run(Bin::Ours, ["decrypt", "enc.yaml"])
        .fails_with(128, &["Connection refused"]);
    assert_eq!(
        proxy.calls("Decrypt"),
        2,
        "NO_PROXY host went through the proxy"
    );
}

/// `updatekeys -y` over many files (issue 11): one key context for the
/// run, so a wrapped data key shared by several files (copies of one file)
/// is unwrapped once (files worked on concurrently wait for the one
/// unwrapping it), and each file's messages come in file order. Against the
/// counting fake KMS (no moto needed): 3 copies of one file and 3 files of
/// their own make 4 Decrypt calls, not 6; files already up to date make
/// none.
#[test]
fn kms_updatekeys_over_many_files_unwraps_each_data_key_once() {
    let fake = test_support::fake_kms::FakeKms::start(Duration::from_millis(20));
    let mut sb = Sandbox::new();
    for (k, v) in aws_test_env(&fake.endpoint()) {
        sb.set_env(k, v);
    }
    let age = sb.age_keygen("age");
    sb.use_identity(&age);
    sb.write("plain.yaml", PLAIN);
    let arn = "arn:aws:kms:us-east-1:123456789012:key/updatekeys";
    sb.write(".sops.yaml", format!("creation_rules:\n  - kms: {arn}\n"));
    let mut files = Vec::new();
    for name in ["own-1", "own-2", "own-3", "shared-1"] {
        let out = sb.run(Bin::Ours, ["encrypt", "plain.yaml"]).ok();
        sb.write(&format!("{name}.yaml"), &out);
        files.push(format!("{name}.yaml"));
    }
    for copy in ["shared-2", "shared-3"] {
        std::fs::copy(sb.path("shared-1.yaml"), sb.path(&format!("{copy}.yaml"))).unwrap();
        files.push(format!("{copy}.yaml"));
    }
    let decrypts_before = fake.calls("Decrypt");
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - kms: {arn}\n    age: {}\n",
            age.recipient
        ),
    );
    let mut args = vec!["updatekeys", "-y"];
    args.extend(files.iter().map(String::as_str));
    let out = sb.run(Bin::Ours, &args);
    out.ok();
    assert_eq!(fake.calls("Decrypt") - decrypts_before, 4);
    // Messages in file order, as a sequential run prints them.
    let synced: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("File ") && l.ends_with(" synced with new keys"))
        .collect();
    assert_eq!(synced.len(), files.len(), "{}", out.stderr);
    for (line, file) in synced.iter().zip(&files) {
        assert!(line.contains(&format!("/{file} ")), "{line} / {file}");
    }
    for file in &files {
        let out = sb
            .cmd(Bin::Ours, ["decrypt", file])
            .env("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9")
            .run()
            .ok();
        assert_eq!(String::from_utf8(out).unwrap(), PLAIN, "{file} by age");
    }
    let before = fake.calls("Decrypt");
    let mut again = vec!["updatekeys", "-y"];
    again.extend(files.iter().map(String::as_str));
    sb.run(Bin::Ours, &again).ok();
    assert_eq!(fake.calls("Decrypt"), before, "up-to-date files unwrapped");
}
