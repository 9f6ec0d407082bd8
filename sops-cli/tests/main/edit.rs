//! `edit`: scripted editors for every outcome, and one real vim session
//! driven through tmux so the terminal path runs for real. After every case
//! the private temporary directory must be gone.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{Bin, Sandbox, assert_same_bytes, encrypted_by_reference, read, require_tool};

const PLAIN: &str = "a: 1\nb: two\nc:\n    - x\n    - z\n";

struct Fx {
    sb: Sandbox,
    recipient: String,
    enc: PathBuf,
    original: Vec<u8>,
}

impl Fx {
    fn new() -> Self {
        let (sb, key, enc, original) = encrypted_by_reference(PLAIN, "secret.yaml");
        Self {
            sb,
            recipient: key.recipient,
            enc,
            original,
        }
    }

    /// An editor script: runs `body` on "$1" and records the file's path.
    fn editor(&self, name: &str, body: &str) -> PathBuf {
        let script = self.sb.write(
            name,
            format!(
                "#!/bin/sh\necho \"$1\" > '{}'\n{body}\n",
                self.sb.path("edited-path").display()
            ),
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    fn edit(&self, editor: &Path, file: &Path, extra: &[&str]) -> crate::support::Output {
        let mut args: Vec<std::ffi::OsString> = vec!["edit".into()];
        args.extend(extra.iter().map(Into::into));
        args.push(file.as_os_str().to_owned());
        self.sb
            .cmd(Bin::Ours, args)
            .env("EDITOR", editor.as_os_str().to_owned())
            .run()
    }

    /// The temporary directory of the last edit no longer exists.
    fn assert_scratch_removed(&self) {
        let edited = String::from_utf8(read(&self.sb.path("edited-path"))).unwrap();
        let dir = Path::new(edited.trim()).parent().unwrap().to_path_buf();
        assert!(
            !dir.exists(),
            "temporary directory {} left behind",
            dir.display()
        );
    }

    fn decrypt(&self, file: &Path) -> Vec<u8> {
        self.sb
            .run(
                Bin::Reference,
                ["decrypt".into(), file.as_os_str().to_owned()],
            )
            .ok()
    }
}

#[test]
fn edit_changes_one_value_with_a_minimal_diff() {
    let fx = Fx::new();
    let editor = fx.editor("ed.sh", "sed -i 's/two/three/' \"$1\"");
    fx.edit(&editor, &fx.enc, &[]).ok();
    fx.assert_scratch_removed();
    assert_same_bytes(
        "decrypt after edit",
        &fx.decrypt(&fx.enc),
        b"a: 1\nb: three\nc:\n    - x\n    - z\n",
    );
    let now = String::from_utf8(read(&fx.enc)).unwrap();
    let before = String::from_utf8(fx.original.clone()).unwrap();
    let old: std::collections::HashSet<&str> = before.lines().collect();
    let changed: Vec<&str> = now
        .lines()
        .filter(|l| !old.contains(l))
        .map(str::trim)
        .collect();
    assert!(
        changed.iter().any(|l| l.starts_with("b: ENC[")),
        "{changed:?}"
    );
    assert!(
        !changed
            .iter()
            .any(|l| l.starts_with("a: ") || l.starts_with("- ENC")),
        "unchanged values changed: {changed:?}"
    );
}

/// The root form `sops FILE` edits too.
#[test]
fn bare_file_argument_edits() {
    let fx = Fx::new();
    let editor = fx.editor("ed.sh", "sed -i 's/two/2/' \"$1\"");
    fx.sb
        .cmd(Bin::Ours, [fx.enc.as_os_str().to_owned()])
        .env("EDITOR", editor.as_os_str().to_owned())
        .run()
        .ok();
    fx.assert_scratch_removed();
    assert_same_bytes(
        "decrypt after bare edit",
        &fx.decrypt(&fx.enc),
        b"a: 1\nb: 2\nc:\n    - x\n    - z\n",
    );
}

#[test]
fn edit_scratch_file_is_private() {
    let fx = Fx::new();
    let report = fx.sb.path("modes");
    let editor = fx.editor(
        "ed.sh",
        &format!("stat -c %a \"$1\" > '{0}'; stat -c %a \"$(dirname \"$1\")\" >> '{0}'; sed -i 's/two/2/' \"$1\"", report.display()),
    );
    fx.edit(&editor, &fx.enc, &[]).ok();
    assert_eq!(String::from_utf8(read(&report)).unwrap(), "600\n700\n");
    fx.assert_scratch_removed();
}

#[test]
fn edit_unchanged_failing_editor_and_invalid_content_leave_the_file_alone() {
    let fx = Fx::new();
    // Unchanged: exit 200, as the reference.
    let noop = fx.editor("noop.sh", "true");
    fx.edit(&noop, &fx.enc, &[])
        .fails_with(200, &["File has not changed, exiting."]);
    fx.assert_scratch_removed();
    fx.sb
        .cmd(
            Bin::Reference,
            ["edit".into(), fx.enc.as_os_str().to_owned()],
        )
        .env("EDITOR", noop.as_os_str().to_owned())
        .run()
        .fails_with(200, &["File has not changed"]);
    // Editor fails: exit 201.
    let failing = fx.editor("fail.sh", "sed -i 's/two/three/' \"$1\"; exit 3");
    fx.edit(&failing, &fx.enc, &[])
        .fails_with(201, &["Could not run editor: exit status 3"]);
    fx.assert_scratch_removed();
    // Invalid YAML and no terminal to ask for a key: stop, file untouched.
    let broken = fx.editor("broken.sh", "echo ': : [' >> \"$1\"");
    fx.edit(&broken, &fx.enc, &[])
        .fails_with(1, &["Could not load tree, probably due to invalid syntax"]);
    fx.assert_scratch_removed();
    // Editor not found.
    fx.edit(Path::new("/nonexistent/editor"), &fx.enc, &[])
        .fails_with(201, &["Could not run editor"]);
    assert_same_bytes("file after failed edits", &read(&fx.enc), &fx.original);
}

#[test]
fn edit_creates_a_new_file_for_the_given_recipients() {
    let fx = Fx::new();
    let editor = fx.editor("new.sh", "printf 'token: abc\\n' > \"$1\"");
    let new = fx.sb.path("fresh.yaml");
    fx.edit(&editor, &new, &["--age", &fx.recipient]).ok();
    fx.assert_scratch_removed();
    assert_same_bytes("new file", &fx.decrypt(&new), b"token: abc\n");
    // Saving the example unchanged creates nothing.
    let noop = fx.editor("noop.sh", "true");
    let other = fx.sb.path("other.yaml");
    fx.edit(&noop, &other, &["--age", &fx.recipient])
        .fails_with(200, &["File has not changed"]);
    assert!(!other.exists());
}

/// A real vim in a real terminal (tmux), edited with keystrokes.
#[test]
fn edit_with_vim_in_tmux() {
    let tmux = require_tool("tmux", "tmux");
    let vim = require_tool("vim", "vim");
    let fx = Fx::new();
    let done = fx.sb.path("done");
    let socket = format!("sops-edit-test-{}", std::process::id());
    let ours = Bin::Ours.path();
    let script = fx.sb.write(
        "run.sh",
        format!(
            "#!/bin/sh\nexport HOME='{home}' SOPS_AGE_KEY_FILE='{key}' SOPS_EDITOR='{vim} -u NONE -i NONE -N' TMPDIR='{home}'\n'{ours}' edit '{file}'\necho $? > '{done}'\n",
            home = fx.sb.dir().display(),
            key = fx.sb.path("k.agekey").display(),
            vim = vim.display(),
            ours = ours.display(),
            file = fx.enc.display(),
            done = done.display(),
        ),
    );
    let tmux_cmd = |args: &[&str]| {
        let status = std::process::Command::new(&tmux)
            .args(["-L", &socket])
            .args(args)
            .env_remove("TMUX")
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux {args:?} failed");
    };
    tmux_cmd(&[
        "new-session",
        "-d",
        "-x",
        "100",
        "-y",
        "30",
        "-s",
        "edit",
        &format!("sh '{}'", script.display()),
    ]);
    let wait_for = |what: &str, check: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !check() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // Wait until vim shows the decrypted file.
    let capture = || {
        let out = std::process::Command::new(&tmux)
            .args(["-L", &socket, "capture-pane", "-p", "-t", "edit"])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    wait_for("vim to show the plaintext", &|| {
        capture().contains("b: two")
    });
    tmux_cmd(&["send-keys", "-t", "edit", ":%s/two/vim-was-here/", "Enter"]);
    tmux_cmd(&["send-keys", "-t", "edit", ":wq", "Enter"]);
    wait_for("sops to finish", &|| {
        done.exists() && !read(&done).is_empty()
    });
    let _ = std::process::Command::new(&tmux)
        .args(["-L", &socket, "kill-server"])
        .status();
    assert_eq!(String::from_utf8(read(&done)).unwrap().trim(), "0");
    assert_same_bytes(
        "after vim",
        &fx.decrypt(&fx.enc),
        b"a: 1\nb: vim-was-here\nc:\n    - x\n    - z\n",
    );
    let leftovers: Vec<_> = std::fs::read_dir(fx.sb.dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir() && e.file_name().to_string_lossy().starts_with("sops"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary directories left: {leftovers:?}"
    );
}

/// A signal to sops while the editor is open (3.13, #2104): the editor is
/// stopped, the plaintext directory removed, the file untouched, exit 1
/// with 3.13's "User canceled operation". SIGINT too: a terminal editor
/// gets Ctrl+C as a key, so a SIGINT that reaches sops means stop.
#[test]
fn edit_cleans_up_on_sigterm_and_sigint() {
    for signal in ["TERM", "INT"] {
        let fx = Fx::new();
        // `exec`: the editor is the process sops stops (a shell would leave its
        // `sleep` holding our stderr pipe).
        let editor = fx.editor("slow.sh", "exec sleep 30");
        let child = std::process::Command::new(Bin::Ours.path())
            .args(["edit".as_ref(), fx.enc.as_os_str()])
            .current_dir(fx.sb.dir())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", fx.sb.dir())
            .env("TMPDIR", fx.sb.dir())
            .env("SOPS_AGE_KEY_FILE", fx.sb.path("k.agekey"))
            .env("EDITOR", &editor)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start sops edit");
        let recorded = fx.sb.path("edited-path");
        let start = Instant::now();
        while !recorded.exists() || read(&recorded).is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the editor never started"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let scratch = PathBuf::from(String::from_utf8(read(&recorded)).unwrap().trim());
        assert!(
            scratch.exists(),
            "the plaintext file should exist while editing"
        );
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = child.wait_with_output().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "SIG{signal}: sops waited for the editor"
        );
        assert_eq!(out.status.code(), Some(1), "SIG{signal}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "User canceled operation\n",
            "SIG{signal}"
        );
        assert!(
            !scratch.parent().unwrap().exists(),
            "plaintext directory left after SIG{signal}"
        );
        assert_same_bytes("file after the signal", &read(&fx.enc), &fx.original);
    }
}

/// sops 3.13 (#2098): an emptied document, or one with a top-level `sops`
/// key, is not encrypted; sops says why and reopens the editor when enter
/// is pressed. (3.11 writes either: an empty file, or one it cannot read.)
#[test]
fn edit_refuses_an_empty_document_and_a_top_level_sops_key() {
    let fx = Fx::new();
    let count = fx.sb.path("count");
    let editor = fx.editor(
        "ed.sh",
        &format!(
            "n=$(cat '{0}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{0}'\n\
             case $n in 1) : > \"$1\";; 2) printf 'sops: 1\\na: 2\\n' > \"$1\";; *) echo 'a: 3' > \"$1\";; esac",
            count.display()
        ),
    );
    let out = fx
        .sb
        .cmd(Bin::Ours, ["edit".into(), fx.enc.as_os_str().to_owned()])
        .env("EDITOR", editor.as_os_str().to_owned())
        .stdin("\n\n")
        .run();
    out.ok();
    let press = "Press enter to return to the editor, or Ctrl+C to exit.";
    assert!(
        out.stderr.contains(&format!(
            "Tree not valid for encryption. {press} (File cannot be completely empty, it must contain at least one document)"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "Tree not valid for encryption. {press} (The file you have provided contains a top-level entry called 'sops'"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(read(&count), b"3\n");
    fx.assert_scratch_removed();
    assert_same_bytes("decrypt after edit", &fx.decrypt(&fx.enc), b"a: 3\n");

    // No terminal to press enter on: stop, file untouched.
    let fx = Fx::new();
    let editor = fx.editor("ed.sh", "echo 'sops: 1' > \"$1\"");
    fx.edit(&editor, &fx.enc, &[])
        .fails_with(1, &["Tree not valid for encryption. Press enter"]);
    fx.assert_scratch_removed();
    assert_same_bytes("file after a refused edit", &read(&fx.enc), &fx.original);
}
