//! What the cloud KMS tests share: the plaintext they encrypt, the
//! encrypt-then-check-decryption steps, the unreachable-endpoint bounds,
//! and the scenarios every keystore goes through (key groups with age,
//! creation rules, rotate and `groups add`, updatekeys, an unreachable
//! endpoint), each written once and run per keystore with a [`Keystore`]
//! describing its flag, keys and how its entries read.

use std::time::{Duration, Instant};

use super::support::{AgeKey, Bin, Cmd, Output, Sandbox};

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

/// One keystore as the shared scenarios need it: its command-line flag
/// (without `--`; also `--add-…`, `--rm-…` and `groups add --…`), two keys
/// its fake serves, and what an encrypted file shows for each.
pub struct Keystore<'a> {
    pub flag: &'a str,
    pub key: &'a str,
    pub other: &'a str,
    /// Text of the file once `key` is in it (e.g. `- resource_id: KEY\n`).
    pub shows_key: &'a str,
    /// Text that is gone once `key` is removed again.
    pub gone: &'a str,
    /// Text of the file once `other` is in it.
    pub shows_other: &'a str,
}

/// `bin` decrypts `file` to [`PLAIN`] with no age identity, so only the
/// keystore's key can work.
#[track_caller]
pub fn decrypts_without_age(sb: &Sandbox, bin: Bin, file: &str) {
    let out = sb
        .cmd(bin, ["decrypt", file])
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .run()
        .ok();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        PLAIN,
        "{bin} decrypt {file}"
    );
}

/// A rule with two key groups, `group` (the keystore's, e.g. `gcp_kms:\n
/// - resource_id: KEY`, indented for its place) and the age key, threshold
/// 2: each binary writes, the other reads, and the file shows `shows`.
#[track_caller]
pub fn shamir_groups_with_age(sb: &Sandbox, age: &AgeKey, group: &str, shows: &str) {
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - {group}\n      - age:\n          - {}\n",
            age.recipient
        ),
    );
    for (writer, reader) in [
        (Bin::Ours, Bin::Ours),
        (Bin::Ours, Bin::Reference),
        (Bin::Reference, Bin::Ours),
    ] {
        let enc = encrypt(sb, writer, &[]);
        assert!(enc.contains("shamir_threshold: 2"), "{enc}");
        assert!(enc.contains(shows), "{enc}");
        decrypts(sb, reader, "enc.yaml");
    }
}

/// Both groups of [`shamir_groups_with_age`]'s file are needed: without the
/// age identity (group 1), 128.
#[track_caller]
pub fn age_group_is_needed(sb: &Sandbox) {
    sb.cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("SOPS_AGE_KEY_FILE", sb.path("none.txt"))
        .run()
        .fails_with(128, &["Group 1: FAILED", "Group 0: SUCCESS"]);
}

/// A creation rule (`rule`, e.g. `gcp_kms: 'A, B'`) naming two keys: each
/// binary writes, the other reads without age; the file has `marker` twice
/// and shows `shows`.
#[track_caller]
pub fn creation_rule_with_two_keys(sb: &Sandbox, rule: &str, marker: &str, shows: &str) {
    sb.write(".sops.yaml", format!("creation_rules:\n  - {rule}\n"));
    for (writer, reader) in [(Bin::Ours, Bin::Reference), (Bin::Reference, Bin::Ours)] {
        let enc = encrypt(sb, writer, &[]);
        assert_eq!(enc.matches(marker).count(), 2, "{enc}");
        assert!(enc.contains(shows), "{enc}");
        decrypts_without_age(sb, reader, "enc.yaml");
    }
}

/// `rotate --add-FLAG` adds the key to an age-only file (`added.yaml`);
/// with `--rm-age` only the keystore's key is left and both binaries
/// decrypt with it alone; `--rm-FLAG` takes it away again; `groups add
/// --FLAG OTHER` with threshold 2 makes a second group (`grouped.yaml`)
/// that both binaries decrypt with both keys.
pub fn rotate_adds_and_removes_keys_and_groups_add(sb: &Sandbox, age: &AgeKey, ks: &Keystore<'_>) {
    let (add, rm) = (format!("--add-{}", ks.flag), format!("--rm-{}", ks.flag));
    encrypt(sb, Bin::Ours, &["--age", &age.recipient]);
    let added = sb.run(Bin::Ours, ["rotate", &add, ks.key, "enc.yaml"]).ok();
    let added_text = String::from_utf8(added.clone()).unwrap();
    assert!(added_text.contains(ks.shows_key), "{added_text}");
    sb.write("added.yaml", &added);
    let removed = sb
        .run(
            Bin::Ours,
            ["rotate", "--rm-age", &age.recipient, "added.yaml"],
        )
        .ok();
    sb.write("keystore-only.yaml", &removed);
    decrypts_without_age(sb, Bin::Reference, "keystore-only.yaml");
    decrypts_without_age(sb, Bin::Ours, "keystore-only.yaml");
    let gone = sb
        .run(Bin::Ours, ["rotate", &rm, ks.key, "added.yaml"])
        .ok();
    let gone = String::from_utf8(gone).unwrap();
    assert!(!gone.contains(ks.gone), "{gone}");
    let grouped = sb
        .run(
            Bin::Ours,
            [
                "groups",
                "add",
                "--file",
                "enc.yaml",
                &format!("--{}", ks.flag),
                ks.other,
                "--shamir-secret-sharing-threshold",
                "2",
            ],
        )
        .ok();
    sb.write("grouped.yaml", &grouped);
    let grouped = String::from_utf8(grouped).unwrap();
    assert!(grouped.contains("key_groups:"), "{grouped}");
    assert!(grouped.contains(ks.shows_other), "{grouped}");
    decrypts(sb, Bin::Reference, "grouped.yaml");
    decrypts(sb, Bin::Ours, "grouped.yaml");
}

/// Runs `cmd` (a decrypt whose key cannot be reached) with a 1 s connect
/// time-out and [`UNREACHABLE_TOTAL_TIMEOUT`] in total, then `extra`; hands
/// the failure to `check` and asserts it came within
/// [`UNREACHABLE_WITHIN`], bounded by the connect time-out. The time taken.
#[track_caller]
pub fn unreachable_fails_quickly(
    cmd: Cmd<'_>,
    extra: &[(&str, &str)],
    check: impl FnOnce(&Output),
) -> Duration {
    let mut cmd = cmd
        .env("SOPS_KMS_CONNECT_TIMEOUT", "1s")
        .env("SOPS_KMS_TIMEOUT", UNREACHABLE_TOTAL_TIMEOUT);
    for (k, v) in extra {
        cmd = cmd.env(k, v);
    }
    let start = Instant::now();
    let out = cmd.run();
    let took = start.elapsed();
    check(&out);
    assert!(took < UNREACHABLE_WITHIN, "took {took:?}");
    took
}

/// `encrypt ARGS` by ours read by ours, by ours read by the reference and
/// by the reference read by ours, without age; each file shows every text
/// of `shows`.
#[track_caller]
pub fn round_trips_both_ways(sb: &Sandbox, args: &[&str], shows: &[&str]) {
    for (writer, reader) in [
        (Bin::Ours, Bin::Ours),
        (Bin::Ours, Bin::Reference),
        (Bin::Reference, Bin::Ours),
    ] {
        let enc = encrypt(sb, writer, args);
        for text in shows {
            assert!(enc.contains(text), "{writer}: {enc}");
        }
        decrypts_without_age(sb, reader, "enc.yaml");
    }
}

/// A ciphertext is bound to its key: the same `enc` under `other`'s name
/// does not decrypt (exit 128; ours names the key and says `ours`, the
/// reference says `reference`).
#[track_caller]
pub fn ciphertext_is_bound_to_its_key(
    sb: &Sandbox,
    ks: &Keystore<'_>,
    ours: &str,
    reference: &str,
) {
    let enc = encrypt(sb, Bin::Ours, &[&format!("--{}", ks.flag), ks.key]);
    sb.write("moved.yaml", enc.replace(ks.key, ks.other));
    sb.run(Bin::Ours, ["decrypt", "moved.yaml"])
        .fails_with(128, &[&format!("{}: FAILED", ks.other), ours]);
    sb.run(Bin::Reference, ["decrypt", "moved.yaml"])
        .fails_with(128, &[reference]);
}

/// Keys the fake refuses: `enc` (a file for `key`) with `key` replaced by
/// `id` fails to decrypt, exit 128, ours naming the key and saying each of
/// `ours` (no plaintext in the message), the reference saying `reference`;
/// encrypting for `id` fails with exit 1, "Could not generate data key",
/// for both.
#[track_caller]
pub fn refused_key(
    sb: &Sandbox,
    flag: &str,
    (enc, key): (&str, &str),
    id: &str,
    ours: &[&str],
    reference: &str,
) {
    sb.write("refused.yaml", enc.replace(key, id));
    let out = sb.run(Bin::Ours, ["decrypt", "refused.yaml"]);
    let failed = format!("{id}: FAILED");
    let mut says = vec![failed.as_str()];
    says.extend_from_slice(ours);
    out.fails_with(128, &says);
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    sb.run(Bin::Reference, ["decrypt", "refused.yaml"])
        .fails_with(128, &[reference]);
    for bin in [Bin::Ours, Bin::Reference] {
        sb.run(bin, ["encrypt", &format!("--{flag}"), id, "plain.yaml"])
            .fails_with(1, &["Could not generate data key", id]);
    }
}

/// A sandbox with `env` for every command, an age key as its identity and
/// [`PLAIN`] in `plain.yaml`.
pub fn sandbox_with<K: AsRef<str>, V: Into<std::ffi::OsString>>(
    env: impl IntoIterator<Item = (K, V)>,
) -> (Sandbox, AgeKey) {
    let mut sb = Sandbox::new();
    for (k, v) in env {
        sb.set_env(k.as_ref(), v);
    }
    let age = sb.age_keygen("age");
    sb.use_identity(&age);
    sb.write("plain.yaml", PLAIN);
    (sb, age)
}

/// The legacy `-e plain.yaml` by ours with the keys in the keystore's
/// variable `var` (e.g. `SOPS_GCP_KMS_IDS`), written to `enc2.yaml`; the
/// encrypted text.
pub fn encrypt_with_ids_variable(sb: &Sandbox, var: &str, ids: &str) -> String {
    let out = sb
        .cmd(Bin::Ours, ["-e", "plain.yaml"])
        .env(var, ids)
        .run()
        .ok();
    sb.write("enc2.yaml", &out);
    String::from_utf8(out).unwrap()
}
