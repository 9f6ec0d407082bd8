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

/// Issue 10: a MAC that sops reads but that is written differently (a YAML
/// `\x45` escape, a JSON `\u0045` escape without blanks, an escaped
/// key) is still a sops file: the reference decrypts each, and so does the
/// plugin (it used to refuse them: "ENC[...] values but no sops metadata").
#[test]
fn escaped_mac_is_decrypted_as_the_reference_does() {
    let w = World::new();
    let work = w.path().join("sops-work");
    let age_dir = work.join(".config/sops/age");
    std::fs::create_dir_all(&age_dir).unwrap();
    std::fs::copy(&w.key.file, age_dir.join("keys.txt")).unwrap();
    let secret = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: team-a\nstringData:\n  k: escaped-mac-{name}\n"
        )
    };
    let cases: [(&str, &str, &str, &str); 3] = [
        ("yaml", "x45", "mac: ENC[", "mac: \"\\x45NC["),
        ("json", "u0045", "\"mac\": \"ENC[", "\"mac\":\"\\u0045NC["),
        ("yaml", "key", "mac: ENC[", "\"m\\x61c\": ENC["),
    ];
    for (ext, name, from, to) in cases {
        let plain = work.join(format!("{name}.plain.{ext}"));
        let text = if ext == "json" {
            format!(
                "{{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {{\"name\": \"{name}\", \"namespace\": \"team-a\"}}, \"stringData\": {{\"k\": \"escaped-mac-{name}\"}}}}"
            )
        } else {
            secret(name)
        };
        std::fs::write(&plain, text).unwrap();
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
        let enc = String::from_utf8(enc).unwrap();
        assert!(enc.contains(from), "{enc}");
        let mut edited = enc.replacen(from, to, 1);
        if name == "x45" {
            // The escape needs double quotes around the whole value.
            let start = edited.find(to).unwrap() + to.len();
            let end = start + edited[start..].find(']').unwrap() + 1;
            edited.insert(end, '"');
        }
        let file = work.join(format!("{name}.enc.{ext}"));
        std::fs::write(&file, &edited).unwrap();
        let decrypted = run_reference_sops(&work, &["decrypt", file.to_str().unwrap()]);
        assert!(
            String::from_utf8_lossy(&decrypted).contains(&format!("escaped-mac-{name}")),
            "the reference decrypts {name}"
        );
        let app = format!("app-{name}");
        w.write(&format!("{app}/s.{ext}"), &edited);
        w.write(
            &format!("{app}/kustomization.yaml"),
            format!("resources:\n  - s.{ext}\nnamespace: team-a\n"),
        );
        // Discovery finds the file (the MAC is in the head it reads)…
        let found = Request::discover(&w, &app).sidecar(vec![]).run();
        found.success();
        assert_eq!(found.stdout, format!("{app}/s.{ext}\n"), "discover {name}");
        // …and both modes decrypt it.
        let mut env = w.sidecar_env();
        env.push((
            "SOPS_CMP_KUSTOMIZE_BIN".into(),
            kubectl().display().to_string(),
        ));
        let value = format!("escaped-mac-{name}");
        for mode in ["kustomize", "directory"] {
            let out = Request::generate(&w, &app)
                .sidecar(env.clone())
                .env("PARAM_MODE", mode)
                .env("PARAM_DIRECTORY_EXCLUDE", "kustomization.yaml")
                .run();
            let docs = out.success().leaks_none(&[&value]).docs();
            assert_eq!(get_str(&docs[0], &["stringData", "k"]), value, "{mode}");
        }
    }
}
