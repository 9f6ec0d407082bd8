//! The age identity sources of sops 3.12/3.13: `SOPS_AGE_RECIPIENT` for
//! the key commands, `SOPS_AGE_SSH_PRIVATE_KEY_CMD`, and passphrase-
//! protected identity files (asked for on the terminal, refused without
//! one). The reference (a build before 3.12) already sets
//! `SOPS_AGE_RECIPIENT` and prompts for protected identity files; it lacks
//! the SSH key command, which is tested on ours alone.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{Bin, Output, Sandbox, one_line_error, read, require_tool};

const PLAIN: &str = "user: admin\npassword: hunter2\n";

/// A file encrypted by the reference to `recipients` (comma-separated).
fn encrypted(sb: &Sandbox, recipients: &str) -> std::path::PathBuf {
    let plain = sb.write("p.yaml", PLAIN);
    let enc = sb
        .run(
            Bin::Reference,
            [
                "encrypt".into(),
                "--age".into(),
                OsString::from(recipients),
                plain.into_os_string(),
            ],
        )
        .ok();
    sb.write("f.yaml", enc)
}

#[test]
fn key_cmd_sees_the_recipient_as_in_the_reference() {
    let sb = Sandbox::new();
    let a = sb.age_keygen("a");
    let b = sb.age_keygen("b");
    let file = encrypted(&sb, &format!("{},{}", a.recipient, b.recipient));
    for bin in Bin::BOTH {
        let log = sb.path(&format!("log-{bin:?}"));
        // Prints b's identity whatever it is asked for, and says on stderr
        // (which passes through) what it was asked.
        let script = sb.write(
            "key-cmd.sh",
            format!(
                "#!/bin/sh\necho \"$SOPS_AGE_RECIPIENT\" >> '{}'\necho \"asked for $SOPS_AGE_RECIPIENT\" >&2\ncat '{}'\n",
                log.display(),
                b.identity_file.display()
            ),
        );
        let out = sb
            .cmd(bin, ["decrypt".into(), file.clone().into_os_string()])
            .env("SOPS_AGE_KEY_CMD", format!("sh {}", script.display()))
            .run();
        assert_eq!(out.stdout_str(), PLAIN, "{bin}: {}", out.stderr);
        // Ours passes the command's stderr through (a command may need to
        // talk to the user); sops captures it and shows it nowhere.
        assert_eq!(
            out.stderr.contains("asked for age1"),
            bin == Bin::Ours,
            "{bin}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("AGE-SECRET-KEY"),
            "{bin}: {}",
            out.stderr
        );
        // One run per recipient tried: a's (whose entry b's identity cannot
        // open), then b's.
        assert_eq!(
            String::from_utf8(read(&log)).unwrap(),
            format!("{}\n{}\n", a.recipient, b.recipient),
            "{bin}"
        );
    }
}

/// An `ssh-keygen` key pair in the sandbox: (private key path, public key).
fn ssh_key(sb: &Sandbox, name: &str, passphrase: &str) -> (std::path::PathBuf, String) {
    let ssh_keygen = require_tool("ssh-keygen", "openssh-client");
    let path = sb.path(name);
    let out = Command::new(ssh_keygen)
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            passphrase,
            "-C",
            "t@sops-rs",
            "-f",
        ])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, public.trim().to_owned())
}

#[test]
fn ssh_key_cmd_decrypts_and_refuses_protected_keys() {
    let sb = Sandbox::new();
    let (key, public) = ssh_key(&sb, "id_plain", "");
    let (locked, _) = ssh_key(&sb, "id_locked", "hunter22");
    let file = encrypted(&sb, &public);
    let log = sb.path("log");
    let script = sb.write(
        "ssh-cmd.sh",
        format!(
            "#!/bin/sh\necho \"$SOPS_AGE_RECIPIENT\" >> '{}'\ncat \"$1\"\n",
            log.display()
        ),
    );
    let run = |key: &Path| {
        sb.cmd(Bin::Ours, ["decrypt".into(), file.clone().into_os_string()])
            .env(
                "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
                format!("sh {} {}", script.display(), key.display()),
            )
            .run()
    };
    assert_eq!(run(&key).stdout_str(), PLAIN);
    assert_eq!(
        String::from_utf8(read(&log)).unwrap(),
        format!("{public}\n")
    );
    let out = run(&locked);
    out.fails_with(128, &[]);
    assert!(
        one_line_error(&out.stderr).contains("Errors while loading age identities: the SSH key returned by running SOPS_AGE_SSH_PRIVATE_KEY_CMD is password protected, which is unsupported. (\"ssh: this private key is passphrase protected\")"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("PRIVATE KEY-----"), "{}", out.stderr);
}

/// The identity file `key` protected by `passphrase`.
fn protected_identity(key: &Path, passphrase: &str, armored: bool) -> Vec<u8> {
    test_support::age_passphrase_file(&read(key), passphrase, armored)
}

/// `wrapper WRAPPER_ARGS… bin decrypt file` with a clean environment: PATH,
/// HOME (the sandbox) and SOPS_AGE_KEY_FILE only.
fn decrypt_under(
    wrapper: &Path,
    wrapper_args: &[&str],
    sb: &Sandbox,
    bin: Bin,
    file: &Path,
    key_file: &Path,
) -> Command {
    let mut cmd = Command::new(wrapper);
    cmd.args(wrapper_args)
        .arg(bin.path())
        .arg("decrypt")
        .arg(file)
        .current_dir(sb.dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", sb.dir())
        .env("SOPS_AGE_KEY_FILE", key_file);
    cmd
}

/// Runs `bin decrypt file` in a session of its own (no controlling
/// terminal) with stdin not a terminal.
fn without_terminal(sb: &Sandbox, bin: Bin, file: &Path, key_file: &Path) -> Output {
    let setsid = require_tool("setsid", "util-linux");
    let out = decrypt_under(&setsid, &["-w"], sb, bin, file, key_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A passphrase on stdin must not be read: stdin is no terminal.
    let mut child = out;
    let _ = child.stdin.take().unwrap().write_all(b"pw-on-stdin\n");
    let out = child.wait_with_output().unwrap();
    Output::from_process(format!("{bin} decrypt (no terminal)"), out)
}

#[test]
fn protected_identity_without_terminal_fails_as_the_reference_does() {
    let sb = Sandbox::new();
    let a = sb.age_keygen("a");
    let file = encrypted(&sb, &a.recipient);
    for armored in [true, false] {
        let key_file = sb.write(
            "a.age",
            protected_identity(&a.identity_file, "pw-on-stdin", armored),
        );
        for bin in Bin::BOTH {
            let out = without_terminal(&sb, bin, &file, &key_file);
            out.fails_with(128, &[]);
            assert!(
                one_line_error(&out.stderr).contains("failed to create reader for decrypting sops data key with age: failed to decrypt identity file: could not read passphrase: standard input is not a terminal, and /dev/tty is not available: open /dev/tty: no such device or address."),
                "{bin}: {}",
                out.stderr
            );
        }
    }
}

/// Runs `bin decrypt file` on a new pseudo-terminal (python's `pty`),
/// answering the passphrase prompt with `answer`; returns what the
/// terminal showed and the exit code.
fn on_terminal(
    sb: &Sandbox,
    bin: Bin,
    file: &Path,
    key_file: &Path,
    answer: &str,
) -> (String, i32) {
    let python = require_tool("python3", "python3");
    const DRIVER: &str = r#"
import os, pty, signal, sys
# A binary that never gets its answer fails the test instead of hanging it.
signal.alarm(60)
answer = sys.argv[1].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
seen = b""
answered = False
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    seen += data
    if not answered and b"Enter passphrase for identity" in seen:
        os.write(fd, answer + b"\n")
        answered = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let out = decrypt_under(&python, &["-c", DRIVER, answer], sb, bin, file, key_file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn protected_identity_prompts_on_the_terminal_as_the_reference_does() {
    let sb = Sandbox::new();
    let a = sb.age_keygen("a");
    let file = encrypted(&sb, &a.recipient);
    let key_file = sb.write(
        "a.age",
        protected_identity(&a.identity_file, "s3cret-pass", true),
    );
    for bin in Bin::BOTH {
        let (shown, code) = on_terminal(&sb, bin, &file, &key_file, "s3cret-pass");
        assert_eq!(code, 0, "{bin}: {shown}");
        assert!(
            shown.starts_with("Enter passphrase for identity 'SOPS_AGE_KEY_FILE': "),
            "{bin}: {shown:?}"
        );
        assert!(shown.contains("password: hunter2"), "{bin}: {shown:?}");
        let (shown, code) = on_terminal(&sb, bin, &file, &key_file, "wrong");
        assert_eq!(code, 128, "{bin}: {shown}");
        assert!(
            one_line_error(&shown).contains("age: incorrect passphrase."),
            "{bin}: {shown:?}"
        );
    }
}
