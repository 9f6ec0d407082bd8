//! `sops replace` (ours) and the `git diff` textconv recipe of the README,
//! with the real `git` and the reference sops reading what we write.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{Bin, Sandbox, encrypted_by_reference, read};

const PLAIN: &str = "# database settings\ndb:\n    user: admin\n    password: hunter2\n    port: 5432\nhosts:\n    - a.example\n    - b.example\nold_token: abc\n";

/// PLAIN with one value changed, one key added, one removed, one list item
/// changed and a comment changed.
const NEW: &str = "# database settings (rotated)\ndb:\n    user: admin\n    password: correct horse\n    port: 5432\nhosts:\n    - a.example\n    - c.example\nnew_token: xyz\n";

fn os(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_owned()).collect()
}

fn reference_decrypt(sb: &Sandbox, file: &Path) -> Vec<u8> {
    sb.run(Bin::Reference, os(&[&"decrypt", &file])).ok()
}

/// What the reference prints for `plain` after its own encrypt/decrypt
/// round trip (its emitter's spelling of the document).
fn reference_round_trip(sb: &Sandbox, key: &str, plain: &str, ext: &str) -> Vec<u8> {
    let p = sb.write(&format!("roundtrip.{ext}"), plain);
    let enc = sb
        .run(Bin::Reference, os(&[&"encrypt", &"--age", &key, &p]))
        .ok();
    let e = sb.write(&format!("roundtrip.enc.{ext}"), enc);
    reference_decrypt(sb, &e)
}

/// The lines of `after` absent from `before`, trimmed, up to their `ENC[`.
fn new_line_keys(before: &[u8], after: &[u8]) -> Vec<String> {
    let before = String::from_utf8_lossy(before);
    let old: std::collections::HashSet<&str> = before.lines().collect();
    String::from_utf8_lossy(after)
        .lines()
        .filter(|l| !old.contains(l))
        .map(|l| l.split("ENC[").next().unwrap_or(l).trim().to_owned())
        .collect()
}

#[test]
fn replace_from_stdin_keeps_unchanged_ciphertext_and_the_reference_reads_it() {
    let (sb, _, file, original) = encrypted_by_reference(PLAIN, "secrets.enc.yaml");
    sb.cmd(Bin::Ours, os(&[&"replace", &file]))
        .stdin(NEW)
        .run()
        .ok();
    let out = read(&file);
    assert_eq!(reference_decrypt(&sb, &file), NEW.as_bytes());
    // Only the changed comment, values, the added key and the MAC are new
    // lines (lastmodified too, when the second changed).
    let mut changed = new_line_keys(&original, &out);
    changed.retain(|k| k != "lastmodified:");
    assert_eq!(changed, ["#", "password:", "-", "new_token:", "mac:"]);
    // Removed: the old token's line is gone; user, port and the first host
    // kept byte-identical lines.
    let gone = new_line_keys(&out, &original);
    assert!(gone.contains(&"old_token:".to_owned()), "{gone:?}");
    for kept in ["user:", "port:"] {
        assert!(!gone.contains(&kept.to_owned()), "{kept} changed: {gone:?}");
    }
    // The key groups (the wrapped data key) are exactly as they were.
    let age_block = |b: &[u8]| -> String {
        let t = String::from_utf8_lossy(b).into_owned();
        t[t.find("    age:").unwrap()..t.find("    lastmodified").unwrap()].to_owned()
    };
    assert_eq!(age_block(&original), age_block(&out));
}

#[test]
fn replace_from_a_file_in_json_dotenv_and_ini() {
    for (ext, old, new) in [
        (
            "json",
            "{\"a\": \"1\", \"b\": {\"c\": 2}}",
            "{\"a\": \"1\", \"b\": {\"c\": 3}, \"d\": [true]}",
        ),
        ("env", "A=1\nB=two\n", "A=1\nB=three\nC=4\n"),
        (
            "ini",
            "[s]\na = 1\nb = 2\n",
            "[s]\na = 1\nb = 3\n[t]\nc = 4\n",
        ),
    ] {
        let (sb, key, file, original) = encrypted_by_reference(old, &format!("secrets.enc.{ext}"));
        let plain = sb.write(&format!("new.{ext}"), new);
        sb.run(Bin::Ours, os(&[&"replace", &file, &plain])).ok();
        let out = read(&file);
        assert_eq!(
            String::from_utf8_lossy(&reference_decrypt(&sb, &file)),
            String::from_utf8_lossy(&reference_round_trip(&sb, &key.recipient, new, ext)),
            "{ext}"
        );
        let changed = new_line_keys(&original, &out);
        let a_line = |t: &[u8]| -> String {
            String::from_utf8_lossy(t)
                .lines()
                .find(|l| {
                    l.trim_start().starts_with("\"a\"")
                        || l.starts_with("A=")
                        || l.starts_with("a ")
                })
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            a_line(&original),
            a_line(&out),
            "{ext}: a kept its ciphertext"
        );
        assert!(!changed.is_empty(), "{ext}");
    }
}

#[test]
fn replace_with_a_plaintext_of_another_format() {
    let (sb, _, file, _) = encrypted_by_reference("a: 1\nb: x\n", "secrets.enc.yaml");
    sb.cmd(
        Bin::Ours,
        os(&[&"replace", &"--plaintext-type", &"json", &file, &"-"]),
    )
    .stdin("{\"a\": 1, \"b\": \"z\"}")
    .run()
    .ok();
    assert_eq!(reference_decrypt(&sb, &file), b"a: 1\nb: z\n");
    sb.run(
        Bin::Ours,
        os(&[&"replace", &"--plaintext-type", &"toml", &file, &"-"]),
    )
    .fails_with(1, &["--plaintext-type"]);
}

#[test]
fn replace_keeps_the_partial_encryption_rule_of_the_file() {
    let mut sb = Sandbox::new();
    let key = sb.age_keygen("k");
    sb.use_identity(&key);
    // `mac_only_encrypted` has no flag in sops 3.11: a creation rule.
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - age: {}\n    encrypted_regex: ^pass\n    mac_only_encrypted: true\n",
            key.recipient
        ),
    );
    let p = sb.write("plain.yaml", "user: admin\npassword: a\n");
    let enc = sb.run(Bin::Reference, os(&[&"encrypt", &p])).ok();
    // The file's own metadata decides, not today's rules.
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {}\n", key.recipient),
    );
    let file = sb.write("s.enc.yaml", &enc);
    sb.cmd(Bin::Ours, os(&[&"replace", &file]))
        .stdin("user: root\npassword: a\npassphrase: b\n")
        .run()
        .ok();
    let out = String::from_utf8(read(&file)).unwrap();
    assert!(out.contains("user: root\n"), "{out}");
    assert!(out.contains("passphrase: ENC["), "{out}");
    assert_eq!(
        reference_decrypt(&sb, &file),
        b"user: root\npassword: a\npassphrase: b\n"
    );
}

#[test]
fn replace_refusals_leave_the_file_untouched() {
    let (mut sb, _, file, original) = encrypted_by_reference(PLAIN, "secrets.enc.yaml");
    // The encrypted file itself as the plaintext: a top-level `sops` key.
    sb.run(Bin::Ours, os(&[&"replace", &file, &file]))
        .fails_with(203, &["top-level entry called 'sops'"]);
    sb.cmd(Bin::Ours, os(&[&"replace", &file]))
        .stdin("a: 1\nsops: {}\n")
        .run()
        .fails_with(203, &[]);
    sb.cmd(Bin::Ours, os(&[&"replace", &file]))
        .stdin("")
        .run()
        .fails_with(92, &["at least one document"]);
    sb.cmd(Bin::Ours, os(&[&"replace", &file]))
        .stdin("a: [unclosed\n")
        .run()
        .fails_with(2, &["Error unmarshalling file"]);
    sb.run(Bin::Ours, os(&[&"replace", &file, &"missing.yaml"]))
        .fails_with(100, &["non-existent file"]);
    sb.run(Bin::Ours, os(&[&"replace"]))
        .fails_with(100, &["no file specified"]);
    // Same plaintext: nothing to write, the bytes stay as they are.
    let same = sb
        .cmd(Bin::Ours, os(&[&"replace", &file]))
        .stdin(PLAIN)
        .run();
    same.ok();
    assert!(same.stderr.contains("not rewritten"), "{}", same.stderr);
    assert_eq!(read(&file), original);
    // No identity that decrypts the file: sops' exit code, file untouched.
    let other = sb.age_keygen("other");
    sb.use_identity(&other);
    sb.cmd(Bin::Ours, os(&[&"replace", &file]))
        .stdin(NEW)
        .run()
        .fails_with(128, &["Failed to get the data key"]);
    assert_eq!(read(&file), original);
}

/// `git ARGS` in `dir` with a private HOME and no system config; `vars`
/// are added (the identity for textconv).
fn git(dir: &Path, home: &Path, vars: &[(&str, &Path)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PAGER", "cat")
        .env("TMPDIR", home)
        .stdin(Stdio::null());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("run git")
}

#[track_caller]
fn git_ok(dir: &Path, home: &Path, vars: &[(&str, &Path)], args: &[&str]) -> String {
    let out = git(dir, home, vars, args);
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A repository in the sandbox with `secrets.enc.yaml` (PLAIN, encrypted
/// by the reference) committed.
fn repo() -> (Sandbox, crate::support::AgeKey, PathBuf, PathBuf) {
    let (sb, key, _, original) = encrypted_by_reference(PLAIN, "secrets.enc.yaml");
    let dir = sb.path("repo");
    std::fs::create_dir(&dir).unwrap();
    let home = sb.dir().to_path_buf();
    git_ok(&dir, &home, &[], &["init", "-q", "-b", "main"]);
    git_ok(&dir, &home, &[], &["config", "user.name", "Test"]);
    git_ok(
        &dir,
        &home,
        &[],
        &["config", "user.email", "test@example.com"],
    );
    let file = dir.join("secrets.enc.yaml");
    std::fs::write(&file, &original).unwrap();
    git_ok(&dir, &home, &[], &["add", "."]);
    git_ok(&dir, &home, &[], &["commit", "-qm", "secrets"]);
    (sb, key, dir, file)
}

#[test]
fn git_diff_after_replace_shows_only_the_changed_value() {
    let (sb, _, dir, file) = repo();
    let one_changed = PLAIN.replace("hunter2", "hunter3");
    sb.cmd(Bin::Ours, os(&[&"replace", &file]))
        .stdin(one_changed.as_str())
        .run()
        .ok();
    let diff = git_ok(&dir, sb.dir(), &[], &["diff", "-U0"]);
    let changed: Vec<String> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .map(|l| l[..1].to_owned() + l[1..].split("ENC[").next().unwrap().trim())
        .filter(|l| !l.ends_with("lastmodified:"))
        .collect();
    assert_eq!(
        changed,
        ["-password:", "+password:", "-mac:", "+mac:"],
        "git diff:\n{diff}"
    );
    assert_eq!(reference_decrypt(&sb, &file), one_changed.as_bytes());
}

/// The README recipe: `*.enc.yaml diff=sopsdiffer` and
/// `diff.sopsdiffer.textconv = "sops decrypt"` (our binary's path here).
fn install_textconv(sb: &Sandbox, dir: &Path) {
    std::fs::write(dir.join(".gitattributes"), "*.enc.yaml diff=sopsdiffer\n").unwrap();
    let textconv = format!("{} decrypt", Bin::Ours.path().display());
    git_ok(
        dir,
        sb.dir(),
        &[],
        &["config", "diff.sopsdiffer.textconv", &textconv],
    );
}

#[test]
fn textconv_recipe_shows_decrypted_changes_in_diff_and_log() {
    let (sb, key, dir, file) = repo();
    install_textconv(&sb, &dir);
    let id: &[(&str, &Path)] = &[("SOPS_AGE_KEY_FILE", &key.identity_file)];
    sb.cmd(Bin::Ours, os(&[&"replace", &file]))
        .stdin(NEW)
        .run()
        .ok();
    // The working tree against the index: git passes the file itself.
    let diff = git_ok(&dir, sb.dir(), id, &["diff"]);
    assert!(
        diff.contains("-    password: hunter2\n+    password: correct horse\n"),
        "{diff}"
    );
    assert!(diff.contains("-old_token: abc\n"), "{diff}");
    assert!(!diff.contains("ENC["), "{diff}");
    // Two commits: git gives textconv its blobs as temporary files named
    // `<tmp>/git-blob-XXXXXX/secrets.enc.yaml`, so the extension (and
    // with it the format) survives.
    git_ok(&dir, sb.dir(), &[], &["commit", "-qam", "rotate"]);
    let log = git_ok(
        &dir,
        sb.dir(),
        id,
        &["log", "-p", "-1", "--", "secrets.enc.yaml"],
    );
    assert!(log.contains("+new_token: xyz\n"), "{log}");
    assert!(
        log.contains("-# database settings\n+# database settings (rotated)\n"),
        "{log}"
    );
    assert!(!log.contains("ENC["), "{log}");
    // `--no-textconv` shows the ciphertext diff.
    let raw = git_ok(&dir, sb.dir(), id, &["log", "-p", "-1", "--no-textconv"]);
    assert!(raw.contains("ENC["), "{raw}");
}

#[test]
fn textconv_fails_visibly_without_a_key() {
    let (sb, _, dir, file) = repo();
    install_textconv(&sb, &dir);
    sb.cmd(Bin::Ours, os(&[&"replace", &file]))
        .stdin(NEW)
        .run()
        .ok();
    let nokey = sb.path("no-such-key.txt");
    let out = git(&dir, sb.dir(), &[("SOPS_AGE_KEY_FILE", &nokey)], &["diff"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // git stops with 128: no garbage diff, sops' error and git's own line.
    assert_eq!(out.status.code(), Some(128), "{stderr}");
    assert!(out.stdout.is_empty() || !String::from_utf8_lossy(&out.stdout).contains("@@"));
    assert!(stderr.contains("Failed to get the data key"), "{stderr}");
    assert!(stderr.contains("unable to read files to diff"), "{stderr}");
}

/// A name that does not say the format: the README's second recipe, both
/// types given (`--input-type` alone would make sops emit binary).
#[test]
fn textconv_recipe_for_names_without_a_format_extension() {
    let (sb, key, dir, file) = repo();
    let other = dir.join("db.sops");
    std::fs::copy(&file, &other).unwrap();
    std::fs::write(dir.join(".gitattributes"), "*.sops diff=sopsyaml\n").unwrap();
    let textconv = format!(
        "{} decrypt --input-type yaml --output-type yaml",
        Bin::Ours.path().display()
    );
    git_ok(
        &dir,
        sb.dir(),
        &[],
        &["config", "diff.sopsyaml.textconv", &textconv],
    );
    git_ok(&dir, sb.dir(), &[], &["add", "."]);
    git_ok(&dir, sb.dir(), &[], &["commit", "-qm", "db"]);
    sb.cmd(
        Bin::Ours,
        os(&[
            &"replace",
            &"--input-type",
            &"yaml",
            &"--output-type",
            &"yaml",
            &other,
        ]),
    )
    .stdin(NEW)
    .run()
    .ok();
    git_ok(&dir, sb.dir(), &[], &["commit", "-qam", "rotate"]);
    let id: &[(&str, &Path)] = &[("SOPS_AGE_KEY_FILE", &key.identity_file)];
    let log = git_ok(&dir, sb.dir(), id, &["log", "-p", "-1"]);
    assert!(log.contains("+    password: correct horse\n"), "{log}");
    assert!(!log.contains("ENC["), "{log}");
}
