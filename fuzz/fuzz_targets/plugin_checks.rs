//! What the Argo CD plugin asks of sops-core about a file it has not
//! decrypted yet. The plugin's own checks (manifest::check, the namespace
//! binding, the output's leftover-`ENC[` search, discover's head/tail read)
//! live in the argocd-plugin *binary* crate and cannot be linked into a fuzz
//! target; this target covers the sops-core calls they are built on:
//!
//! - `stores::looks_like_sops_file` and `cipher::contains_encrypted_value`
//!   on raw bytes never panic;
//! - a YAML/JSON/dotenv/INI file that loads as encrypted and that we write
//!   back with `emit_encrypted` is still recognised by both pre-checks when
//!   it has a MAC of the shape sops writes (the plugin skips files the pre-check misses);
//! - loading under the plugin's limits (fixed alias cap) never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sops_core::cipher::{contains_encrypted_value, parse_enc};
use sops_core::stores::{Format, StoreLimits, looks_like_sops_file};

fuzz_target!(|data: &[u8]| {
    let _ = looks_like_sops_file(data);
    let _ = contains_encrypted_value(data);
    // The plugin's defaults: 256 levels, 10 000 alias nodes and 1 MiB of
    // alias-expanded text, no allowance proportional to the file's size.
    let limits = StoreLimits {
        max_depth: 256,
        max_alias_nodes: 10_000,
        alias_nodes_per_node: 0,
        max_alias_bytes: 1 << 20,
        alias_bytes_per_input_byte: 0,
    };
    for format in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini] {
        let store = format.store_with(&limits).expect("store");
        let _ = store.load(data);
        let Ok((docs, meta)) = store.load_encrypted(data) else {
            continue;
        };
        let Ok(out) = store.emit_encrypted(&docs, &meta) else {
            continue;
        };
        if sops_shaped(&meta.mac) {
            assert!(
                looks_like_sops_file(&out),
                "our own {format:?} output is not recognised"
            );
            assert!(contains_encrypted_value(&out));
        }
    }
});

/// A MAC as sops writes it: a well-formed `ENC[…]` of type `str` in base64
/// characters only (anything else fails MAC decryption anyway, and may make
/// the emitter quote the value).
fn sops_shaped(mac: &str) -> bool {
    parse_enc(mac).is_ok_and(|p| p.kind == "str")
        && mac
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=,:[]_".contains(&b))
}
