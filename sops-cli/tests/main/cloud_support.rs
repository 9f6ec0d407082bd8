//! What the cloud KMS tests (`kms.rs`, `gcp_kms.rs`) share: the plaintext
//! they encrypt and the encrypt-then-check-decryption steps.

use super::support::{Bin, Sandbox};

pub const PLAIN: &str = "secret: hunter2\nnested:\n    count: 42\n";

/// `encrypt ARGS plain.yaml` by `bin`, written to `enc.yaml`; the
/// encrypted text.
pub fn encrypt(sb: &Sandbox, bin: Bin, args: &[&str]) -> String {
    let mut all = vec!["encrypt"];
    all.extend_from_slice(args);
    all.push("plain.yaml");
    let out = sb.run(bin, &all).ok();
    sb.write("enc.yaml", &out);
    String::from_utf8(out).unwrap()
}

/// `bin` decrypts `file` to [`PLAIN`].
#[track_caller]
pub fn decrypts(sb: &Sandbox, bin: Bin, file: &str) {
    let out = sb.run(bin, ["decrypt", file]).ok();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        PLAIN,
        "{bin} decrypt {file}"
    );
}
