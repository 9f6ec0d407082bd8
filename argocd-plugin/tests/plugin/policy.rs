//! Operator policy: the master-key allow-list (`SOPS_CMP_KEY_POLICY`) and
//! namespace binding (`SOPS_CMP_BIND_NAMESPACE`), spec §3.7.

use std::path::PathBuf;

use sops_core::keys::age::AgeKey;
use sops_core::keys::{KeyContext, MasterKey};
use sops_core::metadata::{KeyEntry, PartialRule};
use sops_core::ops::{self, EncryptOptions};
use sops_core::stores::Format;
use sops_core::{Branch, Value};

use crate::harness::{Key, Request, World, encrypt, get_str, kubectl, run_reference_sops};

const ALLOWED_VALUE: &str = "allowed-recipient-secret";
const DENIED_VALUE: &str = "denied-recipient-secret";
const TEAM_B_VALUE: &str = "team-b-replayed-password";
const KMS_ARN: &str = "arn:aws:kms:eu-west-1:999999999999:key/attacker";

fn secret(name: &str, ns: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\ntype: Opaque\nstringData:\n  k: {value}\n"
    )
}

fn regex_rule() -> Option<PartialRule> {
    Some(PartialRule::EncryptedRegex("^(data|stringData)$".into()))
}

/// Encrypts for key groups of age recipients (several groups = Shamir with
/// `threshold`), adding `extra` entries to the first group's metadata (such
/// as a cloud key an attacker wrote into the `sops` block).
fn encrypt_groups(
    plain: &str,
    groups: &[&[&str]],
    threshold: usize,
    extra: &[KeyEntry],
) -> Vec<u8> {
    let store = Format::Yaml.store().unwrap();
    let docs = store.load(plain.as_bytes()).unwrap();
    let groups: Vec<Vec<Box<dyn MasterKey>>> = groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|r| Box::new(AgeKey::parse(r).unwrap()) as Box<dyn MasterKey>)
                .collect()
        })
        .collect();
    let opts = EncryptOptions {
        rule: regex_rule(),
        shamir_threshold: threshold,
        ..EncryptOptions::default()
    };
    let ctx = KeyContext::builder().build();
    let (docs, mut metadata) = ops::encrypt(docs, &groups, &ctx, &opts)
        .unwrap()
        .into_parts();
    metadata.key_groups[0].0.extend(extra.iter().cloned());
    store.emit_encrypted(&docs, &metadata).unwrap()
}

fn kms_entry(arn: &str) -> KeyEntry {
    let mut fields = Branch::new();
    fields.push("arn", Value::Str(arn.to_owned()));
    fields.push("created_at", Value::Str("2025-01-01T00:00:00Z".to_owned()));
    fields.push("enc", Value::Str("AQICAHhattackerblob".to_owned()));
    fields.push("aws_profile", Value::Str(String::new()));
    KeyEntry {
        kind: sops_core::keys::aws_kms::KIND,
        fields,
    }
}

/// A sidecar that holds the identities of `keys` and has `policy` (YAML
/// text) mounted as its key policy.
fn sidecar(w: &World, keys: &[&Key], policy: Option<&str>, bind: bool) -> Vec<(String, String)> {
    let keyfile = w.path().join("sidecar-keys/all.txt");
    let text: String = keys.iter().map(|k| format!("{}\n", k.identity)).collect();
    std::fs::write(&keyfile, text).unwrap();
    let mut env = w.sidecar_env();
    for (k, v) in &mut env {
        if k == "SOPS_AGE_KEY_FILE" {
            *v = keyfile.display().to_string();
        }
    }
    if let Some(policy) = policy {
        let path = policy_file(w, policy);
        env.push(("SOPS_CMP_KEY_POLICY".into(), path.display().to_string()));
    }
    if bind {
        env.push(("SOPS_CMP_BIND_NAMESPACE".into(), "true".into()));
    }
    env
}

fn policy_file(w: &World, text: &str) -> PathBuf {
    let path = w.path().join("policy.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

// --- (a) master-key allow-list ----------------------------------------------

#[test]
fn only_allowed_recipients_are_tried() {
    let w = World::new();
    let allowed = &w.key;
    let denied = Key::generate(w.path(), "denied.txt");
    // Listed for both; the sidecar holds both identities.
    w.write(
        "app/both.yaml",
        encrypt_groups(
            &secret("both", "team-a", ALLOWED_VALUE),
            &[&[&denied.recipient, &allowed.recipient]],
            0,
            &[],
        ),
    );
    let policy = format!(
        "# team-a may use one recipient\nprojects:\n  team-a:\n    age: [{}]\n  team-b:\n    age: [{}]\n",
        allowed.recipient, denied.recipient
    );
    let env = sidecar(&w, &[allowed, &denied], Some(&policy), false);
    let out = Request::generate(&w, "app").sidecar(env.clone()).run();
    let docs = out.success().docs();
    assert_eq!(get_str(&docs[0], &["stringData", "k"]), ALLOWED_VALUE);

    // Only the disallowed recipient: refused although the sidecar holds its
    // identity (without the policy it decrypts, see below).
    w.write(
        "app/denied.yaml",
        encrypt_groups(
            &secret("denied", "team-a", DENIED_VALUE),
            &[&[&denied.recipient]],
            0,
            &[],
        ),
    );
    let out = Request::generate(&w, "app").sidecar(env.clone()).run();
    out.failure(Some(128))
        .stderr_contains("cannot decrypt app/denied.yaml: no usable key")
        .stderr_contains(&format!("{}: skipped by policy", denied.recipient))
        .stderr_contains("SOPS_CMP_KEY_POLICY")
        .leaks_none(&[ALLOWED_VALUE, DENIED_VALUE]);

    // Project team-b may use that recipient: both files open through it.
    let out = Request::generate(&w, "app")
        .sidecar(env)
        .env("ARGOCD_APP_PROJECT_NAME", "team-b")
        .run();
    assert_eq!(out.success().docs().len(), 2);
    // Without a policy, every recipient is tried.
    let out = Request::generate(&w, "app")
        .sidecar(sidecar(&w, &[allowed, &denied], None, false))
        .run();
    out.success();
}

#[test]
fn an_allowed_key_without_identity_fails_and_says_why_per_key() {
    let w = World::new();
    let allowed_not_held = Key::generate(w.path(), "a.txt");
    let held_not_allowed = Key::generate(w.path(), "b.txt");
    w.write(
        "app/s.yaml",
        encrypt_groups(
            &secret("s", "team-a", DENIED_VALUE),
            &[&[&allowed_not_held.recipient, &held_not_allowed.recipient]],
            0,
            &[],
        ),
    );
    let policy = format!(
        "projects:\n  \"*\":\n    age: [{}]\n",
        allowed_not_held.recipient
    );
    let out = Request::generate(&w, "app")
        .sidecar(sidecar(&w, &[&held_not_allowed], Some(&policy), false))
        .run();
    out.failure(Some(128))
        .stderr_contains(&format!(
            "{}: skipped by policy",
            held_not_allowed.recipient
        ))
        .leaks_none(&[DENIED_VALUE]);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains(&allowed_not_held.recipient))
        .unwrap();
    assert!(!line.contains("skipped by policy"), "{line}");
}

/// A KMS key written into the metadata by the tenant: never called.
#[test]
fn cloud_keys_outside_the_policy_are_skipped_not_unsupported() {
    let w = World::new();
    let other = Key::generate(w.path(), "other.txt");
    w.write(
        "app/s.yaml",
        encrypt_groups(
            &secret("s", "team-a", DENIED_VALUE),
            &[&[&other.recipient]],
            0,
            &[kms_entry(KMS_ARN)],
        ),
    );
    let policy = format!("projects:\n  team-a:\n    age: [{}]\n", w.key.recipient);
    let out = Request::generate(&w, "app")
        .sidecar(sidecar(&w, &[&w.key], Some(&policy), false))
        .run();
    out.failure(Some(128))
        .stderr_contains(&format!("{KMS_ARN}: skipped by policy"))
        .stderr_contains(&format!("{}: skipped by policy", other.recipient));
    assert!(!out.stderr.contains("not supported"), "{}", out.stderr);

    // Allowed by a glob: classified as allowed, then tried by the AWS KMS
    // keystore (its blob is not even base64, so nothing is called).
    let policy = "projects:\n  team-a:\n    kms: [\"arn:aws:kms:eu-west-1:999999999999:key/*\"]\n";
    let out = Request::generate(&w, "app")
        .sidecar(sidecar(&w, &[&w.key], Some(policy), false))
        .run();
    out.failure(Some(128)).stderr_contains(&format!(
        "{KMS_ARN}: failed to decrypt sops data key with AWS KMS key {KMS_ARN}: error base64-decoding"
    ));

    // Next to an allowed age key, the disallowed KMS entry does no harm.
    w.write(
        "app/s.yaml",
        encrypt_groups(
            &secret("s", "team-a", ALLOWED_VALUE),
            &[&[&w.key.recipient]],
            0,
            &[kms_entry(KMS_ARN)],
        ),
    );
    let policy = format!("projects:\n  team-a:\n    age: [{}]\n", w.key.recipient);
    Request::generate(&w, "app")
        .sidecar(sidecar(&w, &[&w.key], Some(&policy), false))
        .run()
        .success();
}

#[test]
fn a_malformed_policy_fails_closed() {
    let w = World::new();
    w.write(
        "app/s.yaml",
        encrypt(
            &secret("s", "team-a", ALLOWED_VALUE),
            Format::Yaml,
            &w.key.recipient,
            None,
        ),
    );
    for (text, needle) in [
        (
            "projects:\n  team-a:\n    agee: [x]\n",
            "projects.team-a.agee: unknown keystore",
        ),
        (
            "projects:\n  team-a:\n    age: [1]\n",
            "projects.team-a.age[0]: must be a string",
        ),
        ("projects: {}\nmode: audit\n", "mode: unknown field"),
    ] {
        let env = sidecar(&w, &[&w.key], Some(text), false);
        let file = policy_file(&w, text).display().to_string();
        let out = Request::generate(&w, "app").sidecar(env).run();
        out.failure(Some(1))
            .stderr_contains(&format!("key policy {file}"))
            .stderr_contains(needle);
    }
    let mut env = sidecar(&w, &[&w.key], None, false);
    env.push((
        "SOPS_CMP_KEY_POLICY".into(),
        "/nonexistent/policy.yaml".into(),
    ));
    Request::generate(&w, "app")
        .sidecar(env)
        .run()
        .failure(Some(1))
        .stderr_contains("key policy /nonexistent/policy.yaml")
        .stderr_contains("cannot read");
    // A tenant cannot turn the policy off or point it elsewhere.
    let env = sidecar(&w, &[&w.key], Some("projects: {}\n"), false);
    Request::generate(&w, "app")
        .sidecar(env)
        .env("ARGOCD_ENV_SOPS_CMP_KEY_POLICY", "/dev/null")
        .run()
        .failure(Some(128))
        .stderr_contains("skipped by policy");
}

// --- (b) Shamir ---------------------------------------------------------------

#[test]
fn shamir_threshold_counts_only_allowed_groups() {
    let w = World::new();
    let (b, c) = (
        Key::generate(w.path(), "b.txt"),
        Key::generate(w.path(), "c.txt"),
    );
    let a = &w.key;
    w.write(
        "app/s.yaml",
        encrypt_groups(
            &secret("s", "team-a", ALLOWED_VALUE),
            &[&[&a.recipient], &[&b.recipient], &[&c.recipient]],
            2,
            &[],
        ),
    );
    let policy = |allowed: &[&Key]| {
        let list: Vec<&str> = allowed.iter().map(|k| k.recipient.as_str()).collect();
        format!("projects:\n  team-a:\n    age: [{}]\n", list.join(", "))
    };
    let out = Request::generate(&w, "app")
        .sidecar(sidecar(&w, &[a, &b, &c], Some(&policy(&[a, &c])), false))
        .run();
    assert_eq!(
        get_str(&out.success().docs()[0], &["stringData", "k"]),
        ALLOWED_VALUE
    );
    let out = Request::generate(&w, "app")
        .sidecar(sidecar(&w, &[a, &b, &c], Some(&policy(&[&b])), false))
        .run();
    out.failure(Some(128))
        .stderr_contains(&format!("group 0: {}: skipped by policy", a.recipient))
        .stderr_contains(&format!("group 2: {}: skipped by policy", c.recipient))
        .leaks_none(&[ALLOWED_VALUE]);
}

/// A 2-of-2 Shamir file written by the reference sops.
#[test]
fn shamir_file_from_reference_sops() {
    let w = World::new();
    let b = Key::generate(w.path(), "b.txt");
    let work = w.path().join("sops-work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(
        work.join(".sops.yaml"),
        format!(
            "creation_rules:\n  - encrypted_regex: ^(data|stringData)$\n    shamir_threshold: 2\n    key_groups:\n      - age: [{}]\n      - age: [{}]\n",
            w.key.recipient, b.recipient
        ),
    )
    .unwrap();
    std::fs::write(work.join("s.yaml"), secret("s", "team-a", ALLOWED_VALUE)).unwrap();
    let enc = run_reference_sops(&work, &["encrypt", "s.yaml"]);
    w.write("app/s.yaml", &enc);
    let both = format!(
        "projects:\n  team-a:\n    age: [{}]\n  \"*\":\n    age: [{}]\n",
        w.key.recipient, b.recipient
    );
    let out = Request::generate(&w, "app")
        .sidecar(sidecar(&w, &[&w.key, &b], Some(&both), false))
        .run();
    assert_eq!(
        get_str(&out.success().docs()[0], &["stringData", "k"]),
        ALLOWED_VALUE
    );
    let one = format!("projects:\n  team-a:\n    age: [{}]\n", w.key.recipient);
    Request::generate(&w, "app")
        .sidecar(sidecar(&w, &[&w.key, &b], Some(&one), false))
        .run()
        .failure(Some(128))
        .stderr_contains(&format!("group 1: {}: skipped by policy", b.recipient))
        .leaks_none(&[ALLOWED_VALUE]);
}

// --- (c) namespace binding, directory mode ------------------------------------

#[test]
fn replayed_secret_of_another_namespace_is_refused() {
    let w = World::new();
    // team-b's Secret, encrypted with the full MAC, copied into team-a's app.
    w.write(
        "app/replayed.yaml",
        encrypt(
            &secret("db", "team-b", TEAM_B_VALUE),
            Format::Yaml,
            &w.key.recipient,
            regex_rule(),
        ),
    );
    let env = sidecar(&w, &[&w.key], None, true);
    let out = Request::generate(&w, "app").sidecar(env.clone()).run();
    out.failure(Some(1))
        .stderr_contains(
            "replayed.yaml: Secret team-b/db namespace does not match destination team-a",
        )
        .leaks_none(&[TEAM_B_VALUE]);

    // Without binding the same app renders (the pre-existing behaviour).
    Request::generate(&w, "app")
        .sidecar(sidecar(&w, &[&w.key], None, false))
        .run()
        .success();

    // A matching one passes; plain files are not subject to binding.
    std::fs::remove_file(w.repo.join("app/replayed.yaml")).unwrap();
    w.write(
        "app/own.yaml",
        encrypt(
            &secret("db", "team-a", ALLOWED_VALUE),
            Format::Yaml,
            &w.key.recipient,
            None,
        ),
    );
    w.write(
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\ndata:\n  a: b\n",
    );
    let out = Request::generate(&w, "app").sidecar(env.clone()).run();
    assert_eq!(out.success().docs().len(), 2);

    // Without a destination namespace nothing can be bound.
    Request::generate(&w, "app")
        .sidecar(env)
        .env("ARGOCD_APP_NAMESPACE", "")
        .run()
        .failure(Some(1))
        .stderr_contains("ARGOCD_APP_NAMESPACE is not set")
        .leaks_none(&[ALLOWED_VALUE]);
}

#[test]
fn encrypted_objects_without_namespace_and_mac_only_files_are_refused() {
    let w = World::new();
    w.write(
        "app/s.yaml",
        encrypt(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  k: no-namespace-value\n",
            Format::Yaml,
            &w.key.recipient,
            regex_rule(),
        ),
    );
    let env = sidecar(&w, &[&w.key], None, true);
    Request::generate(&w, "app")
        .sidecar(env.clone())
        .run()
        .failure(Some(1))
        .stderr_contains("s.yaml: Secret db has no metadata.namespace")
        .leaks_none(&["no-namespace-value"]);

    // mac_only_encrypted: the namespace is outside the MAC.
    let store = Format::Yaml.store().unwrap();
    let docs = store
        .load(secret("db", "team-a", ALLOWED_VALUE).as_bytes())
        .unwrap();
    let keys: Vec<Box<dyn MasterKey>> = vec![Box::new(AgeKey::parse(&w.key.recipient).unwrap())];
    let opts = EncryptOptions {
        rule: regex_rule(),
        mac_only_encrypted: true,
        ..EncryptOptions::default()
    };
    let ctx = KeyContext::builder().build();
    let (docs, metadata) = ops::encrypt(docs, &[keys], &ctx, &opts)
        .unwrap()
        .into_parts();
    w.write(
        "app/s.yaml",
        store.emit_encrypted(&docs, &metadata).unwrap(),
    );
    Request::generate(&w, "app")
        .sidecar(env)
        .run()
        .failure(Some(1))
        .stderr_contains("s.yaml: encrypted with mac_only_encrypted")
        .leaks_none(&[ALLOWED_VALUE]);
    Request::generate(&w, "app")
        .sidecar(sidecar(&w, &[&w.key], None, false))
        .run()
        .success();
}

#[test]
fn binding_setting_is_validated() {
    let w = World::new();
    w.write(
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n",
    );
    let mut env = sidecar(&w, &[&w.key], None, false);
    env.push(("SOPS_CMP_BIND_NAMESPACE".into(), "yes".into()));
    Request::generate(&w, "app")
        .sidecar(env)
        .run()
        .failure(Some(1))
        .stderr_contains("SOPS_CMP_BIND_NAMESPACE must be true or false");
}

// --- (d) namespace binding, kustomize mode -------------------------------------

fn with_kubectl(mut env: Vec<(String, String)>) -> Vec<(String, String)> {
    env.push((
        "SOPS_CMP_KUSTOMIZE_BIN".into(),
        kubectl().display().to_string(),
    ));
    env
}

#[test]
fn kustomize_app_with_binding() {
    let w = World::new();
    w.write(
        "app/own.yaml",
        encrypt(
            &secret("own", "team-a", ALLOWED_VALUE),
            Format::Yaml,
            &w.key.recipient,
            regex_rule(),
        ),
    );
    w.write(
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n",
    );
    w.write(
        "app/kustomization.yaml",
        "resources:\n  - own.yaml\n  - cm.yaml\n",
    );
    // Another team's app in the same repository, for the same key: not used
    // by this app, so its binding does not fail this one.
    w.write(
        "other/replayed.yaml",
        encrypt(
            &secret("db", "team-b", TEAM_B_VALUE),
            Format::Yaml,
            &w.key.recipient,
            regex_rule(),
        ),
    );
    let env = with_kubectl(sidecar(&w, &[&w.key], None, true));
    let out = Request::generate(&w, "app").sidecar(env.clone()).run();
    let docs = out.success().leaks_none(&[TEAM_B_VALUE]).docs();
    assert_eq!(docs.len(), 2);
    assert!(!out.stdout.contains(TEAM_B_VALUE));

    // Replayed inside the app dir: refused before kustomize runs.
    w.write(
        "app/replayed.yaml",
        encrypt(
            &secret("db", "team-b", TEAM_B_VALUE),
            Format::Yaml,
            &w.key.recipient,
            regex_rule(),
        ),
    );
    w.write(
        "app/kustomization.yaml",
        "resources:\n  - own.yaml\n  - replayed.yaml\n",
    );
    Request::generate(&w, "app")
        .sidecar(env.clone())
        .run()
        .failure(Some(1))
        .stderr_contains("Secret team-b/db namespace does not match destination team-a")
        .leaks_none(&[TEAM_B_VALUE, ALLOWED_VALUE]);

    // Pulled in from a base outside the app dir: left encrypted, the output
    // checks find the leftover sops data, and the file's error is reported.
    std::fs::remove_file(w.repo.join("app/replayed.yaml")).unwrap();
    w.write(
        "other/kustomization.yaml",
        "resources:\n  - replayed.yaml\n",
    );
    w.write(
        "app/kustomization.yaml",
        "resources:\n  - own.yaml\n  - ../other\n",
    );
    Request::generate(&w, "app")
        .sidecar(env)
        .run()
        .failure(Some(1))
        .stderr_contains(
            "other/replayed.yaml: Secret team-b/db namespace does not match destination team-a",
        )
        .leaks_none(&[TEAM_B_VALUE, ALLOWED_VALUE]);
}

#[test]
fn a_relabelled_recipient_does_not_open_another_projects_stanza() {
    let w = World::new();
    let allowed = &w.key;
    let other = Key::generate(w.path(), "other.txt");
    // Encrypted for the other project's key, then the metadata's recipient
    // label rewritten to the allowed one (the MAC does not cover metadata).
    let text = String::from_utf8(encrypt_groups(
        &secret("forged", "team-a", DENIED_VALUE),
        &[&[&other.recipient]],
        0,
        &[],
    ))
    .unwrap();
    assert!(text.contains(&other.recipient));
    w.write(
        "app/forged.yaml",
        text.replace(&other.recipient, &allowed.recipient),
    );
    let policy = format!("projects:\n  team-a:\n    age: [{}]\n", allowed.recipient);
    // The sidecar holds both identities (no per-project key dirs).
    let env = sidecar(&w, &[allowed, &other], Some(&policy), false);
    Request::generate(&w, "app")
        .sidecar(env)
        .run()
        .failure(Some(128))
        .stderr_contains("cannot decrypt app/forged.yaml: no usable key")
        .leaks_none(&[DENIED_VALUE]);
}

#[test]
fn duplicate_namespace_keys_are_refused_with_binding() {
    let w = World::new();
    // sops' JSON store keeps both keys; the binding used to read the first.
    let plain = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"team-a","namespace":"team-b"},"stringData":{"k":"duplicate-key-secret"}}"#;
    w.write(
        "app/s.json",
        encrypt(plain, Format::Json, &w.key.recipient, None),
    );
    let mut env = w.sidecar_env();
    env.push(("SOPS_CMP_BIND_NAMESPACE".into(), "true".into()));
    Request::generate(&w, "app")
        .sidecar(env)
        .run()
        .failure(Some(1))
        .stderr_contains(
            "app/s.json: duplicate key \"metadata\".\"namespace\" in Secret team-a/db; refused \
             because namespace binding is on",
        )
        .leaks_none(&["duplicate-key-secret"]);
}
