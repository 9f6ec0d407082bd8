//! `sops doctor` (issue 14): per-key results with reasons, the Shamir
//! threshold, the MAC, drift from `.sops.yaml`, `--json`, several files,
//! exit codes; and the per-key lines of the plain decrypt error compared
//! with the reference. Files are written by the reference sops (doctor
//! writes nothing). No value ever appears in doctor's output.

use serde_json::Value as Json;
use test_support::{GnupgHome, aws_test_env, moto_create_key, moto_endpoint};

use super::cloud_support::unreachable_fails_quickly;
use super::support::{AgeKey, Bin, Output, Sandbox};
use super::vault;

/// The secret value of every plaintext here: must never be printed.
const SECRET: &str = "hunter2-do-not-print";

fn plain() -> String {
    format!("secret: {SECRET}\nnote_unencrypted: visible\n")
}

/// A sandbox with `plain.yaml` and two age keys, no identity in use.
fn sandbox() -> (Sandbox, AgeKey, AgeKey) {
    let sb = Sandbox::new();
    let a = sb.age_keygen("a");
    let b = sb.age_keygen("b");
    sb.write("plain.yaml", plain());
    (sb, a, b)
}

/// The reference encrypts `plain.yaml` with `args` into `name`.
fn reference_encrypt(sb: &Sandbox, name: &str, args: &[&str]) {
    let mut all = vec!["encrypt", "--unencrypted-suffix", "_unencrypted"];
    all.extend_from_slice(args);
    all.extend(["--filename-override", name, "plain.yaml"]);
    let out = sb.run(Bin::Reference, &all).ok();
    sb.write(name, out);
}

#[track_caller]
fn doctor(sb: &Sandbox, args: &[&str]) -> Output {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    let out = sb.run(Bin::Ours, &all);
    for never in [SECRET, "AGE-SECRET-KEY"] {
        assert!(
            !out.stdout_str().contains(never) && !out.stderr.contains(never),
            "doctor printed a value or key material:\n{}\n{}",
            out.stdout_str(),
            out.stderr
        );
    }
    out
}

#[track_caller]
fn json(sb: &Sandbox, args: &[&str]) -> (Output, Json) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = doctor(sb, &all);
    let parsed = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json output does not parse: {e}\n{}", out.stdout_str()));
    (out, parsed)
}

#[track_caller]
fn has(out: &Output, fragments: &[&str]) {
    let text = out.stdout_str();
    for f in fragments {
        assert!(text.contains(f), "doctor output lacks {f:?}:\n{text}");
    }
}

/// The line of key `id` (of keystore `keystore`) in doctor's text output,
/// with the `here:` line that may follow it.
#[track_caller]
fn key_line(out: &Output, keystore: &str, id: &str) -> String {
    let text = out.stdout_str();
    let prefix = format!("    {keystore} {id}: ");
    let mut lines = text.lines().skip_while(|l| !l.starts_with(&prefix));
    let line = lines
        .next()
        .unwrap_or_else(|| panic!("no line for {keystore} {id}:\n{text}"))
        .to_owned();
    match lines.next() {
        Some(here) if here.starts_with("      here: ") => format!("{line}\n{here}"),
        _ => line,
    }
}

#[track_caller]
fn line_has(line: &str, fragments: &[&str]) {
    for f in fragments {
        assert!(line.contains(f), "the key's line lacks {f:?}:\n{line}");
    }
}

#[test]
fn doctor_with_the_right_identity_passes() {
    let (mut sb, a, _) = sandbox();
    reference_encrypt(&sb, "enc.yaml", &["--age", &a.recipient]);
    sb.use_identity(&a);
    let out = doctor(&sb, &["enc.yaml"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout_str(), out.stderr);
    has(
        &out,
        &[
            &format!("age {}: OK", a.recipient),
            "here: identity for this recipient from SOPS_AGE_KEY_FILE",
            "threshold: 1 of 1 group(s) needed, 1 available: met",
            "MAC: verified",
            "result: decryptable",
            &format!(
                "SOPS_AGE_KEY_FILE ({}): identity {}",
                a.identity_file.display(),
                a.recipient
            ),
            ".sops.yaml: none found",
        ],
    );
}

#[test]
fn doctor_without_any_identity_says_where_it_looked() {
    let (sb, a, _) = sandbox();
    reference_encrypt(&sb, "enc.yaml", &["--age", &a.recipient]);
    let out = doctor(&sb, &["enc.yaml"]);
    assert_eq!(out.code, 128, "{}", out.stdout_str());
    has(
        &out,
        &[
            &format!(
                "age {}: NO CREDENTIALS - failed to load age identities",
                a.recipient
            ),
            "here: no age identity loaded",
            "SOPS_AGE_KEY_FILE: no identity (unset or missing)",
            "NOT met",
            "MAC: not-checked",
            "result: NOT DECRYPTABLE (exit 128)",
        ],
    );
    assert!(out.stderr.contains("1 of 1 file(s) cannot be decrypted"));
}

#[test]
fn doctor_with_a_wrong_identity_names_the_mismatch() {
    let (mut sb, a, b) = sandbox();
    reference_encrypt(&sb, "enc.yaml", &["--age", &a.recipient]);
    sb.use_identity(&b);
    let out = doctor(&sb, &["enc.yaml"]);
    assert_eq!(out.code, 128, "{}", out.stdout_str());
    has(
        &out,
        &[
            "identity did not match any of the recipients",
            "here: none of the 1 age identities loaded is this recipient's",
            &format!(
                "SOPS_AGE_KEY_FILE ({}): identity {}",
                b.identity_file.display(),
                b.recipient
            ),
        ],
    );
}

#[test]
fn doctor_reports_a_tampered_mac() {
    let (mut sb, a, _) = sandbox();
    reference_encrypt(&sb, "enc.yaml", &["--age", &a.recipient]);
    let text = std::fs::read_to_string(sb.path("enc.yaml")).unwrap();
    assert!(text.contains("note_unencrypted: visible"));
    sb.write(
        "enc.yaml",
        text.replace("note_unencrypted: visible", "note_unencrypted: changed"),
    );
    sb.use_identity(&a);
    let out = doctor(&sb, &["enc.yaml"]);
    assert_eq!(out.code, 51, "{}", out.stdout_str());
    has(
        &out,
        &[
            &format!("age {}: OK", a.recipient),
            "MAC: mismatch",
            "result: NOT DECRYPTABLE (exit 51)",
        ],
    );
    // The reference agrees it is a MAC failure.
    assert_eq!(sb.run(Bin::Reference, ["decrypt", "enc.yaml"]).code, 51);
}

#[test]
fn doctor_checks_the_shamir_threshold() {
    let (mut sb, a, b) = sandbox();
    let c = sb.age_keygen("c");
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{}]\n      - age: [{}]\n      - age: [{}]\n",
            a.recipient, b.recipient, c.recipient
        ),
    );
    reference_encrypt(&sb, "enc.yaml", &[]);
    sb.use_identity(&a);
    let (out, report) = json(&sb, &["enc.yaml"]);
    assert_eq!(out.code, 128, "{}", out.stdout_str());
    let file = &report["files"][0];
    assert_eq!(file["threshold"], 2);
    assert_eq!(file["groups_available"], 1);
    assert_eq!(file["threshold_met"], false);
    assert_eq!(file["groups"][0]["available"], true);
    assert_eq!(file["groups"][1]["keys"][0]["id"], b.recipient.as_str());
    assert_eq!(file["groups"][1]["keys"][0]["status"], "failed");
    assert_eq!(file["rule"]["status"], "matches");
    // Two identities: met, decrypts.
    let two = format!(
        "{}\n{}",
        std::fs::read_to_string(&a.identity_file).unwrap(),
        std::fs::read_to_string(&c.identity_file).unwrap()
    );
    sb.remove_env("SOPS_AGE_KEY_FILE");
    sb.set_env("SOPS_AGE_KEY", two);
    let out = doctor(&sb, &["enc.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stdout_str());
    has(
        &out,
        &[
            "threshold: 2 of 3 group(s) needed, 2 available: met",
            "group 1: unavailable",
            "MAC: verified",
        ],
    );
}

#[test]
fn doctor_reports_drift_from_the_creation_rule() {
    let (mut sb, a, b) = sandbox();
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {}\n", a.recipient),
    );
    reference_encrypt(&sb, "enc.yaml", &[]);
    sb.use_identity(&a);
    has(
        &doctor(&sb, &["enc.yaml"]),
        &[".sops.yaml: keys match the creation rule"],
    );
    // The rule gains a recipient: the file is behind it.
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - age: {},{}\n",
            a.recipient, b.recipient
        ),
    );
    let out = doctor(&sb, &["enc.yaml"]);
    assert_eq!(out.code, 0, "drift alone does not fail");
    has(
        &out,
        &[
            "run `sops updatekeys enc.yaml`",
            &format!("group 0: +++ {}", b.recipient),
        ],
    );
    let (_, report) = json(&sb, &["enc.yaml"]);
    let rule = &report["files"][0]["rule"];
    assert_eq!(rule["status"], "drift");
    assert_eq!(rule["groups"][0]["added"][0], b.recipient.as_str());
    assert_eq!(rule["groups"][0]["kept"][0], a.recipient.as_str());
    // After updatekeys the keys match again.
    sb.run(Bin::Ours, ["updatekeys", "-y", "enc.yaml"]).ok();
    has(
        &doctor(&sb, &["enc.yaml"]),
        &[".sops.yaml: keys match the creation rule"],
    );
}

#[test]
fn doctor_json_covers_several_files_and_never_a_value() {
    let (mut sb, a, b) = sandbox();
    reference_encrypt(&sb, "ok.yaml", &["--age", &a.recipient]);
    reference_encrypt(&sb, "other.yaml", &["--age", &b.recipient]);
    sb.write("plain-copy.yaml", plain());
    sb.use_identity(&a);
    let (out, report) = json(
        &sb,
        &["ok.yaml", "other.yaml", "missing.yaml", "plain-copy.yaml"],
    );
    // The first failing file's code: no key for other.yaml.
    assert_eq!(out.code, 128, "{}", out.stdout_str());
    assert_eq!(report["ok"], false);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 4);
    assert_eq!(files[0]["path"], "ok.yaml");
    assert_eq!(files[0]["decrypts"], true);
    assert_eq!(files[0]["mac"], "verified");
    assert_eq!(files[0]["exit_code"], 0);
    assert_eq!(files[0]["groups"][0]["keys"][0]["type"], "age");
    assert_eq!(files[0]["groups"][0]["keys"][0]["status"], "ok");
    assert_eq!(files[1]["decrypts"], false);
    assert_eq!(files[1]["exit_code"], 128);
    assert_eq!(files[1]["mac"], "not-checked");
    let reason = files[1]["groups"][0]["keys"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("identity did not match"), "{reason}");
    assert_eq!(files[2]["decrypts"], false);
    assert!(files[2]["error"].as_str().unwrap().contains("missing.yaml"));
    // A plaintext file: not a sops file, its value never shown.
    assert_eq!(files[3]["decrypts"], false);
    assert!(files[3]["error"].as_str().is_some());
    let credentials = report["credentials"].as_array().unwrap();
    let location = format!("SOPS_AGE_KEY_FILE ({})", a.identity_file.display());
    assert!(credentials.iter().any(|c| c["type"] == "age"
        && c["location"] == location.as_str()
        && c["state"] == format!("identity {}", a.recipient).as_str()));
}

#[test]
fn doctor_names_the_kms_failure() {
    let endpoint = moto_endpoint();
    let (mut sb, a, _) = sandbox();
    for (k, v) in aws_test_env(&endpoint) {
        sb.set_env(k, v);
    }
    let arn = moto_create_key(&endpoint, "us-east-1");
    reference_encrypt(
        &sb,
        "enc.yaml",
        &["--kms", &arn, "--encryption-context", "app:demo"],
    );
    sb.use_identity(&a);
    has(
        &doctor(&sb, &["enc.yaml"]),
        &[&format!("kms {arn}|app:demo: OK")],
    );
    let text = std::fs::read_to_string(sb.path("enc.yaml")).unwrap();
    sb.write("wrong.yaml", text.replace("app: demo", "app: other"));
    let out = doctor(&sb, &["wrong.yaml"]);
    assert_eq!(out.code, 128, "{}", out.stdout_str());
    has(
        &out,
        &[
            &format!("kms {arn}|app:other: FAILED"),
            "invalid ciphertext or encryption context",
            "AWS_ACCESS_KEY_ID: set",
        ],
    );
    assert!(!out.stdout_str().contains("AKIA"), "no credential values");
}

/// The plain decrypt error lists every key of every group on its own line
/// with its reason, as the reference does, and keeps exit 128.
#[test]
fn decrypt_error_lists_each_key_with_its_reason() {
    let (mut sb, a, b) = sandbox();
    let c = sb.age_keygen("c");
    reference_encrypt(
        &sb,
        "enc.yaml",
        &["--age", &format!("{},{}", a.recipient, b.recipient)],
    );
    sb.use_identity(&c);
    let ours = sb.run(Bin::Ours, ["decrypt", "enc.yaml"]);
    let reference = sb.run(Bin::Reference, ["decrypt", "enc.yaml"]);
    assert_eq!((ours.code, reference.code), (128, 128));
    let key_lines = |stderr: &str| -> Vec<String> {
        stderr
            .lines()
            .filter(|l| l.ends_with(": FAILED") || l.ends_with(": SUCCESS"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(key_lines(&ours.stderr), key_lines(&reference.stderr));
    for key in [&a, &b] {
        let header = format!(
            "  {}: FAILED\n    - | failed to create reader",
            key.recipient
        );
        assert!(ours.stderr.contains(&header), "{}", ours.stderr);
    }
}

/// A sandbox whose age key is not the file's; Vault's token `root`.
fn vault_sandbox() -> (Sandbox, AgeKey) {
    let (mut sb, a, _) = sandbox();
    sb.set_env("VAULT_TOKEN", "root");
    sb.set_env("SOPS_DISABLE_VERSION_CHECK", "true");
    sb.use_identity(&a);
    (sb, a)
}

/// Access denied: a Vault transit key with a wrong token. The fake's
/// "permission denied" is on that key's line, exit 128.
#[test]
fn doctor_names_an_access_denied_key() {
    let (mut sb, _) = vault_sandbox();
    let key = vault::uri("sops", "doctor-denied");
    reference_encrypt(&sb, "enc.yaml", &["--hc-vault-transit", &key]);
    has(
        &doctor(&sb, &["enc.yaml"]),
        &[&format!("hc_vault {key}: OK")],
    );
    sb.set_env("VAULT_TOKEN", "wrong");
    let out = doctor(&sb, &["enc.yaml"]);
    assert_eq!(out.code, 128, "{}", out.stdout_str());
    line_has(
        &key_line(&out, "hc_vault", &key),
        &["FAILED", "permission denied"],
    );
    has(
        &out,
        &["VAULT_TOKEN: set", "result: NOT DECRYPTABLE (exit 128)"],
    );
    assert!(!out.stdout_str().contains("wrong"), "no token value");
    let (out, report) = json(&sb, &["enc.yaml"]);
    assert_eq!(out.code, 128);
    let k = &report["files"][0]["groups"][0]["keys"][0];
    assert_eq!(k["status"], "failed");
    assert!(k["reason"].as_str().unwrap().contains("permission denied"));
}

/// An unreachable endpoint (a closed port): named on the key's line,
/// exit 128, within the connect time-out rather than the total one.
#[test]
fn doctor_names_an_unreachable_endpoint_quickly() {
    let (sb, _) = vault_sandbox();
    let key = vault::uri("sops", "doctor-unreachable");
    reference_encrypt(&sb, "enc.yaml", &["--hc-vault-transit", &key]);
    let closed = "http://127.0.0.1:9";
    let text = std::fs::read_to_string(sb.path("enc.yaml")).unwrap();
    sb.write("closed.yaml", text.replace(&vault::addr(), closed));
    let closed_key = format!("{closed}/v1/sops/keys/doctor-unreachable");
    unreachable_fails_quickly(sb.cmd(Bin::Ours, ["doctor", "closed.yaml"]), &[], |out| {
        assert_eq!(out.code, 128, "{}\n{}", out.stdout_str(), out.stderr);
        assert!(!out.stdout_str().contains(SECRET) && !out.stderr.contains(SECRET));
        line_has(
            &key_line(out, "hc_vault", &closed_key),
            &["FAILED", "Vault unreachable"],
        );
        has(out, &["result: NOT DECRYPTABLE (exit 128)"]);
    });
}

/// A PGP key: with its secret key in the gpg home it works and says so;
/// with only the public key there, the key's line says why and the
/// `here:` line that gpg has no secret key.
#[test]
fn doctor_tells_whether_gpg_holds_the_secret_key() {
    let (mut sb, _, _) = sandbox();
    let full = GnupgHome::new(&sb.path("gnupg"));
    sb.set_env("GNUPGHOME", full.dir());
    let fp = full.generate("doctor");
    reference_encrypt(&sb, "enc.yaml", &["--pgp", &fp]);
    let out = doctor(&sb, &["enc.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stdout_str());
    line_has(
        &key_line(&out, "pgp", &fp),
        &["OK", "here: secret key in the gpg keyring"],
    );
    has(&out, &[&format!("GNUPGHOME={}", full.dir().display())]);
    // Another home with the public key alone.
    let public = sb.write("public.asc", full.gpg(&["--armor", "--export", &fp]));
    let bare = GnupgHome::new(&sb.path("gnupg-public"));
    bare.import(&public);
    sb.set_env("GNUPGHOME", bare.dir());
    let out = doctor(&sb, &["enc.yaml"]);
    assert_eq!(out.code, 128, "{}", out.stdout_str());
    line_has(
        &key_line(&out, "pgp", &fp),
        &[
            "FAILED",
            "decryption failed: No secret key",
            "here: no secret key for this fingerprint in the gpg keyring",
        ],
    );
    let (_, report) = json(&sb, &["enc.yaml"]);
    let k = &report["files"][0]["groups"][0]["keys"][0];
    assert_eq!(k["status"], "failed");
    assert!(k["reason"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(
        k["local"],
        "no secret key for this fingerprint in the gpg keyring"
    );
}

/// Age identity locations show the file as well as the variable that named
/// it, and the default `~/.config/sops/age/keys.txt` expanded; in text and
/// `--json`, never the key material.
#[test]
fn doctor_shows_age_identity_files() {
    let (mut sb, a, b) = sandbox();
    reference_encrypt(&sb, "enc.yaml", &["--age", &a.recipient]);
    let default = sb.path(".config/sops/age/keys.txt");
    // Nothing anywhere: the unset variable and the expanded default path.
    let out = doctor(&sb, &["enc.yaml"]);
    has(
        &out,
        &[
            "SOPS_AGE_KEY_FILE: no identity (unset or missing)",
            &format!("{}: no identity (unset or missing)", default.display()),
        ],
    );
    // A key file that holds no identity: its path is named.
    let empty = sb.write("empty.txt", "# nothing here\n");
    sb.set_env("SOPS_AGE_KEY_FILE", &empty);
    has(
        &doctor(&sb, &["enc.yaml"]),
        &[&format!(
            "SOPS_AGE_KEY_FILE ({}): no identity (unset or missing)",
            empty.display()
        )],
    );
    // The default file with the right identity, SOPS_AGE_KEY_FILE with
    // another one: both paths, each with its recipient.
    sb.write(
        ".config/sops/age/keys.txt",
        std::fs::read(&a.identity_file).unwrap(),
    );
    sb.use_identity(&b);
    let out = doctor(&sb, &["enc.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stdout_str());
    has(
        &out,
        &[
            &format!("{}: identity {}", default.display(), a.recipient),
            &format!(
                "SOPS_AGE_KEY_FILE ({}): identity {}",
                b.identity_file.display(),
                b.recipient
            ),
            &format!(
                "here: identity for this recipient from {}",
                default.display()
            ),
        ],
    );
    let (_, report) = json(&sb, &["enc.yaml"]);
    let locations: Vec<&str> = report["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "age" && c["state"].as_str().unwrap().starts_with("identity"))
        .map(|c| c["location"].as_str().unwrap())
        .collect();
    let b_location = format!("SOPS_AGE_KEY_FILE ({})", b.identity_file.display());
    assert_eq!(
        locations,
        [b_location.as_str(), default.to_str().unwrap()],
        "{report}"
    );
    assert_eq!(
        report["files"][0]["groups"][0]["keys"][0]["local"],
        format!("identity for this recipient from {}", default.display()).as_str()
    );
}
