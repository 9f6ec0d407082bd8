//! The private scratch copy of the repository that kustomize renders from.
//!
//! Kustomize reads files by path, so decrypted files have to exist on disk
//! while it runs. They live only here: a fresh 0700 directory under the
//! sidecar's `$TMPDIR` (a memory-backed volume in the recommended install),
//! files 0600. The copy is removed on every exit path:
//!
//! - normal return and `?` errors: [`Scratch`]'s `Drop` overwrites the
//!   decrypted files with zeros, then removes the tree;
//! - SIGTERM/SIGINT/SIGHUP (the cmp-server's deadline handling): a signal
//!   thread ([`install_signal_cleanup`]) removes every live scratch dir and
//!   exits 128+signal without writing to stdout;
//! - our own watchdog: it calls [`cleanup_all`] before exiting.
//!
//! Only SIGKILL leaves the copy behind; the cmp-server sends it 5 s after
//! SIGTERM, by which time the signal thread has long finished.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use crate::error::Failure;
use crate::settings::Limits;
use crate::walk::{self, Entry, Roots};

/// Scratch dirs alive in this process, for the signal thread and the watchdog.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes every live scratch dir (signal and watchdog paths).
pub fn cleanup_all() {
    if let Ok(mut live) = LIVE.lock() {
        for dir in live.drain(..) {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// Starts the thread that cleans up on SIGTERM, SIGINT and SIGHUP and then
/// exits with 128+signal. Called once, before any scratch dir exists.
pub fn install_signal_cleanup() -> Result<(), Failure> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|_| Failure::generic("cannot install the signal handler".to_owned()))?;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            // Renderers run in groups of their own: end them first, so none
            // is still reading the copy (or using memory) when it goes.
            crate::children::terminate_all();
            cleanup_all();
            eprintln!("argocd-sops-plugin: terminated by signal {sig}; scratch copy removed");
            std::process::exit(128 + sig);
        }
    });
    Ok(())
}

/// Called for each regular file of the copy with its bytes; returns the
/// bytes to write and whether they are plaintext. Both are wiped when
/// dropped, since either may be decrypted data.
pub type FileHook<'a> =
    dyn FnMut(&Entry, Zeroizing<Vec<u8>>) -> Result<(Zeroizing<Vec<u8>>, bool), Failure> + 'a;

/// A private copy of the repository root.
pub struct Scratch {
    root: PathBuf,
    /// `root/repo`: the copy of the repository root.
    pub repo: PathBuf,
    /// Files holding plaintext, overwritten before removal.
    plaintext: Vec<PathBuf>,
}

impl Scratch {
    /// Creates `<tmp>/argocd-sops-<pid>-<nanos>` with mode 0700.
    pub fn create(tmp: &Path) -> Result<Self, Failure> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let root = tmp.join(format!("argocd-sops-{}-{nanos}", std::process::id()));
        // Registered before creation, so a signal in between cannot miss it.
        if let Ok(mut live) = LIVE.lock() {
            live.push(root.clone());
        }
        let made = fs::DirBuilder::new().mode(0o700).create(&root);
        let scratch = Self {
            repo: root.join("repo"),
            root,
            plaintext: Vec::new(),
        };
        made.map_err(|_| {
            Failure::config(format!(
                "cannot create a private scratch directory in {}",
                tmp.display()
            ))
            .with_hint("TMPDIR of the sidecar must be writable (a memory-backed emptyDir)")
        })?;
        scratch.mkdir(&scratch.repo)?;
        Ok(scratch)
    }

    /// An empty private dir next to the copy (HOME of the renderer).
    pub fn home(&self) -> Result<PathBuf, Failure> {
        let home = self.root.join("home");
        self.mkdir(&home)?;
        Ok(home)
    }

    /// Writes a file next to the copy (not inside it), 0600; for tenant
    /// text the renderer reads by path, such as inline Helm values.
    pub fn write_aside(&mut self, name: &str, data: &[u8]) -> Result<PathBuf, Failure> {
        let path = self.root.join(name);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|_| Failure::generic("cannot write the scratch copy".to_owned()))?;
        f.write_all(data)
            .map_err(|_| Failure::generic("cannot write the scratch copy".to_owned()))?;
        Ok(path)
    }

    fn mkdir(&self, dir: &Path) -> Result<(), Failure> {
        fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|_| Failure::generic("cannot write the scratch copy".to_owned()))
    }

    /// Writes one file of the copy, 0600; `plaintext` marks decrypted data.
    pub fn write(&mut self, rel: &str, data: &[u8], plaintext: bool) -> Result<(), Failure> {
        let path = self.repo.join(rel);
        let err = || Failure::generic("cannot write the scratch copy".to_owned());
        if plaintext {
            self.plaintext.push(path.clone());
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|_| err())?;
        f.write_all(data).map_err(|_| err())
    }

    /// Copies the repository root (minus `.git`), calling `file` for each
    /// regular file to get the bytes to write (and whether they are
    /// plaintext). Symlinks that stay inside the repository are recreated
    /// pointing at the copy; any other symlink is an error.
    pub fn copy_repo(
        &mut self,
        roots: &Roots,
        limits: &Limits,
        deadline: Instant,
        file: &mut FileHook<'_>,
    ) -> Result<(), Failure> {
        let mut visited = 0usize;
        let mut total = 0u64;
        let mut stack: Vec<String> = vec![String::new()];
        while let Some(rel_dir) = stack.pop() {
            walk::check_deadline(deadline, limits, "copying the repository")?;
            let dir = roots.repo.join(&rel_dir);
            let mut names: Vec<_> = fs::read_dir(&dir)
                .map_err(|_| Failure::generic(format!("cannot list {}", roots.display(&dir))))?
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect();
            names.sort();
            for name in names {
                visited += 1;
                if visited > limits.max_files {
                    return Err(Failure::generic(format!(
                        "too many files (>{}) in the repository",
                        limits.max_files
                    ))
                    .with_hint("raise SOPS_CMP_MAX_FILES on the sidecar if this is intended"));
                }
                let Some(name) = name.to_str() else {
                    continue;
                };
                if rel_dir.is_empty() && name == ".git" {
                    continue;
                }
                let rel = if rel_dir.is_empty() {
                    name.to_owned()
                } else {
                    format!("{rel_dir}/{name}")
                };
                let path = roots.repo.join(&rel);
                let shown = roots.display(&path);
                let meta = fs::symlink_metadata(&path)
                    .map_err(|_| Failure::generic(format!("cannot stat {shown}")))?;
                if meta.file_type().is_symlink() {
                    let target = fs::canonicalize(&path)
                        .ok()
                        .and_then(|t| t.strip_prefix(&roots.repo).ok().map(Path::to_path_buf))
                        .ok_or_else(|| {
                            Failure::generic(format!("{shown} resolves outside the repository"))
                        })?;
                    symlink(self.repo.join(target), self.repo.join(&rel)).map_err(|_| {
                        Failure::generic("cannot write the scratch copy".to_owned())
                    })?;
                } else if meta.is_dir() {
                    self.mkdir(&self.repo.join(&rel))?;
                    stack.push(rel);
                } else if meta.is_file() {
                    let entry = Entry {
                        rel: rel.clone(),
                        shown,
                        real: path,
                    };
                    let bytes = Zeroizing::new(walk::read_bounded(&entry, limits, &mut total)?);
                    let (data, plaintext) = file(&entry, bytes)?;
                    self.write(&rel, &data, plaintext)?;
                }
                // Sockets, fifos and devices are not copied.
            }
        }
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for path in &self.plaintext {
            if let Ok(meta) = fs::symlink_metadata(path)
                && meta.is_file()
                && let Ok(mut f) = fs::OpenOptions::new().write(true).open(path)
            {
                let zeros = vec![0u8; usize::try_from(meta.len()).unwrap_or(0)];
                let _ = f.write_all(&zeros).and_then(|()| f.sync_data());
            }
        }
        let _ = fs::remove_dir_all(&self.root);
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|p| p != &self.root);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn scratch_is_private_and_removed_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let root;
        {
            let mut s = Scratch::create(tmp.path()).unwrap();
            s.write("a.yaml", b"k: v\n", true).unwrap();
            root = s.root.clone();
            let mode = fs::metadata(&root).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
            let mode = fs::metadata(s.repo.join("a.yaml"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(!root.exists());
        assert!(LIVE.lock().unwrap().iter().all(|p| p != &root));
    }
}
