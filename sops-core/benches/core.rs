//! Criterion benchmarks of the core: the value walk with AES-GCM and the
//! MAC, and the YAML and JSON stores; `large` runs them on ~20 MB files
//! (what used to be `#[ignore]`d timing tests). Whole-process comparisons
//! against the reference sops binary are in bench/compare.sh.
//!
//! `cargo bench -p sops-core --bench core -- large` runs only the large ones.

use std::fmt::Write as _;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sops_core::DataKey;
use sops_core::metadata::{Metadata, PartialRule, SOPS_VERSION};
use sops_core::ops::{decrypt_docs, encrypt_docs};
use sops_core::stores::Format;
use sops_core::tree::{Branch, Item, Value};
use zeroize::Zeroize;

/// A document shaped like a Kubernetes-ish config: `n` services with a few
/// fields each, a list and a comment.
fn sample(n: usize) -> Branch {
    let mut root = Branch::new();
    for i in 0..n {
        let mut svc = Branch::new();
        svc.0.push(Item::Comment(format!(" service {i}").into()));
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
        let Ok(bytes) = store.emit_plain(&docs) else {
            continue;
        };
        let mut g = c.benchmark_group(format.name());
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("load", |b| b.iter(|| store.load(&bytes).unwrap()));
        g.bench_function("emit", |b| b.iter(|| store.emit_plain(&docs).unwrap()));
        g.finish();
    }
}

/// ~20 MB of YAML with comments, nested maps, lists and block scalars.
fn large_yaml_plaintext(entries: usize) -> String {
    let mut s = String::with_capacity(entries * 260);
    for i in 0..entries {
        let _ = write!(
            s,
            "# entry {i}\nkey_{i}:\n  name: service-{i}.example.com  # line comment\n  port: {port}\n  ratio: 0.{i}\n  enabled: true\n  tags:\n    - alpha\n    - {i}\n    - {{k: v}}\n  nested:\n    password: \"p@ss: {i} #x\"\n    script: |\n      echo {i}\n      exit 0\n",
            port = i % 65536
        );
    }
    s
}

/// ~20 MB of JSON holding `ENC[…]` strings and nested values.
fn large_json() -> String {
    let mut input = String::from("{\n");
    let mut i = 0;
    while input.len() < 20 << 20 {
        let _ = write!(
            input,
            "\t\"key_{i}\": \"ENC[AES256_GCM,data:bm90IGEgcmVhbCBzZWNyZXQgdmFsdWUgYXQgYWxs,iv:rHZwioAHBUmWm8ns8GRVfLu4VeQ4H6h8/I0NH2W/wfI=,tag:y6opRoeohNJSmgWeexg1mA==,type:str]\",\n\t\"nested_{i}\": {{\"n\": {i}, \"f\": 1.5, \"l\": [true, null, \"x\\n<y>\"]}},\n"
        );
        i += 1;
    }
    input.push_str("\t\"end\": 0\n}\n");
    input
}

/// Load, decrypt (with and without zeroizing the plaintext afterwards, as
/// `ops::Decrypted` does on drop) and emit (encrypted and plain) of a ~20 MB encrypted YAML file,
/// and load + emit of a ~20 MB JSON file.
fn large(c: &mut Criterion) {
    // `cargo test --all-targets` runs each benchmark once as a smoke test
    // (no `--bench` argument): building 20 MB inputs in a debug build there
    // would only slow the test suite down.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let key = DataKey::generate();
    let yaml = Format::Yaml.store().unwrap();
    let mut docs = yaml.load(large_yaml_plaintext(13_500).as_bytes()).unwrap();
    let mut meta = metadata();
    encrypt_docs(&mut docs, &key, &mut meta).unwrap();
    let encrypted = yaml.emit_encrypted(&docs, &meta).unwrap();
    let (loaded, meta) = yaml.load_encrypted(&encrypted).unwrap();
    let mut plain = loaded.clone();
    decrypt_docs(&mut plain, &key, &meta, false).unwrap();

    let mut g = c.benchmark_group("large");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(encrypted.len() as u64));
    g.bench_function("yaml_load_encrypted", |b| {
        b.iter(|| yaml.load_encrypted(&encrypted).unwrap());
    });
    g.bench_function("yaml_decrypt", |b| {
        b.iter_batched(
            || loaded.clone(),
            |mut docs| {
                decrypt_docs(&mut docs, &key, &meta, false).unwrap();
                docs
            },
            BatchSize::LargeInput,
        );
    });
    g.bench_function("yaml_decrypt_and_zeroize", |b| {
        b.iter_batched(
            || loaded.clone(),
            |mut docs| {
                decrypt_docs(&mut docs, &key, &meta, false).unwrap();
                docs.zeroize();
                docs
            },
            BatchSize::LargeInput,
        );
    });
    // Emitting the encrypted tree: every value is a long `ENC[…]` string
    // whose quoting style is worked out.
    g.bench_function("yaml_emit_encrypted", |b| {
        b.iter(|| yaml.emit_encrypted(&docs, &meta).unwrap());
    });
    g.bench_function("yaml_emit_plain", |b| {
        b.iter(|| yaml.emit_plain(&plain).unwrap());
    });

    let json = Format::Json.store().unwrap();
    let input = large_json();
    let docs = json.load(input.as_bytes()).unwrap();
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function("json_load", |b| {
        b.iter(|| json.load(input.as_bytes()).unwrap());
    });
    g.bench_function("json_emit", |b| b.iter(|| json.emit_plain(&docs).unwrap()));
    g.finish();
}

criterion_group!(benches, walk, stores, large);
criterion_main!(benches);
