//! Azure Key Vault keys against the Key Vault fake
//! (`scripts/fakes/azure_kv_fake.py`, which `scripts/test.sh` starts). Both
//! binaries reach the vault host `sopstest.vault.azure.net` through the
//! fake's CONNECT proxy with its test CA (`HTTPS_PROXY`, `SSL_CERT_FILE`),
//! and by default get their token from the `az` stand-in
//! (`scripts/fakes/az`, first on `PATH`) with
//! `AZURE_TOKEN_CREDENTIALS=AzureCLICredential`; ours also with a client
//! secret and workload identity against the fake's token endpoint
//! (`AZURE_AUTHORITY_HOST`). Every command pins the credential chain or
//! holds environment credentials, so no metadata address is ever asked;
//! nothing leaves 127.0.0.1.

use std::path::PathBuf;

use super::cloud_support::{
    Keystore, PLAIN, age_group_is_needed, creation_rule_with_two_keys, decrypts,
    decrypts_without_age, encrypt, rotate_adds_and_removes_keys_and_groups_add,
    round_trips_both_ways, shamir_groups_with_age, unreachable_fails_quickly,
};
use super::support::{AgeKey, Bin, Sandbox};

const VAULT: &str = "https://sopstest.vault.azure.net";
const KEY: &str = "https://sopstest.vault.azure.net/keys/sops-key/0123456789abcdef";
const OTHER: &str = "https://sopstest.vault.azure.net/keys/other-key/fedcba9876543210";
/// No version: the vault's current one (the fake's id for this name).
const LATEST: &str = "https://sopstest.vault.azure.net/keys/latest-key";
const DENIED: &str = "https://sopstest.vault.azure.net/keys/denied-key/0123456789abcdef";
const MISSING: &str = "https://sopstest.vault.azure.net/keys/missing-key/0123456789abcdef";
/// The fake's tenant, client and secrets (see the fake's docs).
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID: &str = "sops-test-client";
const CLIENT_SECRET: &str = "sops-test-secret";
const FEDERATED_TOKEN: &str = "sops-test-federated-token";

pub const PROXY_VAR: &str = "SOPS_TEST_AZURE_PROXY";
pub const CA_VAR: &str = "SOPS_TEST_AZURE_CA";
pub const AUTHORITY_VAR: &str = "SOPS_TEST_AZURE_AUTHORITY";

/// Where the fake listens: its proxy, its CA and its token endpoint host.
struct AzureFake {
    proxy: String,
    ca: String,
    authority: String,
}

fn azure_fake() -> AzureFake {
    let var = |name: &str| match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.trim_end_matches('/').to_owned(),
        _ => panic!(
            "{name} is not set: run scripts/test.sh (it starts the Azure Key Vault fake), or \
             start it by hand (`mkdir -p /tmp/azfake && python3 scripts/fakes/azure_kv_fake.py \
             --port 5091 --proxy-port 5092 --state-dir /tmp/azfake &`) and export \
             {PROXY_VAR}=http://127.0.0.1:5092 {CA_VAR}=/tmp/azfake/ca.pem \
             {AUTHORITY_VAR}=https://127.0.0.1:5091"
        ),
    };
    AzureFake {
        proxy: var(PROXY_VAR),
        ca: var(CA_VAR),
        authority: var(AUTHORITY_VAR),
    }
}

fn fakes_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/fakes")
}

/// A sandbox wired to the fake (the `az` stand-in first on `PATH`, the
/// chain pinned to it), with an age key and the plaintext.
fn azure_sandbox() -> (Sandbox, AgeKey, AzureFake) {
    let fake = azure_fake();
    let mut sb = Sandbox::new();
    let mut path = std::ffi::OsString::from(fakes_dir());
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let no_proxy = "127.0.0.1,localhost";
    for (k, v) in [
        ("HTTPS_PROXY", fake.proxy.as_str()),
        ("https_proxy", fake.proxy.as_str()),
        ("NO_PROXY", no_proxy),
        ("no_proxy", no_proxy),
        ("SSL_CERT_FILE", fake.ca.as_str()),
        ("AZURE_TOKEN_CREDENTIALS", "AzureCLICredential"),
        ("SOPS_DISABLE_VERSION_CHECK", "true"),
    ] {
        sb.set_env(k, v);
    }
    sb.set_env("PATH", path);
    let log = sb.path("az.log");
    sb.set_env("SOPS_TEST_AZ_LOG", log);
    let age = sb.age_keygen("age");
    sb.use_identity(&age);
    sb.write("plain.yaml", PLAIN);
    (sb, age, fake)
}

/// How many times `az` was run since the last call.
fn az_calls(sb: &Sandbox) -> usize {
    let log = sb.path("az.log");
    let n = std::fs::read_to_string(&log).map_or(0, |t| t.lines().count());
    let _ = std::fs::remove_file(&log);
    n
}

fn entry(url: &str) -> String {
    let (vault, rest) = url.split_once("/keys/").unwrap();
    let (name, version) = rest.split_once('/').unwrap();
    format!(
        "    azure_kv:\n        - vault_url: {vault}\n          name: {name}\n          version: {version}\n          created_at: "
    )
}

#[test]
fn azure_round_trips_and_interops() {
    let (sb, _, _) = azure_sandbox();
    round_trips_both_ways(&sb, &["--azure-kv", KEY], &[&entry(KEY)]);
    // `SOPS_AZURE_KEYVAULT_URLS` and the legacy `-e` form, two keys of one
    // vault: one challenge, one token, one `az` run.
    az_calls(&sb);
    let out = sb
        .cmd(Bin::Ours, ["-e", "plain.yaml"])
        .env("SOPS_AZURE_KEYVAULT_URLS", format!("{KEY}, {OTHER}"))
        .run()
        .ok();
    assert_eq!(az_calls(&sb), 1);
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        text.contains("name: other-key") && text.contains("name: sops-key"),
        "{text}"
    );
    sb.write("enc2.yaml", out);
    decrypts(&sb, Bin::Reference, "enc2.yaml");
}

/// A URL without a version gets the vault's current version, by both
/// binaries, and the file records it.
#[test]
fn azure_keys_without_version_record_the_current_one() {
    let (sb, _, _) = azure_sandbox();
    let ours = encrypt(&sb, Bin::Ours, &["--azure-kv", LATEST]);
    let reference = encrypt(&sb, Bin::Reference, &["--azure-kv", LATEST]);
    let version = |text: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix("version: "))
            .filter(|v| v.len() == 32)
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no key version in {text}"))
    };
    assert_eq!(version(&ours), version(&reference));
    decrypts_without_age(&sb, Bin::Ours, "enc.yaml");
}

/// Ours with environment credentials against the fake's token endpoint:
/// a client secret (pinned, and first in the unpinned default chain), a
/// client certificate and workload identity; a wrong secret fails naming
/// the key, never echoing it.
#[test]
fn azure_client_secret_and_workload_identity() {
    let (mut sb, _, fake) = azure_sandbox();
    encrypt(&sb, Bin::Reference, &["--azure-kv", KEY]);
    az_calls(&sb);
    sb.set_env("AZURE_AUTHORITY_HOST", &fake.authority);
    sb.set_env("AZURE_TENANT_ID", TENANT);
    sb.set_env("AZURE_CLIENT_ID", CLIENT_ID);
    sb.set_env("SOPS_TEST_AZ_FAIL", "login");
    sb.set_env("AZURE_CLIENT_SECRET", CLIENT_SECRET);
    for pinned in [Some("EnvironmentCredential"), Some("prod"), None] {
        match pinned {
            Some(v) => sb.set_env("AZURE_TOKEN_CREDENTIALS", v),
            // The whole default chain: the environment comes first.
            None => sb.remove_env("AZURE_TOKEN_CREDENTIALS"),
        }
        decrypts_without_age(&sb, Bin::Ours, "enc.yaml");
    }
    sb.set_env("AZURE_TOKEN_CREDENTIALS", "AzureCLICredential");
    assert_eq!(az_calls(&sb), 0);
    let out = sb
        .cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
        .env("AZURE_CLIENT_SECRET", "WRONG-SECRET-VALUE")
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .run();
    out.fails_with(128, &[&format!("{KEY}: FAILED"), "AADSTS7000215"]);
    assert!(!out.stderr.contains("WRONG-SECRET-VALUE"), "{}", out.stderr);
    // A client certificate (the PEM file the fake writes next to its CA;
    // the fake checks the assertion's signature, thumbprint and audience).
    sb.remove_env("AZURE_CLIENT_SECRET");
    let client_pem = PathBuf::from(&fake.ca).with_file_name("client.pem");
    sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
        .env("AZURE_CLIENT_CERTIFICATE_PATH", &client_pem)
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .run()
        .ok();
    // Workload identity: the projected token file and the client id.
    let token_file = sb.write("federated-token", FEDERATED_TOKEN);
    sb.set_env("AZURE_FEDERATED_TOKEN_FILE", token_file);
    let enc = sb
        .cmd(Bin::Ours, ["encrypt", "--azure-kv", OTHER, "plain.yaml"])
        .env("AZURE_TOKEN_CREDENTIALS", "WorkloadIdentityCredential")
        .run()
        .ok();
    sb.write("wi.yaml", enc);
    sb.cmd(Bin::Ours, ["decrypt", "wi.yaml"])
        .env("AZURE_TOKEN_CREDENTIALS", "WorkloadIdentityCredential")
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .run()
        .ok();
    sb.remove_env("SOPS_TEST_AZ_FAIL");
    decrypts_without_age(&sb, Bin::Reference, "wi.yaml");
}

#[test]
fn azure_and_age_in_shamir_groups_from_sops_yaml() {
    let (sb, age, _) = azure_sandbox();
    shamir_groups_with_age(
        &sb,
        &age,
        &format!(
            "azure_keyvault:\n          - vaultUrl: {VAULT}\n            key: sops-key\n            version: 0123456789abcdef"
        ),
        "name: sops-key",
    );
    age_group_is_needed(&sb);
    // A key group entry without a version gets the current one.
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - key_groups:\n      - azure_keyvault:\n          - vaultUrl: {VAULT}\n            key: latest-key\n"),
    );
    for bin in [Bin::Ours, Bin::Reference] {
        let enc = encrypt(&sb, bin, &[]);
        assert!(enc.contains("name: latest-key"), "{enc}");
        assert!(!enc.contains("version: \"\""), "{enc}");
    }
}

/// A creation rule's `azure_keyvault:` (comma-separated URLs, one without
/// a version).
#[test]
fn azure_creation_rule() {
    let (sb, _, _) = azure_sandbox();
    creation_rule_with_two_keys(
        &sb,
        &format!("azure_keyvault: '{KEY},{LATEST}'"),
        "- vault_url: ",
        "name: latest-key",
    );
    // An unparsable URL in a rule fails as in sops.
    sb.write(".sops.yaml", "creation_rules:\n  - azure_keyvault: bad\n");
    for bin in [Bin::Ours, Bin::Reference] {
        sb.run(bin, ["encrypt", "plain.yaml"]).fails_with(
            1,
            &["could not parse \"bad\" into a valid Azure Key Vault MasterKey []"],
        );
    }
}

#[test]
fn azure_rotate_adds_and_removes_keys_and_groups_add() {
    let (sb, age, _) = azure_sandbox();
    rotate_adds_and_removes_keys_and_groups_add(
        &sb,
        &age,
        &Keystore {
            flag: "azure-kv",
            key: KEY,
            other: OTHER,
            shows_key: &entry(KEY),
            gone: "azure_kv",
            shows_other: "name: other-key",
        },
    );
}

/// `updatekeys` adds the rule's Azure key (same data key), after which the
/// reference decrypts with it alone.
#[test]
fn azure_updatekeys_follows_the_rule() {
    let (sb, age, _) = azure_sandbox();
    super::cloud_support::updatekeys_adds_the_rule_key(
        &sb,
        &age.recipient,
        &format!("azure_keyvault: {KEY}"),
        KEY,
    );
    decrypts_without_age(&sb, Bin::Reference, "enc.yaml");
    // A rule key without a version is the vault's current one, looked up
    // when the rule is loaded (as sops does): a file wrapped for it is up
    // to date, for both binaries.
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - azure_keyvault: {LATEST}\n"),
    );
    encrypt(&sb, Bin::Ours, &[]);
    for bin in [Bin::Ours, Bin::Reference] {
        let out = sb.run(bin, ["updatekeys", "-y", "enc.yaml"]);
        out.ok();
        assert!(
            out.stderr.contains("already up to date"),
            "{bin}: {}",
            out.stderr
        );
    }
    // `--rm-azure-kv` without a version removes the current version's key.
    let out = sb
        .run(
            Bin::Ours,
            [
                "rotate",
                "--rm-azure-kv",
                LATEST,
                "--add-age",
                &age.recipient,
                "enc.yaml",
            ],
        )
        .ok();
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("azure_kv"), "{text}");
}

/// Refused keys: permission denied (403) and not found (404) name the key
/// and the reason, exit 128 on decrypt (as the reference) and 1 on encrypt
/// ("Could not generate data key", as the reference); a key without
/// version that is not found fails its version look-up, as in sops.
#[test]
fn azure_permission_denied_and_not_found() {
    let (sb, _, _) = azure_sandbox();
    let enc = encrypt(&sb, Bin::Ours, &["--azure-kv", KEY]);
    for (url, ours, reference) in [
        (DENIED, "permission denied (HTTP 403", "RESPONSE 403"),
        (MISSING, "key not found (HTTP 404", "RESPONSE 404"),
    ] {
        let name = url.split('/').nth(4).unwrap();
        sb.write(
            "refused.yaml",
            enc.replace("name: sops-key", &format!("name: {name}")),
        );
        let out = sb.run(Bin::Ours, ["decrypt", "refused.yaml"]);
        out.fails_with(128, &[&format!("{url}: FAILED"), ours]);
        sb.run(Bin::Reference, ["decrypt", "refused.yaml"])
            .fails_with(128, &[reference]);
        for bin in [Bin::Ours, Bin::Reference] {
            sb.run(bin, ["encrypt", "--azure-kv", url, "plain.yaml"])
                .fails_with(1, &["Could not generate data key", url]);
        }
    }
    let unversioned = "https://sopstest.vault.azure.net/keys/missing-key";
    for bin in [Bin::Ours, Bin::Reference] {
        sb.run(bin, ["encrypt", "--azure-kv", unversioned, "plain.yaml"])
            .fails_with(
                1,
                &[
                    "failed to fetch Azure Key to retrieve key version",
                    &format!("{unversioned}/"),
                ],
            );
    }
    // Malformed URLs fail before any call, as in sops.
    for bin in [Bin::Ours, Bin::Reference] {
        sb.run(
            bin,
            ["encrypt", "--azure-kv", "https://v/secrets/x", "plain.yaml"],
        )
        .fails_with(
            1,
            &["could not parse \"https://v/secrets/x\" into a valid Azure Key Vault MasterKey []"],
        );
    }
}

/// Unreachable vault (the proxy is a closed port): fails at once, exit 128,
/// naming the key.
#[test]
fn azure_unreachable_vault_fails_quickly() {
    let (sb, _, _) = azure_sandbox();
    encrypt(&sb, Bin::Ours, &["--azure-kv", KEY]);
    unreachable_fails_quickly(
        sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"]),
        &[
            ("HTTPS_PROXY", "http://127.0.0.1:9"),
            ("https_proxy", "http://127.0.0.1:9"),
            (
                "SOPS_AGE_KEY_FILE",
                &sb.path("none.txt").display().to_string(),
            ),
        ],
        |out| {
            out.fails_with(128, &[&format!("{KEY}: FAILED"), "endpoint unreachable"]);
        },
    );
}

/// No credentials (the chain pinned to one that is not configured), a
/// signed-out `az`, a token the vault refuses, and an invalid
/// `AZURE_TOKEN_CREDENTIALS`: each fails naming the key, exit 128, as the
/// reference does.
#[test]
fn azure_credential_failures_name_the_key() {
    let (sb, _, _) = azure_sandbox();
    encrypt(&sb, Bin::Ours, &["--azure-kv", KEY]);
    let cases: [(&str, &str, &str, &str); 4] = [
        (
            "AZURE_TOKEN_CREDENTIALS",
            "EnvironmentCredential",
            "AZURE_TENANT_ID",
            "AZURE_TENANT_ID",
        ),
        ("SOPS_TEST_AZ_FAIL", "login", "login", "AzureCLICredential"),
        (
            "SOPS_TEST_AZ_TOKEN",
            "bad-token",
            "Unauthorized",
            "Unauthorized",
        ),
        ("AZURE_TOKEN_CREDENTIALS", "bogus", "\"bogus\"", "\"bogus\""),
    ];
    // Fragments are single words: the failure listing wraps its lines.
    for (var, value, ours, reference) in cases {
        let run = |bin| {
            sb.cmd(bin, ["decrypt", "enc.yaml"])
                .env(var, value)
                .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
                .run()
        };
        let out = run(Bin::Ours);
        out.fails_with(128, &[&format!("{KEY}: FAILED"), ours]);
        assert!(!out.stderr.contains("bad-token"), "{}", out.stderr);
        run(Bin::Reference).fails_with(128, &[reference]);
    }
}
