//! Decrypts a sops file and prints the plaintext, like `sops decrypt FILE`.
//!
//! With a file argument, identities are read from the same places the
//! `sops` command reads them (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY,
//! ~/.config/sops/age/keys.txt, …):
//!
//! ```text
//! SOPS_AGE_KEY_FILE=testdata/vectors/keys.txt \
//!   cargo run -p sops-core --example decrypt testdata/vectors/yaml_comments.enc.yaml
//! ```
//!
//! Without one, it encrypts a small file for a new age identity in a
//! temporary directory and decrypts that.

use std::io::Write;

use sops_core::{EncryptOptions, Format, KeyContext, PlainFile, Recipients};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (path, ctx, _dir) = match std::env::args_os().nth(1) {
        Some(path) => (path.into(), KeyContext::from_process_env(), None),
        None => {
            let (dir, path, ctx) = demo_file()?;
            (path, ctx, Some(dir))
        }
    };
    let plain = sops_core::decrypt_file(&path, &ctx)?;
    std::io::stdout().write_all(&plain.to_bytes()?)?;
    Ok(())
}

/// An encrypted YAML file in a new temporary directory, and a context
/// holding the identity that decrypts it.
fn demo_file() -> Result<(tempfile::TempDir, std::path::PathBuf, KeyContext), sops_core::Error> {
    let identity = sops_core::age::x25519::Identity::generate();
    let recipients = Recipients::new().age(identity.to_public().to_string());
    let ctx = KeyContext::builder().age_identity("demo", identity).build();
    let dir = tempfile::tempdir().map_err(|source| sops_core::Error::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let path = dir.path().join("secrets.yaml");
    let plain = PlainFile::parse(
        b"database:\n  user: admin\n  password: hunter2\n",
        Format::Yaml,
    )?;
    sops_core::encrypt(&plain, &recipients, &ctx, &EncryptOptions::new())?.save(&path)?;
    Ok((dir, path, ctx))
}
