//! Many files at once (issue 14): `updatekeys` and `rotate` over several
//! files and directories, and `filestatus --check` as a pre-commit hook
//! driven by real `git`. The reference decrypts every file we write.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{AgeKey, Bin, Sandbox, assert_same_bytes, read};

const PLAIN: &str = "user: admin\npassword: hunter2\n";

/// Files in a tree made by the reference for key `a`, with the rule then
/// changed to `a` and `b`:
/// `one.yaml`, `tree/f00.yaml` … `tree/f19.yaml`, `tree/sub/deep.yaml`
/// (encrypted), `tree/plain.yaml` (covered, never encrypted),
/// `tree/notes.txt` (not covered), `tree/bad.yaml` (encrypted for a key
/// nobody here has), and `tree/sub/loop` (a symlink to its ancestor).
struct Tree {
    sb: Sandbox,
    a: AgeKey,
    b: AgeKey,
    /// The encrypted files that can be updated, in the order a run visits them.
    good: Vec<PathBuf>,
    bad: PathBuf,
    bad_bytes: Vec<u8>,
}

fn tree() -> Tree {
    let mut sb = Sandbox::new();
    let a = sb.age_keygen("a");
    let b = sb.age_keygen("b");
    let stranger = sb.age_keygen("stranger");
    sb.use_identity(&a);
    let rule = |keys: &str| format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: {keys}\n");
    sb.write(".sops.yaml", rule(&a.recipient));
    sb.write("plain.yaml", PLAIN);
    let enc = |sb: &Sandbox, age: &str| {
        sb.run(
            Bin::Reference,
            [
                "encrypt",
                "--age",
                age,
                "--filename-override",
                "x.yaml",
                "plain.yaml",
            ],
        )
        .ok()
    };
    let mut good = vec![sb.write("one.yaml", enc(&sb, &a.recipient))];
    let mut names: Vec<String> = (0..20).map(|i| format!("tree/f{i:02}.yaml")).collect();
    names.push("tree/sub/deep.yaml".into());
    for name in &names {
        sb.write(name, enc(&sb, &a.recipient));
    }
    // The order of a walk: sorted by name within each directory.
    good.extend(names.iter().map(|n| sb.path(n)));
    let bad_bytes = enc(&sb, &stranger.recipient);
    let bad = sb.write("tree/bad.yaml", &bad_bytes);
    sb.write("tree/plain.yaml", PLAIN);
    sb.write("tree/notes.txt", "not a secret\n");
    #[cfg(unix)]
    std::os::unix::fs::symlink(sb.path("tree"), sb.path("tree/sub/loop")).unwrap();
    std::fs::remove_file(sb.path("plain.yaml")).unwrap();
    sb.write(
        ".sops.yaml",
        rule(&format!("{},{}", a.recipient, b.recipient)),
    );
    Tree {
        sb,
        a,
        b,
        good,
        bad,
        bad_bytes,
    }
}

/// The reference decrypts `file` with `key` alone and gets PLAIN.
fn reference_decrypts(sb: &Sandbox, file: &Path, key: &AgeKey) {
    let out = sb
        .cmd(
            Bin::Reference,
            ["decrypt".into(), file.as_os_str().to_owned()],
        )
        .env("SOPS_AGE_KEY_FILE", key.identity_file.clone())
        .run()
        .ok();
    assert_same_bytes(&format!("{}", file.display()), &out, PLAIN.as_bytes());
}

/// The lines of `stderr` about files, in order, with each file's lines
/// together: (file, message) pairs.
fn file_lines(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .filter_map(|l| {
            let (prefix, rest) = if let Some(r) = l.strip_prefix("Syncing keys for file ") {
                ("syncing", r.to_owned())
            } else if let Some(r) = l.strip_prefix("File ") {
                let file = r.split(' ').next().unwrap_or_default().to_owned();
                ("done", file)
            } else {
                return None;
            };
            Some((
                rest.split(' ').next().unwrap_or_default().to_owned(),
                prefix.to_owned(),
            ))
        })
        .collect()
}

#[test]
fn updatekeys_over_files_and_a_directory() {
    let t = tree();
    let sb = &t.sb;
    let plain_before = read(&sb.path("tree/plain.yaml"));
    let out = sb.run(Bin::Ours, ["updatekeys", "-y", "one.yaml", "tree"]);
    // The only failure (no key for bad.yaml's data key) gives its code.
    assert_eq!(out.code, 128, "{}", out.stderr);
    assert!(
        out.stderr
            .trim_end()
            .ends_with("updatekeys: 22 updated, 0 unchanged, 1 failed, 1 skipped (not encrypted)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(&format!(
        "skipped {}: not a sops-encrypted file",
        sb.path("tree/plain.yaml").display()
    )));
    #[cfg(unix)]
    assert!(out.stderr.contains(&format!(
        "skipped {}: symbolic link, not followed inside a directory",
        sb.path("tree/sub/loop").display()
    )));
    assert!(!out.stderr.contains("notes.txt"), "{}", out.stderr);
    assert_same_bytes("the failed file", &read(&t.bad), &t.bad_bytes);
    assert_same_bytes(
        "the plaintext file",
        &read(&sb.path("tree/plain.yaml")),
        &plain_before,
    );
    for file in &t.good {
        reference_decrypts(sb, file, &t.b);
    }
    // Each file's lines together, files in the order named and walked,
    // although they were worked on concurrently.
    let lines = file_lines(&out.stderr);
    let mut expected = Vec::new();
    let mut order: Vec<PathBuf> = t.good.clone();
    // bad.yaml sorts first in tree/.
    order.insert(1, t.bad.clone());
    for file in &order {
        let f = file.display().to_string();
        expected.push((f.clone(), "syncing".to_owned()));
        if *file != t.bad {
            expected.push((f, "done".to_owned()));
        }
    }
    // The walk visits tree/sub/ after tree/f19.yaml: `sub` > `f19.yaml`.
    assert_eq!(lines, expected, "{}", out.stderr);
    let stdout = out.stdout_str();
    assert_eq!(
        stdout
            .matches("The following changes will be made to the file's groups:\nGroup 1\n    age1")
            .count(),
        22,
        "{stdout}"
    );
    // Again: nothing to do but the failure.
    let again = sb.run(Bin::Ours, ["updatekeys", "-y", "tree", "one.yaml"]);
    assert_eq!(again.code, 128);
    assert!(
        again
            .stderr
            .contains("updatekeys: 0 updated, 22 unchanged, 1 failed, 1 skipped (not encrypted)"),
        "{}",
        again.stderr
    );
}

#[test]
fn one_file_has_no_summary_and_several_without_yes_ask_each() {
    let t = tree();
    let sb = &t.sb;
    let one = sb.run(Bin::Ours, ["updatekeys", "-y", "one.yaml"]);
    one.ok();
    assert!(!one.stderr.contains("updatekeys:"), "{}", one.stderr);
    // Without --yes each file is asked about, answers read from stdin.
    let out = sb
        .cmd(
            Bin::Ours,
            ["updatekeys", "tree/f00.yaml", "tree/f01.yaml", "one.yaml"],
        )
        .stdin("y\nn\n")
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout_str().matches("Is this okay? (y/n):").count(), 2);
    assert!(
        out.stderr
            .contains("updatekeys: 1 updated, 2 unchanged, 0 failed"),
        "{}",
        out.stderr
    );
    reference_decrypts(sb, &sb.path("tree/f00.yaml"), &t.b);
    // The file answered "n" still has only a.
    assert!(
        !String::from_utf8(read(&sb.path("tree/f01.yaml")))
            .unwrap()
            .contains(&t.b.recipient)
    );
}

#[test]
fn rotate_over_files_and_a_directory() {
    let t = tree();
    let sb = &t.sb;
    let before: Vec<Vec<u8>> = t.good.iter().map(|f| read(f)).collect();
    sb.run(Bin::Ours, ["rotate", "tree", "one.yaml"])
        .fails_with(8, &["needs --in-place"]);
    let out = sb.run(Bin::Ours, ["rotate", "-i", "tree", "one.yaml"]);
    assert_eq!(out.code, 128, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("rotate: 22 rotated, 0 unchanged, 1 failed, 1 skipped (not encrypted)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("File {} not rotated: ", t.bad.display()))
    );
    assert_same_bytes("the failed file", &read(&t.bad), &t.bad_bytes);
    for (file, old) in t.good.iter().zip(&before) {
        assert_ne!(&read(file), old, "{} not rotated", file.display());
        reference_decrypts(sb, file, &t.a);
    }
}

/// The entry of the shipped hook, from `.pre-commit-hooks.yaml`.
fn hook_entry() -> String {
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.pre-commit-hooks.yaml");
    let text = std::fs::read_to_string(&hooks).expect(".pre-commit-hooks.yaml at the root");
    assert!(text.contains("- id: sops-check-encrypted"));
    text.lines()
        .find_map(|l| l.trim().strip_prefix("entry: "))
        .expect("an entry")
        .to_owned()
}

fn git(dir: &Path, args: &[&str], path: &std::ffi::OsStr) -> std::process::Output {
    Command::new(crate::support::require_tool("git", "git"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("run git")
}

/// The hook's command line, run by a git pre-commit hook on the staged
/// files as pre-commit does: a commit with a plaintext file that a rule
/// covers is refused and the file named (no value printed); encrypted, it
/// goes through.
#[test]
fn pre_commit_hook_refuses_a_plaintext_secret() {
    let mut sb = Sandbox::new();
    let a = sb.age_keygen("a");
    sb.use_identity(&a);
    let repo = sb.path("repo");
    std::fs::create_dir_all(repo.join("secrets")).unwrap();
    std::fs::write(
        repo.join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: ^secrets/.*\\.yaml$\n    age: {}\n  - age: {}\n",
            a.recipient, a.recipient
        ),
    )
    .unwrap();
    std::fs::write(repo.join("plain.yaml"), PLAIN).unwrap();
    let enc = sb
        .run(
            Bin::Reference,
            ["encrypt", "--age", &a.recipient, "repo/plain.yaml"],
        )
        .ok();
    std::fs::write(repo.join("secrets/ok.yaml"), &enc).unwrap();
    std::fs::write(repo.join("secrets/leak.yaml"), PLAIN).unwrap();
    // Not covered by a rule with a path_regex: never asked to be encrypted.
    std::fs::write(repo.join("README.md"), "docs\n").unwrap();
    // `sops` on PATH is ours.
    let bin = sb.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(Bin::Ours.path(), bin.join("sops")).unwrap();
    let mut path = std::ffi::OsString::from(&bin);
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let hook = repo.join(".git/hooks/pre-commit");
    assert!(git(&repo, &["init", "-q"], &path).status.success());
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nexec {} $(git diff --cached --name-only --diff-filter=ACMR)\n",
            hook_entry()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert!(git(&repo, &["add", "."], &path).status.success());
    let refused = git(&repo, &["commit", "-q", "-m", "x"], &path);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!refused.status.success(), "{text}");
    assert!(text.contains("secrets/leak.yaml: not encrypted"), "{text}");
    assert!(
        !text.contains("ok.yaml") && !text.contains("README"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("1 of 2 file(s) covered"), "{text}");
    // Encrypted (by ours; the reference reads it), the commit goes through.
    let out = sb
        .run(
            Bin::Ours,
            [
                "encrypt",
                "-i",
                "--age",
                &a.recipient,
                "repo/secrets/leak.yaml",
            ],
        )
        .ok();
    assert!(out.is_empty());
    reference_decrypts(&sb, &repo.join("secrets/leak.yaml"), &a);
    assert!(git(&repo, &["add", "."], &path).status.success());
    let ok = git(&repo, &["commit", "-q", "-m", "x"], &path);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // A directory is walked.
    let all = sb
        .cmd(
            Bin::Ours,
            [
                "--config",
                "repo/.sops.yaml",
                "filestatus",
                "--check",
                "repo",
            ],
        )
        .run();
    assert_eq!(all.code, 0, "{}", all.stderr);
}
