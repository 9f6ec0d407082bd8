//! `generate` on directory apps: decryption, fail-closed cases, confinement
//! and key isolation.

use sops_core::metadata::PartialRule;
use sops_core::stores::Format;

use crate::harness::{Key, Request, Unpack, World, encrypt, get_str};

const DB_PASSWORD: &str = "s3cr3t-db-password";
const API_TOKEN: &str = "hunter2-api-token";
const TLS_KEY: &str = "tls-private-material";
const JSON_TOKEN: &str = "json-only-token-value";

fn secret(name: &str, key: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: team-a\ntype: Opaque\nstringData:\n  {key}: {value}\n"
    )
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n    - port: 80\n";

fn regex_rule() -> Option<PartialRule> {
    Some(PartialRule::EncryptedRegex("^(data|stringData)$".into()))
}

/// An app with plain and encrypted files: full encryption, encrypted_regex,
/// a multi-document encrypted file and an encrypted JSON manifest.
fn mixed_app(w: &World) {
    let r = &w.key.recipient;
    w.write("apps/web/00-deploy.yaml", DEPLOYMENT);
    w.write(
        "apps/web/10-db.enc.yaml",
        encrypt(
            &secret("db", "password", DB_PASSWORD),
            Format::Yaml,
            r,
            None,
        ),
    );
    w.write(
        "apps/web/20-api.yaml",
        encrypt(
            &secret("api", "token", API_TOKEN),
            Format::Yaml,
            r,
            regex_rule(),
        ),
    );
    let multi = format!(
        "{}---\n{}",
        secret("tls-a", "key", TLS_KEY),
        secret("tls-b", "key", "other-tls-material")
    );
    w.write(
        "apps/web/30-tls.yml",
        encrypt(&multi, Format::Yaml, r, regex_rule()),
    );
    let json = format!(
        r#"{{"apiVersion": "v1", "kind": "Secret", "metadata": {{"name": "json", "namespace": "team-a"}}, "stringData": {{"token": "{JSON_TOKEN}"}}}}"#
    );
    w.write(
        "apps/web/40-json.json",
        encrypt(&json, Format::Json, r, regex_rule()),
    );
    w.write("apps/web/README.md", "not a manifest\n");
    w.write("apps/web/.argocd-source.yaml", "plugin:\n  env: []\n");
}

const ALL_SECRETS: &[&str] = &[DB_PASSWORD, API_TOKEN, TLS_KEY, JSON_TOKEN];

#[test]
fn directory_app_with_plain_and_encrypted_files() {
    let w = World::new();
    mixed_app(&w);
    let out = Request::generate(&w, "apps/web").run();
    out.success().leaks_none(ALL_SECRETS);
    assert!(!out.stdout.contains("ENC["));
    assert!(!out.stdout.contains("sops"));
    let docs = out.docs();
    let names: Vec<_> = docs
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                get_str(d, &["kind"]),
                get_str(d, &["metadata", "name"])
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "Deployment/web",
            "Service/web",
            "Secret/db",
            "Secret/api",
            "Secret/tls-a",
            "Secret/tls-b",
            "Secret/json"
        ]
    );
    assert_eq!(get_str(&docs[2], &["stringData", "password"]), DB_PASSWORD);
    assert_eq!(get_str(&docs[3], &["stringData", "token"]), API_TOKEN);
    assert_eq!(get_str(&docs[4], &["stringData", "key"]), TLS_KEY);
    assert_eq!(get_str(&docs[6], &["stringData", "token"]), JSON_TOKEN);
    // Fully encrypted file: plain fields came back too.
    assert_eq!(get_str(&docs[2], &["metadata", "namespace"]), "team-a");
}

#[test]
fn recurse_include_and_exclude() {
    let w = World::new();
    w.write("app/top.yaml", secret("top", "k", "v1"));
    w.write("app/sub/deep.yaml", secret("deep", "k", "v2"));
    w.write("app/sub/skip.bak.yaml", secret("skip", "k", "v3"));
    let names = |out: &crate::harness::Outcome| -> Vec<String> {
        out.docs()
            .iter()
            .map(|d| get_str(d, &["metadata", "name"]).to_owned())
            .collect()
    };
    let out = Request::generate(&w, "app").run();
    assert_eq!(names(out.success()), ["top"]);
    let out = Request::generate(&w, "app")
        .env("PARAM_DIRECTORY_RECURSE", "true")
        .env("PARAM_DIRECTORY_EXCLUDE", "*.bak.yaml")
        .run();
    assert_eq!(names(out.success()), ["top", "deep"]);
    let out = Request::generate(&w, "app")
        .env(
            "ARGOCD_APP_PARAMETERS",
            r#"[{"name":"directory-recurse","string":"true"},{"name":"directory-include","string":"sub/*"}]"#,
        )
        .run();
    assert_eq!(names(out.success()), ["deep", "skip"]);
}

#[test]
fn tampered_namespace_fails_the_mac_check() {
    let w = World::new();
    w.write("app/ok.yaml", DEPLOYMENT);
    let enc = encrypt(
        &secret("api", "token", API_TOKEN),
        Format::Yaml,
        &w.key.recipient,
        regex_rule(),
    );
    let text = String::from_utf8(enc).unwrap();
    assert!(text.contains("namespace: team-a"));
    w.write(
        "app/api.yaml",
        text.replace("namespace: team-a", "namespace: team-b"),
    );
    let out = Request::generate(&w, "app").run();
    out.failure(Some(51))
        .stderr_contains("app/api.yaml")
        .stderr_contains("MAC mismatch")
        .leaks_none(&[API_TOKEN]);
}

/// A value whose ciphertext was changed fails AES-GCM authentication
/// before the MAC is checked; the plugin exits with the code the reference
/// sops exits with for the same file (25, "error decrypting tree").
#[test]
fn tampered_value_exits_like_sops() {
    let w = World::new();
    let enc = encrypt(
        &secret("api", "token", API_TOKEN),
        Format::Yaml,
        &w.key.recipient,
        regex_rule(),
    );
    let text = String::from_utf8(enc).unwrap();
    // Change the first base64 character of the value's ciphertext; the
    // length and alphabet stay valid, so only authentication fails.
    let at = text.find("ENC[AES256_GCM,data:").unwrap() + "ENC[AES256_GCM,data:".len();
    let old = text.as_bytes()[at];
    let new = if old == b'A' { 'B' } else { 'A' };
    let tampered = format!("{}{new}{}", &text[..at], &text[at + 1..]);
    w.write("app/api.yaml", &tampered);

    let sops = std::process::Command::new(test_support::reference_sops())
        .current_dir(w.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", w.path())
        .env("SOPS_AGE_KEY_FILE", &w.key.file)
        .args(["decrypt", "repo/app/api.yaml"])
        .output()
        .unwrap();
    let sops_code = sops.status.code();
    assert_eq!(
        sops_code,
        Some(25),
        "reference sops: {}",
        String::from_utf8_lossy(&sops.stderr)
    );

    let out = Request::generate(&w, "app").run();
    out.failure(sops_code)
        .stderr_contains("app/api.yaml")
        .stderr_contains("'stringData:token' could not be decrypted")
        .leaks_none(&[API_TOKEN]);
}

#[test]
fn symlink_escaping_the_repo_is_refused() {
    let w = World::new();
    let outside = w.path().join("outside.yaml");
    std::fs::write(&outside, secret("stolen", "k", DB_PASSWORD)).unwrap();
    w.write("app/ok.yaml", DEPLOYMENT);
    w.symlink("app/leak.yaml", &outside);
    // Argo CD itself refuses to unpack it …
    assert!(w.unpack(Unpack::Argo).is_err());
    // … and so does the plugin when the link reaches it anyway.
    let out = Request::generate(&w, "app")
        .unpack(Unpack::KeepEscapingSymlinks)
        .run();
    out.failure(Some(1))
        .stderr_contains("app/leak.yaml resolves outside the repository")
        .leaks_none(&[DB_PASSWORD]);
}

#[test]
fn symlink_inside_the_repo_is_followed() {
    let w = World::new();
    w.write(
        "shared/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n",
    );
    w.symlink("app/cm.yaml", std::path::Path::new("../shared/cm.yaml"));
    let out = Request::generate(&w, "app").run();
    assert_eq!(
        get_str(&out.success().docs()[0], &["metadata", "name"]),
        "shared"
    );
}

#[test]
fn tenant_cannot_supply_keys() {
    let w = World::new();
    // The tenant owns a key the sidecar does not have, and encrypts for it.
    let tenant_key = Key::generate(w.path(), "tenant.txt");
    w.write(
        "app/s.yaml",
        encrypt(
            &secret("s", "k", API_TOKEN),
            Format::Yaml,
            &tenant_key.recipient,
            None,
        ),
    );
    let file = tenant_key.file.display().to_string();
    let out = Request::generate(&w, "app")
        .env("ARGOCD_ENV_SOPS_AGE_KEY_FILE", &file)
        .env("ARGOCD_ENV_SOPS_AGE_KEY", &tenant_key.identity)
        .env("ARGOCD_ENV_HOME", w.path().to_str().unwrap())
        .run();
    out.failure(Some(128))
        .stderr_contains("cannot decrypt app/s.yaml: no usable key")
        .stderr_contains(&tenant_key.recipient)
        .leaks_none(&[API_TOKEN, &tenant_key.identity]);
    // Parameters cannot name keys either: unknown parameters are refused.
    let out = Request::generate(&w, "app")
        .env("PARAM_SOPS_AGE_KEY_FILE", &file)
        .run();
    out.failure(Some(1))
        .stderr_contains("unknown parameter PARAM_SOPS_AGE_KEY_FILE")
        .leaks_none(&[API_TOKEN, &tenant_key.identity]);
}

#[test]
fn project_key_directories_scope_the_keys() {
    let w = World::new();
    let dir = w.path().join("project-keys");
    std::fs::create_dir_all(dir.join("team-a")).unwrap();
    std::fs::create_dir_all(dir.join("team-b")).unwrap();
    let a = Key::generate(&dir.join("team-a"), "age.txt");
    let b = Key::generate(&dir.join("team-b"), "age.txt");
    w.write(
        "app/a.yaml",
        encrypt(
            &secret("a", "k", DB_PASSWORD),
            Format::Yaml,
            &a.recipient,
            None,
        ),
    );
    let mut env = w.sidecar_env();
    env.push((
        "SOPS_CMP_PROJECT_KEYS_DIR".into(),
        dir.display().to_string(),
    ));
    // Project team-a (the harness default) decrypts its own file …
    let out = Request::generate(&w, "app").sidecar(env.clone()).run();
    assert_eq!(
        get_str(&out.success().docs()[0], &["stringData", "k"]),
        DB_PASSWORD
    );
    // … team-b cannot, and neither can a project without a key dir.
    let out = Request::generate(&w, "app")
        .sidecar(env.clone())
        .env("ARGOCD_APP_PROJECT_NAME", "team-b")
        .run();
    out.failure(Some(128))
        .leaks_none(&[DB_PASSWORD, &b.identity]);
    let out = Request::generate(&w, "app")
        .sidecar(env)
        .env("ARGOCD_APP_PROJECT_NAME", "team-c")
        .run();
    out.failure(Some(1))
        .stderr_contains("project team-c has no keys configured");
}

/// With per-project keys, the no-usable-key error names each identity
/// file of the project that could not be used.
#[test]
fn project_key_errors_name_the_identity_files() {
    let w = World::new();
    let dir = w.path().join("project-keys");
    std::fs::create_dir_all(dir.join("team-a")).unwrap();
    std::fs::write(dir.join("team-a/bad.txt"), "not a key\n").unwrap();
    std::fs::write(dir.join("team-a/empty.txt"), "# no key yet\n").unwrap();
    w.write(
        "app/a.yaml",
        encrypt(
            &secret("a", "k", DB_PASSWORD),
            Format::Yaml,
            &w.key.recipient,
            None,
        ),
    );
    let mut env = w.sidecar_env();
    env.push((
        "SOPS_CMP_PROJECT_KEYS_DIR".into(),
        dir.display().to_string(),
    ));
    let out = Request::generate(&w, "app").sidecar(env).run();
    let shown = |name: &str| dir.join("team-a").join(name).display().to_string();
    out.failure(Some(128))
        .stderr_contains("cannot decrypt app/a.yaml: no usable key")
        .stderr_contains(&format!("failed to parse '{}'", shown("bad.txt")))
        .stderr_contains(&shown("empty.txt"))
        .leaks_none(&[DB_PASSWORD]);
}

#[test]
fn encrypted_values_without_metadata_are_refused() {
    let w = World::new();
    let enc = encrypt(
        &secret("s", "k", API_TOKEN),
        Format::Yaml,
        &w.key.recipient,
        regex_rule(),
    );
    let text = String::from_utf8(enc).unwrap();
    let stripped = &text[..text.find("sops:").unwrap()];
    w.write("app/s.yaml", stripped);
    let out = Request::generate(&w, "app").run();
    out.failure(Some(1))
        .stderr_contains(
            "app/s.yaml: found ENC[...] values but no sops metadata (first at stringData.k)",
        )
        .leaks_none(&[API_TOKEN]);
}

#[test]
fn empty_output_fails_unless_allowed() {
    let w = World::new();
    w.write("app/README.md", "nothing\n");
    w.write("app/empty.yaml", "# only a comment\n");
    let out = Request::generate(&w, "app").run();
    out.failure(Some(1))
        .stderr_contains("no manifests produced for directory mode in app");
    let out = Request::generate(&w, "app")
        .env("PARAM_ALLOW_EMPTY", "true")
        .run();
    out.success();
    assert!(out.stdout.is_empty());
}

#[test]
fn malformed_input_fails_closed() {
    let w = World::new();
    w.write("app/a.yaml", DEPLOYMENT);
    w.write("app/b.yaml", "apiVersion: v1\nkind: [unclosed\n");
    Request::generate(&w, "app")
        .run()
        .failure(Some(1))
        .stderr_contains("app/b.yaml");
    let w = World::new();
    w.write(
        "app/a.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  k: not-base64!!\n",
    );
    Request::generate(&w, "app")
        .run()
        .failure(Some(1))
        .stderr_contains("Secret s: data key k is not valid base64")
        .leaks_none(&["not-base64!!"]);
}

#[test]
fn a_key_failure_anywhere_means_no_output_at_all() {
    let w = World::new();
    mixed_app(&w);
    let other = Key::generate(w.path(), "other.txt");
    w.write(
        "apps/web/99-foreign.yaml",
        encrypt(
            &secret("f", "k", "foreign-secret"),
            Format::Yaml,
            &other.recipient,
            None,
        ),
    );
    let out = Request::generate(&w, "apps/web").run();
    out.failure(Some(128)).leaks_none(ALL_SECRETS);
}

#[test]
fn limits_are_enforced() {
    let w = World::new();
    for i in 0..5 {
        w.write(&format!("app/{i}.yaml"), DEPLOYMENT);
    }
    let mut env = w.sidecar_env();
    env.push(("SOPS_CMP_MAX_FILES".into(), "3".into()));
    Request::generate(&w, "app")
        .sidecar(env)
        .run()
        .failure(Some(1))
        .stderr_contains("too many files (>3)");
    let mut env = w.sidecar_env();
    env.push(("SOPS_CMP_MAX_FILE_BYTES".into(), "64".into()));
    Request::generate(&w, "app")
        .sidecar(env)
        .run()
        .failure(Some(1))
        .stderr_contains("app/0.yaml exceeds 64 bytes");
    let mut env = w.sidecar_env();
    env.push(("SOPS_CMP_MAX_TOTAL_BYTES".into(), "300".into()));
    Request::generate(&w, "app")
        .sidecar(env)
        .run()
        .failure(Some(1))
        .stderr_contains("exceed 300 bytes in total");
}

/// A ConfigMap whose `extra` field holds `levels` nested flow sequences
/// (the document is `levels + 1` deep).
fn nested_config_map(name: &str, levels: usize) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\nextra: {}x{}\n",
        "[".repeat(levels),
        "]".repeat(levels)
    )
}

#[test]
fn deep_yaml_fails_closed() {
    let w = World::new();
    w.write("app/a.yaml", DEPLOYMENT);
    // 256 levels (the default limit) are fine.
    w.write("app/b.yaml", nested_config_map("ok", 255));
    Request::generate(&w, "app").run().success();
    w.write("app/c.yaml", nested_config_map("deep", 256));
    Request::generate(&w, "app")
        .run()
        .failure(Some(1))
        .stderr_contains(
            "app/c.yaml: YAML nesting deeper than 256 levels (SOPS_CMP_MAX_YAML_DEPTH)",
        );
    // Far deeper than sops-core would ever build, encrypted: refused before
    // any key is tried, and the value stays out of the message.
    let w = World::new();
    let deep = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: {DB_PASSWORD}\nx: {}1{}\n",
        "[".repeat(500),
        "]".repeat(500)
    );
    w.write(
        "app/s.yaml",
        encrypt(&deep, Format::Yaml, &w.key.recipient, None),
    );
    Request::generate(&w, "app")
        .run()
        .failure(Some(1))
        .stderr_contains("app/s.yaml: YAML nesting deeper than 256 levels")
        .leaks_none(&[DB_PASSWORD]);
    // The operator can lower the limit; JSON manifests count the same way.
    let w = World::new();
    w.write(
        "app/d.json",
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}"#,
    );
    let mut env = w.sidecar_env();
    env.push(("SOPS_CMP_MAX_YAML_DEPTH".into(), "1".into()));
    Request::generate(&w, "app")
        .sidecar(env)
        .run()
        .failure(Some(1))
        .stderr_contains("app/d.json: JSON nesting deeper than 1 levels (SOPS_CMP_MAX_YAML_DEPTH)");
}

#[test]
fn yaml_alias_bomb_fails_closed() {
    let w = World::new();
    w.write("app/a.yaml", DEPLOYMENT);
    // "Billion laughs": nine levels of ten aliases each.
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 1..10 {
        let p = format!("*l{}", i - 1);
        bomb.push_str(&format!(
            "  l{i}: &l{i} [{}]\n",
            [p.as_str(); 10].join(", ")
        ));
    }
    w.write("app/b.yaml", bomb);
    let started = std::time::Instant::now();
    Request::generate(&w, "app")
        .run()
        .failure(Some(1))
        .stderr_contains(
            "app/b.yaml: YAML aliases expand to more than 10000 nodes (SOPS_CMP_MAX_YAML_ALIASES)",
        );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // A few anchors, as manifests use them, stay well within the default;
    // an operator may still refuse them.
    let w = World::new();
    w.write(
        "app/c.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: &l {app: c, tier: web}\ndata:\n  copy: x\nextra: *l\n",
    );
    Request::generate(&w, "app").run().success();
    let mut env = w.sidecar_env();
    env.push(("SOPS_CMP_MAX_YAML_ALIASES".into(), "2".into()));
    Request::generate(&w, "app")
        .sidecar(env)
        .run()
        .failure(Some(1))
        .stderr_contains("app/c.yaml: YAML aliases expand to more than 2 nodes");
}

#[test]
fn file_names_with_control_characters_are_quoted() {
    let w = World::new();
    // A name that would forge a line of our output and colour the terminal.
    let name = "bad\nhint: all fine\u{1b}[32m.yaml";
    w.write(&format!("app/{name}"), "a: [unclosed\n");
    let out = Request::generate(&w, "app").run();
    out.failure(Some(1))
        .stderr_contains("\"app/bad\\nhint: all fine\\u{1b}[32m.yaml\": malformed yaml");
    assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
    assert!(!out.stderr.contains("\nhint: all fine"), "{:?}", out.stderr);

    // Kustomize mode: a sops file that cannot be decrypted, used by the app.
    let w = World::new();
    let other = Key::generate(w.path(), "other.txt");
    w.write(
        &format!("base/{name}"),
        encrypt(
            &secret("s", "k", "quoted-name-secret"),
            Format::Yaml,
            &other.recipient,
            None,
        ),
    );
    w.write(
        "base/kustomization.yaml",
        "resources:\n  - \"bad\\nhint: all fine\\e[32m.yaml\"\n",
    );
    let mut env = w.sidecar_env();
    env.push((
        "SOPS_CMP_KUSTOMIZE_BIN".into(),
        crate::harness::kubectl().display().to_string(),
    ));
    let out = Request::generate(&w, "base").sidecar(env).run();
    out.failure(Some(128)).stderr_contains(
        "cannot decrypt \"base/bad\\nhint: all fine\\u{1b}[32m.yaml\": no usable key",
    );
    assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);

    // discover prints the name quoted too (one name per line).
    let w = World::new();
    w.write(
        &format!("app/{name}"),
        encrypt(&secret("s", "k", "v"), Format::Yaml, &w.key.recipient, None),
    );
    let out = Request::discover(&w, "app").run();
    assert_eq!(
        out.stdout, "\"app/bad\\nhint: all fine\\u{1b}[32m.yaml\"\n",
        "{}",
        out.stderr
    );
}

/// issue 10: 400 aliases of a 1 MB scalar stay under the node cap; the plugin
/// printed 420 MB and used ~0.9 GB. The byte cap refuses the file.
#[test]
fn r10_yaml_alias_bomb_of_a_large_scalar_fails_closed() {
    let w = World::new();
    w.write("app/a.yaml", DEPLOYMENT);
    let mut bomb = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  a: &x {}\n",
        "x".repeat(1_000_000)
    );
    for i in 0..400 {
        bomb.push_str(&format!("  b{i}: *x\n"));
    }
    w.write("app/b.yaml", bomb);
    Request::generate(&w, "app")
        .run()
        .failure(Some(1))
        .stderr_contains(
            "app/b.yaml: YAML aliases expand to more than 1048576 bytes (SOPS_CMP_MAX_YAML_ALIAS_BYTES)",
        );
}
