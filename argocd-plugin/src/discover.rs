//! `discover`: does this app contain sops files? For plugin.yaml's
//! `discover.find.command`, where a match is exit 0 *and* non-empty stdout.
//!
//! Walks the app subtree only (skipping hidden entries and symlinks that
//! leave the repository), reads at most 64 KiB of each candidate (head and
//! tail: the metadata usually sits at the end), and prints the
//! repo-relative paths of up to 10 sops files. No match: no output, exit 0.
//! It never decrypts and never needs keys.

use std::path::Path;
use std::time::Instant;

use sops_core::cipher::contains_encrypted_value;
use sops_core::stores::{Format, looks_like_sops_file};

use crate::error::Failure;
use crate::settings::{Env, Settings};
use crate::stores::store_for;
use crate::walk::{self, Roots, Select};

const HEAD: u64 = 32 * 1024;
const TAIL: u64 = 32 * 1024;
const MAX_MATCHES: usize = 10;

pub fn run(env: &Env, cwd: &Path, deadline: Instant, op: &Settings) -> Result<Vec<u8>, Failure> {
    let roots = Roots::derive(cwd, env.get("ARGOCD_APP_SOURCE_PATH"))?;
    let wanted = |rel: &str| is_candidate(rel);
    let sel = Select {
        recurse: true,
        wanted: &wanted,
        skip_hidden: true,
        max_matches: None,
        escape_is_error: false,
    };
    let entries = walk::collect(&roots, &sel, &op.limits, deadline)?;
    let mut out = Vec::new();
    let mut found = 0;
    for entry in entries {
        walk::check_deadline(deadline, &op.limits, "discovering sops files")?;
        let Ok(bytes) = walk::read_head_tail(&entry.real, HEAD, TAIL) else {
            continue;
        };
        // A small file was read whole: confirm with a real metadata parse,
        // which also finds a MAC the pre-check does not know (an escaped
        // key, a tag) in a file with ENC[…] values.
        let whole = std::fs::metadata(&entry.real).is_ok_and(|m| m.len() <= HEAD + TAIL);
        let format = Format::for_path(Path::new(&entry.rel));
        let parse = whole && matches!(format, Format::Yaml | Format::Json);
        let candidate = looks_like_sops_file(&bytes) || (parse && contains_encrypted_value(&bytes));
        if !candidate {
            continue;
        }
        if parse {
            let parsed = store_for(format, &op.limits)
                .ok()
                .and_then(|s| s.load_encrypted(&bytes).ok());
            if parsed.is_none() {
                continue;
            }
        }
        out.extend_from_slice(entry.shown.as_bytes());
        out.push(b'\n');
        found += 1;
        if found >= MAX_MATCHES {
            break;
        }
    }
    Ok(out)
}

fn is_candidate(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    [".yaml", ".yml", ".json", ".env", ".ini", ".enc"]
        .iter()
        .any(|ext| name.ends_with(ext))
        || name.contains(".sops.")
        || name.contains(".enc.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_and_markers() {
        assert!(is_candidate("a/secret.yaml"));
        assert!(is_candidate("creds.sops.txt"));
        assert!(!is_candidate("README.md"));
        assert!(looks_like_sops_file(
            b"sops:\n    mac: ENC[AES256_GCM,data:x]\n"
        ));
        assert!(looks_like_sops_file(b"{\"sops\": {\"mac\": \"ENC[AES"));
        assert!(!looks_like_sops_file(b"mac: plain\n"));
    }
}
