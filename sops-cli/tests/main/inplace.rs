//! In-place writes (`-i`, `--output`, `set`, `edit`…) on unusual files:
//! symlinks, read-only files and directories, other owners, hard links, each
//! run with both binaries on copies of the same setup and compared; and a
//! SIGKILL in the middle of a large in-place write.
#![cfg(unix)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::support::{AgeKey, Bin, Output, Sandbox, read};

const PLAIN: &str = "app:\n    password: hunter2\n";
/// The unprivileged user the permission cases run as when the tests run as
/// root (permission bits do not bind root): `nobody`.
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A sandbox with an age key, and one directory per binary.
struct Fx {
    sb: Sandbox,
    key: AgeKey,
}

impl Fx {
    fn new() -> Self {
        let mut sb = Sandbox::new();
        let key = sb.age_keygen("k");
        sb.use_identity(&key);
        Self { sb, key }
    }

    /// The directory of `bin`'s copy of the setup.
    fn dir(&self, bin: Bin) -> PathBuf {
        let dir = self.sb.path(match bin {
            Bin::Ours => "ours",
            Bin::Reference => "reference",
        });
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn encrypt_in_place(&self, bin: Bin, file: &Path) -> Output {
        self.sb.run(bin, self.encrypt_args(file))
    }

    fn encrypt_args(&self, file: &Path) -> Vec<std::ffi::OsString> {
        vec![
            "encrypt".into(),
            "--age".into(),
            self.key.recipient.clone().into(),
            "-i".into(),
            file.into(),
        ]
    }

    /// Whether `file` holds PLAIN encrypted (decrypted by the reference).
    fn holds_encrypted_plain(&self, file: &Path) -> bool {
        let bytes = read(file);
        if bytes.windows(7).any(|w| w == b"hunter2") {
            return false;
        }
        let out = self.sb.run(
            Bin::Reference,
            ["decrypt".into(), file.as_os_str().to_owned()],
        );
        out.code == 0 && out.stdout == PLAIN.as_bytes()
    }

    /// Lets `nobody` into the sandbox and read the age identity.
    fn open_to_nobody(&self) {
        std::fs::set_permissions(self.sb.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&self.key.identity_file, Some(NOBODY), Some(NOBODY)).unwrap();
    }
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .unwrap()
        .file_type()
        .is_symlink()
}

/// What a test compares between the two binaries after one write.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    code: i32,
    /// The file written (the final target) holds the plaintext encrypted.
    encrypted: bool,
    /// Every name given still is a symlink.
    links_kept: bool,
}

#[test]
fn a_symlink_is_written_through_and_kept() {
    let fx = Fx::new();
    let mut seen = Vec::new();
    for bin in Bin::BOTH {
        let dir = fx.dir(bin);
        // The target in another directory: the temporary file must go there.
        let target = dir.join("real/secrets.yaml");
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, PLAIN).unwrap();
        let link = dir.join("link.yaml");
        std::os::unix::fs::symlink("real/secrets.yaml", &link).unwrap();
        let out = fx.encrypt_in_place(bin, &link);
        seen.push(Seen {
            code: out.code,
            encrypted: fx.holds_encrypted_plain(&target),
            links_kept: is_symlink(&link),
        });
    }
    assert_eq!(seen[0], seen[1], "ours vs reference");
    assert_eq!(
        seen[0],
        Seen {
            code: 0,
            encrypted: true,
            links_kept: true
        }
    );
}

#[test]
fn a_chain_of_symlinks_is_written_through_and_kept() {
    let fx = Fx::new();
    let mut seen = Vec::new();
    for bin in Bin::BOTH {
        let dir = fx.dir(bin);
        let target = dir.join("real/secrets.yaml");
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, PLAIN).unwrap();
        // first.yaml -> links/second.yaml -> ../real/secrets.yaml
        std::fs::create_dir_all(dir.join("links")).unwrap();
        let second = dir.join("links/second.yaml");
        std::os::unix::fs::symlink("../real/secrets.yaml", &second).unwrap();
        let first = dir.join("first.yaml");
        std::os::unix::fs::symlink(&second, &first).unwrap();
        let out = fx.encrypt_in_place(bin, &first);
        seen.push(Seen {
            code: out.code,
            encrypted: fx.holds_encrypted_plain(&target),
            links_kept: is_symlink(&first) && is_symlink(&second),
        });
    }
    assert_eq!(seen[0], seen[1], "ours vs reference");
    assert_eq!(
        seen[0],
        Seen {
            code: 0,
            encrypted: true,
            links_kept: true
        }
    );
}

#[test]
fn output_through_a_dangling_symlink_creates_its_target() {
    let fx = Fx::new();
    let mut seen = Vec::new();
    for bin in Bin::BOTH {
        let dir = fx.dir(bin);
        std::fs::create_dir_all(dir.join("real")).unwrap();
        let plain = dir.join("plain.yaml");
        std::fs::write(&plain, PLAIN).unwrap();
        let link = dir.join("out.yaml");
        std::os::unix::fs::symlink("real/made.yaml", &link).unwrap();
        let out = fx.sb.run(
            bin,
            [
                "encrypt".into(),
                "--age".into(),
                fx.key.recipient.clone().into(),
                "--output".into(),
                link.clone().into_os_string(),
                plain.into_os_string(),
            ],
        );
        let target = dir.join("real/made.yaml");
        seen.push(Seen {
            code: out.code,
            encrypted: target.exists() && fx.holds_encrypted_plain(&target),
            links_kept: is_symlink(&link),
        });
    }
    assert_eq!(seen[0], seen[1], "ours vs reference");
    assert_eq!(
        seen[0],
        Seen {
            code: 0,
            encrypted: true,
            links_kept: true
        }
    );
}

#[test]
fn an_edit_through_a_symlink_keeps_the_link() {
    let fx = Fx::new();
    let mut seen = Vec::new();
    for bin in Bin::BOTH {
        let dir = fx.dir(bin);
        let target = dir.join("secrets.yaml");
        std::fs::write(&target, PLAIN).unwrap();
        fx.encrypt_in_place(Bin::Reference, &target).ok();
        let link = dir.join("link.yaml");
        std::os::unix::fs::symlink("secrets.yaml", &link).unwrap();
        let out = fx
            .sb
            .cmd(bin, ["edit".into(), link.as_os_str().to_owned()])
            .env("EDITOR", "sed -i s/hunter2/hunter3/")
            .run();
        let plain = fx
            .sb
            .run(Bin::Reference, ["decrypt".into(), target.into_os_string()])
            .ok();
        seen.push((
            out.code,
            String::from_utf8(plain).unwrap(),
            is_symlink(&link),
        ));
    }
    assert_eq!(seen[0], seen[1], "ours vs reference");
    assert_eq!(
        seen[0],
        (0, "app:\n    password: hunter3\n".to_owned(), true)
    );
}

/// What a permission case shows: exit code, stderr's first line, whether
/// the file changed.
fn permission_case(
    fx: &Fx,
    setup: impl Fn(&Path) -> PathBuf,
    args: impl Fn(&Fx, &Path) -> Vec<std::ffi::OsString>,
) -> Vec<(i32, String, bool)> {
    let unprivileged = is_root();
    if unprivileged {
        fx.open_to_nobody();
    }
    let mut seen = Vec::new();
    for bin in Bin::BOTH {
        let dir = fx.dir(bin);
        let file = setup(&dir);
        let before = read(&file);
        let cmd = fx.sb.cmd(bin, args(fx, &file));
        let out = if unprivileged {
            cmd.user(NOBODY, NOBODY).run()
        } else {
            cmd.run()
        };
        let first_line = out.stderr.lines().next().unwrap_or("").to_owned();
        // The reference names the path it was given: compare our copy's
        // message with the reference's directory name swapped in.
        let first_line = first_line
            .replace("/ours/", "/<bin>/")
            .replace("/reference/", "/<bin>/");
        seen.push((out.code, first_line, read(&file) != before));
    }
    seen
}

/// Makes `dir` and `file` in it belong to `nobody` when we are root (so
/// that it is the permission bits that decide), with these modes.
fn owned_by_runner(dir: &Path, file: &Path, dir_mode: u32, file_mode: u32) {
    if is_root() {
        std::os::unix::fs::chown(file, Some(NOBODY), Some(NOBODY)).unwrap();
        std::os::unix::fs::chown(dir, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(file_mode)).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dir_mode)).unwrap();
}

#[test]
fn a_read_only_file_is_refused() {
    let fx = Fx::new();
    let setup = |dir: &Path| {
        let file = dir.join("secrets.yaml");
        std::fs::write(&file, PLAIN).unwrap();
        // The directory is writable: only the file's mode refuses.
        owned_by_runner(dir, &file, 0o755, 0o444);
        file
    };
    let seen = permission_case(&fx, setup, Fx::encrypt_args);
    assert_eq!(seen[0], seen[1], "ours vs reference");
    assert_eq!(seen[0].0, 3, "{seen:?}");
    assert!(
        seen[0]
            .1
            .starts_with("Could not open in-place file for writing: open ")
            && seen[0]
                .1
                .ends_with("/<bin>/secrets.yaml: permission denied"),
        "{seen:?}"
    );
    assert!(!seen[0].2, "the file is unchanged");

    // --output onto a read-only file: refused as well.
    let fx = Fx::new();
    let output = |fx: &Fx, file: &Path| -> Vec<std::ffi::OsString> {
        let plain = file.with_file_name("plain.yaml");
        std::fs::write(&plain, PLAIN).unwrap();
        vec![
            "encrypt".into(),
            "--age".into(),
            fx.key.recipient.clone().into(),
            "--output".into(),
            file.into(),
            plain.into(),
        ]
    };
    let seen = permission_case(&fx, setup, output);
    assert_eq!(seen[0].0, seen[1].0, "{seen:?}");
    assert_eq!(seen[0].0, 3, "{seen:?}");
    assert!(
        seen.iter().all(|s| s
            .1
            .starts_with("Could not open output file for writing: open ")
            && s.1.ends_with("secrets.yaml: permission denied")
            && !s.2),
        "{seen:?}"
    );
}

#[test]
fn a_read_only_file_is_written_by_root_as_sops_does() {
    if !is_root() {
        return;
    }
    let fx = Fx::new();
    let mut seen = Vec::new();
    for bin in Bin::BOTH {
        let file = fx.dir(bin).join("secrets.yaml");
        std::fs::write(&file, PLAIN).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
        let out = fx.encrypt_in_place(bin, &file);
        let mode = std::fs::metadata(&file).unwrap().mode() & 0o7777;
        seen.push((out.code, fx.holds_encrypted_plain(&file), mode));
    }
    assert_eq!(seen[0], seen[1], "ours vs reference");
    assert_eq!(seen[0], (0, true, 0o444));
}

#[test]
fn a_read_only_directory_with_a_writable_file_is_written_through() {
    let fx = Fx::new();
    let setup = |dir: &Path| {
        let sub = dir.join("locked");
        std::fs::create_dir(&sub).unwrap();
        let file = sub.join("secrets.yaml");
        std::fs::write(&file, PLAIN).unwrap();
        owned_by_runner(&sub, &file, 0o555, 0o644);
        file
    };
    let seen = permission_case(&fx, setup, Fx::encrypt_args);
    assert_eq!(seen[0], seen[1], "ours vs reference");
    assert_eq!(seen[0], (0, String::new(), true));
    for bin in Bin::BOTH {
        let file = fx.dir(bin).join("locked/secrets.yaml");
        assert!(fx.holds_encrypted_plain(&file), "{bin}");
        let names: Vec<_> = std::fs::read_dir(file.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{bin}: {names:?}");
    }
}

#[test]
fn the_owner_group_and_mode_of_another_users_file_are_kept() {
    if !is_root() {
        // Only root can write a file of another user and give it back.
        return;
    }
    let fx = Fx::new();
    let mut seen = Vec::new();
    for bin in Bin::BOTH {
        let file = fx.dir(bin).join("secrets.yaml");
        std::fs::write(&file, PLAIN).unwrap();
        std::os::unix::fs::chown(&file, Some(NOBODY), Some(NOBODY)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let out = fx.encrypt_in_place(bin, &file);
        let meta = std::fs::metadata(&file).unwrap();
        seen.push((
            out.code,
            fx.holds_encrypted_plain(&file),
            meta.uid(),
            meta.gid(),
            meta.mode() & 0o7777,
        ));
    }
    assert_eq!(seen[0], seen[1], "ours vs reference");
    assert_eq!(seen[0], (0, true, NOBODY, NOBODY, 0o640));
}

#[test]
fn every_hard_link_sees_the_new_content() {
    let fx = Fx::new();
    let mut seen = Vec::new();
    for bin in Bin::BOTH {
        let dir = fx.dir(bin);
        let file = dir.join("secrets.yaml");
        std::fs::write(&file, PLAIN).unwrap();
        let second = dir.join("second-name.yaml");
        std::fs::hard_link(&file, &second).unwrap();
        let out = fx.encrypt_in_place(bin, &file);
        seen.push((
            out.code,
            fx.holds_encrypted_plain(&second),
            std::fs::metadata(&file).unwrap().nlink(),
        ));
    }
    assert_eq!(seen[0], seen[1], "ours vs reference");
    assert_eq!(seen[0], (0, true, 2));
}

/// Whether the process `pid` has a file open in `dir` that is not `keep`:
/// its temporary file (on Linux an `O_TMPFILE` file shows as
/// `dir/#inode (deleted)`).
#[cfg(target_os = "linux")]
fn writes_a_temporary_file(pid: u32, dir: &Path, keep: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .any(|target| target.starts_with(dir) && target != keep)
}

/// `sops encrypt -i` of a ~50 MB file killed (SIGKILL) at several points of
/// its write (found by watching its open files): the file is then the old
/// bytes or a complete encrypted file, never a mix, and no temporary file is
/// left (the temporary file has no name until it is complete). The
/// reference, which truncates the file and then writes it, leaves a
/// truncated file here.
#[cfg(target_os = "linux")]
#[test]
fn a_killed_in_place_write_leaves_the_old_or_the_new_file() {
    let fx = Fx::new();
    let dir = fx.dir(Bin::Ours);
    // A binary file: one large value, quicker to encrypt than many.
    let mut plain = Vec::with_capacity(50 << 20);
    let mut line = 0u64;
    while plain.len() < 50 << 20 {
        plain.extend_from_slice(format!("{line:076}\n").as_bytes());
        line += 1;
    }
    let file = dir.join("big.bin");
    let run = |file: &Path| {
        Command::new(Bin::Ours.path())
            .args(fx.encrypt_args(file))
            .current_dir(&dir)
            .env_clear()
            .env("HOME", fx.sb.dir())
            .env("SOPS_AGE_KEY_FILE", &fx.key.identity_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sops")
    };
    let is_complete_encryption = |bytes: &[u8]| {
        // A file cut short or mixed with the old plaintext does not decrypt.
        let copy = fx.sb.path("check.bin");
        std::fs::write(&copy, bytes).unwrap();
        let out = fx
            .sb
            .run(Bin::Reference, ["decrypt".into(), copy.into_os_string()]);
        out.code == 0 && out.stdout == plain
    };
    let (mut old, mut new) = (0, 0);
    for delay_ms in [0, 30, 150, 400] {
        std::fs::write(&file, &plain).unwrap();
        let mut child = run(&file);
        let started = Instant::now();
        while !writes_a_temporary_file(child.id(), &dir, &file) {
            if child.try_wait().unwrap().is_some() || started.elapsed().as_secs() > 300 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        let now = read(&file);
        if now == plain {
            old += 1;
        } else {
            assert!(
                is_complete_encryption(&now),
                "killed {delay_ms} ms into the write: the file is neither the old nor a new one ({} bytes)",
                now.len()
            );
            new += 1;
        }
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|name| name != "big.bin")
            .collect();
        assert!(
            leftovers.is_empty(),
            "killed {delay_ms} ms into the write: left {leftovers:?}"
        );
    }
    eprintln!("killed runs: {old} left the old file, {new} the new one");
    assert!(old > 0, "no kill landed before the rename");
}
