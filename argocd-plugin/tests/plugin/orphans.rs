//! Renderers never outlive the plugin, however it ends: also when it is
//! SIGKILLed (the OOM killer, or the cmp-server's SIGKILL after its grace
//! period), when none of its own cleanup runs.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{BIN, Request, Term, World, assert_all_gone, read_pid, runs};
use crate::kustomize::{fake_renderer, overlay_app, spawning_renderer};

/// Issue 10, "Helm keeps running after SIGTERM": after a SIGKILL of the
/// plugin, the renderer and what it spawned went on running, orphaned.
#[test]
fn r10_sigkill_of_the_plugin_ends_the_renderer_and_its_children() {
    let w = World::new();
    overlay_app(&w);
    let (env, leader, child) = spawning_renderer(&w);
    let req = Request {
        deadline: Duration::from_secs(1),
        term: Term::Kill,
        ..Request::generate(&w, "overlays/prod").sidecar(env)
    };
    let out = req.run();
    assert!(out.timed_out);
    assert_eq!(out.code, None, "stderr: {}", out.stderr);
    assert!(out.stdout.is_empty());
    assert_all_gone(
        &[
            (read_pid(&leader), "the renderer"),
            (read_pid(&child), "the renderer's child"),
        ],
        Duration::from_secs(2),
    );
}

/// A renderer killed by a signal is reported as before the guard existed.
#[test]
fn a_renderer_killed_by_a_signal_is_reported_as_such() {
    let w = World::new();
    overlay_app(&w);
    let env = fake_renderer(&w, "echo partial\nkill -KILL $$");
    Request::generate(&w, "overlays/prod")
        .sidecar(env)
        .run()
        .failure(Some(1))
        .stderr_contains("kustomize build failed (exit signal)");
}

#[test]
fn a_renderer_that_cannot_be_started_is_named() {
    let w = World::new();
    overlay_app(&w);
    let mut env = w.sidecar_env();
    let missing = w.path().join("no-such-kustomize");
    env.push((
        "SOPS_CMP_KUSTOMIZE_BIN".into(),
        missing.display().to_string(),
    ));
    let out = Request::generate(&w, "overlays/prod").sidecar(env).run();
    out.failure(Some(1))
        .stderr_contains("cannot run kustomize build (")
        .stderr_contains("install the renderer in the sidecar image");
    assert!(!out.stderr.contains("guard"), "{}", out.stderr);
}

/// PR_SET_PDEATHSIG fires when the *thread* that spawned a process ends, not
/// only the process: a renderer must not die because a thread did.
#[test]
fn a_renderer_outlives_the_thread_that_started_it() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("renderer.pid");
    let script = format!(
        "echo $$ > {0}.tmp; mv {0}.tmp {0}; exec sleep 30",
        pid_file.display()
    );
    let parent = std::process::id().to_string();
    let written = pid_file.clone();
    // The thread ends only once the renderer runs, so the guard has asked
    // for its death signal by then.
    let mut guard = std::thread::spawn(move || {
        let guard = Command::new(BIN)
            .args(["__renderer-guard", &parent, "--", "/bin/sh", "-c", &script])
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !written.exists() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        guard
    })
    .join()
    .unwrap();
    let renderer = read_pid(&pid_file);
    std::thread::sleep(Duration::from_millis(300));
    let alive = runs(renderer) && guard.try_wait().unwrap().is_none();
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", guard.id())])
        .status();
    let _ = guard.wait();
    assert!(alive, "the renderer died with the thread that started it");
    assert_all_gone(&[(renderer, "the renderer")], Duration::from_secs(2));
}

/// The hidden entry point is for the plugin only: it refuses a caller that
/// is not its parent, or a guard that would not lead a group of its own
/// (it kills its whole group when the plugin dies).
#[test]
fn the_renderer_guard_refuses_other_callers() {
    let parent = std::process::id().to_string();
    let someone_else = (std::process::id() + 1).to_string();
    for (expected, own_group) in [(&someone_else, true), (&parent, false)] {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "__renderer-guard",
            expected,
            "--",
            "/bin/sh",
            "-c",
            "echo ran",
        ]);
        if own_group {
            cmd.process_group(0);
        }
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty(), "the program ran");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("only the plugin runs"), "{stderr}");
    }
    // Not in the usage text.
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("guard"));
}
