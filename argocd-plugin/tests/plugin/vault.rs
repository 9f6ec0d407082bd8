//! Vault transit keys in the plugin, against the Vault fake that
//! `scripts/test.sh` starts (`SOPS_TEST_VAULT_ADDR`): the sidecar's own
//! token without project scoping; with `SOPS_CMP_PROJECT_KEYS_DIR`, only the
//! project's `vault/token`, never the sidecar's `VAULT_TOKEN` or
//! `~/.vault-token`; with a key policy, a Vault key that is not allowed is
//! never called.

use std::io::{Read, Write};
use std::process::Command;

use crate::harness::{Request, World};
use crate::kms::secret;

const PASSWORD: &str = "vault-wrapped-password-1";

fn addr() -> String {
    match std::env::var("SOPS_TEST_VAULT_ADDR") {
        Ok(v) if !v.is_empty() => v.trim_end_matches('/').to_owned(),
        _ => panic!(
            "SOPS_TEST_VAULT_ADDR is not set: run scripts/test.sh (it starts the Vault fake), or \
             start it by hand (`python3 scripts/fakes/vault_fake.py --port 5081 &`) and export \
             SOPS_TEST_VAULT_ADDR=http://127.0.0.1:5081"
        ),
    }
}

fn uri(key: &str) -> String {
    format!("{}/v1/plugin/keys/{key}", addr())
}

/// The requests the fake has seen, as its JSON text.
fn requests_seen() -> String {
    let address = addr();
    let host = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host)
        .unwrap_or_else(|e| panic!("cannot reach the Vault fake at {host}: {e}"));
    let request =
        format!("GET /_fake/requests HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// `apps/web/<name>.yaml`, a Secret wrapped with the Vault key `key` only,
/// encrypted by the reference sops.
fn vault_file(w: &World, name: &str, key: &str) {
    let path = w.repo.join(format!("apps/web/{name}.yaml"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, secret(name, PASSWORD)).unwrap();
    let out = Command::new(test_support::reference_sops())
        .current_dir(w.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", w.path())
        .env("VAULT_TOKEN", "root")
        .env("SOPS_DISABLE_VERSION_CHECK", "true")
        .args(["encrypt", "--in-place", "--hc-vault-transit", &uri(key)])
        .args(["--encrypted-regex", "^(data|stringData)$"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reference sops encrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The sidecar with the token `root`, in `VAULT_TOKEN` and in its
/// `~/.vault-token`, and the fake's address allowed.
fn sidecar(w: &World) -> Vec<(String, String)> {
    let mut env = w.sidecar_env();
    let home = env.iter().find(|(k, _)| k == "HOME").unwrap().1.clone();
    std::fs::write(std::path::Path::new(&home).join(".vault-token"), "root\n").unwrap();
    env.push(("VAULT_TOKEN".into(), "root".into()));
    env.push(("SOPS_HC_VAULT_ALLOWLIST".into(), addr()));
    env
}

/// Without a key policy or an allow-list from the operator, the sidecar's
/// token goes to no address a tenant's file names: the key fails before
/// any request.
#[test]
fn without_policy_or_allowlist_no_vault_address_gets_the_token() {
    let w = World::new();
    vault_file(&w, "db", "unlisted");
    let decrypts = || requests_seen().matches("/plugin/decrypt/unlisted").count();
    let before = decrypts();
    let mut env = sidecar(&w);
    env.retain(|(k, _)| k != "SOPS_HC_VAULT_ALLOWLIST");
    let out = Request::generate(&w, "apps/web").sidecar(env).run();
    out.failure(Some(128))
        .stderr_contains(&uri("unlisted"))
        .stderr_contains("Allowlist does not allow");
    assert_eq!(decrypts(), before, "a decrypt request reached the server");
}

#[test]
fn vault_files_decrypt_with_the_sidecars_token() {
    let w = World::new();
    vault_file(&w, "db", "sidecar");
    let out = Request::generate(&w, "apps/web").sidecar(sidecar(&w)).run();
    out.success();
    assert!(out.stdout.contains(PASSWORD), "{}", out.stdout);
}

/// With project scoping, team-a's `vault/token` opens the files; team-b,
/// without one, has no Vault token although the sidecar has one in its
/// environment and its home.
#[test]
fn a_project_uses_only_its_own_vault_token() {
    let w = World::new();
    vault_file(&w, "db", "projects");
    vault_file(&w, "api", "projects");
    let keys = w.path().join("keys");
    for project in ["team-a", "team-b"] {
        let dir = keys.join(project);
        std::fs::create_dir_all(&dir).unwrap();
        crate::harness::Key::generate(&dir, "age.txt");
    }
    std::fs::create_dir_all(keys.join("team-a/vault")).unwrap();
    std::fs::write(keys.join("team-a/vault/token"), "root\n").unwrap();
    let mut env = sidecar(&w);
    env.retain(|(k, _)| k != "SOPS_AGE_KEY_FILE");
    env.push((
        "SOPS_CMP_PROJECT_KEYS_DIR".into(),
        keys.display().to_string(),
    ));
    let out = Request::generate(&w, "apps/web")
        .sidecar(env.clone())
        .env("ARGOCD_APP_PROJECT_NAME", "team-a")
        .run();
    out.success();
    assert_eq!(out.stdout.matches(PASSWORD).count(), 2, "{}", out.stdout);

    let out = Request::generate(&w, "apps/web")
        .sidecar(env)
        .env("ARGOCD_APP_PROJECT_NAME", "team-b")
        .run();
    out.failure(Some(128))
        .stderr_contains(&uri("projects"))
        .stderr_contains("no Vault token");
    assert!(out.stderr.contains("team-b/vault/token"), "{}", out.stderr);
}

/// A Vault key the policy does not list is never called: no request for it
/// reaches the server.
#[test]
fn a_vault_key_outside_the_policy_is_never_called() {
    let w = World::new();
    let foreign = format!("policy-foreign-{}", std::process::id());
    vault_file(&w, "db", &foreign);
    let policy = w.path().join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "projects:\n  team-a:\n    hc_vault: [\"{}\"]\n",
            uri("allowed")
        ),
    )
    .unwrap();
    let mut env = sidecar(&w);
    env.push(("SOPS_CMP_KEY_POLICY".into(), policy.display().to_string()));
    let before = requests_seen();
    let decrypts = before.matches(&format!("/decrypt/{foreign}")).count();
    let out = Request::generate(&w, "apps/web")
        .sidecar(env)
        .env("ARGOCD_APP_PROJECT_NAME", "team-a")
        .run();
    out.failure(Some(128)).stderr_contains("skipped by policy");
    let after = requests_seen();
    assert_eq!(
        after.matches(&format!("/decrypt/{foreign}")).count(),
        decrypts,
        "{after}"
    );
}
