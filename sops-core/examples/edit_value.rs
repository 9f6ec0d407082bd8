//! Changes one value of an encrypted file in place, as `sops set` does:
//! the other values keep their exact ciphertext, so a diff of the file
//! shows only what changed (and the MAC and date).
//!
//! ```text
//! cargo run -p sops-core --example edit_value
//! ```

use sops_core::{EditableFile, EncryptOptions, Format, KeyContext, PlainFile, Recipients, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let identity = sops_core::age::x25519::Identity::generate();
    let recipients = Recipients::new().age(identity.to_public().to_string());
    let ctx = KeyContext::builder()
        .age_identity("example", identity)
        .build();

    // An encrypted JSON file in a temporary directory.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("config.json");
    let plain = PlainFile::parse(
        br#"{"db": {"user": "app", "password": "hunter2"}, "replicas": 3}"#,
        Format::Json,
    )?;
    sops_core::encrypt(&plain, &recipients, &ctx, &EncryptOptions::new())?.save(&path)?;
    let before = std::fs::read_to_string(&path)?;

    // Open, change one value, add another, save (atomically).
    let mut file = EditableFile::open(&path, &ctx)?;
    println!("replicas was {:?}", file.get(r#"["replicas"]"#)?);
    file.set(r#"["db"]["password"]"#, Value::Str("correct horse".into()))?;
    file.set(r#"["db"]["port"]"#, Value::Int(5432))?;
    file.save()?;
    let after = std::fs::read_to_string(&path)?;

    // The lines of the values left alone are byte for byte the same.
    let line = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("\"{key}\"")))
            .map(str::to_owned)
    };
    for key in ["user", "replicas"] {
        assert_eq!(line(&before, key), line(&after, key), "{key} changed");
    }
    assert_ne!(line(&before, "password"), line(&after, "password"));

    let plain = sops_core::decrypt_file(&path, &ctx)?;
    println!("{}", String::from_utf8_lossy(&plain.to_bytes()?));
    Ok(())
}
