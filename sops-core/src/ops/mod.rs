//! Operations on whole trees: encryption and decryption of values with the
//! MAC. Key handling (recovering or wrapping the data key) is in
//! [`crate::keys`]; parsing and emitting in [`crate::stores`].

mod crypt;
pub mod walk;

pub use crypt::{TreeError, decrypt_docs, encrypt_docs};
mod file;

pub use file::{
    DecryptOptions, Decrypted, EncryptOptions, decrypt, decrypt_file, decrypt_loaded,
    decrypt_to_bytes, encrypt, wrap_data_key,
};
