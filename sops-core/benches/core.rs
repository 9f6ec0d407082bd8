//! Criterion benchmarks of the core: the value walk with AES-GCM and the
//! MAC, and the YAML and JSON stores. Whole-process comparisons against the
//! reference sops binary are in bench/compare.sh.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sops_core::DataKey;
use sops_core::metadata::{Metadata, PartialRule, SOPS_VERSION};
use sops_core::ops::{decrypt_docs, encrypt_docs};
use sops_core::stores::Format;
use sops_core::tree::{Branch, Item, Value};

/// A document shaped like a Kubernetes-ish config: `n` services with a few
/// fields each, a list and a comment.
fn sample(n: usize) -> Branch {
    let mut root = Branch::new();
    for i in 0..n {
        let mut svc = Branch::new();
        svc.0.push(Item::Comment(format!(" service {i}")));
        svc.push("name", Value::Str(format!("service-{i}")));
        svc.push("port", Value::Int(8000 + i as i64));
        svc.push("enabled", Value::Bool(i % 2 == 0));
        svc.push("ratio", Value::Float(i as f64 / 7.0));
        svc.push(
            "password",
            Value::Str(format!("s3cr3t-{i}-abcdefghijklmnop")),
        );
        svc.push(
            "tags",
            Value::Seq(vec![Value::Str("a".into()), Value::Str("b".into())]),
        );
        root.push(format!("svc{i}"), Value::Map(svc));
    }
    root
}

fn metadata() -> Metadata {
    Metadata {
        key_groups: Vec::new(),
        shamir_threshold: 0,
        last_modified: String::new(),
        mac: String::new(),
        rule: Some(PartialRule::default_rule()),
        mac_only_encrypted: false,
        version: SOPS_VERSION.into(),
    }
}

fn walk(c: &mut Criterion) {
    let key = DataKey::generate();
    let plain = vec![sample(2000)];
    let mut g = c.benchmark_group("tree");
    g.throughput(Throughput::Elements(2000 * 8));
    g.bench_function("encrypt_2000_services", |b| {
        b.iter(|| {
            let mut docs = plain.clone();
            let mut meta = metadata();
            encrypt_docs(&mut docs, &key, &mut meta).unwrap();
        });
    });
    let mut meta = metadata();
    let mut encrypted = plain.clone();
    encrypt_docs(&mut encrypted, &key, &mut meta).unwrap();
    g.bench_function("decrypt_2000_services", |b| {
        b.iter(|| {
            let mut docs = encrypted.clone();
            decrypt_docs(&mut docs, &key, &meta, false).unwrap();
        });
    });
    g.finish();
}

fn stores(c: &mut Criterion) {
    let docs = vec![sample(2000)];
    for format in [Format::Yaml, Format::Json] {
        let store = format.store().unwrap();
        let Ok(bytes) = store.emit(&docs, None) else {
            continue;
        };
        let mut g = c.benchmark_group(format.name());
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("load", |b| b.iter(|| store.load(&bytes).unwrap()));
        g.bench_function("emit", |b| b.iter(|| store.emit(&docs, None).unwrap()));
        g.finish();
    }
}

criterion_group!(benches, walk, stores);
criterion_main!(benches);
