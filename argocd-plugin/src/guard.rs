//! The renderer guard: a small process between the plugin and each
//! renderer that ends the renderer's whole process group when the plugin
//! dies, even by SIGKILL.
//!
//! A SIGKILLed plugin runs no cleanup (the OOM killer under the sidecar's
//! memory limit, the cmp-server's SIGKILL 5 s after its SIGTERM), and a
//! renderer in a group of its own is not reached by the cmp-server's signals
//! either: helm or kustomize would go on, orphaned, holding memory and
//! reading the decrypted scratch copy. The kernel can tell a process that
//! its parent died (`PR_SET_PDEATHSIG`), but only a process that asks for
//! it itself — setting it for a child between fork and exec needs
//! `pre_exec`, which is `unsafe` (forbidden in this crate). So the plugin
//! runs its own executable as
//! `argocd-sops-plugin __renderer-guard <plugin pid> -- <renderer> <args…>`
//! as the leader of a new process group, with the renderer's environment,
//! working directory and stdio; the guard
//!
//! 1. asks for SIGTERM when its parent dies, then checks that its parent
//!    is still the plugin (it may have died before the request);
//! 2. runs the renderer in its own group, passing stdio on untouched
//!    (inherited descriptors: nothing is copied) and adding nothing to the
//!    environment;
//! 3. waits; when the plugin is gone (its parent pid changed), it kills its
//!    whole group with SIGKILL: the renderer and anything it spawned;
//! 4. otherwise ends as the renderer ended: the same exit code, or killed
//!    by the same signal (SIGKILL for one that would dump core), so the
//!    plugin reports what it reported without the guard.
//!
//! A SIGTERM that the plugin sends to the group ([`crate::children`]) also
//! reaches the guard: it is not the plugin's death, so the guard keeps
//! waiting while the renderer uses its grace period, and the plugin's
//! SIGKILL after the grace ends both.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that spawned the guard ends,
//! not only when the process does. The plugin spawns renderers from its
//! main thread (`render::run` is called on it), but the guard does not rely
//! on that: on every wake-up it compares its parent pid with the plugin's,
//! and that only changes when the whole plugin is gone (a child whose
//! spawning thread ends is handed to another thread of the same process).
//!
//! Why the guard cannot leave a renderer behind: the plugin's death either
//! happens before step 1 (the check fails and nothing is started) or after
//! it (the signal is queued, and the wait in step 3 returns for it). What
//! the guard does not catch: a process that leaves the group itself
//! (`setsid`), which helm and kustomize do not do.

use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitCode, ExitStatus};

use rustix::process::{Pid, Signal, getpgrp, getpid, getppid, set_parent_process_death_signal};
use signal_hook::consts::{SIGCHLD, SIGKILL, SIGTERM};

/// The hidden first argument that selects guard mode.
pub const ARG: &str = "__renderer-guard";

/// Exit code of a guard that could not start its renderer; together with
/// [`CANNOT_RUN`] as its only stderr, the plugin reports the renderer as
/// not installed (as it did when it spawned the renderer itself).
const CANNOT_RUN_CODE: u8 = 127;
const CANNOT_RUN: &str = "argocd-sops-plugin: renderer guard: cannot run the renderer\n";

/// The command that runs `prog args…` under a guard; the caller sets the
/// renderer's environment, cwd and stdio on it and spawns it as the leader
/// of a new process group (`process_group(0)`).
pub fn command(prog: &str, args: &[String]) -> Command {
    // /proc/self/exe still works if the binary was replaced on disk since
    // the plugin started (an image update under a running sidecar).
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0("argocd-sops-plugin")
        .arg(ARG)
        .arg(std::process::id().to_string())
        .arg("--")
        .arg(prog)
        .args(args);
    cmd
}

/// Whether a guard's status and stderr say that it could not start the
/// renderer at all.
pub fn could_not_start(status: ExitStatus, stderr: &[u8]) -> bool {
    status.code() == Some(i32::from(CANNOT_RUN_CODE)) && stderr == CANNOT_RUN.as_bytes()
}

/// Guard mode: `args` are the arguments after [`ARG`].
pub fn main(args: &[OsString]) -> ExitCode {
    let refuse = || {
        eprintln!("argocd-sops-plugin: {ARG} is internal: only the plugin runs it");
        ExitCode::from(2)
    };
    let Some((parent, prog, rest)) = parse(args) else {
        return refuse();
    };
    // It SIGKILLs its whole group when the plugin dies: that group must be
    // its own, never a caller's.
    if getppid() != Some(parent) || getpgrp() != getpid() {
        return refuse();
    }
    // Handlers before the death signal is requested, so that signal can
    // never take the default action (ending the guard alone, which would
    // leave the renderer to the plugin that is no longer there).
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGCHLD]) else {
        return ExitCode::from(1);
    };
    if set_parent_process_death_signal(Some(Signal::TERM)).is_err() {
        return ExitCode::from(1);
    }
    // The plugin may have died before the request: its death signal was
    // then sent to no one.
    if getppid() != Some(parent) {
        return ExitCode::from(1);
    }
    // Inherits everything: env, cwd, stdio, the process group.
    let Ok(mut child) = Command::new(prog).args(rest).spawn() else {
        eprint!("{CANNOT_RUN}");
        return ExitCode::from(CANNOT_RUN_CODE);
    };
    loop {
        match child.try_wait() {
            Ok(Some(status)) if getppid() == Some(parent) => return end_like(status),
            Ok(None) if getppid() == Some(parent) => {}
            // The plugin is gone (or the renderer cannot be waited for):
            // end the renderer and everything it spawned, and the guard.
            _ => {
                let _ = rustix::process::kill_current_process_group(Signal::KILL);
                return ExitCode::from(1);
            }
        }
        // Returns once SIGCHLD (the renderer ended) or SIGTERM (the plugin
        // died, or ends the group) is pending; one that arrived since the
        // checks above is pending already.
        for _ in signals.wait() {}
    }
}

/// `<parent pid> -- <program> <args…>`.
fn parse(args: &[OsString]) -> Option<(Pid, &OsString, &[OsString])> {
    let [parent, dashes, prog, rest @ ..] = args else {
        return None;
    };
    // Pid::from_raw panics on a negative number.
    let parent = Pid::from_raw(parent.to_str()?.parse::<u32>().ok()?.try_into().ok()?)?;
    (dashes == "--").then_some((parent, prog, rest))
}

/// Exits as the renderer did.
fn end_like(status: ExitStatus) -> ExitCode {
    if let Some(code) = status.code() {
        // Exit codes are 0..=255 (the kernel keeps the low 8 bits).
        return ExitCode::from(code.to_le_bytes()[0]);
    }
    let sig = status.signal().unwrap_or(SIGKILL);
    // A second core dump (of the guard) would be noise: the plugin only
    // tells a code from a signal.
    let sig = if status.core_dumped() { SIGKILL } else { sig };
    // SIGTERM has our handler: put the default back before raising it.
    let _ = signal_hook::low_level::emulate_default_handler(sig);
    let _ = signal_hook::low_level::raise(SIGKILL);
    ExitCode::from(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments_are_parent_dashes_program() {
        let a = args(&["42", "--", "helm", "template", "--"]);
        let (parent, prog, rest) = parse(&a).unwrap();
        assert_eq!(parent.as_raw_nonzero().get(), 42);
        assert_eq!(prog, "helm");
        assert_eq!(rest, &args(&["template", "--"])[..]);
        for bad in [
            &["42", "helm"][..],
            &["42", "--"],
            &["0", "--", "helm"],
            &["-1", "--", "helm"],
            &["x", "--", "helm"],
            &["42", "-", "helm"],
        ] {
            assert!(parse(&args(bad)).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn only_the_guards_own_failure_counts_as_not_started() {
        let exited = |code: i32| ExitStatus::from_raw(code << 8);
        assert!(could_not_start(exited(127), CANNOT_RUN.as_bytes()));
        // A renderer's own 127 (a shell script calling a missing tool).
        assert!(!could_not_start(exited(127), b"sh: 1: jq: not found\n"));
        assert!(!could_not_start(exited(1), CANNOT_RUN.as_bytes()));
    }
}
