//! Writing the result of `-i`, `--output`, `set`, `edit`, `rotate`…: the
//! file the user named gets the new content, following symlinks and keeping
//! its owner, group, mode and every hard link, as sops' `os.Create` does;
//! unlike sops, the content is replaced atomically wherever the file system
//! allows it, so readers see the old file or the new one, never a mix, and a
//! failure leaves the old file as it was.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, WriteStep};

/// Prefix of the temporary files made next to a target. A temporary file
/// gets a name only for the instant between its link and its rename on
/// Linux (see [`TempFile`]), and is 0600 while it has one.
const TEMP_PREFIX: &str = ".sops-tmp-";

/// Gives the file at `path` the content `bytes`, as sops does for in-place
/// and `--output` writes, and atomically where possible:
///
/// - Symlinks (and chains of them) are followed: the file written is the
///   final target, the links stay links. A dangling link creates its target,
///   as sops' `os.Create` does.
/// - An existing file is first opened for writing, which is the permission
///   check sops makes: a file we may not write (a 0444 file for a user other
///   than root) is refused with [`WriteStep::Open`] and left alone. Root may
///   write it, as with sops.
/// - A regular file with one link is replaced by a temporary file made in the
///   target's own directory (a rename is atomic only within one file system),
///   written and synced, given the original's owner, group and mode, then
///   renamed over it. On Linux the temporary file is created unnamed
///   (`O_TMPFILE`) and linked only when complete, so a process killed while
///   writing leaves nothing behind.
/// - The file is written through, in place, when a rename cannot keep what
///   the user sees: it has several hard links (every name must see the new
///   content), its directory refuses a temporary file (read-only directory)
///   or its owner cannot be given to a new file (not root). This is not
///   atomic: the blocks are reserved first, so a full disk or quota fails
///   before the file is touched, and a write error puts the old bytes back;
///   but a reader during the write, or a kill or power loss in its middle,
///   can see the new content followed by the tail of the old one.
/// - Anything else (a device, a FIFO) is written directly, as sops does.
///
/// A new file gets the mode `0666` minus the umask, as sops' `os.Create`
/// gives it: the file is created empty first so that the OS applies the
/// umask (reading the umask would change it for the whole process), and
/// removed again if a later step fails.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let fail = |step: WriteStep| {
        move |source: std::io::Error| Error::Write {
            path: path.to_path_buf(),
            step,
            source,
        }
    };
    // Opening follows every symlink, as sops' `os.Create` does, and is the
    // kernel's own permission check (which lets root write a 0444 file, as
    // sops does). No truncation: nothing is changed until the new content is
    // ready.
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(file) => replace_existing(path, &file, bytes).map_err(|(step, e)| fail(step)(e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let target = follow_dangling_links(path).map_err(fail(WriteStep::Create))?;
            let placeholder = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .map_err(fail(WriteStep::Create))?;
            let result = replace_existing(&target, &placeholder, bytes);
            if result.is_err() {
                // Best effort: the placeholder is ours and empty; the error
                // that matters is the one being returned.
                let _ = std::fs::remove_file(&target);
            }
            result.map_err(|(step, e)| fail(step)(e))
        }
        Err(e) => Err(fail(WriteStep::Open)(e)),
    }
}

type StepResult<T> = Result<T, (WriteStep, std::io::Error)>;

/// The final target of a chain of symlinks whose last link points at
/// nothing: where `os.Create` would create the file. Bounded like the
/// kernel's own resolution (40 links).
fn follow_dangling_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)?;
                current = match current.parent() {
                    Some(dir) => dir.join(link),
                    None => link,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Writes `bytes` into the file opened as `file` from `path`, choosing how
/// (see [`write_file_atomically`]).
#[cfg(unix)]
fn replace_existing(path: &Path, file: &File, bytes: &[u8]) -> StepResult<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().map_err(|e| (WriteStep::Open, e))?;
    if !meta.is_file() {
        return write_directly(file, bytes);
    }
    if meta.nlink() > 1 {
        return write_through(path, file, &meta, bytes);
    }
    // The directory of the final target, so that the rename replaces the
    // file itself and not a symlink to it. If the name no longer leads to
    // the file that was opened (it was replaced meanwhile), write to the one
    // whose permissions were checked.
    let target = match std::fs::canonicalize(path) {
        Ok(target) if same_file(&target, &meta) => target,
        _ => return write_through(path, file, &meta, bytes),
    };
    let dir = target.parent().unwrap_or(Path::new("/"));
    if replace_with(&target, dir, &meta, bytes)? {
        Ok(())
    } else {
        write_through(path, file, &meta, bytes)
    }
}

#[cfg(unix)]
fn same_file(path: &Path, meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino())
}

/// The atomic replacement. `Ok(false)`: no temporary file with the
/// original's owner can be made here (the directory is not writable, or we
/// may not give the file away), so the caller writes through instead.
#[cfg(unix)]
fn replace_with(
    target: &Path,
    dir: &Path,
    original: &std::fs::Metadata,
    bytes: &[u8],
) -> StepResult<bool> {
    use std::os::unix::fs::MetadataExt;
    let mut tmp = match TempFile::create_in(dir) {
        Ok(tmp) => tmp,
        Err(e) if not_permitted(&e) => return Ok(false),
        Err(e) => return Err((WriteStep::CreateTemporary, e)),
    };
    // The owner first: before writing anything, and before the mode, since
    // a change of owner clears the set-user-ID and set-group-ID bits.
    let created = tmp
        .file()
        .metadata()
        .map_err(|e| (WriteStep::CreateTemporary, e))?;
    if (created.uid(), created.gid()) != (original.uid(), original.gid()) {
        match std::os::unix::fs::fchown(tmp.file(), Some(original.uid()), Some(original.gid())) {
            Ok(()) => {}
            Err(e) if not_permitted(&e) => return Ok(false),
            Err(e) => return Err((WriteStep::SetPermissions, e)),
        }
    }
    tmp.file_mut()
        .write_all(bytes)
        .and_then(|()| tmp.file().sync_all())
        .map_err(|e| (WriteStep::Write, e))?;
    set_mode(tmp.file(), original.mode() & 0o7777).map_err(|e| (WriteStep::SetPermissions, e))?;
    tmp.persist(target).map_err(|e| (WriteStep::Replace, e))?;
    sync_dir(dir);
    Ok(true)
}

/// Errors that mean "not allowed here" rather than "broken": the caller
/// then writes through the file, as sops would.
#[cfg(unix)]
fn not_permitted(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        Errno::from_io_error(e),
        Some(Errno::ACCESS | Errno::PERM | Errno::ROFS)
    )
}

/// Overwrites the content of the file in place (every hard link sees it),
/// avoiding what can be avoided: the space is reserved before anything is
/// written, the new content is written before the file is shortened (so it
/// is never empty or cut short while the old content could still be kept),
/// and on a write error the old bytes are put back when they could be read.
#[cfg(unix)]
fn write_through(
    path: &Path,
    file: &File,
    original: &std::fs::Metadata,
    bytes: &[u8],
) -> StepResult<()> {
    use std::os::unix::fs::FileExt;
    let old = read_same_file(path, original);
    reserve(file, bytes.len() as u64).map_err(|e| (WriteStep::Write, e))?;
    let written = file
        .write_all_at(bytes, 0)
        .and_then(|()| file.set_len(bytes.len() as u64))
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        if let Some(old) = old {
            // Best effort: the error being returned is the one that matters.
            let _ = file
                .write_all_at(&old, 0)
                .and_then(|()| file.set_len(old.len() as u64))
                .and_then(|()| file.sync_all());
        }
        return Err((WriteStep::Write, e));
    }
    Ok(())
}

/// The current content of the file opened for writing, read through its
/// name, if we may read it and the name still leads to it. It can be
/// plaintext (`encrypt -i`): zeroed when dropped.
#[cfg(unix)]
fn read_same_file(path: &Path, meta: &std::fs::Metadata) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let mut reader = File::open(path).ok()?;
    let opened = reader.metadata().ok()?;
    if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
        return None;
    }
    let mut old = zeroize::Zeroizing::new(Vec::new());
    reader.read_to_end(&mut old).ok()?;
    Some(old)
}

/// Allocates the blocks for `len` bytes without changing the file's size or
/// content, so that a full disk or quota fails here, before the file is
/// touched. File systems without `fallocate` skip this.
#[cfg(target_os = "linux")]
fn reserve(file: &File, len: u64) -> std::io::Result<()> {
    use rustix::fs::{FallocateFlags, fallocate};
    use rustix::io::Errno;
    if len == 0 {
        return Ok(());
    }
    match fallocate(file, FallocateFlags::KEEP_SIZE, 0, len) {
        Ok(()) | Err(Errno::OPNOTSUPP | Errno::NOSYS) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
fn reserve(_file: &File, _len: u64) -> std::io::Result<()> {
    Ok(())
}

/// A device or FIFO: written as sops writes it (`O_TRUNC` means nothing
/// there).
fn write_directly(mut file: &File, bytes: &[u8]) -> StepResult<()> {
    file.write_all(bytes)
        .and_then(|()| file.flush())
        .map_err(|e| (WriteStep::Write, e))
}

/// A temporary file in the target's directory. On Linux it is created
/// without a name (`O_TMPFILE`) and linked under a `.sops-tmp-*` name only
/// once complete, just before the rename: a process killed while writing
/// (SIGKILL cannot be caught, so no clean-up would run) leaves no file, which
/// matters for `decrypt -i`, whose temporary file holds plaintext. Elsewhere,
/// or where the file system has no `O_TMPFILE`, it is a named 0600 file that
/// is removed on failure, but that a killed process leaves behind. Stale
/// files are not swept: a `.sops-tmp-*` file may belong to another sops
/// running in the same directory.
enum TempFile {
    #[cfg(target_os = "linux")]
    Unnamed {
        file: File,
        dir: PathBuf,
    },
    Named(tempfile::NamedTempFile),
}

impl TempFile {
    fn create_in(dir: &Path) -> std::io::Result<Self> {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{CWD, Mode, OFlags, openat};
            use rustix::io::Errno;
            match openat(
                CWD,
                dir,
                OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            ) {
                Ok(fd) => {
                    return Ok(Self::Unnamed {
                        file: File::from(fd),
                        dir: dir.to_path_buf(),
                    });
                }
                // No O_TMPFILE on this kernel or file system: a named file.
                Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOSYS) => {}
                Err(e) => return Err(e.into()),
            }
        }
        tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(dir)
            .map(Self::Named)
    }

    fn file(&self) -> &File {
        match self {
            #[cfg(target_os = "linux")]
            Self::Unnamed { file, .. } => file,
            Self::Named(tmp) => tmp.as_file(),
        }
    }

    fn file_mut(&mut self) -> &mut File {
        match self {
            #[cfg(target_os = "linux")]
            Self::Unnamed { file, .. } => file,
            Self::Named(tmp) => tmp.as_file_mut(),
        }
    }

    /// Renames the complete file over `target`.
    fn persist(self, target: &Path) -> std::io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Self::Unnamed { file, dir } => {
                let name = link_unnamed(&file, &dir)?;
                std::fs::rename(&name, target).inspect_err(|_| {
                    // Best effort: the rename's error is the one to report.
                    let _ = std::fs::remove_file(&name);
                })
            }
            Self::Named(tmp) => tmp.persist(target).map(drop).map_err(|e| e.error),
        }
    }
}

/// Gives an `O_TMPFILE` file a fresh `.sops-tmp-*` name in `dir` (a link
/// cannot replace an existing name, hence the rename afterwards). Through
/// `/proc/self/fd`, which any user may do; without `/proc`, through
/// `AT_EMPTY_PATH`, which needs `CAP_DAC_READ_SEARCH`.
#[cfg(target_os = "linux")]
fn link_unnamed(file: &File, dir: &Path) -> std::io::Result<PathBuf> {
    use std::os::fd::AsRawFd;

    use rand::RngCore;
    use rustix::fs::{AtFlags, CWD, linkat};
    use rustix::io::Errno;
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    let mut last = Errno::EXIST;
    for _ in 0..16 {
        let name = dir.join(format!(
            "{TEMP_PREFIX}{:016x}",
            rand::rngs::OsRng.next_u64()
        ));
        let linked = match linkat(CWD, proc_path.as_str(), CWD, &name, AtFlags::SYMLINK_FOLLOW) {
            Err(Errno::NOENT) => linkat(file, "", CWD, &name, AtFlags::EMPTY_PATH),
            other => other,
        };
        match linked {
            Ok(()) => return Ok(name),
            Err(e @ Errno::EXIST) => last = e,
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.into())
}

#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// Makes the rename itself durable. Best effort: the new file is complete
/// and in place either way, and not every file system can sync a directory.
#[cfg(unix)]
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Elsewhere: a temporary file renamed over the file (no owner or link to
/// keep).
#[cfg(not(unix))]
fn replace_existing(path: &Path, _file: &File, bytes: &[u8]) -> StepResult<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = TempFile::create_in(dir).map_err(|e| (WriteStep::CreateTemporary, e))?;
    tmp.file_mut()
        .write_all(bytes)
        .and_then(|()| tmp.file().sync_all())
        .map_err(|e| (WriteStep::Write, e))?;
    tmp.persist(path).map_err(|e| (WriteStep::Replace, e))
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn replaces_the_content_and_keeps_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.yaml");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_file_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(mode(&path), 0o640);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
    }

    /// Whether permission bits bind us (they do not bind root).
    fn privileged(dir: &Path) -> bool {
        let probe = dir.join("probe");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).unwrap();
        let privileged = std::fs::File::create(&probe).is_ok();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let _ = std::fs::remove_file(probe);
        privileged
    }

    #[test]
    fn a_read_only_directory_is_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.yaml");
        std::fs::write(&path, b"old content").unwrap();
        let ino = std::fs::metadata(&path).unwrap().ino();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o500)).unwrap();
        let result = write_file_atomically(&path, b"new");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        result.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        if !privileged(dir.path()) {
            assert_eq!(std::fs::metadata(&path).unwrap().ino(), ino, "same file");
        }
    }

    #[test]
    fn a_read_only_file_is_refused_unless_root_as_sops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.yaml");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        let result = write_file_atomically(&path, b"new");
        if privileged(dir.path()) {
            // sops' os.Create lets root write it; so do we.
            result.unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b"new");
        } else {
            let err = result.unwrap_err();
            assert!(
                matches!(&err, Error::Write { step: WriteStep::Open, path: p, .. } if *p == path),
                "{err:?}"
            );
            assert_eq!(std::fs::read(&path).unwrap(), b"old");
        }
        assert_eq!(mode(&path), 0o444);
    }

    #[test]
    fn a_directory_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        // A directory cannot be written as a file, whoever we are.
        let path = dir.path().join("taken");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"old").unwrap();
        let err = write_file_atomically(&path, b"new").unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Write {
                    step: WriteStep::Open,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(std::fs::read(path.join("inside")).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }

    #[test]
    fn symlinks_are_followed_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let real_dir = dir.path().join("real");
        std::fs::create_dir(&real_dir).unwrap();
        let target = real_dir.join("secrets.yaml");
        std::fs::write(&target, b"old").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        // A chain: a -> b -> real/secrets.yaml, b relative to its directory.
        let b = dir.path().join("b.yaml");
        std::os::unix::fs::symlink("real/secrets.yaml", &b).unwrap();
        let a = dir.path().join("a.yaml");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        write_file_atomically(&a, b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert!(
            std::fs::symlink_metadata(&a)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(
            std::fs::symlink_metadata(&b)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(mode(&target), 0o600);
        let names: Vec<_> = std::fs::read_dir(&real_dir).unwrap().collect();
        assert_eq!(
            names.len(),
            1,
            "the temporary file was made next to the target"
        );
    }

    #[test]
    fn a_dangling_symlink_creates_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("out.yaml");
        std::os::unix::fs::symlink("made.yaml", &link).unwrap();
        write_file_atomically(&link, b"new").unwrap();
        assert_eq!(std::fs::read(dir.path().join("made.yaml")).unwrap(), b"new");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn every_hard_link_sees_the_new_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.yaml");
        let other = dir.path().join("second-name.yaml");
        std::fs::write(&path, b"old content, longer than the new").unwrap();
        std::fs::hard_link(&path, &other).unwrap();
        write_file_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&other).unwrap(), b"new");
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&path).unwrap().nlink(), 2);
    }

    #[test]
    fn the_owner_and_group_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.yaml");
        std::fs::write(&path, b"old").unwrap();
        // Only root can give a file away; for anyone else this is a no-op.
        if std::os::unix::fs::chown(&path, Some(65534), Some(65534)).is_err() {
            return;
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_file_atomically(&path, b"new").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        assert_eq!(mode(&path), 0o640);
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn a_temporary_file_being_written_has_no_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut tmp = TempFile::create_in(dir.path()).unwrap();
        tmp.file_mut().write_all(b"plaintext").unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        if matches!(tmp, TempFile::Unnamed { .. }) {
            assert!(names.is_empty(), "a killed process would leave {names:?}");
        }
        drop(tmp);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(names.is_empty(), "{names:?}");
    }

    #[test]
    fn a_failed_write_through_leaves_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.yaml");
        std::fs::write(&path, b"old").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        // Opened without write access: the first step fails.
        let file = std::fs::File::open(&path).unwrap();
        let err = write_through(&path, &file, &meta, b"new content").unwrap_err();
        assert_eq!(err.0, WriteStep::Write);
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
    }

    #[test]
    fn a_new_file_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.yaml");
        write_file_atomically(&path, b"content").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"content");
    }
}
