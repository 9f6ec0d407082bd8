//! Issue 15: the plugin's failures print sops-core's hints (the ones the
//! `sops` binary prints) on the hint line, and never a value: a corpus of
//! broken files, each holding [`SECRET`], must not show the secret or any
//! part of it of 4 characters or more on stderr nor in the error string
//! Argo CD shows.

use sops_core::stores::Format;

use crate::harness::{Key, Outcome, Request, World, encrypt};
use crate::kustomize::{regex_rule, secret};

/// Its 4-character parts are neither English, nor hex, nor bech32.
const SECRET: &str = "Zxq_Vwk_Jqzp_Xvb";

#[track_caller]
fn assert_no_value(out: &Outcome) {
    let stderr = out.stderr.to_lowercase();
    let error = out.error.clone().unwrap_or_default().to_lowercase();
    let chars: Vec<char> = SECRET.chars().collect();
    for len in 4..=chars.len() {
        for start in 0..=chars.len() - len {
            let part: String = chars[start..start + len]
                .iter()
                .collect::<String>()
                .to_lowercase();
            assert!(
                !stderr.contains(&part),
                "stderr shows {part:?}:\n{}",
                out.stderr
            );
            assert!(!error.contains(&part), "error string shows {part:?}");
        }
    }
}

/// The message line, then one hint line holding `fragment`.
#[track_caller]
fn assert_hint(out: &Outcome, fragment: &str) {
    let hint = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("hint: "))
        .unwrap_or_else(|| panic!("no hint line:\n{}", out.stderr));
    assert!(
        hint.contains(fragment),
        "hint lacks {fragment:?}:\n{}",
        out.stderr
    );
}

fn encrypted(w: &World) -> String {
    let enc = encrypt(
        &secret("api", "token", SECRET),
        Format::Yaml,
        &w.key.recipient,
        regex_rule(),
    );
    String::from_utf8(enc).unwrap()
}

fn generate_with(file: impl FnOnce(&World, String) -> String) -> Outcome {
    let w = World::new();
    let text = encrypted(&w);
    w.write("app/api.yaml", file(&w, text));
    Request::generate(&w, "app").run()
}

#[test]
fn plugin_failures_show_core_hints_and_no_value() {
    // MAC mismatch: a value in the clear part edited.
    let out = generate_with(|_, t| t.replace("namespace: team-a", "namespace: team-b"));
    out.failure(Some(51));
    assert_no_value(&out);
    assert_hint(&out, "--ignore-mac");

    // A ciphertext edited: authentication fails.
    let out = generate_with(|_, t| {
        let at = t.find("ENC[AES256_GCM,data:").unwrap() + "ENC[AES256_GCM,data:".len();
        let new = if t.as_bytes()[at] == b'A' { 'B' } else { 'A' };
        format!("{}{new}{}", &t[..at], &t[at + 1..])
    });
    out.failure(Some(25));
    assert_no_value(&out);
    assert_hint(&out, "sops set");

    // The encrypted value replaced by the secret in the clear (sops 3.11
    // echoes it in "Input string … does not match sops' data format").
    let out = generate_with(|_, t| {
        let line = t
            .lines()
            .find(|l| l.contains("token: ENC["))
            .unwrap()
            .to_owned();
        t.replace(&line, &format!("  token: {SECRET}"))
    });
    out.failure(None);
    assert_no_value(&out);
    assert_hint(&out, "not an ENC[");

    // The value's type changed to one its text cannot be parsed as.
    let out = generate_with(|_, t| t.replacen("type:str]", "type:int]", 1));
    out.failure(None);
    assert_no_value(&out);

    // The sops block edited by hand.
    let out = generate_with(|_, t| t.replacen("    version:", "    version: x\n    v0:", 1));
    out.failure(None);
    assert_no_value(&out);

    // Encrypted for someone else: the sidecar's own hint (keys come only
    // from the sidecar) stays.
    let out = generate_with(|w, _| {
        let other = Key::generate(w.path(), "other.txt");
        String::from_utf8(encrypt(
            &secret("api", "token", SECRET),
            Format::Yaml,
            &other.recipient,
            regex_rule(),
        ))
        .unwrap()
    });
    out.failure(Some(128));
    assert_no_value(&out);
    assert_hint(&out, "SOPS_AGE_KEY_FILE");

    // A plain manifest that does not parse, the secret on the bad line.
    let w = World::new();
    w.write("app/bad.yaml", format!("a: \"{SECRET}\n  - [x\n"));
    let out = Request::generate(&w, "app").run();
    out.failure(None);
    assert_no_value(&out);
}
