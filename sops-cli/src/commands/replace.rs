//! `sops replace FILE [PLAINTEXT|-]`: a whole new plaintext for an
//! encrypted file, written in place under the same data key, key groups and
//! partial-encryption rules; unchanged values keep their ciphertext, so a
//! `git diff` shows only what changed. The work is
//! [`sops_core::ops::DecryptedFile::replace_plaintext`] inside the `set`
//! flow ([`set::modify_in_place`]: decrypt, change, re-encrypt, atomic write).

use std::io::IsTerminal;
use std::path::Path;

use sops_core::stores::Format;
use zeroize::Zeroizing;

use crate::cli::ReplaceArgs;
use crate::commands::encrypt::ALREADY_ENCRYPTED;
use crate::commands::set::{self, Change};
use crate::commands::{self};
use crate::exit_code::{self as code, CliError, Stage, library_error, store_error};

pub fn run(args: &ReplaceArgs, indent: Option<i64>) -> Result<(), CliError> {
    let Some(file) = args.file.as_deref() else {
        return Err(CliError::new(
            code::NO_FILE_SPECIFIED,
            "Error: no file specified",
        ));
    };
    let (file_format, _) = commands::formats(&args.edit.types, Some(file));
    let plain_format = match args.plaintext_type.as_deref() {
        None => file_format,
        Some(name) => Format::from_name(name).ok_or_else(|| {
            CliError::new(
                code::ERROR_GENERIC,
                format!(
                    "Error: unknown --plaintext-type \"{name}\" (yaml, json, dotenv, ini, binary)"
                ),
            )
        })?,
    };
    // The plaintext is parsed before any key is asked for: a typo in it
    // should not cost a KMS call or a passphrase prompt.
    let plaintext = read_plaintext(args.plaintext.as_deref())?;
    let store = commands::store_for_config(plain_format, None, None)?;
    let docs = Zeroizing::new(match store.load(&plaintext) {
        Err(sops_core::stores::StoreError::Empty) => Vec::new(),
        other => other.map_err(|e| store_error(Stage::LoadPlain, &e))?,
    });
    drop(plaintext);
    let mut unchanged = false;
    set::modify_in_place(file, &args.edit, true, indent, |plain, out_store| {
        let mut docs = docs;
        match plain.replace_plaintext(std::mem::take(&mut *docs), out_store) {
            Ok(true) => Ok(Change::Changed),
            Ok(false) => {
                unchanged = true;
                Ok(Change::Unchanged)
            }
            Err(sops_core::Error::AlreadyEncrypted) => Err(CliError::new(
                code::FILE_ALREADY_ENCRYPTED,
                ALREADY_ENCRYPTED,
            )),
            Err(sops_core::Error::Store { source, .. }) => {
                Err(store_error(Stage::LoadPlain, &source))
            }
            Err(e) => Err(library_error(e, file_format)),
        }
    })?;
    if unchanged {
        // Rewriting would change the MAC's ciphertext and `lastmodified`
        // for nothing: the file is left byte for byte as it was.
        eprintln!("The new plaintext is the same as the file's; the file was not rewritten.");
    }
    Ok(())
}

/// PLAINTEXT, or stdin for `-` or when it is omitted. A terminal on stdin is
/// refused: `sops replace FILE` typed alone would otherwise wait for input.
fn read_plaintext(path: Option<&Path>) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let path = path.filter(|p| p.as_os_str() != "-");
    if path.is_none() && std::io::stdin().is_terminal() {
        return Err(CliError::new(
            code::NO_FILE_SPECIFIED,
            "Error: no plaintext given: name a PLAINTEXT_FILE or pipe the new plaintext on stdin",
        ));
    }
    Ok(commands::read_input(path)?.bytes)
}
