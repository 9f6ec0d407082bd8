//! The `ENC[…]` value codec (sops_core::cipher):
//!
//! - `parse_enc` and `decrypt_value` of any text never panic, and whatever
//!   `parse_enc` accepts is recognised by `is_encrypted` (the two must agree,
//!   or a value would be both "encrypted" and "not encrypted" to different
//!   callers);
//! - for the first line as a `type:` name and the rest as plaintext, a value
//!   we encrypt decrypts to what `typed_from_plaintext` reads from that
//!   plaintext, and a decrypted value encrypts and decrypts to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sops_core::DataKey;
use sops_core::cipher::{ValueCipher, is_encrypted, parse_enc, typed_from_plaintext};
use sops_fuzz::{same_value, split_header};

const AAD: &str = "db:password:";

fuzz_target!(|data: &[u8]| {
    let key = DataKey::from_slice(&[7u8; 32]).expect("32-byte key");
    let cipher = ValueCipher::new(&key);

    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(parts) = parse_enc(text) {
            assert!(
                is_encrypted(text),
                "parse_enc accepted a value is_encrypted refuses"
            );
            assert!(!parts.kind.is_empty());
        }
        let _ = cipher.decrypt_value(text, AAD);
    }

    let (kind, plain) = split_header(data);
    let Ok(kind) = std::str::from_utf8(kind) else {
        return;
    };
    if plain.is_empty() {
        // sops never encrypts an empty value (it writes it as it is), and
        // `data:` must not be empty, so our own `ENC[…]` of nothing does
        // not parse: as in sops.
        return;
    }
    // Our own output always parses; what it decrypts to is exactly what
    // the type reads from the plaintext.
    let enc = cipher.encrypt_bytes(plain, kind, AAD, None);
    let expected = typed_from_plaintext(kind, plain);
    if kind.is_empty() || kind.contains(",type:") {
        // A type name sops could never write: the parser finds another
        // split (or none), but must not panic.
        let _ = cipher.decrypt_value(&enc, AAD);
        return;
    }
    let decrypted = cipher.decrypt_value(&enc, AAD);
    match (&expected, &decrypted) {
        (Ok(e), Ok(d)) => assert!(same_value(e, d), "decrypted value differs"),
        (Err(e), Err(d)) => assert_eq!(e, d),
        _ => panic!("decrypt and typed_from_plaintext disagree: {expected:?} vs {decrypted:?}"),
    }
    // A wrong AAD must never authenticate.
    assert!(cipher.decrypt_value(&enc, "other:").is_err());
    if let Ok(value) = decrypted
        && let Ok(again) = cipher.encrypt_value(&value, AAD, None)
    {
        let back = cipher
            .decrypt_value(&again, AAD)
            .expect("re-encrypted value decrypts");
        assert!(
            same_value(&value, &back),
            "value changed in a re-encryption"
        );
    }
});
