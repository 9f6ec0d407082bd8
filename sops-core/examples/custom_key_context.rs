//! Builds a `KeyContext` by hand: the identities and settings a program
//! passes explicitly, instead of what `KeyContext::from_process_env()`
//! would read from the environment (SOPS_AGE_KEY_FILE, GNUPGHOME, …).
//! This is how a service decrypts with its own key material whatever its
//! environment holds (the Argo CD plugin does so).
//!
//! ```text
//! cargo run -p sops-core --example custom_key_context
//! ```

use std::time::Duration;

use sops_core::age::secrecy::ExposeSecret;
use sops_core::{EncryptOptions, Format, KeyContext, PlainFile, Recipients};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;

    // An age identity file, as `age-keygen` writes it.
    let identity = sops_core::age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let key_file = dir.path().join("keys.txt");
    std::fs::write(
        &key_file,
        format!(
            "# public key: {recipient}\n{}\n",
            identity.to_string().expose_secret()
        ),
    )?;

    // Everything the keystores may use, given explicitly: the identity
    // file, no GnuPG home of the user's, short time-outs for the cloud
    // keystores, and no remote key service.
    let ctx = KeyContext::builder()
        .age_identity_file(&key_file)
        .gpg_home(dir.path().join("gnupg"))
        .kms_connect_timeout(Duration::from_secs(2))
        .kms_timeout(Duration::from_secs(10))
        .local_key_service(true)
        .build();

    let path = dir.path().join("app.env");
    let plain = PlainFile::parse(b"API_KEY=abc123\nDEBUG=false\n", Format::Dotenv)?;
    let recipients = Recipients::new().age(recipient);
    sops_core::encrypt(&plain, &recipients, &ctx, &EncryptOptions::new())?.save(&path)?;

    let plain = sops_core::decrypt_file(&path, &ctx)?;
    print!("{}", String::from_utf8_lossy(&plain.to_bytes()?));

    // A context without the identity cannot decrypt; the error carries
    // sops' exit code (128) and names no secret.
    let empty = KeyContext::builder().build();
    let err = sops_core::decrypt_file(&path, &empty).unwrap_err();
    assert_eq!(
        err.exit_code(),
        sops_core::exit_code::COULD_NOT_RETRIEVE_KEY
    );
    eprintln!("without the identity: {err}");
    Ok(())
}
