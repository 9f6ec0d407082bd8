//! `exec-env`/`exec-file --user NAME`: run the command as another user, with
//! that user's primary group, supplementary groups and `HOME`/`USER`/`LOGNAME`
//! (sops 3.13: #2154, #2194, #2230).
//!
//! The user is looked up in `/etc/passwd` and `/etc/group`, as sops' release
//! binaries do (Go's `os/user` without cgo): name services such as LDAP are
//! not asked.
//!
//! sops 3.13 switches its whole process to the user. We switch only the
//! child: a short-lived thread drops its own credentials with the kernel's
//! per-thread `setgroups`/`setgid`/`setuid` and starts the command, which
//! inherits them from the start; every other thread of sops stays as it was,
//! and nothing runs between fork and exec but the standard library's own
//! code (no `unsafe` `pre_exec`).

use std::io;
use std::path::Path;
use std::process::{Child, Command};

use crate::exit_code::{self as code, CliError};

/// A user from the password database.
#[derive(Debug)]
pub struct RunAs {
    name: String,
    home: String,
    uid: u32,
    gid: u32,
    /// The primary group first, then every group that lists the user.
    groups: Vec<u32>,
}

impl RunAs {
    /// Looks NAME up; an unknown user fails with Go's text, exit 1 (sops
    /// exits through a fatal log there).
    pub fn lookup(name: &str) -> Result<Self, CliError> {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .map_err(|e| CliError::new(code::ERROR_GENERIC, format!("open {path}: {e}")))
        };
        let passwd = read("/etc/passwd")?;
        let Some(mut user) = find_user(&passwd, name) else {
            return Err(CliError::new(
                code::ERROR_GENERIC,
                format!("user: unknown user {name}"),
            ));
        };
        // Without a group file the user still has its primary group.
        if let Ok(group) = std::fs::read_to_string("/etc/group") {
            user.groups.extend(member_groups(&group, name, user.gid));
        }
        Ok(user)
    }

    /// `HOME`, `USER` and `LOGNAME` for the command.
    pub fn env(&self) -> [(&'static str, &str); 3] {
        [
            ("HOME", &self.home),
            ("USER", &self.name),
            ("LOGNAME", &self.name),
        ]
    }

    /// Makes PATH (created by us, private) the user's: the command reads
    /// the plaintext through it, and nobody else can.
    pub fn give(&self, path: &Path) -> Result<(), CliError> {
        use rustix::fs::{Gid, Uid, chown};
        chown(
            path,
            Some(Uid::from_raw(self.uid)),
            Some(Gid::from_raw(self.gid)),
        )
        .map_err(|e| {
            CliError::new(
                code::COULD_NOT_WRITE_OUTPUT_FILE,
                format!("could not give the temporary file to {}: {e}", self.name),
            )
        })
    }

    /// Starts COMMAND as the user.
    #[cfg(target_os = "linux")]
    pub fn spawn(&self, command: &mut Command) -> io::Result<Child> {
        use rustix::thread::{Gid, Uid, set_thread_gid, set_thread_groups, set_thread_uid};
        let groups: Vec<Gid> = self.groups.iter().map(|g| Gid::from_raw(*g)).collect();
        std::thread::scope(|scope| {
            // This thread gives up root for good and ends after the spawn.
            scope
                .spawn(|| {
                    set_thread_groups(&groups)?;
                    set_thread_gid(Gid::from_raw(self.gid))?;
                    set_thread_uid(Uid::from_raw(self.uid))?;
                    command.spawn()
                })
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the user switch failed")))
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub fn spawn(&self, _command: &mut Command) -> io::Result<Child> {
        Err(io::Error::other(
            "--user is supported on Linux only by this sops implementation",
        ))
    }
}

/// The `/etc/passwd` entry of NAME (`name:pw:uid:gid:gecos:home:shell`),
/// with Go's rules: NIS `+`/`-` lines and lines whose ids are not numbers
/// are skipped.
fn find_user(passwd: &str, name: &str) -> Option<RunAs> {
    passwd.lines().find_map(|line| {
        let parts: Vec<&str> = line.splitn(7, ':').collect();
        if parts.len() < 6 || parts[0] != name || name.is_empty() || name.starts_with(['+', '-']) {
            return None;
        }
        let uid = valid_id(parts[2])?;
        let gid = valid_id(parts[3])?;
        Some(RunAs {
            name: parts[0].to_owned(),
            home: parts[5].to_owned(),
            uid,
            gid,
            groups: vec![gid],
        })
    })
}

/// The gids of the `/etc/group` entries (`name:pw:gid:members`) that list
/// NAME, the primary group left out (it is already first).
fn member_groups(group: &str, name: &str, primary: u32) -> Vec<u32> {
    let mut gids = Vec::new();
    for line in group.lines() {
        if line.starts_with(['#', '+', '-']) {
            continue;
        }
        let parts: Vec<&str> = line.split(':').collect();
        let [_, _, gid, members] = parts.as_slice() else {
            continue;
        };
        if !members.split(',').any(|m| m == name) {
            continue;
        }
        if let Some(gid) = valid_id(gid).filter(|g| *g != primary && !gids.contains(g)) {
            gids.push(gid);
        }
    }
    gids
}

/// A numeric id the kernel accepts (`-1` means "unchanged" to it).
fn valid_id(text: &str) -> Option<u32> {
    text.parse::<u32>().ok().filter(|id| *id != u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_and_group_lines_as_go_reads_them() {
        let passwd = "# comment\n+nis::0:0:::\nbob:x:1000:100:Bob,,,:/home/bob:/bin/sh\nodd:x:a:1::/:/bin/sh\n";
        let bob = find_user(passwd, "bob").unwrap();
        assert_eq!(
            (bob.uid, bob.gid, bob.home.as_str()),
            (1000, 100, "/home/bob")
        );
        assert!(find_user(passwd, "odd").is_none());
        assert!(find_user(passwd, "+nis").is_none());
        assert!(find_user(passwd, "alice").is_none());
        let group =
            "users:x:100:bob\nwheel:x:10:root,bob\nbad:x:z:bob\nother:x:20:bobby\ndup:x:10:bob\n";
        assert_eq!(member_groups(group, "bob", 100), vec![10]);
    }
}
