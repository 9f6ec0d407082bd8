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
//! Only SIGKILL (the cmp-server's, 5 s after SIGTERM, or the kernel's OOM
//! killer under the sidecar's memory limit) leaves the copy behind. Every
//! `generate` therefore first sweeps the copies of dead runs ([`sweep_stale`]);
//! a run marks its copy as alive by its pid in the name and by an exclusive
//! `flock` on `<copy>/lock`, held until it ends (the kernel drops it with
//! the process, however it dies).

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

/// Name prefix of our scratch dirs: `argocd-sops-<pid>-<nanos>`.
const PREFIX: &str = "argocd-sops-";
/// The file whose `flock` marks a scratch dir as in use.
const LOCK: &str = "lock";

/// Where scratch dirs go: the sidecar's `TMPDIR`, else `/tmp`.
pub fn parent(env: &crate::settings::Env) -> PathBuf {
    PathBuf::from(env.get("TMPDIR").unwrap_or("/tmp"))
}

/// Removes the scratch dirs that runs killed by SIGKILL left in `tmp`
/// (decrypted files among them), and returns how many. A dir is removed
/// only if all of these hold:
///
/// - its name is ours: `argocd-sops-<pid>-<nanos>`, both numbers;
/// - it is a real directory (not a symlink: the entry itself is examined,
///   through a descriptor opened with `O_NOFOLLOW`, so what is checked is
///   what is removed) owned by our effective uid;
/// - its run is over: no process `<pid>` exists (as far as we can see; a
///   run in another pid namespace sharing the volume is covered by the
///   next test), and nobody holds the `flock` of its `lock` file.
///
/// `remove_dir_all` does not follow symlinks inside the tree. Errors are
/// ignored: sweeping is best effort and must never fail a run.
pub fn sweep_stale(tmp: &Path) -> usize {
    let Ok(entries) = fs::read_dir(tmp) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = stale_candidate_pid(name) else {
            continue;
        };
        let path = tmp.join(name);
        if is_stale(&path, pid) && fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The pid in a name of ours, or `None` for any other name.
fn stale_candidate_pid(name: &str) -> Option<i32> {
    let (pid, nanos) = name.strip_prefix(PREFIX)?.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(nanos) {
        return None;
    }
    pid.parse().ok()
}

fn is_stale(path: &Path, pid: i32) -> bool {
    use rustix::fs::{FlockOperation, Mode, OFlags, flock, fstat, open, openat};
    use rustix::process::{Pid, geteuid, test_kill_process};
    // The entry itself, never a symlink's target.
    let Ok(dir) = open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    if !fstat(&dir).is_ok_and(|st| st.st_uid == geteuid().as_raw()) {
        return false;
    }
    // A live process (EPERM: alive, another user's) keeps its dir. A
    // recycled pid only delays the sweep to a later run.
    let alive = Pid::from_raw(pid).is_none_or(|p| match test_kill_process(p) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    });
    if alive {
        return false;
    }
    match openat(
        &dir,
        LOCK,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        // Held by a live run (in another pid namespace): keep.
        Ok(lock) => flock(&lock, FlockOperation::NonBlockingLockShared).is_ok(),
        // Killed before the lock file existed.
        Err(rustix::io::Errno::NOENT) => true,
        Err(_) => false,
    }
}

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
/// bytes to write and whether they are plaintext, or `None` when the caller
/// writes that file itself later ([`Scratch::write`]). Both are wiped when
/// dropped, since either may be decrypted data.
pub type FileHook<'a> = dyn FnMut(&Entry, Zeroizing<Vec<u8>>) -> Result<Option<(Zeroizing<Vec<u8>>, bool)>, Failure>
    + 'a;

/// A private copy of the repository root.
pub struct Scratch {
    root: PathBuf,
    /// `root/lock`, `flock`ed for the life of the run (see [`sweep_stale`]).
    _lock: Option<fs::File>,
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
        let mut scratch = Self {
            repo: root.join("repo"),
            root,
            _lock: None,
            plaintext: Vec::new(),
        };
        made.map_err(|_| {
            Failure::config(format!(
                "cannot create a private scratch directory in {}",
                walk::shown_path(tmp)
            ))
            .with_hint("TMPDIR of the sidecar must be writable (a memory-backed emptyDir)")
        })?;
        let lock = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(scratch.root.join(LOCK))
            .map_err(|_| Failure::generic("cannot write the scratch copy".to_owned()))?;
        lock.try_lock()
            .map_err(|_| Failure::generic("cannot lock the scratch copy".to_owned()))?;
        scratch._lock = Some(lock);
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
    /// plaintext), unless it keeps the file to write later. Symlinks that stay inside the repository are recreated
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
                    if let Some((data, plaintext)) = file(&entry, bytes)? {
                        self.write(&rel, &data, plaintext)?;
                    }
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
