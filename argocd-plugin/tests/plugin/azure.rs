//! Azure Key Vault keys in the plugin, against the Key Vault fake that
//! `scripts/test.sh` starts (`SOPS_TEST_AZURE_*`): the reference encrypts
//! the files through the fake's proxy with the `az` stand-in; the plugin
//! decrypts with a client secret against the fake's token endpoint, the
//! sidecar's own without project scoping, and with
//! `SOPS_CMP_PROJECT_KEYS_DIR` only the project's `azure/credentials.env`,
//! never the sidecar's nor managed identity.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{Request, World};
use crate::kms::secret;

const KEY: &str = "https://sopstest.vault.azure.net/keys/plugin-key/0123456789abcdef";
const PASSWORD: &str = "azure-wrapped-password-1";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: run scripts/test.sh (it starts the Azure Key Vault fake), or \
             start it by hand (`python3 scripts/fakes/azure_kv_fake.py --port 5091 \
             --proxy-port 5092 --state-dir /tmp/azfake &`) and export \
             SOPS_TEST_AZURE_PROXY=http://127.0.0.1:5092 SOPS_TEST_AZURE_CA=/tmp/azfake/ca.pem \
             SOPS_TEST_AZURE_AUTHORITY=https://127.0.0.1:5091"
        ),
    }
}

/// What reaches the fake: its proxy for the vault host, its CA.
fn network() -> Vec<(String, String)> {
    let proxy = var("SOPS_TEST_AZURE_PROXY");
    vec![
        ("HTTPS_PROXY".into(), proxy.clone()),
        ("https_proxy".into(), proxy),
        ("NO_PROXY".into(), "127.0.0.1,localhost".into()),
        ("SSL_CERT_FILE".into(), var("SOPS_TEST_AZURE_CA")),
    ]
}

/// `apps/web/<name>.yaml`, a Secret wrapped with the Azure key only
/// (encrypted by the reference sops with the `az` stand-in).
fn azure_file(w: &World, name: &str) {
    let path = w.repo.join(format!("apps/web/{name}.yaml"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, secret(name, PASSWORD)).unwrap();
    let fakes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/fakes");
    let out = Command::new(test_support::reference_sops())
        .current_dir(w.path())
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", fakes.display()))
        .env("HOME", w.path())
        .env("AZURE_TOKEN_CREDENTIALS", "AzureCLICredential")
        .env("SOPS_DISABLE_VERSION_CHECK", "true")
        .envs(network())
        .args(["encrypt", "--in-place", "--azure-kv", KEY])
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

/// The fake's client-secret credentials, as variables.
fn client_secret() -> Vec<(String, String)> {
    vec![
        ("AZURE_TENANT_ID".into(), TENANT.into()),
        ("AZURE_CLIENT_ID".into(), "sops-test-client".into()),
        ("AZURE_CLIENT_SECRET".into(), "sops-test-secret".into()),
        (
            "AZURE_AUTHORITY_HOST".into(),
            var("SOPS_TEST_AZURE_AUTHORITY"),
        ),
    ]
}

#[test]
fn azure_files_decrypt_with_the_sidecars_credentials() {
    let w = World::new();
    azure_file(&w, "db");
    let mut env = w.sidecar_env();
    env.extend(network());
    env.extend(client_secret());
    env.push((
        "AZURE_TOKEN_CREDENTIALS".into(),
        "EnvironmentCredential".into(),
    ));
    let out = Request::generate(&w, "apps/web").sidecar(env).run();
    out.success();
    assert!(out.stdout.contains(PASSWORD), "{}", out.stdout);
}

/// With project scoping, team-a's `azure/credentials.env` opens the file;
/// team-b, without one, has no Azure credentials although the sidecar has
/// a client secret (and managed identity is never asked: the chain would
/// reach it after the environment, and says it is disabled).
#[test]
fn a_project_uses_only_its_own_azure_credentials() {
    let w = World::new();
    azure_file(&w, "db");
    let keys = w.path().join("keys");
    for project in ["team-a", "team-b"] {
        let dir = keys.join(project);
        std::fs::create_dir_all(dir.join("azure")).unwrap();
        crate::harness::Key::generate(&dir, "age.txt");
    }
    let file: String = client_secret()
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    std::fs::write(
        keys.join("team-a/azure/credentials.env"),
        format!("# team-a's service principal\n{file}"),
    )
    .unwrap();
    let mut env = w.sidecar_env();
    env.retain(|(k, _)| k != "SOPS_AGE_KEY_FILE");
    env.extend(network());
    env.extend(client_secret());
    env.push((
        "SOPS_CMP_PROJECT_KEYS_DIR".into(),
        keys.display().to_string(),
    ));
    let out = Request::generate(&w, "apps/web")
        .sidecar(env.clone())
        .env("ARGOCD_APP_PROJECT_NAME", "team-a")
        .run();
    out.success();
    assert!(out.stdout.contains(PASSWORD), "{}", out.stdout);

    let out = Request::generate(&w, "apps/web")
        .sidecar(env.clone())
        .env("ARGOCD_APP_PROJECT_NAME", "team-b")
        .run();
    out.failure(Some(128))
        .stderr_contains(KEY)
        .stderr_contains("AZURE_TENANT_ID")
        .stderr_contains("disabled");

    // A file with other settings is a configuration error naming the
    // line, never showing a value.
    std::fs::write(
        keys.join("team-b/azure/credentials.env"),
        "IDENTITY_HEADER=SECRET-HEADER\n",
    )
    .unwrap();
    let out = Request::generate(&w, "apps/web")
        .sidecar(env)
        .env("ARGOCD_APP_PROJECT_NAME", "team-b")
        .run();
    out.failure(None)
        .stderr_contains("IDENTITY_HEADER is not an Azure setting");
    assert!(!out.stderr.contains("SECRET-HEADER"), "{}", out.stderr);
}
