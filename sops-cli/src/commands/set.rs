//! `sops set`, `sops unset` and the legacy `--set`: decrypt, change one
//! place in the first document, re-encrypt with the same data key (values
//! that did not change keep their ciphertext) and write the file in place,
//! all through [`sops_core::ops::EncryptedFile`].

use std::path::Path;

use sops_core::ops::{DecryptOptions, DecryptedFile};
use sops_core::stores::{Format, Store};
use sops_core::tree::Value;
use sops_core::tree::path::{PathError, PathStep, parse_path};
use zeroize::Zeroizing;

use crate::cli::InPlaceEditArgs;
use crate::commands::encrypt::ALREADY_ENCRYPTED;
use crate::commands::{self, Destination};
use crate::exit_code::{self as code, CliError, library_error};

/// What the change did.
pub enum Change {
    Changed,
    Unchanged,
}

/// Decrypts FILE, applies `change` to it and writes it back unless
/// `skip_unchanged` and nothing changed.
/// `indent` is the root's `--indent`; `change` also gets the output store
/// (set checks the result against it).
pub fn modify_in_place(
    file: &Path,
    args: &InPlaceEditArgs,
    skip_unchanged: bool,
    indent: Option<i64>,
    change: impl FnOnce(&mut DecryptedFile, &dyn Store) -> Result<Change, CliError>,
) -> Result<(), CliError> {
    // sops 3.11 checks the order before it reads the file.
    let decryption_order = commands::decryption_order(&args.order.decryption_order)?;
    let path = commands::absolute(file);
    let bytes = std::fs::read(&path).map_err(|e| {
        CliError::new(
            code::COULD_NOT_READ_INPUT_FILE,
            format!(
                "Error reading file: open {}: {}",
                path.display(),
                os_text(&e)
            ),
        )
    })?;
    let (in_format, out_format) = commands::formats(&args.types, Some(&path));
    let in_store = commands::store_for_config(in_format, None, None)?;
    let out_store = commands::store_for_config(out_format, indent, None)?;
    let encrypted = commands::open_encrypted(in_store.as_ref(), &bytes, &path)?;
    drop(bytes);
    let opts = DecryptOptions {
        ignore_mac: args.mac.ignore_mac,
        decryption_order,
    };
    let mut plain = encrypted
        .decrypt(&commands::key_context(), &opts)
        .map_err(|e| library_error(e, in_format))?;
    let outcome = change(&mut plain, out_store.as_ref())?;
    if skip_unchanged && matches!(outcome, Change::Unchanged) {
        return Ok(());
    }
    let encrypted = plain.encrypt().map_err(|e| library_error(e, in_format))?;
    let output = commands::emit_encrypted(&encrypted, out_store.as_ref())?;
    commands::write_output(&Destination::InPlace(path), &output)
}

/// Go's wording of the common OS errors, as sops prints them.
fn os_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Parses a `set` value: JSON, with every number a float (sops 3.11) and a
/// top-level array refused.
pub fn parse_set_value(text: &[u8]) -> Result<Value, CliError> {
    let invalid = || {
        CliError::new(
            code::ERROR_INVALID_SET_FORMAT,
            "Value for --set is not valid JSON",
        )
    };
    let trimmed = text.trim_ascii();
    if trimmed.starts_with(b"[") {
        // sops accepts arrays only nested inside objects.
        parses_as_json(trimmed).ok_or_else(invalid)?;
        return Err(CliError::new(
            code::ERROR_INVALID_SET_FORMAT,
            "Invalid --set value format",
        ));
    }
    // The value is a secret: every copy made to parse it is wiped.
    let wrapped = wrap_in_object(trimmed);
    let store = Format::Json.store().map_err(|_| invalid())?;
    let mut docs = Zeroizing::new(store.load(&wrapped).map_err(|_| invalid())?);
    let Some(doc) = docs.first_mut().filter(|d| d.0.len() == 1) else {
        return Err(invalid());
    };
    let mut value = match doc.0.first_mut() {
        Some(sops_core::Item::Entry(key, value)) if key == "v" => {
            std::mem::replace(value, Value::Null)
        }
        _ => return Err(invalid()),
    };
    numbers_to_floats(&mut value);
    Ok(value)
}

/// `{"v":TEXT}`, to parse TEXT as a JSON value.
fn wrap_in_object(text: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut wrapped = Zeroizing::new(Vec::with_capacity(text.len() + 6));
    wrapped.extend_from_slice(b"{\"v\":");
    wrapped.extend_from_slice(text);
    wrapped.push(b'}');
    wrapped
}

/// Whether the text parses as JSON when wrapped in an object.
fn parses_as_json(text: &[u8]) -> Option<()> {
    let wrapped = wrap_in_object(text);
    let docs = Zeroizing::new(Format::Json.store().ok()?.load(&wrapped).ok()?);
    (docs.first()?.0.len() == 1).then_some(())
}

fn numbers_to_floats(value: &mut Value) {
    match value {
        Value::Int(i) => *value = Value::Float(*i as f64),
        Value::Seq(items) => items.iter_mut().for_each(numbers_to_floats),
        Value::Map(b) => {
            for item in &mut b.0 {
                if let sops_core::Item::Entry(_, v) = item {
                    numbers_to_floats(v);
                }
            }
        }
        _ => {}
    }
}

/// `sops set`.
pub fn run_set(args: &crate::cli::SetArgs, indent: Option<i64>) -> Result<(), CliError> {
    if args.value_file && args.value_stdin {
        return Err(CliError::new(
            code::ERROR_GENERIC,
            "Error: cannot use both --value-file and --value-stdin",
        ));
    }
    let p = &args.positionals;
    let (file, path_text, value_bytes) = if args.value_stdin {
        if p.len() != 2 {
            return Err(CliError::new(
                code::NO_FILE_SPECIFIED,
                "Error: file specified, or index and value are missing. Need precisely 2 positional arguments since --value-stdin is used.",
            ));
        }
        let mut buf = Zeroizing::new(Vec::new());
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| CliError::new(code::ERROR_GENERIC, e.to_string()))?;
        (&p[0], &p[1], buf)
    } else {
        if p.len() != 3 {
            return Err(CliError::new(
                code::NO_FILE_SPECIFIED,
                "Error: no file specified, or index and value are missing. Need precisely 3 positional arguments.",
            ));
        }
        let value = Zeroizing::new(if args.value_file {
            std::fs::read(&p[2])
                .map_err(|e| CliError::new(code::ERROR_GENERIC, format!("{}: {e}", p[2])))?
        } else {
            p[2].clone().into_bytes()
        });
        (&p[0], &p[1], value)
    };
    let steps = parse_path(path_text)
        .map_err(|_| CliError::new(code::ERROR_INVALID_SET_FORMAT, "Invalid set index format"))?;
    let value = parse_set_value(&value_bytes)?;
    set_value(
        Path::new(file),
        &steps,
        value,
        &args.edit,
        args.idempotent,
        indent,
    )
}

/// Sets one value in FILE (also the legacy `--set`).
pub fn set_value(
    file: &Path,
    steps: &[PathStep],
    value: Value,
    args: &InPlaceEditArgs,
    idempotent: bool,
    indent: Option<i64>,
) -> Result<(), CliError> {
    if steps.is_empty() {
        return Err(CliError::new(
            code::ERROR_INVALID_SET_FORMAT,
            format!("Invalid set index: {}", PathError::SetEmptyPath),
        ));
    }
    modify_in_place(file, args, idempotent, indent, |plain, out_store| {
        let outcome = match plain.set(steps, value) {
            Ok(true) => Change::Changed,
            Ok(false) => Change::Unchanged,
            Err(e) => return Err(CliError::new(code::ERROR_GENERIC, format!("Error: {e}"))),
        };
        // sops 3.13 (#2098): a top-level key that is the metadata's would
        // make the file unreadable (3.11 writes it).
        if out_store.looks_encrypted(plain.docs()) {
            return Err(
                CliError::new(code::FILE_ALREADY_ENCRYPTED, ALREADY_ENCRYPTED).with_hint(Some(
                    "a top-level key named sops (sops_… in dotenv and ini files) is the \
                 metadata's: choose another name",
                )),
            );
        }
        Ok(outcome)
    })
}

/// `sops unset`.
pub fn run_unset(args: &crate::cli::UnsetArgs, indent: Option<i64>) -> Result<(), CliError> {
    let [file, path_text] = args.positionals.as_slice() else {
        return Err(CliError::new(
            code::NO_FILE_SPECIFIED,
            "Error: no file specified, or index is missing",
        ));
    };
    let steps = parse_path(path_text)
        .map_err(|_| CliError::new(code::ERROR_INVALID_SET_FORMAT, "Invalid unset index format"))?;
    let idempotent = args.idempotent;
    modify_in_place(
        Path::new(file),
        &args.edit,
        true,
        indent,
        |plain, _| match plain.unset(&steps) {
            Ok(()) => Ok(Change::Changed),
            Err(
                sops_core::tree::path::PathError::UnsetKeyNotFound(_)
                | sops_core::tree::path::PathError::UnsetIndexOutOfBounds(_),
            ) if idempotent => Ok(Change::Unchanged),
            Err(e) => Err(CliError::new(code::ERROR_GENERIC, e.to_string())),
        },
    )
}

/// `sops filestatus`: `{"encrypted":true|false}` without touching any key.
pub fn run_filestatus(args: &crate::cli::FilestatusArgs) -> Result<(), CliError> {
    let Some(file) = args.file.as_ref() else {
        return Err(CliError::new(
            code::NO_FILE_SPECIFIED,
            "Error: no file specified",
        ));
    };
    let fail = |e: String| {
        CliError::new(
            code::ERROR_GENERIC,
            format!("cannot check file status: cannot load encrypted file: {e}"),
        )
    };
    let bytes = std::fs::read(file)
        .map_err(|e| fail(format!("open {}: {}", file.display(), os_text(&e))))?;
    let format = commands::select_format(args.input_type.as_deref(), Some(file));
    let store = commands::store_for_config(format, None, None)?;
    let encrypted = match store.load_encrypted(&bytes) {
        Ok((_, meta)) => !meta.version.is_empty() && !meta.mac.is_empty(),
        Err(sops_core::stores::StoreError::MetadataNotFound) => false,
        Err(e) => return Err(fail(e.to_string())),
    };
    println!("{{\"encrypted\":{encrypted}}}");
    Ok(())
}
