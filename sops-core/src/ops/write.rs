//! Replacing a file atomically: readers see the old file or the new one,
//! never a truncated mix, and a failure leaves the old file as it was.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, WriteStep};

/// Writes `bytes` to `path` through a temporary file in the same directory
/// (a rename is atomic only within one file system), synced to disk, given
/// the mode of the file it replaces, then renamed over it.
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
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (mode, created) = existing_or_new_mode(path).map_err(fail(WriteStep::Create))?;
    let result = replace_with(path, dir, mode, bytes);
    if result.is_err() && created {
        // Best effort: the placeholder is ours and empty; the error that
        // matters is the one already being returned.
        let _ = std::fs::remove_file(path);
    }
    result.map_err(|(step, source)| fail(step)(source))
}

/// The temporary file's part of the work; its guard removes it on failure.
fn replace_with(
    path: &Path,
    dir: &Path,
    mode: u32,
    bytes: &[u8],
) -> Result<(), (WriteStep, std::io::Error)> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".sops-tmp-")
        .tempfile_in(dir)
        .map_err(|e| (WriteStep::CreateTemporary, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| (WriteStep::Write, e))?;
    set_mode(tmp.as_file(), mode).map_err(|e| (WriteStep::SetPermissions, e))?;
    tmp.persist(path)
        .map_err(|e| (WriteStep::Replace, e.error))?;
    sync_dir(dir);
    Ok(())
}

/// The mode to give the new file, and whether the file was created here.
#[cfg(unix)]
fn existing_or_new_mode(path: &Path) -> std::io::Result<(u32, bool)> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(meta) => Ok((meta.permissions().mode() & 0o7777, false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)?;
            Ok((f.metadata()?.permissions().mode() & 0o7777, true))
        }
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn set_mode(file: &std::fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// Makes the rename itself durable. Best effort: the new file is complete
/// and in place either way, and not every file system can sync a directory.
#[cfg(unix)]
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn existing_or_new_mode(_path: &Path) -> std::io::Result<(u32, bool)> {
    Ok((0, false))
}

#[cfg(not(unix))]
fn set_mode(_file: &std::fs::File, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

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

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.yaml");
        std::fs::write(&path, b"old").unwrap();
        // A read-only directory: the temporary file cannot be created
        // (unless we run as root, whom permissions do not stop).
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o500)).unwrap();
        let privileged = std::fs::File::create(dir.path().join("probe")).is_ok();
        let result = write_file_atomically(&path, b"new");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        if !privileged {
            let err = result.unwrap_err();
            assert!(
                matches!(&err, Error::Write { step: WriteStep::CreateTemporary, path: p, .. } if *p == path),
                "{err:?}"
            );
            assert_eq!(std::fs::read(&path).unwrap(), b"old");
        }
    }

    #[test]
    fn a_failed_rename_leaves_the_destination_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory cannot be replaced by a file, whoever we are.
        let path = dir.path().join("taken");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"old").unwrap();
        let err = write_file_atomically(&path, b"new").unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Write {
                    step: WriteStep::Replace,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(std::fs::read(path.join("inside")).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "the temporary file is removed");
    }

    #[test]
    fn a_new_file_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.yaml");
        write_file_atomically(&path, b"content").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"content");
    }
}
