//! Progress of one large file (decrypt, encrypt, edit, rotate): a line of
//! stages on stderr when stderr is a terminal, nothing otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use test_support::require_tool;

use crate::support::{Bin, Sandbox};

/// Above the 8 MB threshold.
fn large_plaintext() -> Vec<u8> {
    let line = b"the quick brown fox jumps over the lazy dog 0123456789\n";
    line.iter().copied().cycle().take(9 * 1024 * 1024).collect()
}

/// Runs our binary with `args` with stderr on a new pseudo-terminal and
/// stdout on a file; returns what the terminal showed and the exit code.
fn with_terminal_stderr(sb: &Sandbox, args: &[&str], env: &[(&str, &Path)]) -> (String, i32) {
    let python = require_tool("python3", "python3");
    const DRIVER: &str = r#"
import os, signal, subprocess, sys
signal.alarm(300)
master, slave = os.openpty()
with open(sys.argv[1], "wb") as out:
    child = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=out, stderr=slave)
os.close(slave)
seen = b""
while True:
    try:
        data = os.read(master, 65536)
    except OSError:
        break
    if not data:
        break
    seen += data
code = child.wait()
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(code)
"#;
    let mut cmd = Command::new(python);
    cmd.args(["-c", DRIVER])
        .arg(sb.path("stdout.txt"))
        .arg(Bin::Ours.path())
        .args(args)
        .current_dir(sb.dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", sb.dir())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

struct Setup {
    sb: Sandbox,
    recipient: String,
    identity: PathBuf,
    plain: PathBuf,
    encrypted: PathBuf,
}

fn setup() -> Setup {
    let mut sb = Sandbox::new();
    let key = sb.age_keygen("a");
    sb.use_identity(&key);
    let plain = sb.write("big.bin", large_plaintext());
    let encrypted = sb.path("big.enc");
    let out = sb.run(
        Bin::Ours,
        [
            "encrypt".as_ref(),
            "--age".as_ref(),
            key.recipient.as_ref(),
            "--output".as_ref(),
            encrypted.as_os_str(),
            plain.as_os_str(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    Setup {
        sb,
        recipient: key.recipient.clone(),
        identity: key.identity_file.clone(),
        plain,
        encrypted,
    }
}

/// The line shows each stage and is cleared at the end.
fn assert_stages(shown: &str, prefix: &str, stages: &[&str]) {
    for stage in stages {
        let line = format!("\r\x1b[K{prefix}: {stage}...");
        assert!(shown.contains(&line), "{line:?} not in {shown:?}");
    }
    assert!(shown.ends_with("\r\x1b[K"), "line not cleared: {shown:?}");
}

#[test]
fn large_files_show_stages_on_a_terminal() {
    let s = setup();
    let sb = &s.sb;
    let env = [("SOPS_AGE_KEY_FILE", s.identity.as_path())];
    let enc = s.encrypted.to_str().unwrap();
    let size = |p: &Path| std::fs::metadata(p).unwrap().len() as f64 / (1024.0 * 1024.0);

    let (shown, code) = with_terminal_stderr(
        sb,
        &[
            "encrypt",
            "--age",
            &s.recipient,
            "--output",
            "again.enc",
            s.plain.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(code, 0, "{shown}");
    assert_stages(
        &shown,
        "sops encrypt: big.bin (9.0 MB)",
        &["parsing", "encrypting", "writing"],
    );

    let (shown, code) = with_terminal_stderr(sb, &["decrypt", "--output", "out.bin", enc], &env);
    assert_eq!(code, 0, "{shown}");
    let prefix = format!("sops decrypt: big.enc ({:.1} MB)", size(&s.encrypted));
    assert_stages(&shown, &prefix, &["decrypting", "writing"]);
    assert_eq!(
        std::fs::read(sb.path("out.bin")).unwrap(),
        large_plaintext()
    );

    let prefix = format!("sops rotate: big.enc ({:.1} MB)", size(&s.encrypted));
    let (shown, code) = with_terminal_stderr(sb, &["rotate", "-i", enc], &env);
    assert_eq!(code, 0, "{shown}");
    assert_stages(
        &shown,
        &prefix,
        &["parsing", "decrypting", "encrypting", "writing"],
    );

    // The line is gone before the editor starts, and back after it.
    let editor = sb.write("editor.sh", "#!/bin/sh\nprintf 'edited\\n' >> \"$1\"\n");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let prefix = format!("sops edit: big.enc ({:.1} MB)", size(&s.encrypted));
    let (shown, code) = with_terminal_stderr(
        sb,
        &["edit", enc],
        &[
            ("SOPS_AGE_KEY_FILE", s.identity.as_path()),
            ("EDITOR", editor.as_path()),
        ],
    );
    assert_eq!(code, 0, "{shown}");
    assert_stages(
        &shown,
        &prefix,
        &["parsing", "decrypting", "encrypting", "writing"],
    );
    let decrypting = shown.find("decrypting...").unwrap();
    let encrypting = shown.find("encrypting...").unwrap();
    assert_eq!(
        &shown[decrypting + "decrypting...".len()..][..4],
        "\r\x1b[K",
        "{shown:?}"
    );
    assert!(decrypting < encrypting);
}

#[test]
fn small_files_show_nothing_on_a_terminal() {
    let mut sb = Sandbox::new();
    let key = sb.age_keygen("a");
    sb.use_identity(&key);
    sb.write("small.yaml", "a: 1\n");
    let out = sb.run(
        Bin::Ours,
        [
            "encrypt",
            "--age",
            &key.recipient,
            "--output",
            "small.enc.yaml",
            "small.yaml",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let env = [("SOPS_AGE_KEY_FILE", key.identity_file.as_path())];
    let (shown, code) = with_terminal_stderr(&sb, &["decrypt", "small.enc.yaml"], &env);
    assert_eq!(code, 0, "{shown}");
    assert_eq!(shown, "");
}

/// Without a terminal stderr stays as it was: empty, as the reference's.
#[test]
fn large_files_are_silent_without_a_terminal() {
    let s = setup();
    let enc = s.encrypted.to_str().unwrap();
    for bin in Bin::BOTH {
        let out = s.sb.run(bin, ["decrypt", "--output", "out.bin", enc]);
        assert_eq!(out.code, 0, "{bin}: {}", out.stderr);
        assert_eq!(out.stderr, "", "{bin}");
        let out = s.sb.run(bin, ["rotate", "-i", enc]);
        assert_eq!(out.code, 0, "{bin}: {}", out.stderr);
        assert_eq!(out.stderr, "", "{bin}");
        let plain = s.plain.to_str().unwrap();
        let out = s.sb.run(
            bin,
            [
                "encrypt",
                "--age",
                &s.recipient,
                "--output",
                "again.enc",
                plain,
            ],
        );
        assert_eq!(out.code, 0, "{bin}: {}", out.stderr);
        assert_eq!(out.stderr, "", "{bin}");
    }
}
