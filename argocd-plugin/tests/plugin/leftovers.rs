//! Sops files that fail to decrypt (another team's key, a hand edit) are
//! left encrypted and only fail the apps whose render uses them; the
//! output checks find their data even when it is embedded as text or as
//! base64 (kustomize `configMapGenerator`, Helm `.Files.Get`).

use std::path::PathBuf;

use sops_core::stores::Format;

use crate::harness::{Key, Request, World, encrypt, tool};
use crate::kustomize::{DB_PASSWORD, overlay_app, regex_rule, secret, with_kubectl};

const OTHER_TEAM: &str = "leftover-other-team-value";
const BROKEN: &str = "leftover-broken-file-value";

/// A Secret encrypted for the sidecar's key, then hand-edited (its plain
/// `metadata.namespace`), so that its MAC no longer matches: exit 51.
fn broken_secret(w: &World, rel: &str) {
    let text = encrypt(
        &secret("broken", "k", BROKEN),
        Format::Yaml,
        &w.key.recipient,
        regex_rule(),
    );
    let text = String::from_utf8(text).unwrap();
    w.write(rel, text.replace("namespace: team-a", "namespace: team-b"));
}

#[test]
fn a_broken_file_fails_only_the_app_that_uses_it_kustomize() {
    let w = World::new();
    overlay_app(&w);
    // Another team's broken file, and a stray one inside the app dir.
    broken_secret(&w, "apps/other/s.yaml");
    broken_secret(&w, "overlays/prod/unused-broken.yaml");
    let out = Request::generate(&w, "overlays/prod")
        .sidecar(with_kubectl(&w))
        .run();
    assert_eq!(
        out.success()
            .leaks_none(&[DB_PASSWORD, BROKEN])
            .docs()
            .len(),
        3
    );

    // The other team's app uses it: it fails with that file's own error.
    w.write("apps/other/kustomization.yaml", "resources:\n  - s.yaml\n");
    let out = Request::generate(&w, "apps/other")
        .sidecar(with_kubectl(&w))
        .run();
    out.failure(Some(51))
        .stderr_contains("apps/other/s.yaml: integrity check failed (MAC mismatch)")
        .leaks_none(&[BROKEN]);

    // So does an app that reaches it from elsewhere (as a base).
    w.write("apps/user/kustomization.yaml", "resources:\n  - ../other\n");
    let out = Request::generate(&w, "apps/user")
        .sidecar(with_kubectl(&w))
        .run();
    out.failure(Some(51))
        .stderr_contains("apps/other/s.yaml: integrity check failed (MAC mismatch)")
        .leaks_none(&[BROKEN]);
}

#[test]
fn config_map_generator_over_an_undecryptable_file_fails_with_its_error() {
    let w = World::new();
    let other = Key::generate(w.path(), "other.txt");
    // A base of another team that turns its encrypted file into a ConfigMap
    // (whose value is then the whole sops file, ciphertext and metadata).
    w.write(
        "apps/other/creds.yaml",
        encrypt(
            &format!("password: {OTHER_TEAM}\n"),
            Format::Yaml,
            &other.recipient,
            None,
        ),
    );
    w.write(
        "apps/other/kustomization.yaml",
        "configMapGenerator:\n  - name: creds\n    files:\n      - creds.yaml\ngeneratorOptions:\n  disableNameSuffixHash: true\n",
    );
    w.write(
        "apps/user/kustomization.yaml",
        "namespace: team-a\nresources:\n  - ../other\n",
    );
    let out = Request::generate(&w, "apps/user")
        .sidecar(with_kubectl(&w))
        .run();
    out.failure(Some(128))
        .stderr_contains("cannot decrypt apps/other/creds.yaml: no usable key")
        .leaks_none(&[OTHER_TEAM]);
}

fn helm4() -> PathBuf {
    tool("HELM4_REFERENCE_BIN", "helm4")
}

fn helm_env(w: &World) -> Vec<(String, String)> {
    let mut env = w.sidecar_env();
    env.push(("SOPS_CMP_HELM_BIN".into(), helm4().display().to_string()));
    env
}

/// charts/c: a chart whose template embeds `file` with `.Files.Get`, as
/// text in `data` and base64-encoded in `binaryData` (each one optional).
fn files_get_chart(w: &World, text: Option<&str>, base64: Option<&str>) {
    w.write(
        "charts/c/Chart.yaml",
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    );
    let mut t = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: files\ndata:\n  plain: hello\n",
    );
    if let Some(f) = text {
        t.push_str(&format!(
            "  embedded: {{{{ .Files.Get \"{f}\" | quote }}}}\n"
        ));
    }
    if let Some(f) = base64 {
        t.push_str(&format!(
            "binaryData:\n  encoded: {{{{ .Files.Get \"{f}\" | b64enc }}}}\n"
        ));
    }
    w.write("charts/c/templates/cm.yaml", t);
}

#[test]
fn helm_files_get_of_sops_data_is_refused() {
    // A sops file with an extension sops reads as binary: the plugin does
    // not decrypt it, and Helm embeds its text.
    let w = World::new();
    let sops_text = encrypt(
        &format!("password: {OTHER_TEAM}\n"),
        Format::Yaml,
        &w.key.recipient,
        None,
    );
    w.write("charts/c/files/creds.txt", &sops_text);
    files_get_chart(&w, Some("files/creds.txt"), None);
    let out = Request::generate(&w, "charts/c")
        .sidecar(helm_env(&w))
        .run();
    out.failure(Some(1))
        .stderr_contains(
            "helm template output: output still contains sops-encrypted data in ConfigMap files (at data.embedded)",
        )
        .leaks_none(&[OTHER_TEAM]);

    // The same, base64-encoded.
    let w = World::new();
    w.write("charts/c/files/creds.txt", &sops_text);
    files_get_chart(&w, None, Some("files/creds.txt"));
    let out = Request::generate(&w, "charts/c")
        .sidecar(helm_env(&w))
        .run();
    out.failure(Some(1)).stderr_contains(
        "output still contains sops-encrypted data in ConfigMap files (at binaryData.encoded (base64))",
    );

    // A file for another team's key: the failure is that file's.
    let w = World::new();
    let other = Key::generate(w.path(), "other.txt");
    w.write(
        "charts/c/files/other.yaml",
        encrypt(
            &format!("password: {OTHER_TEAM}\n"),
            Format::Yaml,
            &other.recipient,
            None,
        ),
    );
    files_get_chart(&w, Some("files/other.yaml"), None);
    let out = Request::generate(&w, "charts/c")
        .sidecar(helm_env(&w))
        .run();
    out.failure(Some(128))
        .stderr_contains("cannot decrypt charts/c/files/other.yaml: no usable key")
        .leaks_none(&[OTHER_TEAM]);
}

#[test]
fn a_broken_file_fails_only_the_chart_that_uses_it() {
    let w = World::new();
    broken_secret(&w, "apps/other/s.yaml");
    broken_secret(&w, "charts/c/files/unused.yaml");
    files_get_chart(&w, None, None);
    let out = Request::generate(&w, "charts/c")
        .sidecar(helm_env(&w))
        .run();
    assert_eq!(out.success().docs().len(), 1);
    // Embedded by the chart: fails with the file's error.
    files_get_chart(&w, Some("files/unused.yaml"), None);
    let out = Request::generate(&w, "charts/c")
        .sidecar(helm_env(&w))
        .run();
    out.failure(Some(51))
        .stderr_contains("charts/c/files/unused.yaml: integrity check failed (MAC mismatch)")
        .leaks_none(&[BROKEN]);
}
