//! `discover`: exit 0 and non-empty stdout is a match; no output is none.

use sops_core::stores::Format;

use crate::harness::{Request, World, encrypt};

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
