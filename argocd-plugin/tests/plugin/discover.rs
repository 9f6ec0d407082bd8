//! `discover`: exit 0 and non-empty stdout is a match; no output is none.

use sops_core::stores::Format;

use crate::harness::{Request, World, encrypt, run_reference_sops};

#[test]
fn finds_sops_files_without_keys() {
    let w = World::new();
    w.write(
        "app/deploy.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    );
    w.write(
        "app/sub/secret.yaml",
        encrypt(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: v\n",
            Format::Yaml,
            &w.key.recipient,
            None,
        ),
    );
    // No keys in the sidecar env: discovery never decrypts.
    let out = Request::discover(&w, "app").sidecar(vec![]).run();
    out.success();
    assert_eq!(out.stdout, "app/sub/secret.yaml\n");
}

/// sops aligns the `=` of an INI section, so its MAC line is
/// `mac<blanks>= ENC[…]`; discovery recognises it.
#[test]
fn finds_ini_files_encrypted_by_reference_sops() {
    let w = World::new();
    let work = w.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("db.ini"), "[db]\npassword = s3cr3t\n").unwrap();
    let enc = run_reference_sops(&work, &["encrypt", "--age", &w.key.recipient, "db.ini"]);
    let text = String::from_utf8(enc).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("mac ") && l.contains("= ENC[")),
        "{text}"
    );
    w.write("app/db.ini", &text);
    let out = Request::discover(&w, "app").sidecar(vec![]).run();
    out.success();
    assert_eq!(out.stdout, "app/db.ini\n");
}

#[test]
fn no_sops_files_means_no_output() {
    let w = World::new();
    w.write(
        "app/deploy.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    );
    w.write(
        "app/notes.yaml",
        "text: mentions mac: ENC[ but is not sops\n",
    );
    let out = Request::discover(&w, "app").run();
    out.success();
    assert_eq!(out.stdout, "");
}
