//! `sops decrypt` and `sops -d`.

use std::path::PathBuf;

use sops_core::ops::{self, DecryptOptions};
use sops_core::tree::path::{Found, lookup, parse_path};
use sops_core::tree::{Branch, Value};
use zeroize::Zeroizing;

use crate::cli::IoFlags;

use crate::commands;
use crate::exit_code::{self as code, CliError, Stage, store_error};
use crate::progress::Stages;

/// Everything decrypt needs, from the subcommand or the root form.
pub struct DecryptRequest<'a> {
    pub file: Option<&'a PathBuf>,
    pub io: &'a IoFlags,
    pub extract: Option<&'a str>,
    pub ignore_mac: bool,
    /// As given (checked by [`commands::decryption_order`] here, where sops
    /// checks it).
    pub decryption_order: &'a [String],
    pub indent: Option<i64>,
    pub config: Option<&'a std::path::Path>,
}

pub fn run(req: DecryptRequest<'_>) -> Result<(), CliError> {
    let dest = commands::destination(req.io, req.file.map(PathBuf::as_path))?;
    let input = commands::EncryptedInput::open(req.file.map(PathBuf::as_path))?;
    let stages = Stages::for_input(
        "decrypt",
        input.path.as_deref(),
        usize::try_from(input.len).unwrap_or(usize::MAX),
    );
    let decryption_order = commands::decryption_order(req.decryption_order)?;
    let name = commands::name_for_formats(req.io, input.path.as_deref());
    let (in_format, out_format) = commands::formats(&req.io.types, name);
    // Parse the path before any crypto, so a typo costs nothing.
    let steps = match req.extract.filter(|e| !e.is_empty()) {
        Some(text) => Some(parse_path(text).map_err(|e| {
            CliError::new(
                code::INVALID_TREE_PATH_FORMAT,
                format!("error parsing --extract path: {e}"),
            )
        })?),
        None => None,
    };
    let config = commands::load_config(req.config)?;
    let in_store = commands::store_for_config(in_format, req.indent, config.as_ref())?;
    let out_store = commands::store_for_config(out_format, req.indent, config.as_ref())?;
    let ctx = commands::key_context();
    let opts = DecryptOptions {
        ignore_mac: req.ignore_mac,
        decryption_order,
    };
    // The input's store emits the text only when it is the whole output,
    // in its own format (then the two stores are the same).
    let input_emits = steps.is_none() && in_format == out_format;
    let decrypted = input.decrypt(in_store.as_ref(), &ctx, &opts, &stages, input_emits)?;
    // Plaintext from here on: the output is wiped once written, the
    // documents at the end (and when dropped on the way).
    stages.stage("writing");
    match decrypted {
        ops::Plaintext::Text(text, _) => commands::write_output(&dest, &text),
        ops::Plaintext::Docs(decrypted) => {
            let written = write(&decrypted, steps, &dest, out_store.as_ref());
            commands::wipe_before_exit(decrypted);
            written
        }
    }
}

/// Writes what decrypt outputs: the documents, or the value at `steps`.
fn write(
    decrypted: &ops::Decrypted,
    steps: Option<Vec<sops_core::tree::path::PathStep>>,
    dest: &commands::Destination,
    out_store: &dyn sops_core::stores::Store,
) -> Result<(), CliError> {
    if steps.is_none() && matches!(dest, commands::Destination::Stdout) {
        // Written as it is emitted: the whole text is never held.
        let mut emitted = Ok(());
        commands::write_stdout(|out| {
            emitted = out_store.write_plain(&decrypted.docs, out)?;
            Ok(())
        })?;
        return emitted.map_err(|e| store_error(Stage::Emit, &e));
    }
    let output = Zeroizing::new(match steps {
        None => out_store
            .emit_plain(&decrypted.docs)
            .map_err(|e| store_error(Stage::Emit, &e))?,
        Some(steps) => {
            // Borrowed, not cloned: a copy of the plaintext would not be wiped.
            let empty = Branch::new();
            let first = decrypted.docs.first().unwrap_or(&empty);
            let found = lookup(first, &steps).map_err(|e| {
                CliError::new(code::ERROR_GENERIC, format!("error truncating tree: {e}"))
                    .with_hint(Some(EXTRACT_HINT))
            })?;
            let dump = |e: sops_core::stores::StoreError| {
                CliError::new(code::ERROR_DUMPING_TREE, format!("Error dumping tree: {e}"))
            };
            match found {
                Found::Document(doc) => out_store
                    .emit_plain(std::slice::from_ref(doc))
                    .map_err(dump)?,
                Found::Value(Value::Map(b)) => out_store
                    .emit_plain(std::slice::from_ref(b))
                    .map_err(dump)?,
                // A string is printed raw, without a newline, whatever the output type.
                Found::Value(Value::Str(s)) => s.clone().into_bytes(),
                Found::Value(Value::Bytes(b)) => b.clone(),
                Found::Value(other) => out_store.emit_value(other).map_err(dump)?,
            }
        }
    });
    commands::write_output(dest, &output)
}

/// The file's keys are in clear in the encrypted file, so the path can be
/// checked against it without decrypting.
const EXTRACT_HINT: &str = "the --extract path names a key or list position the file does not \
     have: the keys are readable in the encrypted file; quote keys, not positions \
     ('[\"key\"][0]')";
