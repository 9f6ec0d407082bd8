//! Keystore calls of one run (issue 11): against a fake AWS KMS that counts
//! its calls, a data key wrapped once and shared by many files is unwrapped
//! once per run, a role is assumed once, and files with their own data keys
//! cost one call each, in directory mode and in the kustomize copy.

use std::collections::BTreeMap;
use std::time::Duration;

use sops_core::keys::{KeyContext, KeyError, MasterKey, aws_kms};
use sops_core::metadata::{KeyEntry, KeyKind};
use sops_core::ops::{self, EncryptOptions};
use sops_core::stores::Format;
use sops_core::{Branch, Value};
use test_support::fake_kms::{self, FakeKms};
use zeroize::Zeroizing;

use crate::harness::{Request, World, get_str};
use crate::kustomize::{regex_rule, secret, with_kubectl};

const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/fake";
const ROLE: &str = "arn:aws:iam::111122223333:role/sops";

/// Wraps like the fake server does, so files are made without a server.
#[derive(Debug)]
struct FakeKmsKey;

impl MasterKey for FakeKmsKey {
    fn kind(&self) -> KeyKind {
        aws_kms::KIND
    }
    fn identifier(&self) -> String {
        format!("{ARN}+{ROLE}")
    }
    fn encrypt(&self, secret: &[u8], _: &KeyContext) -> Result<KeyEntry, KeyError> {
        let mut fields = Branch::new();
        fields.push("arn", Value::Str(ARN.into()));
        fields.push("role", Value::Str(ROLE.into()));
        fields.push("created_at", Value::Str("2026-01-01T00:00:00Z".into()));
        let enc = fake_kms::wrap(ARN, &BTreeMap::new(), secret);
        fields.push("enc", Value::Str(enc));
        fields.push("aws_profile", Value::Str(String::new()));
        Ok(KeyEntry {
            kind: aws_kms::KIND,
            fields,
        })
    }
    fn decrypt(&self, _: &KeyEntry, _: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        Err(KeyError::Rejected("not used".into()))
    }
}

fn groups() -> Vec<Vec<Box<dyn MasterKey>>> {
    vec![vec![Box::new(FakeKmsKey)]]
}

/// `shared` files under one data key (one wrapped key), then `own` files
/// with a data key each, in `dir`; their names, in order.
fn write_app(w: &World, dir: &str, shared: usize, own: usize) -> Vec<String> {
    let store = Format::Yaml.store().unwrap();
    let ctx = KeyContext::builder().build();
    let opts = EncryptOptions {
        rule: regex_rule(),
        ..EncryptOptions::default()
    };
    let (data_key, metadata) = ops::new_metadata(&groups(), &ctx, &opts).unwrap();
    let mut names = Vec::new();
    for i in 0..shared + own {
        let name = format!("s{i:02}");
        let mut docs = store
            .load(secret(&name, "password", &format!("value-{name}")).as_bytes())
            .unwrap();
        let metadata = if i < shared {
            let mut metadata = metadata.clone();
            ops::encrypt_docs(&mut docs, &data_key, &mut metadata).unwrap();
            metadata
        } else {
            let (encrypted, metadata) =
                ops::encrypt(std::mem::take(&mut docs), &groups(), &ctx, &opts)
                    .unwrap()
                    .into_parts();
            docs = encrypted;
            metadata
        };
        w.write(
            &format!("{dir}/{name}.yaml"),
            store.emit_encrypted(&docs, &metadata).unwrap(),
        );
        names.push(name);
    }
    names
}

fn with_kms(mut env: Vec<(String, String)>, kms: &FakeKms) -> Vec<(String, String)> {
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_ENDPOINT_URL_KMS", kms.endpoint()),
        ("AWS_ENDPOINT_URL_STS", kms.endpoint()),
    ] {
        env.push((k.into(), v));
    }
    env
}

#[track_caller]
fn check_output(docs: &[Branch], names: &[String]) {
    let mut found: Vec<(String, String)> = docs
        .iter()
        .map(|d| {
            (
                get_str(d, &["metadata", "name"]).to_owned(),
                get_str(d, &["stringData", "password"]).to_owned(),
            )
        })
        .collect();
    found.sort();
    let expected: Vec<(String, String)> = names
        .iter()
        .map(|n| (n.clone(), format!("value-{n}")))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn a_shared_wrapped_key_is_unwrapped_once_per_run() {
    // A little delay, so that concurrent files really wait on each other.
    let kms = FakeKms::start(Duration::from_millis(20));
    let w = World::new();
    let names = write_app(&w, "app", 12, 3);
    let out = Request::generate(&w, "app")
        .sidecar(with_kms(w.sidecar_env(), &kms))
        .run();
    out.success();
    check_output(&out.docs(), &names);
    // One call for the 12 files of the shared key, one per other file.
    assert_eq!(kms.calls("Decrypt"), 4);
    assert_eq!(kms.calls("AssumeRole"), 1);
    // One file after the other: the same calls.
    let out = Request::generate(&w, "app")
        .sidecar({
            let mut env = with_kms(w.sidecar_env(), &kms);
            env.push(("SOPS_CMP_KEY_CONCURRENCY".into(), "1".into()));
            env
        })
        .run();
    out.success();
    check_output(&out.docs(), &names);
    assert_eq!(kms.calls("Decrypt"), 8);
}

#[test]
fn the_kustomize_copy_unwraps_a_shared_key_once() {
    let kms = FakeKms::start(Duration::from_millis(20));
    let w = World::new();
    let names = write_app(&w, "app", 8, 2);
    let resources: String = names.iter().map(|n| format!("  - {n}.yaml\n")).collect();
    w.write("app/kustomization.yaml", format!("resources:\n{resources}"));
    let out = Request::generate(&w, "app")
        .sidecar(with_kms(with_kubectl(&w), &kms))
        .run();
    out.success();
    check_output(&out.docs(), &names);
    assert_eq!(kms.calls("Decrypt"), 3);
    assert_eq!(kms.calls("AssumeRole"), 1);
}

/// The failure reported is the first in walk order, even when a later file
/// fails long before it (a malformed file fails at once; a KMS refusal
/// comes after the call's delay).
#[test]
fn the_first_failing_file_in_walk_order_is_reported() {
    let kms = FakeKms::start(Duration::from_millis(300));
    let w = World::new();
    write_app(&w, "app", 0, 4);
    // s01 names another key than the one its ciphertext is for.
    let path = w.repo.join("app/s01.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let other = text.replace(&format!("arn: {ARN}"), &format!("arn: {ARN}-other"));
    assert_ne!(text, other);
    std::fs::write(&path, other).unwrap();
    w.write("app/s99.yaml", "a: [\n");
    for concurrency in ["1", "16"] {
        let mut env = with_kms(w.sidecar_env(), &kms);
        env.push(("SOPS_CMP_KEY_CONCURRENCY".into(), concurrency.into()));
        let out = Request::generate(&w, "app").sidecar(env).run();
        out.failure(None)
            .stderr_contains("app/s01.yaml")
            .stderr_contains("ciphertext is for another key");
        assert!(!out.stderr.contains("s99"), "{}", out.stderr);
    }
}
