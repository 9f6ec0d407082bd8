//! `sops publish FILE|DIR` (sops-cli.md §1.3, §8.5): each file goes where
//! its `destination_rules` entry says. S3 and GCS get the encrypted file,
//! re-encrypted in memory for the rule's `recreation_rule` keys when it has
//! any; Vault KV gets the decrypted top-level values. Plaintext never
//! touches the disk.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use sops_core::config::{Config, Destination, DestinationRule};
use sops_core::keys::{KeyContext, MasterKey};
use sops_core::metadata::PartialRule;
use sops_core::ops::{DecryptOptions, DecryptedFile, EncryptOptions};
use sops_core::publish::{PublishEnv, publisher_for};
use sops_core::stores::Format;

use crate::cli::PublishArgs;
use crate::commands;
use crate::exit_code::{self as code, CliError, library_error};

/// What every file of one run shares.
struct Run<'a> {
    args: &'a PublishArgs,
    config_path: PathBuf,
    /// Loaded at the first file (sops reads it there, so a missing
    /// `--config` file is reported after the path is checked).
    config: Option<Config>,
    /// The path as given (the base of `--recursive` destination names).
    root: String,
    decryption_order: Vec<String>,
    verbose: bool,
    ctx: KeyContext,
    env: PublishEnv,
}

pub fn run(args: &PublishArgs, config_flag: Option<&Path>, verbose: bool) -> Result<(), CliError> {
    // sops looks for the config before it looks at its arguments.
    let config_path = match config_flag {
        Some(path) => path.to_path_buf(),
        None => std::env::current_dir()
            .ok()
            .and_then(|d| sops_core::config::find_config(&d))
            .ok_or_else(|| CliError::new(code::ERROR_GENERIC, "config file not found"))?,
    };
    let Some(file) = &args.file else {
        return Err(CliError::new(
            code::NO_FILE_SPECIFIED,
            "Error: no file specified",
        ));
    };
    let given = file.to_string_lossy().into_owned();
    let meta = std::fs::metadata(file).map_err(|e| {
        CliError::new(
            code::ERROR_GENERIC,
            format!("stat {given}: {}", go_os_error(&e)),
        )
    })?;
    if meta.is_dir() && !args.recursive {
        return Err(CliError::new(
            code::ERROR_GENERIC,
            "can't operate on a directory without --recursive flag.",
        ));
    }
    let decryption_order = commands::decryption_order(&args.order.decryption_order)?;
    let mut run = Run {
        args,
        config_path,
        config: None,
        root: given.clone(),
        decryption_order,
        verbose,
        ctx: commands::key_context(),
        env: PublishEnv::from_process_env(),
    };
    let mut files = Vec::new();
    walk(&given, &mut files)?;
    for path in files {
        run.publish_one(&path)?;
    }
    Ok(())
}

/// The files under `path` (itself, if it is not a directory) in the order
/// of Go's `filepath.Walk`: names sorted, depth first, symbolic links not
/// followed into directories. Children are named `clean(dir/name)`; the
/// root keeps its spelling.
fn walk(path: &str, out: &mut Vec<String>) -> Result<(), CliError> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| {
        CliError::new(
            code::ERROR_GENERIC,
            format!("lstat {path}: {}", go_os_error(&e)),
        )
    })?;
    if !meta.is_dir() {
        out.push(path.to_owned());
        return Ok(());
    }
    let entries = std::fs::read_dir(path).map_err(|e| {
        CliError::new(
            code::ERROR_GENERIC,
            format!("open {path}: {}", go_os_error(&e)),
        )
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        walk(&go_clean(&format!("{path}/{name}")), out)?;
    }
    Ok(())
}

impl Run<'_> {
    fn config(&mut self) -> Result<&Config, CliError> {
        if self.config.is_none() {
            let loaded = sops_core::config::load_config(&self.config_path).map_err(|e| {
                CliError::new(code::ERROR_GENERIC, sops_core::error::chain(&e).to_string())
            })?;
            self.config = Some(loaded);
        }
        Ok(self.config.as_ref().expect("loaded above"))
    }

    fn publish_one(&mut self, input: &str) -> Result<(), CliError> {
        let abs = go_clean(&commands::absolute(Path::new(input)).to_string_lossy());
        let config_error =
            |e: sops_core::config::ConfigError| CliError::new(code::ERROR_GENERIC, e.to_string());
        let (rule, destination) = self
            .config()?
            .destination_for(input)
            .map_err(config_error)?;
        let rule: DestinationRule = rule.clone();
        // sops builds the recreation rule's keys with the config, before
        // it reads the file: a bad key fails here.
        let groups = commands::encrypt::rule_groups(&rule.recreation_rule, &[])?;
        let mut name = if self.args.recursive {
            go_rel(&self.root, input)
        } else {
            Path::new(&abs)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        if self.args.omit_extensions || rule.omit_extensions {
            // sops trims the extension of the file's path, whatever name
            // the destination gets (`.` for a file given with --recursive).
            if let Some(trimmed) = name.strip_suffix(go_ext(&abs)) {
                name = trimmed.to_owned();
            }
        }
        let format = Format::for_path(Path::new(input));
        let config = self.config()?.clone();
        let store = commands::store_for_config(format, None, Some(&config))?;
        let bytes = std::fs::read(input).map_err(|e| {
            CliError::new(
                code::COULD_NOT_READ_INPUT_FILE,
                format!("Error reading file: open {input}: {}", go_os_error(&e)),
            )
        })?;
        let encrypted = commands::open_encrypted(store.as_ref(), &bytes, Path::new(&abs))?;
        let opts = DecryptOptions {
            ignore_mac: false,
            decryption_order: self.decryption_order.clone(),
        };
        let vault = matches!(destination, Destination::VaultKv { .. });
        let reencrypt = !vault && groups.first().is_some_and(|g| !g.is_empty());
        let mut decrypted = None;
        let mut upload = bytes;
        if vault || reencrypt {
            let plain = encrypted
                .decrypt(&self.ctx, &opts)
                .map_err(|e| library_error(e, format))?;
            if reencrypt {
                if self.verbose {
                    eprintln!("Re-encrypting tree before publishing");
                }
                print_key_changes(&plain, &groups);
                upload = self.reencrypt(plain, &groups, &rule, format, store.as_ref())?;
            } else {
                decrypted = Some(plain);
            }
        }
        let shown = destination.display(&name, self.env.vault_address(""));
        if !self.args.yes && !confirm(&abs, &shown)? {
            let message = format!("Publication of {abs} canceled");
            if self.args.recursive {
                println!("{message}");
                return Ok(());
            }
            return Err(CliError::new(code::ERROR_GENERIC, message));
        }
        let publisher = publisher_for(&destination, &self.env, &self.ctx);
        let published = match &decrypted {
            Some(plain) => publisher.upload_decrypted(plain.docs(), &name),
            None => publisher.upload(&upload, &name),
        };
        published.map_err(|e| CliError::new(code::ERROR_GENERIC, e.to_string()))?;
        if self.verbose {
            eprintln!("Published {abs} to {shown}");
        }
        Ok(())
    }

    /// The file's values under a new data key for the recreation rule's
    /// keys, emitted in memory. sops 3.11 keeps only the rule's key groups,
    /// Shamir threshold and unencrypted/encrypted suffix; with no suffix it
    /// writes a file that names none and encrypts every value, which it
    /// then reads with the default `_unencrypted` suffix (a value whose key
    /// ends in it no longer decrypts). We record that default instead, so
    /// the published file always decrypts, with sops too.
    fn reencrypt(
        &self,
        mut plain: DecryptedFile,
        groups: &[Vec<Box<dyn MasterKey>>],
        rule: &DestinationRule,
        format: Format,
        store: &dyn sops_core::Store,
    ) -> Result<Vec<u8>, CliError> {
        let docs = std::mem::take(plain.docs_mut());
        drop(plain);
        let partial = match &rule.recreation_rule.rule {
            Some(r @ (PartialRule::UnencryptedSuffix(_) | PartialRule::EncryptedSuffix(_))) => {
                Some(r.clone())
            }
            _ => None,
        };
        let opts = EncryptOptions {
            rule: if format == Format::Binary {
                None
            } else {
                partial
            },
            mac_only_encrypted: false,
            shamir_threshold: rule.recreation_rule.shamir_threshold,
        };
        let fresh = DecryptedFile::create(docs, groups, &self.ctx, &opts)
            .map_err(|e| library_error(e, format))?;
        let encrypted = fresh.encrypt().map_err(|e| library_error(e, format))?;
        encrypted.emit(store).map_err(|e| {
            CliError::new(
                code::ERROR_DUMPING_TREE,
                format!("Could not marshal tree: {}", sops_core::error::chain(&e)),
            )
        })
    }
}

/// sops' listing of the key changes a re-encryption makes (nothing when
/// the keys stay the same): per group, kept keys in the new order, then
/// added ones, then removed ones.
fn print_key_changes(plain: &DecryptedFile, groups: &[Vec<Box<dyn MasterKey>>]) {
    let old: Vec<Vec<String>> = plain
        .metadata()
        .key_groups
        .iter()
        .map(|g| g.0.iter().map(|e| e.identifier()).collect())
        .collect();
    let new: Vec<Vec<String>> = groups
        .iter()
        .map(|g| g.iter().map(|k| k.identifier()).collect())
        .collect();
    let empty = Vec::new();
    let diffs: Vec<(Vec<&String>, Vec<&String>, Vec<&String>)> = (0..old.len().max(new.len()))
        .map(|i| {
            let (o, n) = (old.get(i).unwrap_or(&empty), new.get(i).unwrap_or(&empty));
            (
                n.iter().filter(|k| o.contains(k)).collect(),
                n.iter().filter(|k| !o.contains(k)).collect(),
                o.iter().filter(|k| !n.contains(k)).collect(),
            )
        })
        .collect();
    if diffs
        .iter()
        .all(|(_, added, removed)| added.is_empty() && removed.is_empty())
    {
        return;
    }
    println!("The following changes will be made to the file's key groups:");
    for (i, (common, added, removed)) in diffs.iter().enumerate() {
        println!("Group {}", i + 1);
        for k in common {
            println!("    {k}");
        }
        for k in added {
            println!("+++ {k}");
        }
        for k in removed {
            println!("--- {k}");
        }
    }
}

/// `uploading ABS to DEST ? (y/n): ` until the answer is `y` or `n`, read
/// as Go's `fmt.Scanln` reads one word: an empty line, several words or
/// the end of the input end the run with its error text.
fn confirm(abs: &str, destination: &str) -> Result<bool, CliError> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock();
    loop {
        print!("uploading {abs} to {destination} ? (y/n): ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let read = lines
            .read_line(&mut line)
            .map_err(|e| CliError::new(code::ERROR_GENERIC, e.to_string()))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match (read, words.as_slice()) {
            (0, _) | (_, []) if !line.ends_with('\n') => {
                return Err(CliError::new(code::ERROR_GENERIC, "EOF"));
            }
            (_, []) => return Err(CliError::new(code::ERROR_GENERIC, "unexpected newline")),
            (_, [_, _, ..]) => {
                return Err(CliError::new(code::ERROR_GENERIC, "expected newline"));
            }
            (_, ["y"]) => return Ok(true),
            (_, ["n"]) => return Ok(false),
            _ => {}
        }
    }
}

/// Go's wording of the OS errors met here.
fn go_os_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::NotADirectory => "not a directory".into(),
        _ => e.to_string(),
    }
}

/// Go's `filepath.Clean` (lexical: `.`, `..` and repeated slashes).
fn go_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Rel` for two paths of the same kind (both relative or
/// both absolute, as a walk from `base` gives): `target` relative to `base`.
fn go_rel(base: &str, target: &str) -> String {
    let (base, target) = (go_clean(base), go_clean(target));
    if base == target {
        return ".".to_owned();
    }
    let split = |p: &str| -> Vec<String> {
        if p == "." {
            Vec::new()
        } else {
            p.trim_start_matches('/')
                .split('/')
                .map(str::to_owned)
                .collect()
        }
    };
    let (b, t) = (split(&base), split(&target));
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); b.len() - common];
    parts.extend(t[common..].iter().cloned());
    parts.join("/")
}

/// Go's `filepath.Ext`: from the last `.` of the last element, or "".
fn go_ext(path: &str) -> &str {
    let last = path.rsplit('/').next().unwrap_or(path);
    last.rfind('.').map_or("", |i| &last[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_go() {
        assert_eq!(go_clean("./re/"), "re");
        assert_eq!(go_clean("re//sub/../a.yaml"), "re/a.yaml");
        assert_eq!(go_clean("/a/./b/../../.."), "/");
        assert_eq!(go_clean("../x"), "../x");
        assert_eq!(go_rel("re/", "re/sub/b.yaml"), "sub/b.yaml");
        assert_eq!(go_rel("./re", "re/a.yaml"), "a.yaml");
        assert_eq!(go_rel("f.yaml", "f.yaml"), ".");
        assert_eq!(go_rel(".", "a/b"), "a/b");
        assert_eq!(go_ext("/t/f.enc.yaml"), ".yaml");
        assert_eq!(go_ext("/t.d/f"), "");
    }
}
