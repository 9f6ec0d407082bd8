//! `sops edit FILE` and bare `sops FILE`: decrypt into a private temporary
//! file, run the editor, re-encrypt what was saved with the same data key
//! (unchanged values keep their ciphertext) and replace the file atomically.
//!
//! The plaintext lives in a fresh 0700 directory (file 0600) that is removed
//! on every way out: success, errors, invalid content, panics (drop), and
//! SIGTERM/SIGHUP/SIGINT (a signal thread stops the editor and removes it).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sha2::{Digest, Sha256};
use sops_core::metadata::{Metadata, SOPS_VERSION};
use sops_core::ops::{DecryptOptions, DecryptedFile};
use sops_core::stores::{Format, Store};
use zeroize::Zeroizing;

use crate::commands::encrypt::{ALREADY_ENCRYPTED, EncryptRequest, creation_rule, new_file_keys};
use crate::commands::{self, Destination, private_dir_builder};
use crate::exit_code::{self as code, CliError, Stage, library_error, store_error};
use crate::progress::Stages;

/// What `edit` works on.
pub struct EditRequest<'a> {
    /// Key flags, rules, types and config of a new file (as encrypt).
    pub encrypt: EncryptRequest<'a>,
    pub ignore_mac: bool,
    pub show_master_keys: bool,
    /// As given (checked by [`commands::decryption_order`]).
    pub decryption_order: &'a [String],
}

pub fn run(req: EditRequest<'_>) -> Result<(), CliError> {
    let Some(file) = req.encrypt.file else {
        return Err(CliError::new(
            code::NO_FILE_SPECIFIED,
            "Error: no file specified",
        ));
    };
    // sops checks it before it looks at the file (even a new one).
    let decryption_order = commands::decryption_order(req.decryption_order)?;
    let path = commands::absolute(file);
    let io = req.encrypt.io;
    let (in_format, out_format) = commands::formats(&io.types, Some(&path));
    let config = commands::load_config(req.encrypt.config)?;
    let in_store = commands::store_for_config(in_format, req.encrypt.indent, config.as_ref())?;
    let out_store = commands::store_for_config(out_format, req.encrypt.indent, config.as_ref())?;
    let ctx = commands::key_context();

    let existing = path.exists();
    // The existing file's size: a large one shows its stages.
    let mut size = 0;
    let mut plain = if existing {
        let opts = DecryptOptions {
            ignore_mac: req.ignore_mac,
            decryption_order,
        };
        open_existing(&path, in_store.as_ref(), in_format, &opts, &ctx, &mut size)?
    } else {
        let rule = creation_rule(config.as_ref(), &path)?;
        let (groups, opts) = new_file_keys(&req.encrypt, rule, in_format)?;
        let mut plain = DecryptedFile::create(Vec::new(), &groups, &ctx, &opts).map_err(|e| {
            CliError::new(
                code::COULD_NOT_RETRIEVE_KEY,
                format!("Error encrypting the data key with one or more master keys: [{e}]"),
            )
        })?;
        plain.replace_docs(
            in_store
                .load(example_document(in_format))
                .map_err(|e| store_error(Stage::LoadPlain, &e))?,
        );
        plain
    };

    let initial = Zeroizing::new(
        if req.show_master_keys {
            out_store.emit_encrypted(plain.docs(), plain.metadata())
        } else {
            out_store.emit_plain(plain.docs())
        }
        .map_err(|e| store_error(Stage::Emit, &e))?,
    );

    let scratch = Scratch::create(&path)?;
    scratch.write(&initial)?;
    let original_hash = Sha256::digest(&initial[..]);
    drop(initial);
    let editor = editor_command()?;
    loop {
        scratch.run_editor(&editor)?;
        let edited = scratch.read()?;
        if Sha256::digest(&edited[..]) == original_hash {
            return Err(CliError::new(
                code::FILE_HAS_NOT_BEEN_MODIFIED,
                "File has not changed, exiting.",
            ));
        }
        // The edited documents are plaintext: wiped if they are not kept.
        let parsed = if req.show_master_keys {
            in_store
                .load_encrypted(&edited)
                .map(|(d, m)| (Zeroizing::new(d), Some(m)))
        } else {
            match in_store.load(&edited) {
                // An emptied YAML file: no document, refused below as 3.13 does.
                Err(sops_core::stores::StoreError::Empty) => Ok(Vec::new()),
                other => other,
            }
            .map(|d| (Zeroizing::new(d), None))
        };
        let (mut docs, meta) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => {
                wait_for_key(&format!(
                    "Could not load tree, probably due to invalid syntax. {PRESS_ENTER} ({e})"
                ))?;
                continue;
            }
        };
        // sops 3.13 (#2098) checks what is about to be encrypted: at least
        // one document, and no top-level key that is the metadata's.
        if meta.is_none() {
            let refusal = if docs.is_empty() {
                Some(NEED_AT_LEAST_ONE_DOCUMENT)
            } else if out_store.looks_encrypted(&docs) {
                Some(ALREADY_ENCRYPTED)
            } else {
                None
            };
            if let Some(refusal) = refusal {
                wait_for_key(&format!(
                    "Tree not valid for encryption. {PRESS_ENTER} ({refusal})"
                ))?;
                continue;
            }
        }
        if meta.as_ref().is_some_and(|m| m.all_keys().next().is_none()) {
            wait_for_key(&format!(
                "No master keys were provided, so sops can't encrypt the file. {PRESS_ENTER}"
            ))?;
            continue;
        }
        plain.replace_docs(std::mem::take(&mut *docs));
        if let Some(mut meta) = meta {
            // The edited metadata replaces the file's, but the data
            // key stays the one already recovered.
            meta.mac = plain.metadata().mac.clone();
            *plain.metadata_mut() = meta;
        }
        break;
    }
    drop(scratch);
    let stages = Stages::for_input("edit", Some(&path), size);
    stages.stage("encrypting");
    bump_version(plain.metadata_mut())?;
    let encrypted = plain.encrypt().map_err(|e| library_error(e, in_format))?;
    stages.stage("writing");
    let output = commands::emit_encrypted(&encrypted, out_store.as_ref())?;
    commands::write_output(&Destination::InPlace(path), &output)
}

/// Decrypts the file being edited, remembering the IVs of its values.
fn open_existing(
    path: &Path,
    store: &dyn Store,
    format: Format,
    opts: &DecryptOptions,
    ctx: &sops_core::keys::KeyContext,
    size: &mut usize,
) -> Result<DecryptedFile, CliError> {
    let input = commands::read_input(Some(path))?;
    *size = input.bytes.len();
    let stages = Stages::for_input("edit", Some(path), *size);
    stages.stage("parsing");
    let encrypted = commands::open_encrypted(store, &input.bytes, path)?;
    drop(input);
    stages.stage("decrypting");
    encrypted
        .decrypt(ctx, opts)
        .map_err(|e| library_error(e, format))
}

/// sops' example documents for a new file.
fn example_document(format: Format) -> &'static [u8] {
    match format {
        Format::Yaml => b"hello: Welcome to SOPS! Edit this file as you please!\nexample_key: example_value\n# Example comment\nexample_array:\n    - example_value1\n    - example_value2\nexample_number: 1234.56789\nexample_booleans:\n    - true\n    - false\n",
        Format::Json => b"{\n\t\"hello\": \"Welcome to SOPS! Edit this file as you please!\",\n\t\"example_key\": \"example_value\",\n\t\"example_array\": [\n\t\t\"example_value1\",\n\t\t\"example_value2\"\n\t],\n\t\"example_number\": 1234.56789,\n\t\"example_booleans\": [\n\t\ttrue,\n\t\tfalse\n\t]\n}\n",
        Format::Dotenv => b"# This is an example file.\nhello=Welcome to SOPS! Edit this file as you please!\nexample_key=example_value\nexample_multiline=foo\\nbar\\nbaz\n",
        Format::Ini => b"; This is an example file.\n[Welcome!]\nhello       = Welcome to SOPS! Edit this file as you please!\nexample_key = example_value\n",
        Format::Binary => b"Welcome to SOPS! Edit this file as you please!",
    }
}

/// `edit` bumps the file's version to ours when ours is newer.
fn bump_version(meta: &mut Metadata) -> Result<(), CliError> {
    let parse = |v: &str| -> Option<(u64, u64, u64)> {
        let v = v.strip_prefix('v').unwrap_or(v);
        let core = v.split(['-', '+']).next()?;
        let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
        Some((it.next()??, it.next()??, it.next()??))
    };
    let ours = parse(SOPS_VERSION).unwrap_or((3, 11, 0));
    match parse(&meta.version) {
        Some(theirs) if theirs < ours => meta.version = SOPS_VERSION.to_owned(),
        Some(_) => {}
        None => {
            return Err(CliError::new(
                code::FAILED_TO_COMPARE_VERSIONS,
                format!(
                    "Failed to compare document version \"{}\" with program version \"{SOPS_VERSION}\": invalid version",
                    meta.version
                ),
            ));
        }
    }
    Ok(())
}

/// The end of every "go back to the editor" message (3.13's wording; 3.11
/// said "Press a key", but a terminal in line mode needs enter).
const PRESS_ENTER: &str = "Press enter to return to the editor, or Ctrl+C to exit.";

/// sops' text for a file without any document.
const NEED_AT_LEAST_ONE_DOCUMENT: &str =
    "File cannot be completely empty, it must contain at least one document";

/// Prints a message and waits for one byte on stdin. sops 3.11 goes on
/// when stdin is closed, which loops forever without a terminal; we stop
/// instead (the file is left as it was).
fn wait_for_key(message: &str) -> Result<(), CliError> {
    eprintln!("{message}");
    let mut byte = [0u8; 1];
    match std::io::stdin().read(&mut byte) {
        Ok(1) => Ok(()),
        _ => Err(CliError::new(
            code::ERROR_GENERIC,
            "stdin is closed, so the editor cannot be reopened; the file was not changed",
        )),
    }
}

/// The editor: SOPS_EDITOR, else EDITOR (split shell-style, no shell), else
/// the first of vim, nano, vi found on PATH.
fn editor_command() -> Result<Vec<String>, CliError> {
    for var in ["SOPS_EDITOR", "EDITOR"] {
        if let Some(value) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
            let words = sops_core::shlex::split(&value).map_err(|_| {
                CliError::new(
                    code::NO_EDITOR_FOUND,
                    format!("Could not run editor: invalid ${var}: {value}"),
                )
            })?;
            if words.is_empty() {
                return Err(CliError::new(
                    code::NO_EDITOR_FOUND,
                    format!("Could not run editor: invalid ${var}: {value}"),
                ));
            }
            return Ok(words);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for candidate in ["vim", "nano", "vi"] {
        if std::env::split_paths(&path)
            .any(|dir| dir.is_absolute() && dir.join(candidate).is_file())
        {
            return Ok(vec![candidate.to_owned()]);
        }
    }
    Err(CliError::new(
        code::NO_EDITOR_FOUND,
        "Could not run editor: no editor available: sops attempts to use the editor defined in the SOPS_EDITOR or EDITOR environment variables, and if that's not set defaults to any of vim, nano, vi, but none of them could be found",
    ))
}

/// `Scratch::editor_pid` once a signal has cancelled the edit.
const CANCELLED: u32 = u32::MAX;

/// Blocks the main thread while the signal thread ends the process, so that
/// the editor's death is not reported as an error of its own.
fn wait_for_exit() -> ! {
    loop {
        std::thread::park();
    }
}

/// The private directory and file holding the plaintext while editing.
struct Scratch {
    dir: Option<tempfile::TempDir>,
    file: PathBuf,
    editor_pid: Arc<AtomicU32>,
}

impl Scratch {
    fn create(edited: &Path) -> Result<Self, CliError> {
        let fail = |e: std::io::Error| {
            CliError::new(
                code::COULD_NOT_WRITE_OUTPUT_FILE,
                format!("Could not create temporary file: {e}"),
            )
        };
        let dir = private_dir_builder("sops").tempdir().map_err(fail)?;
        let name = edited
            .file_name()
            .map_or_else(|| "tmp-file".into(), |n| n.to_os_string());
        let file = dir.path().join(name);
        let editor_pid = Arc::new(AtomicU32::new(0));
        install_signal_cleanup(dir.path().to_path_buf(), Arc::clone(&editor_pid));
        Ok(Self {
            dir: Some(dir),
            file,
            editor_pid,
        })
    }

    fn write(&self, bytes: &[u8]) -> Result<(), CliError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&self.file).map_err(|e| {
            CliError::new(
                code::COULD_NOT_WRITE_OUTPUT_FILE,
                format!("Could not write temporary file: {e}"),
            )
        })?;
        std::io::Write::write_all(&mut f, bytes).map_err(|e| {
            CliError::new(
                code::COULD_NOT_WRITE_OUTPUT_FILE,
                format!("Could not write temporary file: {e}"),
            )
        })
    }

    fn read(&self) -> Result<Zeroizing<Vec<u8>>, CliError> {
        std::fs::read(&self.file).map(Zeroizing::new).map_err(|e| {
            CliError::new(
                code::COULD_NOT_READ_INPUT_FILE,
                format!("Could not read temporary file: {e}"),
            )
        })
    }

    fn run_editor(&self, editor: &[String]) -> Result<(), CliError> {
        let mut child = Command::new(&editor[0])
            .args(&editor[1..])
            .arg(&self.file)
            .spawn()
            .map_err(|e| {
                CliError::new(code::NO_EDITOR_FOUND, format!("Could not run editor: {e}"))
            })?;
        if self
            .editor_pid
            .compare_exchange(0, child.id(), Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            let _ = child.kill();
            wait_for_exit();
        }
        let status = child.wait();
        if self.editor_pid.swap(0, Ordering::SeqCst) == CANCELLED {
            // The signal thread stopped the editor and ends the process.
            wait_for_exit();
        }
        let status = status.map_err(|e| {
            CliError::new(code::NO_EDITOR_FOUND, format!("Could not run editor: {e}"))
        })?;
        if status.success() {
            Ok(())
        } else {
            let reason = status.code().map_or_else(
                || "signal: killed".to_owned(),
                |c| format!("exit status {c}"),
            );
            Err(CliError::new(
                code::NO_EDITOR_FOUND,
                format!("Could not run editor: {reason}"),
            ))
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

/// On SIGINT, SIGTERM or SIGHUP: stop the editor, remove the plaintext
/// directory and exit 1 with 3.13's "User canceled operation" (#2104). A
/// terminal editor puts the terminal in raw mode, so Ctrl+C typed there is a
/// key for the editor, not a SIGINT; a SIGINT that reaches sops means stop.
#[cfg(unix)]
fn install_signal_cleanup(dir: PathBuf, editor_pid: Arc<AtomicU32>) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT]) else {
        return;
    };
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let pid = editor_pid.swap(CANCELLED, Ordering::SeqCst);
            let _ = std::fs::remove_dir_all(&dir);
            if pid != 0
                && let Some(pid) = rustix::process::Pid::from_raw(pid as i32)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            eprintln!("User canceled operation");
            std::process::exit(code::ERROR_GENERIC.into());
        }
    });
}

#[cfg(not(unix))]
fn install_signal_cleanup(_dir: PathBuf, _editor_pid: Arc<AtomicU32>) {}
