//! HuaweiCloud KMS keys against the HuaweiCloud KMS fake
//! (`scripts/fakes/hckms_fake.py`, which `scripts/test.sh` starts): an
//! HTTPS server on loopback with a test CA that checks the SDK-HMAC-SHA256
//! signature of every request. Both binaries reach it through the SDK's
//! per-region endpoint variable (`HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1`)
//! and trust its CA through `SSL_CERT_FILE`; credentials are the fake's
//! test access key pair in `HUAWEICLOUD_SDK_AK`/`_SK`/`_PROJECT_ID`, and
//! `HOME` is the sandbox, so no credentials file or metadata service of
//! the machine is ever used.

use super::cloud_support::{
    Keystore, age_group_is_needed, ciphertext_is_bound_to_its_key, creation_rule_with_two_keys,
    decrypts, decrypts_without_age, encrypt, encrypt_with_ids_variable, refused_key,
    rotate_adds_and_removes_keys_and_groups_add, round_trips_both_ways, sandbox_with,
    shamir_groups_with_age, unreachable_fails_quickly,
};
use super::support::{AgeKey, Bin, Sandbox};

const KEY: &str = "tr-west-1:11111111-2222-3333-4444-555555555555";
const OTHER: &str = "tr-west-1:66666666-7777-8888-9999-aaaaaaaaaaaa";
/// The fake refuses keys ending in `000000000403` (403) and `…404` (404).
const DENIED: &str = "tr-west-1:11111111-2222-3333-4444-000000000403";
const MISSING: &str = "tr-west-1:11111111-2222-3333-4444-000000000404";

/// The fake's test credentials (its defaults).
const AK: &str = "HCKMSFAKEAK0000000000";
const SK: &str = "hckms-fake-secret-key";
const PROJECT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";

const ENDPOINT_VAR: &str = "SOPS_TEST_HCKMS_ENDPOINT";
const CA_VAR: &str = "SOPS_TEST_HCKMS_CA";

/// The fake's address and CA, from the variables `scripts/test.sh` sets.
/// Fails (never skips) when they are not set.
#[track_caller]
fn fake() -> (String, String) {
    let var = |name: &str| match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.trim_end_matches('/').to_owned(),
        _ => panic!(
            "{name} is not set: run scripts/test.sh (it starts the HuaweiCloud KMS fake), or \
             start it by hand (`mkdir -p /tmp/hckmsfake && python3 scripts/fakes/hckms_fake.py \
             --port 5101 --state-dir /tmp/hckmsfake &`) and export \
             {ENDPOINT_VAR}=https://127.0.0.1:5101 {CA_VAR}=/tmp/hckmsfake/ca.pem"
        ),
    };
    (var(ENDPOINT_VAR), var(CA_VAR))
}

/// The keystore as the shared scenarios see it.
fn hckms() -> Keystore<'static> {
    Keystore {
        flag: "hckms",
        key: KEY,
        other: OTHER,
        shows_key: "- key_id: tr-west-1:11111111-2222-3333-4444-555555555555\n",
        gone: KEY,
        shows_other: "- key_id: tr-west-1:66666666-7777-8888-9999-aaaaaaaaaaaa",
    }
}

/// A sandbox wired to the fake, with an age key.
fn hckms_sandbox() -> (Sandbox, AgeKey) {
    let (endpoint, ca) = fake();
    sandbox_with([
        ("HUAWEICLOUD_SDK_AK", AK),
        ("HUAWEICLOUD_SDK_SK", SK),
        ("HUAWEICLOUD_SDK_PROJECT_ID", PROJECT),
        ("HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1", &endpoint),
        ("SSL_CERT_FILE", &ca),
        ("SOPS_DISABLE_VERSION_CHECK", "true"),
    ])
}

#[test]
fn hckms_round_trips_and_interops() {
    let (sb, _) = hckms_sandbox();
    round_trips_both_ways(
        &sb,
        &["--hckms", KEY],
        &[&format!(
            "    hckms:\n        - key_id: {KEY}\n          created_at: "
        )],
    );
    // `SOPS_HUAWEICLOUD_KMS_IDS` and the legacy `-e` form, two keys (items
    // trimmed, as sops does).
    let text = encrypt_with_ids_variable(
        &sb,
        "SOPS_HUAWEICLOUD_KMS_IDS",
        &format!("{KEY} , {OTHER},, "),
    );
    assert!(
        text.contains(&format!("- key_id: {KEY}\n"))
            && text.contains(&format!("- key_id: {OTHER}\n")),
        "{text}"
    );
    decrypts(&sb, Bin::Reference, "enc2.yaml");
}

/// A ciphertext is bound to its key: the same `enc` under another key id
/// does not decrypt (exit 128, naming the key), for either binary.
#[test]
fn hckms_ciphertext_is_bound_to_its_key() {
    let (sb, _) = hckms_sandbox();
    ciphertext_is_bound_to_its_key(&sb, &hckms(), "KMS.0207", "\"status_code\":400");
}

#[test]
fn hckms_and_age_in_shamir_groups_from_sops_yaml() {
    let (sb, age) = hckms_sandbox();
    shamir_groups_with_age(
        &sb,
        &age,
        &format!("hckms:\n          - key_id: {KEY}"),
        &format!("- key_id: {KEY}"),
    );
    age_group_is_needed(&sb);
}

/// A creation rule's `hckms:` (a list of strings, as sops takes it).
#[test]
fn hckms_creation_rule() {
    let (sb, _) = hckms_sandbox();
    creation_rule_with_two_keys(
        &sb,
        &format!("hckms:\n      - {KEY}\n      - {OTHER}"),
        "- key_id: ",
        OTHER,
    );
    // A malformed id in a key group fails as in sops.
    sb.write(
        ".sops.yaml",
        "creation_rules:\n  - key_groups:\n      - hckms:\n          - key_id: no-colon\n",
    );
    for bin in [Bin::Ours, Bin::Reference] {
        sb.run(bin, ["encrypt", "plain.yaml"]).fails_with(
            1,
            &["invalid key ID format: expected 'region:key-uuid', got \"no-colon\""],
        );
    }
}

#[test]
fn hckms_rotate_adds_and_removes_keys_and_groups_add() {
    let (sb, age) = hckms_sandbox();
    rotate_adds_and_removes_keys_and_groups_add(&sb, &age, &hckms());
}

/// `updatekeys` adds the rule's HuaweiCloud key (same data key), after
/// which the reference decrypts with it alone; run again it is "already up
/// to date".
#[test]
fn hckms_updatekeys_follows_the_rule() {
    let (sb, age) = hckms_sandbox();
    super::cloud_support::updatekeys_adds_the_rule_key(
        &sb,
        &age.recipient,
        &format!("hckms: [{KEY}]"),
        KEY,
    );
    decrypts_without_age(&sb, Bin::Reference, "enc.yaml");
}

/// Refused keys name the key and the reason: exit 128 on decrypt (as the
/// reference) and 1 on encrypt ("Could not generate data key", as the
/// reference); a malformed id fails before any call, as in sops.
#[test]
fn hckms_denied_unknown_and_malformed_keys() {
    let (sb, _) = hckms_sandbox();
    let enc = encrypt(&sb, Bin::Ours, &["--hckms", KEY]);
    for (id, ours, reference) in [
        (DENIED, ["KMS.0303", "permission"], "\"status_code\":403"),
        (MISSING, ["KMS.0205", "found"], "\"status_code\":404"),
    ] {
        refused_key(&sb, "hckms", (&enc, KEY), id, &ours, reference);
    }
    for (bad, says) in [
        (
            "tr-west-1",
            "invalid key ID format: expected 'region:key-uuid', got \"tr-west-1\"",
        ),
        (":u", "region cannot be empty in key ID: \":u\""),
        (
            "tr-west-1:",
            "key UUID cannot be empty in key ID: \"tr-west-1:\"",
        ),
    ] {
        for bin in [Bin::Ours, Bin::Reference] {
            sb.run(bin, ["encrypt", "--hckms", bad, "plain.yaml"])
                .fails_with(1, &[says]);
        }
    }
    // A region the SDK does not know (and no endpoint names) is refused
    // with the SDK's text, by both.
    for bin in [Bin::Ours, Bin::Reference] {
        sb.run(bin, ["encrypt", "--hckms", "xx-west-9:u", "plain.yaml"])
            .fails_with(
                1,
                &["region id 'xx-west-9' is not in the following supported regions of service 'KMS'"],
            );
    }
}

/// A wrong secret key: the fake refuses the signature (401, the gateway's
/// APIGW.0301), exit 128 naming the key, the secret never printed.
#[test]
fn hckms_bad_signature_is_refused() {
    let (sb, _) = hckms_sandbox();
    encrypt(&sb, Bin::Ours, &["--hckms", KEY]);
    for bin in [Bin::Ours, Bin::Reference] {
        let out = sb
            .cmd(bin, ["decrypt", "enc.yaml"])
            .env("HUAWEICLOUD_SDK_SK", "WRONG-SECRET-KEY")
            .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
            .run();
        out.fails_with(128, &[&format!("{KEY}: FAILED"), "APIGW.0301"]);
        assert!(!out.stderr.contains("WRONG-SECRET-KEY"), "{}", out.stderr);
    }
    sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("HUAWEICLOUD_SDK_SK", "WRONG-SECRET-KEY")
        .run()
        .fails_with(128, &["authenticated"]);
}

/// An endpoint nobody listens on fails within the connect time-out, exit
/// 128, naming the key.
#[test]
fn hckms_unreachable_endpoint_fails_quickly() {
    let (sb, _) = hckms_sandbox();
    encrypt(&sb, Bin::Ours, &["--hckms", KEY]);
    unreachable_fails_quickly(
        sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"]),
        &[(
            "HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1",
            "https://127.0.0.1:9",
        )],
        |out| {
            out.fails_with(128, &[&format!("{KEY}: FAILED"), "unreachable"]);
        },
    );
}

/// Credentials from the SDK's file (`~/.huaweicloud/credentials`, section
/// `[basic]`) when the variables are unset, for both binaries; without
/// either, ours fails naming the key (the reference would go on to the
/// instance metadata service, so it is not run).
#[test]
fn hckms_credentials_file_and_no_credentials() {
    let (mut sb, _) = hckms_sandbox();
    encrypt(&sb, Bin::Ours, &["--hckms", KEY]);
    for k in [
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_SK",
        "HUAWEICLOUD_SDK_PROJECT_ID",
    ] {
        sb.remove_env(k);
    }
    let out = sb
        .cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .run();
    out.fails_with(
        128,
        &[
            &format!("{KEY}: FAILED"),
            "credentials:",
            "HUAWEICLOUD_SDK_AK",
        ],
    );
    std::fs::create_dir_all(sb.path(".huaweicloud")).unwrap();
    sb.write(
        ".huaweicloud/credentials",
        format!("[basic]\nak = {AK}\nsk = {SK}\nproject_id = {PROJECT}\n"),
    );
    decrypts_without_age(&sb, Bin::Ours, "enc.yaml");
    decrypts_without_age(&sb, Bin::Reference, "enc.yaml");
}

/// The SDK's regions file names the endpoint of a region it does not know
/// (`HUAWEICLOUD_SDK_REGIONS_FILE`); both binaries use it.
#[test]
fn hckms_regions_file_names_the_endpoint() {
    let (endpoint, _) = fake();
    let (mut sb, _) = hckms_sandbox();
    sb.remove_env("HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1");
    let regions = sb.write(
        "regions.yaml",
        format!("KMS:\n  - id: lab-west-1\n    endpoint: {endpoint}\n"),
    );
    sb.set_env("HUAWEICLOUD_SDK_REGIONS_FILE", regions.as_os_str());
    let id = "lab-west-1:11111111-2222-3333-4444-555555555555";
    for (writer, reader) in [(Bin::Ours, Bin::Reference), (Bin::Reference, Bin::Ours)] {
        let enc = encrypt(&sb, writer, &["--hckms", id]);
        assert!(enc.contains(&format!("- key_id: {id}")), "{enc}");
        decrypts_without_age(&sb, reader, "enc.yaml");
    }
}
