//! What the cloud KMS tests share: the plaintext they encrypt, the
//! encrypt-then-check-decryption steps and the unreachable-endpoint bounds.

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

/// `SOPS_KMS_TIMEOUT` for the tests of an endpoint nobody listens on, and
/// the time they must finish within: far below that total (a call that
/// waited for it fails the test) and far above what a refused connection
/// costs within the 1 s connect time-out (under a second), so a loaded CI
/// machine does not fail them.
pub const UNREACHABLE_TOTAL_TIMEOUT: &str = "120s";
pub const UNREACHABLE_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// `updatekeys -y` on a file encrypted for `age_recipient` alone, after its
/// creation rule gains `rule_line` (e.g. `hckms: [ID]`): the change lists
/// `+++ KEY`, and a second run is "already up to date". The caller then
/// checks that the file opens with the new key alone.
pub fn updatekeys_adds_the_rule_key(sb: &Sandbox, age_recipient: &str, rule_line: &str, key: &str) {
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {age_recipient}\n"),
    );
    encrypt(sb, Bin::Ours, &[]);
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {age_recipient}\n    {rule_line}\n"),
    );
    let out = sb.run(Bin::Ours, ["updatekeys", "-y", "enc.yaml"]);
    out.ok();
    assert!(
        out.stdout_str().contains(&format!("+++ {key}")),
        "{}",
        out.stdout_str()
    );
    let again = sb.run(Bin::Ours, ["updatekeys", "-y", "enc.yaml"]);
    again.ok();
    assert!(
        again.stderr.contains("already up to date"),
        "{}",
        again.stderr
    );
}
