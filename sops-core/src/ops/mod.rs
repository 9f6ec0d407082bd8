//! Operations on whole trees: encryption and decryption of values with the
//! MAC. Key handling (recovering or wrapping the data key) is in
//! [`crate::keys`]; parsing and emitting in [`crate::stores`].

mod crypt;
mod stash;
pub mod walk;

pub use crypt::{TreeError, decrypt_docs, decrypt_docs_stashing, encrypt_docs, reencrypt_docs};
pub use stash::IvStash;
mod file;

pub use file::{
    DecryptOptions, Decrypted, EncryptOptions, decrypt, decrypt_file, decrypt_loaded,
    decrypt_to_bytes, encrypt, new_metadata, wrap_data_key,
};
