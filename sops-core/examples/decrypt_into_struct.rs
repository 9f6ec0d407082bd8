//! Encrypts a struct with `sops_core::to_vec`, writes it to a file, and
//! reads it back into the struct with `sops_core::from_path` (feature
//! `serde`). No network, no files outside a temporary directory.
//!
//! ```text
//! cargo run -p sops-core --features serde --example decrypt_into_struct
//! ```

use age::secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sops_core::Format;
use sops_core::{KeyContext, Recipients};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Database {
    host: String,
    port: u16,
    user: String,
    password: String,
    replicas: Vec<String>,
    tls: bool,
    timeout_seconds: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A throwaway age identity; a real program would build the context with
    // `KeyContext::from_process_env()` (SOPS_AGE_KEY_FILE, …).
    let identity = age::x25519::Identity::generate();
    let keys = Recipients::new().age(identity.to_public().to_string());
    let ctx = KeyContext::builder()
        .age_identity_text("example identity", identity.to_string().expose_secret())
        .build();

    let db = Database {
        host: "db.internal".into(),
        port: 5432,
        user: "app".into(),
        password: "correct horse battery staple".into(),
        replicas: vec!["db-1.internal".into(), "db-2.internal".into()],
        tls: true,
        timeout_seconds: 2.5,
    };

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("database.enc.yaml");
    std::fs::write(&path, sops_core::to_vec(&db, Format::Yaml, &keys)?)?;
    let written = std::fs::read_to_string(&path)?;
    assert!(!written.contains("correct horse"));
    println!("{written}");

    let back: Database = sops_core::from_path(&path, &ctx)?;
    assert_eq!(back, db);
    println!("decrypted {} fields back into Database", 7);
    Ok(())
}
