//! Interop with the reference sops: apps whose files were encrypted by the
//! real sops 3.11.0 (golden fixtures in testdata/argocd/, command lines in
//! testdata/README.md), and a live round trip through the reference binary
//! (`$SOPS_REFERENCE_BIN` or `<workspace>/.tools/bin/sops-reference`; the
//! test fails with the install hint when it is missing).

use std::path::Path;

use crate::harness::{Request, World, get_str, kubectl, run_reference_sops, workspace};

/// Identity A of testdata/vectors/keys.txt, which the fixtures are encrypted for.
fn fixture_world(app: &str) -> (World, Vec<(String, String)>) {
    let w = World::new();
    let src = workspace().join("testdata/argocd").join(app).join("repo");
    copy(&src, &src, &w);
    let mut env = w.sidecar_env();
    for (k, v) in &mut env {
        if k == "SOPS_AGE_KEY_FILE" {
            *v = workspace()
                .join("testdata/vectors/keys.txt")
                .display()
                .to_string();
        }
    }
    (w, env)
}

fn copy(root: &Path, dir: &Path, w: &World) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            copy(root, &p, w);
        } else {
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
            w.write(&rel, std::fs::read(&p).unwrap());
        }
    }
}

fn expected(app: &str) -> String {
    std::fs::read_to_string(
        workspace()
            .join("testdata/argocd")
            .join(app)
            .join("expected.yaml"),
    )
    .unwrap()
}

const PLAINTEXT: &[&str] = &[
    "ref-sops-db-password",
    "ref-sops-env-token",
    "ref-sops-tls-a",
    "ref-sops-json-token",
];

#[test]
fn directory_app_encrypted_by_reference_sops() {
    let (w, env) = fixture_world("directory-mixed");
    let out = Request::generate(&w, "app").sidecar(env).run();
    out.success().leaks_none(PLAINTEXT);
    assert_eq!(out.stdout, expected("directory-mixed"));
}

#[test]
fn kustomize_app_encrypted_by_reference_sops() {
    let (w, mut env) = fixture_world("kustomize-overlay");
    env.push((
        "SOPS_CMP_KUSTOMIZE_BIN".into(),
        kubectl().display().to_string(),
    ));
    let out = Request::generate(&w, "overlays/prod").sidecar(env).run();
    out.success().leaks_none(PLAINTEXT);
    assert_eq!(out.stdout, expected("kustomize-overlay"));
}

/// Encrypts a file with the reference binary at test time, for the
/// sidecar's key, and renders it.
#[test]
fn live_reference_sops_round_trip() {
    let w = World::new();
    let work = w.path().join("sops-work");
    std::fs::create_dir_all(&work).unwrap();
    let plain = work.join("s.yaml");
    std::fs::write(
        &plain,
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: live\n  namespace: team-a\nstringData:\n  k: live-reference-value\n",
    )
    .unwrap();
    let enc = run_reference_sops(
        &work,
        &[
            "encrypt",
            "--age",
            &w.key.recipient,
            "--encrypted-regex",
            "^(data|stringData)$",
            plain.to_str().unwrap(),
        ],
    );
    w.write("app/s.yaml", &enc);
    w.write(
        "app/kustomization.yaml",
        "resources:\n  - s.yaml\nnamespace: team-a\n",
    );
    let mut env = w.sidecar_env();
    env.push((
        "SOPS_CMP_KUSTOMIZE_BIN".into(),
        kubectl().display().to_string(),
    ));
    // Through kustomize and through directory mode.
    for mode in ["kustomize", "directory"] {
        let out = Request::generate(&w, "app")
            .sidecar(env.clone())
            .env("PARAM_MODE", mode)
            .env("PARAM_DIRECTORY_EXCLUDE", "kustomization.yaml")
            .run();
        let docs = out.success().leaks_none(&["live-reference-value"]).docs();
        assert_eq!(
            get_str(&docs[0], &["stringData", "k"]),
            "live-reference-value"
        );
    }
}
