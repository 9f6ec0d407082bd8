//! `sops merge-driver %O %A %B %P`: git's merge driver for encrypted files.
//! The merge is sops-core's ([`sops_core::merge::merge_files`]); this file
//! reads git's three temporary files, writes the result over ours (%A) and
//! turns the outcome into the exit status git expects: 0 merged, non-zero
//! conflict (git then keeps whatever is in %A and marks the path).

use std::path::Path;

use sops_core::merge::{MergeError, MergeOutcome, merge_files};
use sops_core::ops::DecryptOptions;
use sops_core::stores::Format;
use zeroize::Zeroizing;

use crate::cli::MergeDriverArgs;
use crate::commands::{self, Destination};
use crate::exit_code::{CliError, library_error};

/// git reads any non-zero status as "conflict"; 1 is what its own drivers use.
const CONFLICT: u8 = 1;

pub fn run(args: &MergeDriverArgs, config: Option<&Path>) -> Result<(), CliError> {
    let decryption_order = commands::decryption_order(&args.order.decryption_order)?;
    let format = Format::for_path(&args.path);
    let config = commands::load_config(config)?;
    let store = commands::store_for_config(format, None, config.as_ref())?;
    let read = |p: &Path| -> Result<Zeroizing<Vec<u8>>, CliError> {
        std::fs::read(p).map(Zeroizing::new).map_err(|e| {
            CliError::new(
                sops_core::exit_code::ERROR_GENERIC,
                format!("sops merge-driver: could not read {}: {e}", p.display()),
            )
        })
    };
    let (base, ours, theirs) = (read(&args.base)?, read(&args.ours)?, read(&args.theirs)?);
    let ctx = commands::key_context();
    let opts = DecryptOptions {
        ignore_mac: false,
        decryption_order,
    };
    let shown = args.path.display();
    let outcome = merge_files(store.as_ref(), &base, &ours, &theirs, &ctx, &opts)
        .map_err(|e| side_error(e, format, &args.path))?;
    match outcome {
        MergeOutcome::KeepOurs { reason } => Err(CliError::new(
            CONFLICT,
            format!("sops merge-driver: {shown}: not merged, ours kept as it is: {reason}"),
        )),
        MergeOutcome::Merged {
            file,
            conflicts,
            notes,
        } => {
            let bytes = commands::emit_encrypted(&file, store.as_ref())?;
            commands::write_output(&Destination::InPlace(args.ours.clone()), &bytes)?;
            for note in notes {
                eprintln!("sops merge-driver: {shown}: {note}");
            }
            if conflicts.is_empty() {
                return Ok(());
            }
            Err(CliError::new(
                CONFLICT,
                format!(
                    "sops merge-driver: {shown}: conflict at {}; both versions are in the file between conflict markers: resolve with `sops edit {shown}`",
                    conflicts.join(", ")
                ),
            ))
        }
        // A future outcome: let git record a conflict with ours in place.
        _ => Err(CliError::new(
            CONFLICT,
            format!("sops merge-driver: {shown}: not merged"),
        )),
    }
}

/// A side that could not be read or decrypted: named, with the library's
/// message and exit code (128 when no key could recover its data key).
fn side_error(e: MergeError, format: Format, path: &Path) -> CliError {
    let what = e.to_string();
    let mut err = library_error(e.into_source(), format);
    err.message = format!(
        "sops merge-driver: {}: {what} (ours is left as it is): {}",
        path.display(),
        err.message
    );
    err
}
