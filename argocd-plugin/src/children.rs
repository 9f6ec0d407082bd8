//! The renderers' process groups, ended together with the plugin.
//!
//! Each renderer (kustomize, kubectl, helm) runs in a process group of its
//! own, led by its guard ([`crate::guard`], the plugin's own binary), so
//! that everything it spawns can be signalled at once. Being outside our
//! group also means a signal the cmp-server sends to *our* group no longer
//! reaches it; so whoever ends the plugin — the signal thread, the
//! watchdog, the deadline check of `render::run` — ends the live groups
//! first ([`terminate_all`]): SIGTERM, a short grace period, then SIGKILL.
//! Helm 4 was seen rendering on for seconds at ~430 MB after the plugin
//! had been told to stop.
//!
//! The `Child` registered here is the guard: it leads the group, passes the
//! renderer's exit status on as its own, and lets a SIGTERM sent to the
//! group pass (the renderer gets it too) until the renderer has ended or
//! the SIGKILL comes. What this module cannot do — end the groups when the
//! plugin itself is SIGKILLed and runs nothing any more — the guards do:
//! each one kills its group when its parent, the plugin, dies.
//!
//! A group id is registered while its leader has not been reaped: the thread
//! that waits for the leader removes it under the same lock it reaps with
//! ([`wait_step`]), so a recycled pid is never signalled.

use std::process::{Child, ExitStatus};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::process::{
    Pid, Signal, WaitId, WaitIdOptions, kill_process_group, test_kill_process_group, waitid,
};

/// Group ids (= leader pids) of renderers not yet reaped.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Set once the plugin is being ended by a signal or the watchdog; the
/// thread running the renderer then leaves the exit to that path.
static TERMINATING: AtomicBool = AtomicBool::new(false);

/// How long a group gets between SIGTERM and SIGKILL. The cmp-server sends
/// SIGKILL to us 5 s after its SIGTERM; this leaves time for the cleanup.
pub const GRACE: Duration = Duration::from_millis(1500);

/// Registers a freshly spawned renderer guard (started with `process_group(0)`).
pub fn register(child: &Child) {
    if let (Ok(pid), Ok(mut groups)) = (i32::try_from(child.id()), GROUPS.lock()) {
        groups.push(pid);
    }
}

/// True once [`terminate_all`] has started.
pub fn terminating() -> bool {
    TERMINATING.load(Ordering::SeqCst)
}

/// One poll of a registered renderer: `Some(status)` once it has exited. The
/// rest of its group (children it left behind, which would otherwise hold
/// its output pipes open and keep running) is killed before the leader is
/// reaped, while the group id cannot have been reused.
pub fn wait_step(child: &mut Child) -> std::io::Result<Option<ExitStatus>> {
    let Ok(raw) = i32::try_from(child.id()) else {
        return child.try_wait();
    };
    let Some(pid) = Pid::from_raw(raw) else {
        return child.try_wait();
    };
    let mut groups = GROUPS
        .lock()
        .map_err(|_| std::io::Error::other("poisoned"))?;
    // WNOWAIT: look without reaping, so the pid stays ours while we signal.
    let exited = waitid(
        WaitId::Pid(pid),
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
    )?
    .is_some();
    if !exited {
        return Ok(None);
    }
    let _ = kill_process_group(pid, Signal::KILL);
    let status = child.wait()?;
    groups.retain(|&g| g != raw);
    Ok(Some(status))
}

/// Ends one renderer's group: SIGTERM, up to [`GRACE`] for it to go, then
/// SIGKILL; returns once the leader is reaped. For the deadline check of
/// the thread that owns the child.
pub fn terminate(child: &mut Child) {
    if let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(pid, Signal::TERM);
        let until = Instant::now() + GRACE;
        while Instant::now() < until {
            match wait_step(child) {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        let _ = kill_process_group(pid, Signal::KILL);
    }
    let _ = child.kill();
    let _ = wait_step(child);
    let _ = child.wait();
}

/// Ends every live renderer group (signal thread, watchdog): SIGTERM, then
/// SIGKILL to what is left after [`GRACE`]. The thread that waits for the
/// renderer keeps reaping meanwhile (a zombie leader keeps its group alive).
pub fn terminate_all() {
    TERMINATING.store(true, Ordering::SeqCst);
    let signal_all = |sig: Signal| {
        if let Ok(groups) = GROUPS.lock() {
            for pid in groups.iter().filter_map(|&g| Pid::from_raw(g)) {
                let _ = kill_process_group(pid, sig);
            }
        }
    };
    signal_all(Signal::TERM);
    let until = Instant::now() + GRACE;
    while Instant::now() < until {
        let alive = GROUPS.lock().is_ok_and(|groups| {
            groups
                .iter()
                .filter_map(|&g| Pid::from_raw(g))
                .any(|pid| test_kill_process_group(pid).is_ok())
        });
        if !alive {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    signal_all(Signal::KILL);
}
