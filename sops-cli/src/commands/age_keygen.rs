//! `sops age-keygen [--pq] [-o FILE]`: a new age key pair in age-keygen's
//! file format, so that a post-quantum identity (`age-keygen -pq`, age 1.3)
//! can be made without installing age. Not a sops command: ours only.

use std::io::Write;
use std::path::Path;

use sops_core::keys::age::generate_key_pair;
use sops_core::tree::time::now_rfc3339_seconds;

use crate::cli::AgeKeygenArgs;
use crate::exit_code::{self as code, CliError};

pub fn run(args: &AgeKeygenArgs) -> Result<(), CliError> {
    let pair = generate_key_pair(args.pq);
    let file = pair.key_file(&now_rfc3339_seconds());
    match &args.output {
        Some(path) => {
            write_new_private_file(path, file.as_bytes())?;
            // As age-keygen: the public key on stderr when the file is elsewhere.
            eprintln!("Public key: {}", pair.recipient());
            Ok(())
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(file.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| {
                    CliError::new(
                        code::COULD_NOT_WRITE_OUTPUT_FILE,
                        format!("could not write the key to stdout: {e}"),
                    )
                })
        }
    }
}

/// Creates `path` with mode 0600; an existing file is never overwritten.
fn write_new_private_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let failed = |e: std::io::Error| {
        let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
            "the file exists; refusing to overwrite a key file".to_owned()
        } else {
            e.to_string()
        };
        let hint = if e.kind() == std::io::ErrorKind::AlreadyExists {
            Some("choose another file name, or remove the old key once nothing needs it")
        } else {
            sops_core::error::io_hint(e.kind(), true)
        };
        CliError::new(
            code::COULD_NOT_WRITE_OUTPUT_FILE,
            format!("could not write key file {}: {why}", path.display()),
        )
        .with_hint(hint)
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(failed)?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(failed)
}
