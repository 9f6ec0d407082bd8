//! `.sops.yaml` parsing (sops_core::config::parse_config) never panics, and
//! choosing a creation rule for a few target paths (which compiles each
//! rule's `path_regex` with Go's syntax) never panics either.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sops_core::config::parse_config;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = parse_config(Path::new("/repo/.sops.yaml"), data) else {
        return;
    };
    for target in [
        "/repo/secrets/prod.yaml",
        "/repo/dev.env",
        "/elsewhere/x.json",
        "/repo/a b/ü.ini",
    ] {
        if let Ok(Some(rule)) = config.rule_for(Path::new(target)) {
            assert!(rule.key_groups.iter().all(|g| g.len() < 1 << 20));
        }
    }
});
