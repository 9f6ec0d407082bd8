//! Operations on whole trees and files: encryption and decryption of values
//! with the MAC, and the workflow on one file ([`EncryptedFile`]: open,
//! decrypt, change, re-encrypt, save atomically). Key handling (wrapping and
//! recovering the data key) is in [`crate::keys`]; parsing and emitting in
//! [`crate::stores`].

mod crypt;
#[cfg(feature = "internals")]
pub mod doctor;
mod encrypted_file;
mod file;
mod replace;
mod stash;
pub mod walk;
mod write;

pub use crypt::{TreeError, decrypt_docs, decrypt_docs_stashing, encrypt_docs, reencrypt_docs};
pub use encrypted_file::{DecryptedFile, EncryptedFile};
pub use file::{
    DecryptOptions, Decrypted, EncryptOptions, decrypt, decrypt_file, decrypt_loaded, decrypt_open_file, decrypt_open_file_to_text, Plaintext,
    decrypt_to_bytes, encrypt, new_metadata,
};
pub use stash::IvStash;
pub use write::write_file_atomically;
