//! Encrypts a document for two age recipients, leaving some values in the
//! clear (`--encrypted-regex`), and writes it to a temporary directory, as
//! `sops encrypt --age A,B --encrypted-regex '^(password|token)$'` would.
//!
//! ```text
//! cargo run -p sops-core --example encrypt
//! ```

use sops_core::{EncryptOptions, Format, KeyContext, PlainFile, Recipients, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Two recipients: either identity decrypts the file alone.
    let alice = sops_core::age::x25519::Identity::generate();
    let bob = sops_core::age::x25519::Identity::generate();
    let recipients = Recipients::new()
        .age(alice.to_public().to_string())
        .age(bob.to_public().to_string());

    // Encrypting with age recipients needs no key material; a context
    // built by hand reads nothing from the environment.
    let ctx = KeyContext::builder().build();

    // A document parsed from text, then changed in code.
    let mut plain = PlainFile::parse(
        b"# Service account\nuser: deploy\npassword: hunter2\n",
        Format::Yaml,
    )?;
    plain.set(r#"["api"]["token"]"#, Value::Str("t0k3n".into()))?;

    let options = EncryptOptions::new().encrypted_regex("^(password|token)$");
    let encrypted = sops_core::encrypt(&plain, &recipients, &ctx, &options)?;

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("secrets.yaml");
    encrypted.save(&path)?;
    let text = std::fs::read_to_string(&path)?;
    print!("{text}");

    // `user` stays readable; the password and the token do not.
    assert!(text.contains("user: deploy"));
    assert!(!text.contains("hunter2") && !text.contains("t0k3n"));

    // Bob alone can decrypt it.
    let bob_only = KeyContext::builder().age_identity("bob", bob).build();
    let back = sops_core::decrypt_file(&path, &bob_only)?;
    assert_eq!(
        back.get(r#"["api"]["token"]"#)?,
        &Value::Str("t0k3n".into())
    );
    Ok(())
}
