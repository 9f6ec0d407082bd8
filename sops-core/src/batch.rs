//! Many files at once (`updatekeys`/`rotate` over paths and directories,
//! the pre-commit check): which files a list of paths names, and whether a
//! file carries a valid-looking `sops` block. Nothing here decrypts.
//!
//! Inside a directory a file is taken when a creation rule of the config
//! covers it ([`Config::rule_for`], the one lookup `encrypt` uses too). A
//! file named explicitly is always taken. Symbolic links met inside a
//! directory are not followed, neither to directories (a link to an
//! ancestor would loop, a link out of the tree reaches what was not asked
//! for) nor to files (the target is either in the tree already, and would
//! be worked on twice, or outside it); a link named explicitly is taken.
//! `.git` directories are not entered.

use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError};
use crate::stores::{Format, Store, StoreError};

/// A file to work on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Absolute.
    pub path: PathBuf,
    /// Named on the command line (not found by walking a directory): such
    /// a file is worked on even when no rule covers it or it is not
    /// encrypted, and fails as it would alone.
    pub explicit: bool,
}

/// Why a path met while walking a directory was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Skipped {
    /// A symbolic link (not followed inside directories).
    Symlink,
    /// A directory that could not be read.
    Unreadable,
}

/// The files named by a list of paths, in the order given (a directory's
/// files sorted by name), each once.
#[derive(Debug, Default)]
pub struct Selection {
    pub files: Vec<Candidate>,
    /// Paths left out while walking, with the reason, in walk order.
    pub skipped: Vec<(PathBuf, Skipped)>,
}

/// Which rules count as covering a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// The rule `encrypt` would use, a rule without `path_regex` included
    /// (`updatekeys`/`rotate`: such a rule applies to every encrypted file).
    AnyRule,
    /// Only a rule with a `path_regex`: a catch-all rule is a default for
    /// `encrypt`, not a statement that every file must be encrypted (the
    /// check would otherwise demand it of every README).
    PathRegex,
}

/// Does a rule of `config` cover `path` (absolute)? The config file itself
/// is never covered.
pub fn covered(config: &Config, path: &Path, coverage: Coverage) -> Result<bool, ConfigError> {
    if std::path::absolute(&config.path).is_ok_and(|c| c == path) {
        return Ok(false);
    }
    match config.rule_for(path) {
        Ok(Some(rule)) => Ok(coverage == Coverage::AnyRule || rule.path_regex.is_some()),
        Ok(None) | Err(ConfigError::NoMatchingRule) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The files `paths` name: a file as given, a directory walked recursively
/// for the files a rule covers (none without a config). Paths are made
/// absolute; a path that does not exist is kept as an explicit file, so
/// that the command reports it as it would alone.
pub fn select_files(
    paths: &[PathBuf],
    config: Option<&Config>,
    coverage: Coverage,
) -> Result<Selection, ConfigError> {
    let mut out = Selection::default();
    let mut seen = std::collections::HashSet::new();
    for given in paths {
        let path = std::path::absolute(given).unwrap_or_else(|_| given.clone());
        if path.is_dir() {
            walk(&path, config, coverage, &mut out, &mut seen)?;
        } else if seen.insert(path.clone()) {
            out.files.push(Candidate {
                path,
                explicit: true,
            });
        }
    }
    Ok(out)
}

fn walk(
    dir: &Path,
    config: Option<&Config>,
    coverage: Coverage,
    out: &mut Selection,
    seen: &mut std::collections::HashSet<PathBuf>,
) -> Result<(), ConfigError> {
    let mut entries: Vec<std::fs::DirEntry> = match std::fs::read_dir(dir) {
        Ok(read) => read.filter_map(Result::ok).collect(),
        Err(_) => {
            out.skipped.push((dir.to_path_buf(), Skipped::Unreadable));
            return Ok(());
        }
    };
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        // `file_type` does not follow links.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            out.skipped.push((path, Skipped::Symlink));
        } else if kind.is_dir() {
            if entry.file_name() != ".git" {
                walk(&path, config, coverage, out, seen)?;
            }
        } else if kind.is_file()
            && let Some(config) = config
            && covered(config, &path, coverage)?
            && seen.insert(path.clone())
        {
            out.files.push(Candidate {
                path,
                explicit: false,
            });
        }
    }
    Ok(())
}

/// What the check finds in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockState {
    /// Parses, and its `sops` block has a version, a MAC and at least one
    /// master key.
    Valid,
    /// No `sops` block: a plaintext file.
    NotEncrypted,
    /// A `sops` block that cannot be right; the reason names what is
    /// missing or the format, never content of the file.
    Invalid(String),
    /// The file could not be read (the OS error).
    Unreadable(String),
}

/// The path of the first value that the file's partial-encryption rule
/// says is encrypted but is not (a value added by hand after encryption).
/// Empty strings are stored as they are; comments are not looked at (sops
/// keeps one it cannot decrypt in the clear).
fn first_clear_value(docs: &mut [crate::Branch], meta: &crate::Metadata) -> Option<String> {
    use crate::ops::walk::{Slot, leaves};
    use crate::tree::Value;
    let rules = crate::rules::Rules::new(&meta.effective_rule());
    let leaves = leaves(docs, &rules);
    leaves.leaves.iter().find_map(|leaf| {
        let clear = match &leaf.slot {
            Slot::Value(Value::Str(s)) => !s.is_empty() && !crate::cipher::is_encrypted(s),
            Slot::Value(Value::Comment(_)) | Slot::MapComment(_) => false,
            Slot::Value(_) => true,
        };
        (leaf.encrypted && clear).then(|| {
            let path = leaves.aad(leaf).trim_end_matches(':');
            if path.is_empty() {
                "the top level".to_owned()
            } else {
                format!("'{path}'")
            }
        })
    })
}

/// Looks at a file's bytes as `store`'s format, without any key.
pub fn block_state(store: &dyn Store, bytes: &[u8]) -> BlockState {
    match store.load_encrypted(bytes) {
        Ok((mut docs, meta)) => {
            if meta.version.is_empty() {
                BlockState::Invalid("the sops block has no version".into())
            } else if meta.mac.is_empty() {
                BlockState::Invalid("the sops block has no mac".into())
            } else if meta.all_keys().next().is_none() {
                BlockState::Invalid("the sops block has no master key".into())
            } else if let Some(path) = first_clear_value(&mut docs, &meta) {
                // Names the key (keys are in the clear in every sops file),
                // never the value.
                BlockState::Invalid(format!(
                    "the value at {path} should be encrypted but is in the clear"
                ))
            } else {
                BlockState::Valid
            }
        }
        Err(StoreError::MetadataNotFound) => BlockState::NotEncrypted,
        // A parser's message may quote the file: say only what failed.
        Err(_) => BlockState::Invalid(format!(
            "not a {} file with a valid sops block",
            store.format().name()
        )),
    }
}

/// The pre-commit check: every file of `paths` (directories walked) that a
/// creation rule with a `path_regex` covers, and what its bytes hold. A
/// file named explicitly that no rule covers is not listed: pre-commit
/// passes every staged file. `input_format` overrides the format the file
/// name gives.
pub fn check_files(
    paths: &[PathBuf],
    config: &Config,
    input_format: Option<Format>,
) -> Result<Vec<(PathBuf, BlockState)>, ConfigError> {
    let selection = select_files(paths, Some(config), Coverage::PathRegex)?;
    let mut out = Vec::new();
    for file in selection.files {
        if file.explicit && !covered(config, &file.path, Coverage::PathRegex)? {
            continue;
        }
        let format = input_format.unwrap_or_else(|| Format::for_path(&file.path));
        let state = match (std::fs::read(&file.path), format.store()) {
            (Err(e), _) => BlockState::Unreadable(e.kind().to_string()),
            (Ok(_), Err(e)) => BlockState::Invalid(e.to_string()),
            (Ok(bytes), Ok(store)) => block_state(store.as_ref(), &bytes),
        };
        out.push((file.path, state));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, text: &str) -> Config {
        let path = dir.join(".sops.yaml");
        std::fs::write(&path, text).unwrap();
        crate::config::load_config(&path).unwrap()
    }

    const AGE: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    #[test]
    fn walks_covered_files_sorted_skipping_links_and_git() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let cfg = config(
            root,
            &format!("creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {AGE}\n"),
        );
        std::fs::create_dir_all(root.join("secrets/sub")).unwrap();
        std::fs::create_dir_all(root.join("secrets/.git")).unwrap();
        for f in [
            "secrets/b.yaml",
            "secrets/a.yaml",
            "secrets/sub/c.yaml",
            "secrets/.git/x.yaml",
            "secrets/notes.txt",
            "other.yaml",
        ] {
            std::fs::write(root.join(f), "x: 1\n").unwrap();
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root, root.join("secrets/loop")).unwrap();
            std::os::unix::fs::symlink(root.join("secrets/a.yaml"), root.join("secrets/l.yaml"))
                .unwrap();
        }
        let sel = select_files(
            &[
                root.join("secrets"),
                root.join("secrets/a.yaml"),
                root.join("other.yaml"),
            ],
            Some(&cfg),
            Coverage::AnyRule,
        )
        .unwrap();
        let names: Vec<(String, bool)> = sel
            .files
            .iter()
            .map(|c| {
                let rel = c.path.strip_prefix(root).unwrap();
                (rel.to_string_lossy().into_owned(), c.explicit)
            })
            .collect();
        assert_eq!(
            names,
            [
                ("secrets/a.yaml".to_owned(), false),
                ("secrets/b.yaml".to_owned(), false),
                ("secrets/sub/c.yaml".to_owned(), false),
                ("other.yaml".to_owned(), true),
            ]
        );
        #[cfg(unix)]
        assert_eq!(
            sel.skipped,
            [
                (root.join("secrets/l.yaml"), Skipped::Symlink),
                (root.join("secrets/loop"), Skipped::Symlink),
            ]
        );
        // No config: a directory yields nothing.
        let sel = select_files(&[root.to_path_buf()], None, Coverage::AnyRule).unwrap();
        assert!(sel.files.is_empty());
    }

    #[test]
    fn a_catch_all_rule_covers_only_for_any_rule() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = config(tmp.path(), &format!("creation_rules:\n  - age: {AGE}\n"));
        let file = tmp.path().join("README.md");
        assert!(covered(&cfg, &file, Coverage::AnyRule).unwrap());
        assert!(!covered(&cfg, &file, Coverage::PathRegex).unwrap());
        assert!(!covered(&cfg, &tmp.path().join(".sops.yaml"), Coverage::AnyRule).unwrap());
    }

    #[test]
    fn block_states() {
        let store = crate::stores::Format::Yaml.store().unwrap();
        assert_eq!(
            block_state(store.as_ref(), b"a: secret\n"),
            BlockState::NotEncrypted
        );
        let bad = block_state(store.as_ref(), b"a: [secret\n");
        assert!(
            matches!(&bad, BlockState::Invalid(r) if !r.contains("secret")),
            "{bad:?}"
        );
        let no_mac = "a: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\nsops:\n    lastmodified: \"2024-01-01T00:00:00Z\"\n    version: 3.11.0\n";
        assert!(matches!(
            block_state(store.as_ref(), no_mac.as_bytes()),
            BlockState::Invalid(_)
        ));
    }

    #[test]
    fn a_clear_value_in_an_encrypted_file_is_invalid() {
        let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors");
        let store = crate::stores::Format::Yaml.store().unwrap();
        let mut checked = 0;
        for entry in std::fs::read_dir(&vectors).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".enc.yaml") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            // Files with a partial-encryption rule may hold clear values.
            let has_rule = text.contains("_regex:")
                || (text.contains("_suffix:")
                    && !text.contains("unencrypted_suffix: _unencrypted"));
            if has_rule || block_state(store.as_ref(), &bytes) != BlockState::Valid {
                continue;
            }
            checked += 1;
            let mut tampered = b"added_by_hand: plainvalue\n".to_vec();
            tampered.extend_from_slice(&bytes);
            let state = block_state(store.as_ref(), &tampered);
            assert!(
                matches!(&state, BlockState::Invalid(r) if r.contains("'added_by_hand'") && !r.contains("plainvalue")),
                "{name}: {state:?}"
            );
            // The default rule leaves `_unencrypted` keys in the clear.
            let mut allowed = b"kept_unencrypted: plainvalue\n".to_vec();
            allowed.extend_from_slice(&bytes);
            assert_eq!(
                block_state(store.as_ref(), &allowed),
                BlockState::Valid,
                "{name}"
            );
        }
        assert!(checked >= 3, "{checked}");
    }

    #[test]
    fn check_lists_only_covered_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let cfg = config(
            root,
            &format!(
                "creation_rules:\n  - path_regex: \\.enc\\.yaml$\n    age: {AGE}\n  - age: {AGE}\n"
            ),
        );
        std::fs::write(root.join("a.enc.yaml"), "a: secret\n").unwrap();
        std::fs::write(root.join("b.yaml"), "b: 1\n").unwrap();
        let got = check_files(
            &[
                root.join("b.yaml"),
                root.join("a.enc.yaml"),
                root.join("gone.enc.yaml"),
            ],
            &cfg,
            None,
        )
        .unwrap();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0], (root.join("a.enc.yaml"), BlockState::NotEncrypted));
        assert!(matches!(got[1].1, BlockState::Unreadable(_)), "{got:?}");
    }
}
