//! Vault transit keys against the Vault fake (`scripts/fakes/vault_fake.py`,
//! which `scripts/test.sh` starts twice: plain HTTP at
//! `SOPS_TEST_VAULT_ADDR`, HTTPS with a test CA at `SOPS_TEST_VAULT_TLS_ADDR`
//! and `SOPS_TEST_VAULT_CA`). Both binaries talk to it directly (sops 3.11
//! takes the address from the key URI), with the token `root`; each test
//! uses key names of its own, as the fake keeps its keys for its lifetime.

use std::io::{Read, Write};
use std::path::PathBuf;

use super::cloud_support::{
    Keystore, PLAIN, creation_rule_with_two_keys, decrypts, decrypts_without_age, encrypt,
    encrypt_with_ids_variable, rotate_adds_and_removes_keys_and_groups_add, round_trips_both_ways,
    sandbox_with, shamir_groups_with_age, unreachable_fails_quickly,
};
use super::support::{AgeKey, Bin, Output, Sandbox};

const ADDR_VAR: &str = "SOPS_TEST_VAULT_ADDR";
const TLS_ADDR_VAR: &str = "SOPS_TEST_VAULT_TLS_ADDR";
const CA_VAR: &str = "SOPS_TEST_VAULT_CA";

#[track_caller]
fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.trim_end_matches('/').to_owned(),
        _ => panic!(
            "{name} is not set: run scripts/test.sh (it starts the Vault fake), or start it by \
             hand (`python3 scripts/fakes/vault_fake.py --port 5081 & python3 \
             scripts/fakes/vault_fake.py --port 5082 --tls-dir /tmp/vaultfake &`) and export \
             {ADDR_VAR}=http://127.0.0.1:5081 {TLS_ADDR_VAR}=https://127.0.0.1:5082 \
             {CA_VAR}=/tmp/vaultfake/ca.pem"
        ),
    }
}

/// The plain HTTP fake's address.
pub(super) fn addr() -> String {
    var(ADDR_VAR)
}

/// The URI of transit key `key` of engine `engine` on the plain fake.
pub(super) fn uri(engine: &str, key: &str) -> String {
    format!("{}/v1/{engine}/keys/{key}", addr())
}

/// The `[method, path, namespace]` requests the fake at `address` has
/// seen, as its JSON text.
fn requests_seen(address: &str) -> String {
    let host = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host)
        .unwrap_or_else(|e| panic!("cannot reach the Vault fake at {host}: {e}"));
    let request =
        format!("GET /_fake/requests HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .expect("write to the Vault fake");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read from the Vault fake");
    response
}

/// `fails_with` over stderr with sops' wrapped failure lines joined again
/// (a long reason is wrapped across `|` lines).
trait FailsSaying {
    fn fails_saying(&self, code: i32, fragments: &[&str]);
}

impl FailsSaying for Output {
    #[track_caller]
    fn fails_saying(&self, code: i32, fragments: &[&str]) {
        assert_eq!(self.code, code, "{}: {}", self.what, self.stderr);
        let joined = self
            .stderr
            .lines()
            .map(|l| {
                l.trim()
                    .trim_start_matches("- ")
                    .trim_start_matches('|')
                    .trim()
            })
            .collect::<Vec<_>>()
            .join(" ");
        for fragment in fragments {
            assert!(
                joined.contains(fragment),
                "{}: lacks {fragment:?}: {}",
                self.what,
                self.stderr
            );
        }
    }
}

/// A sandbox with the token `root` and an age key.
fn vault_sandbox() -> (Sandbox, AgeKey) {
    sandbox_with([
        ("VAULT_TOKEN", "root"),
        ("SOPS_DISABLE_VERSION_CHECK", "true"),
    ])
}

#[test]
fn vault_round_trips_and_interops() {
    let (sb, _) = vault_sandbox();
    let key = uri("sops", "interop");
    let expected = format!(
        "    hc_vault:\n        - vault_address: {}\n          engine_path: sops\n          key_name: interop\n          created_at: ",
        addr()
    );
    round_trips_both_ways(
        &sb,
        &["--hc-vault-transit", &key],
        &[&expected, "          enc: vault:v1:"],
    );
    // `SOPS_VAULT_URIS` and the legacy `-e` form, two keys, one with an
    // engine path of several segments.
    let nested = uri("team/transit", "nested");
    let text = encrypt_with_ids_variable(&sb, "SOPS_VAULT_URIS", &format!("{key},{nested}"));
    assert!(
        text.contains("          engine_path: team/transit\n          key_name: nested\n"),
        "{text}"
    );
    decrypts(&sb, Bin::Reference, "enc2.yaml");
    decrypts(&sb, Bin::Ours, "enc2.yaml");
}

/// Without `VAULT_TOKEN`, the token comes from `~/.vault-token` (trimmed).
#[test]
fn vault_token_from_the_home_file() {
    let (mut sb, _) = vault_sandbox();
    sb.remove_env("VAULT_TOKEN");
    sb.write(".vault-token", "root\n");
    let key = uri("sops", "home-token");
    for (writer, reader) in [(Bin::Ours, Bin::Reference), (Bin::Reference, Bin::Ours)] {
        encrypt(&sb, writer, &["--hc-vault-transit", &key]);
        decrypts_without_age(&sb, reader, "enc.yaml");
    }
    // `VAULT_TOKEN` comes first.
    sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("VAULT_TOKEN", "wrong")
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .run()
        .fails_saying(128, &["permission denied"]);
}

#[test]
fn vault_and_age_in_shamir_groups_from_sops_yaml() {
    let (sb, age) = vault_sandbox();
    let key = uri("sops", "shamir");
    shamir_groups_with_age(
        &sb,
        &age,
        &format!("hc_vault:\n          - {key}"),
        "key_name: shamir",
    );
    // Both groups are needed: with a wrong token, 128.
    sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("VAULT_TOKEN", "wrong")
        .run()
        .fails_saying(128, &["Group 0: FAILED", "Group 1: SUCCESS"]);
}

/// A creation rule's `hc_vault_transit_uri:` is a comma-separated list
/// (blanks around the URIs removed, as sops does there; on the command
/// line a blank makes the URI invalid, for both).
#[test]
fn vault_creation_rule() {
    let (sb, _) = vault_sandbox();
    let (a, b) = (uri("sops", "rule-a"), uri("other/engine", "rule-b"));
    creation_rule_with_two_keys(
        &sb,
        &format!("hc_vault_transit_uri: '{a},{b}'"),
        "- vault_address: ",
        "key_name: rule-b",
    );
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - hc_vault_transit_uri: '{a}, {b}'\n"),
    );
    for bin in [Bin::Ours, Bin::Reference] {
        let enc = encrypt(&sb, bin, &[]);
        assert_eq!(enc.matches("- vault_address: ").count(), 2, "{enc}");
        sb.run(
            bin,
            [
                "encrypt",
                "--hc-vault-transit",
                &format!("{a}, {b}"),
                "plain.yaml",
            ],
        )
        .fails_saying(1, &[&format!(" {b}")]);
    }
}

#[test]
fn vault_rotate_adds_and_removes_keys_and_groups_add() {
    let (sb, age) = vault_sandbox();
    let (key, other) = (uri("sops", "rotate"), uri("sops", "rotate-group"));
    rotate_adds_and_removes_keys_and_groups_add(
        &sb,
        &age,
        &Keystore {
            flag: "hc-vault-transit",
            key: &key,
            other: &other,
            shows_key: "key_name: rotate\n",
            gone: "key_name: rotate\n",
            shows_other: "key_name: rotate-group",
        },
    );
    sb.cmd(Bin::Ours, ["decrypt", "grouped.yaml"])
        .env("VAULT_TOKEN", "wrong")
        .run()
        .fails_saying(128, &[&format!("{other}: FAILED")]);
}

/// `updatekeys` adds the rule's Vault key (same data key), after which the
/// reference decrypts with it alone.
#[test]
fn vault_updatekeys_follows_the_rule() {
    let (sb, age) = vault_sandbox();
    let key = uri("sops", "updatekeys");
    super::cloud_support::updatekeys_adds_the_rule_key(
        &sb,
        &age.recipient,
        &format!("hc_vault_transit_uri: {key}"),
        &key,
    );
    decrypts_without_age(&sb, Bin::Reference, "enc.yaml");
}

/// Refused calls name the key and Vault's reason; exit 128 on decrypt and
/// 1 on encrypt ("Could not generate data key"), as the reference.
#[test]
fn vault_wrong_token_and_denied_key() {
    let (sb, _) = vault_sandbox();
    let key = uri("sops", "refusals");
    let enc = encrypt(&sb, Bin::Ours, &["--hc-vault-transit", &key]);
    for bin in [Bin::Ours, Bin::Reference] {
        let out = sb
            .cmd(bin, ["decrypt", "enc.yaml"])
            .env("VAULT_TOKEN", "wrong")
            .run();
        out.fails_saying(128, &[&format!("{key}: FAILED"), "permission denied"]);
        assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    }
    let denied = uri("sops", "denied");
    sb.write(
        "denied.yaml",
        enc.replace("key_name: refusals", "key_name: denied"),
    );
    for bin in [Bin::Ours, Bin::Reference] {
        sb.run(bin, ["decrypt", "denied.yaml"])
            .fails_saying(128, &[&format!("{denied}: FAILED"), "permission denied"]);
        sb.run(
            bin,
            ["encrypt", "--hc-vault-transit", &denied, "plain.yaml"],
        )
        .fails_saying(
            1,
            &["Could not generate data key", &denied, "permission denied"],
        );
    }
    // A key the server never created: Vault's 400, named.
    let never = uri("sops", "never-created");
    sb.write(
        "never.yaml",
        enc.replace("key_name: refusals", "key_name: never-created"),
    );
    sb.run(Bin::Ours, ["decrypt", "never.yaml"])
        .fails_saying(128, &[&format!("{never}: FAILED"), "Code: 400"]);
    // A redirect (a standby node's) is not followed: the token would go
    // along to wherever it points.
    let redirect = uri("sops", "redirect");
    sb.run(
        Bin::Ours,
        ["encrypt", "--hc-vault-transit", &redirect, "plain.yaml"],
    )
    .fails_saying(
        1,
        &[
            &redirect,
            "Code: 307",
            "redirects to http://127.0.0.1:9/v1/sops/encrypt/redirect",
            "redirects are not followed",
        ],
    );
    // Malformed URIs fail before any call, with sops' texts.
    for (bad, says) in [
        (
            format!("{}/sops/keys/k", addr()),
            "vault path does not seem to be formatted correctly",
        ),
        (
            format!("{}/x/v1/sops/keys/k", addr()),
            "running Vault with a prefixed URL is not supported",
        ),
    ] {
        for bin in [Bin::Ours, Bin::Reference] {
            sb.run(bin, ["encrypt", "--hc-vault-transit", &bad, "plain.yaml"])
                .fails_saying(1, &[says]);
        }
    }
}

/// No `VAULT_TOKEN` and no `~/.vault-token`: ours says so before any call
/// (the reference sends the request without a token and gets Vault's 403).
#[test]
fn vault_missing_token_is_named() {
    let (mut sb, _) = vault_sandbox();
    let key = uri("sops", "missing-token");
    encrypt(&sb, Bin::Ours, &["--hc-vault-transit", &key]);
    sb.remove_env("VAULT_TOKEN");
    sb.run(Bin::Ours, ["decrypt", "enc.yaml"]).fails_saying(
        128,
        &[
            &format!("{key}: FAILED"),
            "no Vault token: VAULT_TOKEN is unset and",
            ".vault-token does not exist",
        ],
    );
    sb.run(Bin::Reference, ["decrypt", "enc.yaml"])
        .fails_saying(128, &["permission denied"]);
}

/// An address nobody listens on fails at once (the refused connection is
/// not retried), exit 128, naming the key.
#[test]
fn vault_unreachable_address_fails_quickly() {
    let (sb, _) = vault_sandbox();
    let key = uri("sops", "unreachable");
    let enc = encrypt(&sb, Bin::Ours, &["--hc-vault-transit", &key]);
    let closed = "http://127.0.0.1:9";
    sb.write("closed.yaml", enc.replace(&addr(), closed));
    unreachable_fails_quickly(sb.cmd(Bin::Ours, ["decrypt", "closed.yaml"]), &[], |out| {
        out.fails_saying(
            128,
            &[
                &format!("{closed}/v1/sops/keys/unreachable: FAILED"),
                "Vault unreachable",
            ],
        );
    });
}

/// sops 3.13's `SOPS_HC_VAULT_ALLOWLIST`: a refused address fails before
/// any request reaches the server (ours only: the reference is 3.11).
#[test]
fn vault_allowlist_refuses_before_any_request() {
    let (sb, _) = vault_sandbox();
    let key_name = format!("allowlist-{}", std::process::id());
    let key = uri("sops", &key_name);
    let allowed = uri("sops", "allowlist-ok");
    for list in ["none", "http://127.0.0.1:9,https://vault.example"] {
        sb.cmd(
            Bin::Ours,
            ["encrypt", "--hc-vault-transit", &key, "plain.yaml"],
        )
        .env("SOPS_HC_VAULT_ALLOWLIST", list)
        .run()
        .fails_saying(1, &[&format!("Allowlist does not allow {}", addr())]);
    }
    sb.cmd(
        Bin::Ours,
        ["encrypt", "--hc-vault-transit", &allowed, "plain.yaml"],
    )
    .env(
        "SOPS_HC_VAULT_ALLOWLIST",
        format!("http://nowhere, {}", addr()),
    )
    .run()
    .ok();
    let enc = encrypt(&sb, Bin::Ours, &["--hc-vault-transit", &allowed]);
    sb.write("refused.yaml", enc);
    sb.cmd(Bin::Ours, ["decrypt", "refused.yaml"])
        .env("SOPS_HC_VAULT_ALLOWLIST", "none")
        .run()
        .fails_saying(
            128,
            &[
                &format!("{allowed}: FAILED"),
                &format!("Allowlist does not allow {}", addr()),
            ],
        );
    sb.cmd(
        Bin::Ours,
        ["encrypt", "--hc-vault-transit", &key, "plain.yaml"],
    )
    .env("SOPS_HC_VAULT_ALLOWLIST", "http://a,,http://b")
    .run()
    .fails_saying(1, &["SOPS_HC_VAULT_ALLOWLIST's entry 2 is empty"]);
    let seen = requests_seen(&addr());
    assert!(seen.contains("allowlist-ok"), "{seen}");
    assert!(!seen.contains(&key_name), "{seen}");
}

/// `VAULT_NAMESPACE` is sent as `X-Vault-Namespace` (as the reference's
/// Vault client does).
#[test]
fn vault_namespace_is_sent() {
    let (sb, _) = vault_sandbox();
    for (bin, key) in [(Bin::Ours, "ns-ours"), (Bin::Reference, "ns-reference")] {
        sb.cmd(
            bin,
            [
                "encrypt",
                "--hc-vault-transit",
                &uri("sops", key),
                "plain.yaml",
            ],
        )
        .env("VAULT_NAMESPACE", "team-a")
        .run()
        .ok();
        let seen = requests_seen(&addr());
        assert!(
            seen.contains(&format!(
                "[\"PUT\", \"/v1/sops/encrypt/{key}\", \"team-a\", null]"
            )),
            "{bin}: {seen}"
        );
    }
}

/// The HTTPS fake: trusted through `VAULT_CACERT` (both binaries) or not
/// checked with `VAULT_SKIP_VERIFY`; without either the certificate is
/// refused, naming the key. Client certificates through
/// `VAULT_CLIENT_CERT` and `VAULT_CLIENT_KEY`.
#[test]
fn vault_over_https() {
    let (sb, _) = vault_sandbox();
    let tls = var(TLS_ADDR_VAR);
    let ca = PathBuf::from(var(CA_VAR));
    let key = format!("{tls}/v1/sops/keys/tls");
    for (writer, reader) in [(Bin::Ours, Bin::Reference), (Bin::Reference, Bin::Ours)] {
        let out = sb
            .cmd(
                writer,
                ["encrypt", "--hc-vault-transit", &key, "plain.yaml"],
            )
            .env("VAULT_CACERT", &ca)
            .run()
            .ok();
        sb.write("enc.yaml", out);
        let out = sb
            .cmd(reader, ["decrypt", "enc.yaml"])
            .env("VAULT_CACERT", &ca)
            .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
            .run()
            .ok();
        assert_eq!(String::from_utf8(out).unwrap(), PLAIN, "{reader}");
    }
    let out = sb
        .cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("VAULT_SKIP_VERIFY", "true")
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .run()
        .ok();
    assert_eq!(String::from_utf8(out).unwrap(), PLAIN);
    sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .run()
        .fails_saying(128, &[&format!("{key}: FAILED"), "certificate"]);
    sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("VAULT_SKIP_VERIFY", "maybe")
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .run()
        .fails_saying(128, &["could not parse VAULT_SKIP_VERIFY"]);
    // A client certificate (`VAULT_CLIENT_CERT` + `VAULT_CLIENT_KEY`, which
    // the fake writes next to its CA): its key `client-cert` refuses
    // requests without one.
    let dir = ca.parent().unwrap();
    let (cert, cert_key) = (dir.join("client.pem"), dir.join("client-key.pem"));
    let mtls = format!("{tls}/v1/sops/keys/client-cert");
    for bin in [Bin::Ours, Bin::Reference] {
        let out = sb
            .cmd(bin, ["encrypt", "--hc-vault-transit", &mtls, "plain.yaml"])
            .env("VAULT_CACERT", &ca)
            .env("VAULT_CLIENT_CERT", &cert)
            .env("VAULT_CLIENT_KEY", &cert_key)
            .run()
            .ok();
        sb.write("mtls.yaml", out);
        sb.cmd(Bin::Ours, ["decrypt", "mtls.yaml"])
            .env("VAULT_CACERT", &ca)
            .env("VAULT_CLIENT_CERT", &cert)
            .env("VAULT_CLIENT_KEY", &cert_key)
            .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
            .run()
            .ok();
    }
    sb.cmd(Bin::Ours, ["decrypt", "mtls.yaml"])
        .env("VAULT_CACERT", &ca)
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .run()
        .fails_saying(128, &[&format!("{mtls}: FAILED"), "no client certificate"]);
    sb.cmd(Bin::Ours, ["decrypt", "mtls.yaml"])
        .env("VAULT_CACERT", &ca)
        .env("VAULT_CLIENT_CERT", &cert)
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .run()
        .fails_saying(
            128,
            &["both VAULT_CLIENT_CERT and VAULT_CLIENT_KEY must be given"],
        );
    sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("VAULT_CACERT", sb.path("missing-ca.pem"))
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .run()
        .fails_saying(128, &["cannot read VAULT_CACERT"]);
}
