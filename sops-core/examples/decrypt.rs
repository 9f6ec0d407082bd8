//! Decrypts a sops file and prints the plaintext, like `sops decrypt FILE`.
//! Identities are read from the same places the `sops` CLI reads them
//! (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, ~/.config/sops/age/keys.txt, …).
//!
//! ```text
//! SOPS_AGE_KEY_FILE=testdata/vectors/keys.txt \
//!   cargo run -p sops-core --example decrypt testdata/vectors/yaml_comments.enc.yaml
//! ```

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: decrypt FILE")?;
    let ctx = sops_core::keys::KeyContext::from_process_env();
    let plaintext = sops_core::ops::decrypt_file(path.as_ref(), &ctx)?;
    std::io::stdout().write_all(&plaintext)?;
    Ok(())
}
