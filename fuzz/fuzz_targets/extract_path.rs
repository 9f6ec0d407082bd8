//! `--extract` / `set` / `unset` paths (sops_core::tree::path): the first
//! line of the input is a path, the rest a YAML document. Parsing the path,
//! looking it up, emitting what it finds in every format, `set` and `unset`
//! never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sops_core::Value;
use sops_core::stores::Format;
use sops_core::tree::path::{Found, lookup, parse_path, set, unset};
use sops_fuzz::{fuzz_limits, split_header};

fuzz_target!(|data: &[u8]| {
    let (path, doc) = split_header(data);
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    let Ok(steps) = parse_path(path) else {
        return;
    };
    let yaml = Format::Yaml.store_with(&fuzz_limits()).expect("store");
    let Ok(docs) = yaml.load(doc) else {
        return;
    };
    let Some(first) = docs.first() else {
        return;
    };
    if let Ok(found) = lookup(first, &steps) {
        for format in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini] {
            let store = format.store().expect("store");
            let _ = match found {
                Found::Document(b) => store.emit_plain(std::slice::from_ref(b)),
                Found::Value(v) => store.emit_value(v),
            };
        }
    }

    // `set` and `unset` must not panic. Their results are not checked
    // here: what they return is being changed by issue 10 (a path through
    // a scalar becomes an error), and `let _` compiles either way.
    let mut changed = first.clone();
    let _ = set(&mut changed, &steps, Value::Str("fuzz-marker".into()));
    let mut removed = first.clone();
    let _ = unset(&mut removed, &steps);
});
