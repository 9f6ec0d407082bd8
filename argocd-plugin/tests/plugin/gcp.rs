//! GCP KMS keys in the plugin, against the GCP KMS fake that
//! `scripts/test.sh` starts (REST for the plugin, gRPC through the CONNECT
//! proxy for the reference that encrypts the files): the sidecar's own
//! credentials without project scoping; with `SOPS_CMP_PROJECT_KEYS_DIR`,
//! only the project's `gcp/credentials.json`, never the sidecar's token or
//! Application Default Credentials (the pod's workload identity).

use std::process::Command;

use test_support::{gcp_fake, gcp_test_env};

use crate::harness::{Request, World};
use crate::kms::secret;

const KEY: &str = "projects/p/locations/global/keyRings/r/cryptoKeys/plugin";
const PASSWORD: &str = "gcp-wrapped-password-1";

/// `apps/web/<name>.yaml` for each name, a Secret wrapped with the GCP key
/// only, each with its own data key (encrypted by the reference sops
/// through the fake's gRPC side).
fn gcp_app(w: &World, names: &[&str]) {
    for name in names {
        gcp_file(w, name);
    }
}

fn gcp_file(w: &World, name: &str) {
    let fake = gcp_fake();
    let path = w.repo.join(format!("apps/web/{name}.yaml"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, secret(name, PASSWORD)).unwrap();
    let out = Command::new(test_support::reference_sops())
        .current_dir(w.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", w.path())
        .envs(gcp_test_env(&fake))
        .args(["encrypt", "--in-place", "--gcp-kms", KEY])
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

/// The sidecar's GCP settings: the fake's REST endpoint and a static
/// token of the sidecar's own.
fn sidecar(w: &World) -> Vec<(String, String)> {
    let fake = gcp_fake();
    let mut env = w.sidecar_env();
    env.push(("SOPS_GCP_KMS_ENDPOINT".into(), fake.rest_endpoint.clone()));
    env.push(("GOOGLE_OAUTH_ACCESS_TOKEN".into(), "sidecar-token".into()));
    // The metadata server, were ADC ever tried: a closed loopback port.
    env.push(("GCE_METADATA_HOST".into(), "127.0.0.1:9".into()));
    env
}

#[test]
fn gcp_files_decrypt_with_the_sidecars_credentials() {
    let w = World::new();
    gcp_app(&w, &["db"]);
    let out = Request::generate(&w, "apps/web").sidecar(sidecar(&w)).run();
    out.success();
    assert!(out.stdout.contains(PASSWORD), "{}", out.stdout);
}

/// With project scoping, team-a's `gcp/credentials.json` (an authorized-user
/// file whose token endpoint is the fake's) opens the files, with one token
/// exchange for the whole run (one client per run, not per file); team-b,
/// without one, has no GCP credentials although the sidecar has a token.
#[test]
fn a_project_uses_only_its_own_gcp_credentials() {
    let w = World::new();
    gcp_app(&w, &["db", "api", "cache"]);
    let refresh_token = format!("team-a-{}", std::process::id());
    let fake = gcp_fake();
    let keys = w.path().join("keys");
    for project in ["team-a", "team-b"] {
        let dir = keys.join(project);
        std::fs::create_dir_all(dir.join("gcp")).unwrap();
        crate::harness::Key::generate(&dir, "age.txt");
    }
    std::fs::write(
        keys.join("team-a/gcp/credentials.json"),
        format!(
            "{{\"type\": \"authorized_user\", \"client_id\": \"id\", \"client_secret\": \"s\", \
             \"refresh_token\": \"{refresh_token}\", \"token_uri\": \"{}/token\"}}",
            fake.rest_endpoint
        ),
    )
    .unwrap();
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
    assert_eq!(out.stdout.matches(PASSWORD).count(), 3, "{}", out.stdout);
    assert_eq!(fake.token_requests(&refresh_token), 1);

    let out = Request::generate(&w, "apps/web")
        .sidecar(env)
        .env("ARGOCD_APP_PROJECT_NAME", "team-b")
        .run();
    out.failure(Some(128))
        .stderr_contains(KEY)
        .stderr_contains("no GCP credentials");
}
