//! GCP KMS keys against the GCP KMS fake (`scripts/fakes/gcp_kms_fake.py`,
//! which `scripts/test.sh` starts): ours reaches its REST API through
//! `SOPS_GCP_KMS_ENDPOINT`, the reference sops 3.11 (whose endpoint is
//! fixed) its gRPC API through a CONNECT proxy and a test CA; both read
//! each other's files. Every command runs with a static access token and a
//! temporary `HOME`, so no credential search reaches a metadata server or
//! Google; nothing leaves 127.0.0.1.

use std::time::{Duration, Instant};

use test_support::{gcp_fake, gcp_test_env};

use super::cloud_support::{
    Keystore, PLAIN, age_group_is_needed, ciphertext_is_bound_to_its_key,
    creation_rule_with_two_keys, decrypts, decrypts_without_age, encrypt,
    encrypt_with_ids_variable, refused_key, rotate_adds_and_removes_keys_and_groups_add,
    round_trips_both_ways, sandbox_with, shamir_groups_with_age, unreachable_fails_quickly,
    updatekeys_adds_the_rule_key,
};
use super::support::{AgeKey, Bin, Sandbox};

const KEY: &str = "projects/p/locations/global/keyRings/r/cryptoKeys/k";
const OTHER: &str = "projects/p/locations/europe-west1/keyRings/r2/cryptoKeys/k2";
const DENIED: &str = "projects/p/locations/global/keyRings/r/cryptoKeys/denied";
const MISSING: &str = "projects/p/locations/global/keyRings/r/cryptoKeys/missing";

/// The keystore as the shared scenarios see it.
fn gcp() -> Keystore<'static> {
    Keystore {
        flag: "gcp-kms",
        key: KEY,
        other: OTHER,
        shows_key: "- resource_id: projects/p/locations/global/keyRings/r/cryptoKeys/k\n",
        gone: KEY,
        shows_other: OTHER,
    }
}

/// A sandbox wired to the fake, with an age key.
fn gcp_sandbox() -> (Sandbox, AgeKey) {
    sandbox_with(gcp_test_env(&gcp_fake()))
}

#[test]
fn gcp_round_trips_and_interops() {
    let (sb, _) = gcp_sandbox();
    round_trips_both_ways(
        &sb,
        &["--gcp-kms", KEY],
        &[&format!(
            "    gcp_kms:\n        - resource_id: {KEY}\n          created_at: "
        )],
    );
    // `SOPS_GCP_KMS_IDS` and the legacy `-e` form, two keys.
    let text = encrypt_with_ids_variable(&sb, "SOPS_GCP_KMS_IDS", &format!("{KEY}, {OTHER}"));
    assert!(text.contains(OTHER) && text.contains(KEY), "{text}");
    decrypts(&sb, Bin::Reference, "enc2.yaml");
}

/// A ciphertext is bound to its key: the same `enc` under another key's
/// name does not decrypt (exit 128, naming the key), for either binary.
#[test]
fn gcp_ciphertext_is_bound_to_its_key() {
    let (sb, _) = gcp_sandbox();
    ciphertext_is_bound_to_its_key(&sb, &gcp(), "INVALID_ARGUMENT", "InvalidArgument");
}

#[test]
fn gcp_and_age_in_shamir_groups_from_sops_yaml() {
    let (sb, age) = gcp_sandbox();
    shamir_groups_with_age(
        &sb,
        &age,
        &format!("gcp_kms:\n          - resource_id: {KEY}"),
        &format!("- resource_id: {KEY}"),
    );
    age_group_is_needed(&sb);
}

/// A creation rule's `gcp_kms:` (comma-separated, spaces removed).
#[test]
fn gcp_creation_rule() {
    let (sb, _) = gcp_sandbox();
    creation_rule_with_two_keys(
        &sb,
        &format!("gcp_kms: '{KEY}, {OTHER}'"),
        "- resource_id: ",
        OTHER,
    );
}

#[test]
fn gcp_rotate_adds_and_removes_keys_and_groups_add() {
    let (sb, age) = gcp_sandbox();
    rotate_adds_and_removes_keys_and_groups_add(&sb, &age, &gcp());
}

/// `updatekeys` adds the rule's GCP key (same data key), after which the
/// reference decrypts with it alone; run again it is "already up to date".
#[test]
fn gcp_updatekeys_follows_the_rule() {
    let (sb, age) = gcp_sandbox();
    updatekeys_adds_the_rule_key(&sb, &age.recipient, &format!("gcp_kms: {KEY}"), KEY);
    decrypts_without_age(&sb, Bin::Reference, "enc.yaml");
}

/// Refused keys: permission denied and not found name the key and the
/// reason, exit 128 on decrypt (as the reference) and 1 on encrypt ("Could
/// not generate data key", as the reference).
#[test]
fn gcp_permission_denied_and_not_found() {
    let (sb, _) = gcp_sandbox();
    let enc = encrypt(&sb, Bin::Ours, &["--gcp-kms", KEY]);
    for (id, ours, reference) in [
        (DENIED, "permission denied", "PermissionDenied"),
        (MISSING, "key not found", "NotFound"),
    ] {
        refused_key(&sb, "gcp-kms", (&enc, KEY), id, &[ours], reference);
    }
    // A malformed resource id fails before any call, as in sops.
    for bin in [Bin::Ours, Bin::Reference] {
        sb.run(bin, ["encrypt", "--gcp-kms", "projects/p/x", "plain.yaml"])
            .fails_with(1, &["no valid resource ID found in \"projects/p/x\""]);
    }
}

/// An endpoint nobody listens on fails within the connect time-out (the
/// refused connection is retried only that long), exit 128, naming the key.
#[test]
fn gcp_unreachable_endpoint_fails_quickly() {
    let (sb, _) = gcp_sandbox();
    encrypt(&sb, Bin::Ours, &["--gcp-kms", KEY]);
    unreachable_fails_quickly(
        sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"]),
        &[("SOPS_GCP_KMS_ENDPOINT", "http://127.0.0.1:9")],
        |out| {
            out.fails_with(128, &[&format!("{KEY}: FAILED"), "endpoint unreachable"]);
        },
    );
}

/// Credentials from `GOOGLE_CREDENTIALS`, as a path and as the JSON
/// itself: an authorized-user file whose token endpoint is the fake's, so
/// the refresh-token exchange happens on loopback. (No access token is
/// set for ours; the reference, which cannot reach that token endpoint,
/// reads the result with one.)
#[test]
fn gcp_credentials_from_google_credentials() {
    let (mut sb, _) = gcp_sandbox();
    let fake = gcp_fake();
    sb.remove_env("GOOGLE_OAUTH_ACCESS_TOKEN");
    let json = format!(
        "{{\"type\": \"authorized_user\", \"client_id\": \"id\", \"client_secret\": \"s\", \
         \"refresh_token\": \"r\", \"token_uri\": \"{}/token\"}}",
        fake.rest_endpoint
    );
    let path = sb.write("creds.json", &json);
    for value in [path.display().to_string(), json] {
        let out = sb
            .cmd(Bin::Ours, ["encrypt", "--gcp-kms", KEY, "plain.yaml"])
            .env("GOOGLE_CREDENTIALS", &value)
            .run()
            .ok();
        sb.write("enc.yaml", out);
        sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"])
            .env("GOOGLE_CREDENTIALS", &value)
            .run()
            .ok();
        let out = sb
            .cmd(Bin::Reference, ["decrypt", "enc.yaml"])
            .env("GOOGLE_OAUTH_ACCESS_TOKEN", "dummy")
            .run()
            .ok();
        assert_eq!(String::from_utf8(out).unwrap(), PLAIN);
    }
    // Credentials that are not JSON fail naming the variable, never
    // echoing its value.
    let out = sb
        .cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("GOOGLE_CREDENTIALS", "SECRET-NOT-JSON")
        .run();
    out.fails_with(128, &["GOOGLE_CREDENTIALS: not JSON"]);
    assert!(!out.stderr.contains("SECRET-NOT-JSON"), "{}", out.stderr);
}

/// No token, no credentials, no ADC file: the Application Default
/// Credentials chain falls back to the metadata server, which here is a
/// closed loopback port (`GCE_METADATA_HOST`), so nothing is reached; the
/// key fails naming itself, exit 128. (The library's
/// `gcp_application_default_credentials(false)` is tested in sops-core.)
#[test]
fn gcp_without_credentials_fails_naming_the_key() {
    let (mut sb, _) = gcp_sandbox();
    encrypt(&sb, Bin::Reference, &["--gcp-kms", KEY]);
    sb.remove_env("GOOGLE_OAUTH_ACCESS_TOKEN");
    let start = Instant::now();
    let out = sb
        .cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("GCE_METADATA_HOST", "127.0.0.1:9")
        .env("SOPS_KMS_TIMEOUT", "3s")
        .run();
    out.fails_with(
        128,
        &[&format!("{KEY}: FAILED"), "Application Default Credentials"],
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
}

/// Ours honours the proxy variables as sops does: with loopback not
/// exempted, the request goes to the fake's proxy, which answers a plain
/// HTTP request with 405; the key fails naming the unexpected reply.
#[test]
fn gcp_proxy_variables_are_honoured() {
    let (sb, _) = gcp_sandbox();
    let fake = gcp_fake();
    encrypt(&sb, Bin::Ours, &["--gcp-kms", KEY]);
    sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("HTTP_PROXY", &fake.proxy)
        .env("http_proxy", &fake.proxy)
        .env("NO_PROXY", "")
        .env("no_proxy", "")
        .run()
        .fails_with(
            128,
            &[&format!("{KEY}: FAILED"), "unexpected response (HTTP 405)"],
        );
}

/// The fake's host of the sovereign universe (`cloudkms.sovereign.test`,
/// reached through its proxy with the test CA).
const UNIVERSE: &str = "sovereign.test";

/// sops 3.13 (#2114): `SOPS_GCP_KMS_UNIVERSE_DOMAIN` makes the client call
/// `cloudkms.<domain>` (the fake serves it only through its proxy), an
/// access token is taken to belong to that universe, credentials of
/// another universe are refused naming the key, and `SOPS_GCP_KMS_ENDPOINT`
/// wins over the domain. The reference (3.11, no universe) reads the file.
#[test]
fn gcp_universe_domain_selects_the_host_and_checks_credentials() {
    let (mut sb, _) = gcp_sandbox();
    let rest = gcp_fake().rest_endpoint;
    sb.remove_env("SOPS_GCP_KMS_ENDPOINT");
    sb.set_env("SOPS_GCP_KMS_UNIVERSE_DOMAIN", UNIVERSE);
    encrypt(&sb, Bin::Ours, &["--gcp-kms", KEY]);
    decrypts_without_age(&sb, Bin::Ours, "enc.yaml");
    decrypts_without_age(&sb, Bin::Reference, "enc.yaml");
    // Without the domain, the same call goes to Google's host, which the
    // proxy leads to the gRPC API: ours (HTTP/JSON) gets no answer there.
    sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .env("SOPS_GCP_KMS_UNIVERSE_DOMAIN", "")
        .run()
        .fails_with(128, &[&format!("{KEY}: FAILED")]);
    // A credentials file names no universe: Google's, not this one.
    let creds = format!(
        "{{\"type\": \"authorized_user\", \"client_id\": \"c\", \"client_secret\": \"SECRET-TEXT\", \
         \"refresh_token\": \"universe-check\", \"token_uri\": \"{rest}/token\"}}"
    );
    let out = sb
        .cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .env("GOOGLE_CREDENTIALS", &creds)
        .run();
    out.fails_with(128, &[&format!("{KEY}: FAILED"), UNIVERSE]);
    assert!(!out.stderr.contains("SECRET-TEXT"), "{}", out.stderr);
    // The endpoint wins: a domain nobody serves is not consulted.
    sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .env("SOPS_GCP_KMS_ENDPOINT", &rest)
        .env("SOPS_GCP_KMS_UNIVERSE_DOMAIN", "nowhere.invalid")
        .run()
        .ok();
}

/// `SOPS_GCP_KMS_ENDPOINT` in Go's gRPC form, `host:port` without a
/// scheme (sops' own example), is that host over HTTPS for ours.
#[test]
fn gcp_endpoint_without_a_scheme_is_https() {
    let (sb, _) = gcp_sandbox();
    let endpoint = format!("cloudkms.{UNIVERSE}:443");
    let out = sb
        .cmd(Bin::Ours, ["encrypt", "--gcp-kms", KEY, "plain.yaml"])
        .env("SOPS_GCP_KMS_ENDPOINT", &endpoint)
        .run()
        .ok();
    sb.write("enc.yaml", out);
    decrypts_without_age(&sb, Bin::Ours, "enc.yaml");
}

/// `SOPS_GCP_KMS_CLIENT_TYPE` (sops 3.12, #1973) is accepted with any
/// value: sops takes `rest` (any case) for its REST client and anything
/// else for gRPC, never an error; ours always speaks HTTP/JSON. The
/// reference (which has the variable) does the same with `grpc` and an
/// unknown value.
#[test]
fn gcp_client_type_is_accepted() {
    let (sb, _) = gcp_sandbox();
    for value in ["grpc", "rest", "REST", "carrier-pigeon"] {
        let out = sb
            .cmd(Bin::Ours, ["encrypt", "--gcp-kms", KEY, "plain.yaml"])
            .env("SOPS_GCP_KMS_CLIENT_TYPE", value)
            .run()
            .ok();
        sb.write("enc.yaml", out);
        let plain = sb
            .cmd(Bin::Ours, ["decrypt", "enc.yaml"])
            .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
            .env("SOPS_GCP_KMS_CLIENT_TYPE", value)
            .run()
            .ok();
        assert_eq!(String::from_utf8(plain).unwrap(), PLAIN, "{value}");
    }
    for value in ["grpc", "carrier-pigeon"] {
        let plain = sb
            .cmd(Bin::Reference, ["decrypt", "enc.yaml"])
            .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
            .env("SOPS_GCP_KMS_CLIENT_TYPE", value)
            .run()
            .ok();
        assert_eq!(String::from_utf8(plain).unwrap(), PLAIN, "{value}");
    }
}
