//! Reading the `sops` block (sops_core::stores::metadata_serde), without
//! the fuzzer having to find the `sops:` key first: every YAML or JSON
//! document of the input is read as if it were the block itself. Reading
//! never panics, and metadata it accepts is written by `to_branch` (in both
//! list styles) and read back unchanged. The store targets reach the same
//! code through `load_encrypted`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sops_core::stores::Format;
use sops_core::stores::metadata_serde::{EmptyListStyle, from_branch, to_branch};
use sops_fuzz::fuzz_limits;

fuzz_target!(|data: &[u8]| {
    for format in [Format::Yaml, Format::Json] {
        let store = format.store_with(&fuzz_limits()).expect("store");
        let Ok(docs) = store.load(data) else {
            continue;
        };
        for doc in &docs {
            let Ok(meta) = from_branch(doc, format) else {
                continue;
            };
            // One empty key group (keystores we do not know) is written
            // as sops writes one group, flat lists, here empty: it reads
            // back as no group (as in `sops_fuzz::metadata_round_trip`).
            let mut expected = meta.clone();
            if matches!(expected.key_groups.as_slice(), [g] if g.0.is_empty()) {
                expected.key_groups.clear();
            }
            for style in [EmptyListStyle::EmptySeq, EmptyListStyle::Null] {
                let written = to_branch(&meta, style);
                let again = from_branch(&written, format)
                    .unwrap_or_else(|e| panic!("written metadata does not read back: {e}"));
                assert_eq!(
                    expected, again,
                    "metadata changed in a round trip ({style:?})"
                );
            }
        }
    }
});
