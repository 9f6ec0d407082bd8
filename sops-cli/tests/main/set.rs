//! `set`, `unset` (and the legacy `--set`) and `filestatus`, against the reference.

use std::path::{Path, PathBuf};

use crate::support::{Bin, Sandbox, assert_same_bytes, encrypted_by_reference, read};

const PLAIN: &str = "app:\n    name: demo\n    port: 8080\n    tags:\n        - a\n        - b\n    password: hunter2\nother: x\n";

/// A sandbox with PLAIN encrypted by the reference, and a copy per binary.
struct Fx {
    sb: Sandbox,
    recipient: String,
    original: Vec<u8>,
}

impl Fx {
    fn new() -> Self {
        let (sb, key, _, original) = encrypted_by_reference(PLAIN, "original.enc.yaml");
        Self {
            sb,
            recipient: key.recipient,
            original,
        }
    }

    fn copy_for(&self, bin: Bin) -> PathBuf {
        self.sb.write(&format!("{bin}.enc.yaml"), &self.original)
    }

    fn decrypt(&self, file: &Path) -> Vec<u8> {
        self.sb
            .run(
                Bin::Reference,
                ["decrypt".into(), file.as_os_str().to_owned()],
            )
            .ok()
    }

    /// Lines of `file` that do not appear in the original encrypted file.
    fn changed_lines(&self, file: &Path) -> Vec<String> {
        let now = String::from_utf8(read(file)).unwrap();
        let before = String::from_utf8(self.original.clone()).unwrap();
        let old: std::collections::HashSet<&str> = before.lines().collect();
        now.lines()
            .filter(|l| !old.contains(l))
            .map(|l| l.trim().to_owned())
            .collect()
    }
}

/// `<command> [flags…] FILE ARGS…`: flags go before FILE, because sops'
/// argument re-ordering would take the word after a bool flag with it.
fn args(parts: &[&str], file: &Path) -> Vec<std::ffi::OsString> {
    let flags = parts[1..].iter().take_while(|p| p.starts_with("--"));
    let rest = parts[1..].iter().skip_while(|p| p.starts_with("--"));
    let mut v: Vec<std::ffi::OsString> = vec![parts[0].into()];
    v.extend(flags.map(Into::into));
    v.push(file.as_os_str().to_owned());
    v.extend(rest.map(Into::into));
    v
}

#[test]
fn set_matches_reference_and_keeps_other_ciphertexts() {
    let fx = Fx::new();
    for (path, value) in [
        (r#"["app"]["password"]"#, r#""s3cret""#),
        (r#"["app"]["new"]["deep"]"#, "{\"k\": [1, true]}"),
        (r#"["app"]["tags"][7]"#, "null"),
    ] {
        let mut outputs = Vec::new();
        for bin in Bin::BOTH {
            let file = fx.copy_for(bin);
            fx.sb.run(bin, args(&["set", path, value], &file)).ok();
            outputs.push((bin, file));
        }
        let want = fx.decrypt(&outputs[1].1);
        assert_same_bytes(
            &format!("set {path}: reference decrypt of ours"),
            &fx.decrypt(&outputs[0].1),
            &want,
        );
        // Only the edited value(s), lastmodified and the MAC change.
        let ours = fx.changed_lines(&outputs[0].1);
        assert!(ours.iter().any(|l| l.starts_with("mac:")), "{ours:?}");
        assert!(
            !ours
                .iter()
                .any(|l| l.starts_with("name:") || l.starts_with("other:")),
            "unchanged values must keep their ciphertext: {ours:?}"
        );
    }
}

#[test]
fn set_idempotent_and_bad_values_leave_the_file_alone() {
    let fx = Fx::new();
    for bin in Bin::BOTH {
        let file = fx.copy_for(bin);
        fx.sb
            .run(
                bin,
                args(
                    &["set", "--idempotent", r#"["app"]["name"]"#, r#""demo""#],
                    &file,
                ),
            )
            .ok();
        assert_same_bytes(
            &format!("{bin}: idempotent set"),
            &read(&file),
            &fx.original,
        );
        fx.sb
            .run(bin, args(&["set", r#"["app"]["name"]"#, "not json"], &file))
            .fails_with(7, &["Value for --set is not valid JSON"]);
        fx.sb
            .run(bin, args(&["set", "[x", r#""v""#], &file))
            .fails_with(7, &["Invalid set index format"]);
        fx.sb
            .run(bin, args(&["set", r#"["app"]"#, "[1, 2]"], &file))
            .fails_with(7, &["Invalid --set value format"]);
        assert_same_bytes(&format!("{bin}: failed sets"), &read(&file), &fx.original);
        let missing = fx.sb.path("missing.yaml");
        fx.sb
            .run(bin, args(&["set", r#"["a"]"#, "1"], &missing))
            .fails_with(2, &["no such file or directory"]);
    }
}

#[test]
fn set_value_stdin_and_legacy_form() {
    let fx = Fx::new();
    let mut results = Vec::new();
    for bin in Bin::BOTH {
        let file = fx.copy_for(bin);
        fx.sb
            .cmd(bin, args(&["set", "--value-stdin", r#"["other"]"#], &file))
            .stdin("{\"n\": 5}")
            .run()
            .ok();
        fx.sb
            .run(
                bin,
                [
                    "--set".into(),
                    r#"["app"]["port"] 9090"#.into(),
                    file.clone().into_os_string(),
                ],
            )
            .ok();
        results.push(fx.decrypt(&file));
    }
    assert_same_bytes("set --value-stdin then --set", &results[0], &results[1]);
}

#[test]
fn unset_matches_reference() {
    let fx = Fx::new();
    let mut results = Vec::new();
    for bin in Bin::BOTH {
        let file = fx.copy_for(bin);
        fx.sb
            .run(bin, args(&["unset", r#"["app"]["tags"][0]"#], &file))
            .ok();
        fx.sb.run(bin, args(&["unset", r#"["other"]"#], &file)).ok();
        let before = read(&file);
        fx.sb
            .run(bin, args(&["unset", r#"["nope"]"#], &file))
            .fails_with(1, &["Key not found: nope"]);
        fx.sb
            .run(bin, args(&["unset", r#"["app"]["tags"][9]"#], &file))
            .fails_with(1, &["Index 9 out of bounds"]);
        fx.sb
            .run(bin, args(&["unset", "--idempotent", r#"["nope"]"#], &file))
            .ok();
        assert_same_bytes(
            &format!("{bin}: failed or idempotent unsets"),
            &read(&file),
            &before,
        );
        results.push(fx.decrypt(&file));
    }
    assert_same_bytes("unset results", &results[0], &results[1]);
}

#[test]
fn filestatus_matches_reference() {
    let fx = Fx::new();
    let enc = fx.copy_for(Bin::Reference);
    let plain = fx.sb.path("plain.yaml");
    for bin in Bin::BOTH {
        assert_eq!(
            fx.sb
                .run(bin, ["filestatus".into(), enc.clone().into_os_string()])
                .ok(),
            b"{\"encrypted\":true}\n",
            "{bin}"
        );
        assert_eq!(
            fx.sb
                .run(bin, ["filestatus".into(), plain.clone().into_os_string()])
                .ok(),
            b"{\"encrypted\":false}\n",
            "{bin}"
        );
        fx.sb
            .run(bin, ["filestatus"])
            .fails_with(100, &["no file specified"]);
    }
}

/// issue 10: a path that does not fit the file, or that names the metadata,
/// fails with a clear error and leaves the file as it was. sops 3.11 exits
/// 0 for an index on a mapping and writes the same values back (only
/// `lastmodified` and the MAC's encryption change, so the bytes differ once
/// the clock has passed a second), panics (exit 2) for a key
/// on a sequence and for an empty path, and writes `["sops"]` into a file
/// that no tool can read again: each is checked here, then ours.
#[test]
fn r10_set_paths_that_do_not_fit_fail_and_change_nothing() {
    let fx = Fx::new();
    let reference = fx.copy_for(Bin::Reference);
    let ours = fx.copy_for(Bin::Ours);
    let run = |bin, file: &Path, path: &str| fx.sb.run(bin, args(&["set", path, r#""v""#], file));
    // What the reference does.
    run(Bin::Reference, &reference, "[0]").ok();
    run(Bin::Reference, &reference, r#"["app"][0]"#).ok();
    let rewritten = fx.changed_lines(&reference);
    assert!(
        rewritten
            .iter()
            .all(|l| l.starts_with("lastmodified:") || l.starts_with("mac:")),
        "reference: index on a mapping changed more than its timestamp and MAC: {rewritten:?}"
    );
    assert_same_bytes(
        "reference: index on a mapping",
        &fx.decrypt(&reference),
        &fx.decrypt(&fx.sb.write("original-again.enc.yaml", &fx.original)),
    );
    run(Bin::Reference, &reference, r#"["app"]["tags"]["k"]"#).fails_with(2, &["panic"]);
    run(Bin::Reference, &reference, "").fails_with(2, &["panic"]);
    run(Bin::Reference, &reference, r#"["sops"]"#).ok();
    fx.sb
        .run(
            Bin::Reference,
            ["decrypt".into(), reference.as_os_str().to_owned()],
        )
        .fails_with(1, &["mapping key \"sops\" already defined"]);
    // Ours: an error, and not a byte changed.
    run(Bin::Ours, &ours, "[0]").fails_with(
        1,
        &["Error: cannot set [0]: the value at that place is a mapping, not a sequence"],
    );
    run(Bin::Ours, &ours, r#"["app"][0]"#).fails_with(1, &["cannot set [0]"]);
    run(Bin::Ours, &ours, r#"["app"]["tags"]["k"]"#).fails_with(
        1,
        &["cannot set ['k']: the value at that place is a sequence, not a mapping"],
    );
    run(Bin::Ours, &ours, "").fails_with(7, &["Invalid set index: the path is empty"]);
    // sops 3.13 (#2098): a top-level `sops` key is refused after
    // decryption, exit 203 with encrypt's text.
    for path in [r#"["sops"]"#, r#"["sops"]["x"]"#] {
        run(Bin::Ours, &ours, path).fails_with(
            203,
            &[
                "The file you have provided contains a top-level entry called 'sops'",
                "for example: `sops edit my_file.yaml`",
            ],
        );
    }
    assert_same_bytes("ours: refused sets", &read(&ours), &fx.original);
    // A nested `sops` key is an ordinary key.
    run(Bin::Ours, &ours, r#"["app"]["sops"]"#).ok();
    // dotenv keeps its metadata in `sops_…` keys.
    let plain = fx.sb.write("x.plain.env", "A=1\n");
    let encrypted = fx
        .sb
        .run(
            Bin::Reference,
            [
                "encrypt".into(),
                "--age".into(),
                fx.recipient.clone().into(),
                plain.into_os_string(),
            ],
        )
        .ok();
    let env = fx.sb.write("x.env", &encrypted);
    fx.sb
        .run(Bin::Ours, args(&["set", r#"["sops_mac"]"#, r#""v""#], &env))
        .fails_with(203, &["top-level entries starting with 'sops_'"]);
    assert_eq!(read(&env), encrypted);
}
