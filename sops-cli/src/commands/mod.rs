//! One module per command; this file holds what they share: reading the
//! input, choosing stores, writing the output.

pub mod age_keygen;
pub mod check;
pub mod decrypt;
pub mod doctor;
pub mod edit;
pub mod encrypt;
pub mod exec;
pub mod generated;
pub mod keys;
pub mod keyservice;
pub mod many;
pub mod merge_driver;
pub mod publish;
pub mod replace;
#[cfg(unix)]
pub mod run_as;
pub mod set;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sops_core::config::{self, Config};
use sops_core::error::{WriteStep, chain};
use sops_core::ops::{self, EncryptedFile};
use sops_core::stores::binary::BinaryStore;
use sops_core::stores::json::JsonStore;
use sops_core::stores::yaml::YamlStore;
use sops_core::stores::{Format, Store};
use zeroize::Zeroizing;

use crate::cli::{IoFlags, KeyServiceFlags};
use crate::exit_code::{self as code, CliError, Stage, library_error, store_error, store_error_in};

/// Makes a path absolute against the current directory (sops shows
/// absolute paths in its messages).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The input of encrypt/decrypt: a file, or stdin when no file is given.
pub struct Input {
    /// Absolute path of the file; `None` for stdin.
    pub path: Option<PathBuf>,
    /// May be plaintext (encrypt): wiped when dropped.
    pub bytes: Zeroizing<Vec<u8>>,
}

impl Input {
    /// Frees the bytes of a file that parsed as an encrypted sops file
    /// without wiping them: they are ciphertext, wrapped data keys and the
    /// values its rules leave in clear (in clear on disk as well), and
    /// wiping is a byte-by-byte volatile write (milliseconds for a large
    /// file, a few percent of its decryption).
    pub fn discard_encrypted(mut self) {
        drop(std::mem::take(&mut *self.bytes));
    }
}

/// Reads FILE, or stdin when there is none.
pub fn read_input(file: Option<&Path>) -> Result<Input, CliError> {
    match file {
        Some(file) => {
            let (path, mut opened) = open_input(file)?;
            let bytes =
                sops_core::stores::read_whole(&mut opened).map_err(|e| read_error(&path, &e))?;
            Ok(Input {
                path: Some(path),
                bytes,
            })
        }
        None => {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes).map_err(|e| {
                CliError::new(
                    code::COULD_NOT_READ_INPUT_FILE,
                    format!("Error reading from stdin: {e}"),
                )
            })?;
            Ok(Input {
                path: None,
                bytes: Zeroizing::new(bytes),
            })
        }
    }
}

/// Opens FILE for reading: its absolute path and the open file.
fn open_input(file: &Path) -> Result<(PathBuf, std::fs::File), CliError> {
    let path = absolute(file);
    if !path.exists() {
        return Err(CliError::new(
            code::NO_FILE_SPECIFIED,
            format!(
                "Error: cannot operate on non-existent file \"{}\"",
                path.display()
            ),
        )
        .with_hint(sops_core::error::io_hint(
            std::io::ErrorKind::NotFound,
            false,
        )));
    }
    let opened = std::fs::File::open(&path).map_err(|e| read_error(&path, &e))?;
    Ok((path, opened))
}

/// Reading FILE failed.
fn read_error(path: &Path, e: &std::io::Error) -> CliError {
    CliError::new(
        code::COULD_NOT_READ_INPUT_FILE,
        format!("Error reading file: {}: {e}", path.display()),
    )
    .with_hint(sops_core::error::io_hint(e.kind(), false))
}

/// The input of decrypt. A file stays open for the store to read: the YAML
/// store reads it piece by piece, so that a large file's encrypted text is
/// not held next to its tree. Stdin is read whole.
pub struct EncryptedInput {
    /// Absolute path of the file; `None` for stdin.
    pub path: Option<PathBuf>,
    /// Its size in bytes.
    pub len: u64,
    source: EncryptedSource,
}

enum EncryptedSource {
    File(std::fs::File),
    Stdin(Input),
}

impl EncryptedInput {
    /// Opens FILE, or reads stdin when there is none.
    pub fn open(file: Option<&Path>) -> Result<Self, CliError> {
        Ok(match file {
            Some(file) => {
                let (path, opened) = open_input(file)?;
                let len = opened.metadata().map_err(|e| read_error(&path, &e))?.len();
                Self {
                    path: Some(path),
                    len,
                    source: EncryptedSource::File(opened),
                }
            }
            None => {
                let input = read_input(None)?;
                Self {
                    path: None,
                    len: input.bytes.len() as u64,
                    source: EncryptedSource::Stdin(input),
                }
            }
        })
    }

    /// The file decrypted: a file through [`ops::decrypt_open_file`]
    /// (decrypted as it is read where the store can; with `as_text`, then
    /// already emitted by `store` as [`ops::decrypt_open_file_to_text`]
    /// does), stdin loaded whole, freed, then decrypted. `stages` shows
    /// what it waits on.
    pub fn decrypt(
        self,
        store: &dyn Store,
        ctx: &sops_core::keys::KeyContext,
        opts: &ops::DecryptOptions,
        stages: &crate::progress::Stages,
        as_text: bool,
    ) -> Result<ops::Plaintext, CliError> {
        let stage = Stage::LoadEncrypted(store.format());
        let path = self.path.as_deref();
        let shown = path.unwrap_or(Path::new(""));
        let decrypted = match self.source {
            EncryptedSource::File(mut file) => {
                // Reading, parsing and decrypting go together here.
                stages.stage("decrypting");
                if as_text {
                    ops::decrypt_open_file_to_text(store, &mut file, shown, ctx, opts)
                } else {
                    ops::decrypt_open_file(store, &mut file, shown, ctx, opts)
                        .map(ops::Plaintext::Docs)
                }
            }
            EncryptedSource::Stdin(input) => {
                stages.stage("parsing");
                let loaded = store.load_encrypted(&input.bytes);
                input.discard_encrypted();
                let (docs, metadata) = loaded.map_err(|e| store_error_in(stage, &e, path))?;
                stages.stage("decrypting");
                ops::decrypt_loaded(docs, metadata, ctx, opts).map(ops::Plaintext::Docs)
            }
        };
        decrypted.map_err(|e| match e {
            sops_core::error::Error::Io { source, .. } => read_error(shown, &source),
            sops_core::error::Error::Store { source, .. } => store_error_in(stage, &source, path),
            e => library_error(e, store.format()),
        })
    }
}

/// Wipes the plaintext of `decrypted` where it lies (every string, byte
/// buffer, comment, key and number) and leaves its memory to the process,
/// which is about to exit: freeing a large file's values one by one cost
/// about 5% of its decryption. Only for a command's last step.
pub fn wipe_before_exit(decrypted: ops::Decrypted) {
    use sops_core::tree::{Branch, Item, Value};
    use zeroize::Zeroize as _;
    fn branch(b: &mut Branch) {
        for item in &mut b.0 {
            match item {
                Item::Comment(c) => c.text.zeroize(),
                Item::Entry(k, v) => {
                    k.zeroize();
                    value(v);
                }
            }
        }
    }
    fn value(v: &mut Value) {
        match v {
            Value::Map(b) => branch(b),
            Value::Seq(items) => items.iter_mut().for_each(value),
            // Strings and buffers keep their memory (zeroed); scalars hold none.
            other => other.zeroize(),
        }
    }
    let mut docs = decrypted.into_docs();
    docs.iter_mut().for_each(branch);
    std::mem::forget(std::mem::take(&mut *docs));
}

/// The file name that decides formats: `--filename-override`, else FILE.
pub fn name_for_formats<'a>(io: &'a IoFlags, file: Option<&'a Path>) -> Option<&'a Path> {
    io.filename_override.as_deref().or(file)
}

/// A format from a `--input-type`/`--output-type` value, falling back to
/// the file name (an unknown type name falls back silently, as in sops).
/// The input and output formats: `--input-type`/`--output-type`, else the
/// extension of `name`.
pub fn formats(types: &crate::cli::TypeFlags, name: Option<&Path>) -> (Format, Format) {
    (
        select_format(types.input_type.as_deref(), name),
        select_format(types.output_type.as_deref(), name),
    )
}

pub fn select_format(type_flag: Option<&str>, name: Option<&Path>) -> Format {
    type_flag
        .and_then(Format::from_name)
        .unwrap_or_else(|| name.map_or(Format::Binary, Format::for_path))
}

/// The config file: `--config`/`SOPS_CONFIG` (must be readable), else the
/// first `.sops.yaml` found from the current directory upwards, else none.
pub fn load_config(explicit: Option<&Path>) -> Result<Option<Config>, CliError> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => std::env::current_dir()
            .ok()
            .and_then(|d| config::find_config(&d)),
    };
    path.map(|p| config::load_config(&p))
        .transpose()
        .map_err(|e| CliError::new(code::ERROR_GENERIC, chain(&e).to_string()).with_hint(e.hint()))
}

/// The store for a format; `indent` is the root form's `--indent`, which
/// wins over the config's `stores` section.
pub fn store_for_config(
    format: Format,
    indent: Option<i64>,
    config: Option<&Config>,
) -> Result<Box<dyn Store>, CliError> {
    let indent = indent.or_else(|| config.and_then(|c| c.stores.indent_for(format)));
    store_for(format, indent)
}

/// The store for a format with an explicit indentation.
fn store_for(format: Format, indent: Option<i64>) -> Result<Box<dyn Store>, CliError> {
    if let Some(n) = indent.filter(|n| *n < 0) {
        return Err(CliError::new(
            code::ERROR_GENERIC,
            format!("indent should be a non-negative number, got {n}"),
        ));
    }
    match (format, indent) {
        (Format::Yaml, Some(n)) => {
            // go-yaml: 0 means the default 4; values outside 2..=9 become 2.
            let n = match n {
                0 => 4,
                2..=9 => n as usize,
                _ => 2,
            };
            Ok(Box::new(YamlStore {
                indent: n,
                ..YamlStore::default()
            }))
        }
        (Format::Json, Some(n)) => Ok(Box::new(JsonStore {
            indent: Some(n as usize),
            ..JsonStore::default()
        })),
        (Format::Binary, Some(n)) => Ok(Box::new(BinaryStore {
            indent: Some(n as usize),
        })),
        _ => format
            .store()
            .map_err(|e| CliError::new(code::ERROR_GENERIC, e.to_string())),
    }
}

/// Where the result goes.
pub enum Destination {
    Stdout,
    /// Overwrite the input file (following symlinks, keeping owner, mode and
    /// hard links; atomically where a rename can keep them).
    InPlace(PathBuf),
    /// `--output`: create or replace this file.
    File(PathBuf),
}

/// Picks the destination from `-i`/`--output`, with sops' conflict errors
/// (checked before the input is read, as sops does).
pub fn destination(io: &IoFlags, file: Option<&Path>) -> Result<Destination, CliError> {
    match (io.in_place, &io.output, file.map(absolute)) {
        (true, Some(_), _) => Err(CliError::new(
            code::ERROR_CONFLICTING_PARAMETERS,
            "Error: cannot operate on both --output and --in-place",
        )),
        (true, None, None) => Err(CliError::new(
            code::ERROR_CONFLICTING_PARAMETERS,
            "Error: cannot use --in-place when reading from stdin",
        )),
        (true, None, Some(path)) => Ok(Destination::InPlace(path)),
        (false, Some(out), _) => Ok(Destination::File(absolute(out))),
        (false, None, _) => Ok(Destination::Stdout),
    }
}

/// Writes the result. Files are written as sops writes them (symlinks
/// followed, owner and mode kept, a file we may not write refused) and
/// replaced atomically where possible (see
/// [`sops_core::ops::write_file_atomically`]), so a failure never leaves a
/// truncated file.
pub fn write_output(dest: &Destination, bytes: &[u8]) -> Result<(), CliError> {
    match dest {
        Destination::Stdout => write_stdout(|out| out.write_all(bytes)),
        Destination::InPlace(path) | Destination::File(path) => {
            // sops names the file it could not open for writing (a
            // read-only file, a missing directory) this way, exit code 3.
            let which = match dest {
                Destination::InPlace(_) => "in-place",
                _ => "output",
            };
            sops_core::ops::write_file_atomically(path, bytes).map_err(|e| match e {
                sops_core::Error::Write {
                    path,
                    step: WriteStep::Open | WriteStep::Create,
                    source,
                } => CliError::new(
                    code::COULD_NOT_WRITE_OUTPUT_FILE,
                    format!(
                        "Could not open {which} file for writing: open {}: {}",
                        path.display(),
                        go_os_error(&source)
                    ),
                )
                .with_hint(sops_core::error::io_hint(source.kind(), true)),
                sops_core::Error::Write { path, step, source } => CliError::new(
                    code::COULD_NOT_WRITE_OUTPUT_FILE,
                    format!("Could not {step} {}: {source}", path.display()),
                )
                .with_hint(sops_core::error::io_hint(source.kind(), true)),
                other => CliError::new(code::COULD_NOT_WRITE_OUTPUT_FILE, other.to_string())
                    .with_hint(other.hint()),
            })
        }
    }
}

/// Writes to stdout with `write`, then flushes; sops' message when that
/// fails (a closed pipe, `sops -d f | head`, is not an error).
pub fn write_stdout(
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::new(
            code::COULD_NOT_WRITE_OUTPUT_FILE,
            format!("Could not write output: {e}"),
        )),
    }
}

/// Go's wording of the OS errors a file write meets, as sops prints them.
fn go_os_error(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "no such file or directory".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        ErrorKind::IsADirectory => "is a directory".into(),
        ErrorKind::NotADirectory => "not a directory".into(),
        ErrorKind::ReadOnlyFilesystem => "read-only file system".into(),
        _ => e.to_string(),
    }
}

/// Parses an encrypted file read from `path`, with sops' message when it
/// does not parse.
pub fn open_encrypted(
    store: &dyn Store,
    bytes: &[u8],
    path: &Path,
) -> Result<EncryptedFile, CliError> {
    let format = store.format();
    EncryptedFile::open(store, bytes).map_err(|e| match e {
        sops_core::Error::Store { source, .. } => {
            store_error_in(Stage::LoadEncrypted(format), &source, Some(path))
        }
        other => library_error(other, format),
    })
}

/// The bytes of an encrypted file, with sops' message when they cannot be
/// emitted.
pub fn emit_encrypted(file: &EncryptedFile, store: &dyn Store) -> Result<Vec<u8>, CliError> {
    file.emit(store).map_err(|e| match e {
        sops_core::Error::Store { source, .. } => store_error(Stage::Emit, &source),
        other => library_error(other, store.format()),
    })
}

/// The key context of the CLI: the process environment.
pub fn key_context() -> sops_core::keys::KeyContext {
    let mut builder = sops_core::keys::KeyContextBuilder::from_process_env();
    if let Some((local, remote)) = KEY_SERVICES.get() {
        builder = builder.local_key_service(*local);
        for addr in remote {
            builder = builder.key_service(addr.clone());
        }
    }
    builder.build()
}

/// A builder for a temporary directory only we can enter (0700): where
/// plaintext is put for an editor or a command.
pub fn private_dir_builder(prefix: &str) -> tempfile::Builder<'_, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
    builder
}

/// The key services of this run (`--keyservice`, `SOPS_KEYSERVICE`,
/// `--enable-local-keyservice`), set once from the command's flags.
static KEY_SERVICES: std::sync::OnceLock<(bool, Vec<sops_core::keys::KeyServiceAddr>)> =
    std::sync::OnceLock::new();

/// Takes the command's key service flags: `--enable-local-keyservice` in
/// Go's `strconv.ParseBool` spellings, each `--keyservice` URI parsed as
/// sops does (one that does not parse is skipped with sops' warning).
pub fn use_key_services(flags: &KeyServiceFlags) -> Result<(), CliError> {
    let value = flags.enable_local_keyservice.as_str();
    let local = match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
        "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
        _ => {
            return Err(CliError::new(
                code::ERROR_GENERIC,
                format!(
                    "could not parse {value} as bool value for flag enable-local-keyservice: \
                     strconv.ParseBool: parsing {value:?}: invalid syntax"
                ),
            ));
        }
    };
    let mut remote = Vec::new();
    for uri in flags.keyservice.iter().filter(|u| !u.is_empty()) {
        match sops_core::keys::KeyServiceAddr::parse(uri) {
            Ok(addr) => remote.push(addr),
            Err(_) => eprintln!("Error parsing URI for keyservice, skipping uri={uri:?}"),
        }
    }
    let _ = KEY_SERVICES.set((local, remote));
    Ok(())
}

/// `--decryption-order` / `SOPS_DECRYPTION_ORDER` without empty items,
/// refused when it names a key type twice. sops 3.11 checks the items as
/// split, empty ones included (`a,,b,` names "" twice), and before it
/// reads the file; each command calls this where sops does.
pub fn decryption_order(order: &[String]) -> Result<Vec<String>, CliError> {
    for (i, item) in order.iter().enumerate() {
        if order[..i].contains(item) {
            return Err(CliError::new(
                code::DUPLICATE_DECRYPTION_KEY_TYPE,
                format!("Duplicate decryption key type: {item}"),
            ));
        }
    }
    Ok(order.iter().filter(|s| !s.is_empty()).cloned().collect())
}
