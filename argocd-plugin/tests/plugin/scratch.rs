//! Scratch copies of earlier runs: a run killed by SIGKILL (the OOM killer
//! under the sidecar's memory limit) leaves its decrypted copy behind, and
//! the next `generate` removes it — only that, never anything else.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Request, Term, World, assert_gone, read_pid};
use crate::kustomize::{DB_PASSWORD, fake_renderer, overlay_app};

const CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: v\n";

/// A pid no process has: one of a child that has been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn scratch_like(tmp: &Path, name: &str, with_lock: bool) -> std::path::PathBuf {
    let dir = tmp.join(name);
    fs::create_dir_all(dir.join("repo")).unwrap();
    fs::write(dir.join("repo/secret.yaml"), "password: left-behind\n").unwrap();
    if with_lock {
        fs::write(dir.join("lock"), "").unwrap();
    }
    dir
}

#[test]
fn stale_copies_of_dead_runs_are_swept_and_nothing_else() {
    let w = World::new();
    w.write("app/cm.yaml", CONFIGMAP);
    let tmp = w.path().join("tmp");
    fs::create_dir_all(&tmp).unwrap();
    let dead = dead_pid();
    let stale = scratch_like(&tmp, &format!("argocd-sops-{dead}-100"), true);
    let stale_unlocked = scratch_like(&tmp, &format!("argocd-sops-{dead}-101"), false);
    // Alive by pid: this test process.
    let live_pid = scratch_like(
        &tmp,
        &format!("argocd-sops-{}-102", std::process::id()),
        true,
    );
    // Alive by lock (a run in another pid namespace sharing the volume).
    let live_lock = scratch_like(&tmp, &format!("argocd-sops-{dead}-103"), true);
    let held = fs::File::open(live_lock.join("lock")).unwrap();
    held.lock().unwrap();
    // A symlink with our name, pointing at somebody's directory.
    let outside = w.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("keep.txt"), "keep").unwrap();
    let link = tmp.join(format!("argocd-sops-{dead}-104"));
    symlink(&outside, &link).unwrap();
    // Names that are not ours.
    let foreign = [
        scratch_like(&tmp, "argocd-sops-x-1", false),
        scratch_like(&tmp, &format!("argocd-sops-{dead}"), false),
        scratch_like(&tmp, &format!("argocd-sopsy-{dead}-105"), false),
        scratch_like(&tmp, "_cmp_server", false),
    ];
    // Another user's dir with our name (only root can make one).
    let others = if rustix::process::geteuid().is_root() {
        let d = scratch_like(&tmp, &format!("argocd-sops-{dead}-106"), false);
        std::os::unix::fs::chown(&d, Some(65534), Some(65534)).unwrap();
        Some(d)
    } else {
        None
    };

    let out = Request::generate(&w, "app").run();
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(!stale.exists(), "stale copy kept");
    assert!(!stale_unlocked.exists(), "stale copy without lock kept");
    assert!(live_pid.join("repo/secret.yaml").exists());
    assert!(live_lock.join("repo/secret.yaml").exists());
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read_to_string(outside.join("keep.txt")).unwrap(),
        "keep"
    );
    for d in foreign.iter().chain(others.iter()) {
        assert!(
            d.join("repo/secret.yaml").exists(),
            "{} removed",
            d.display()
        );
    }
    drop(held);
}

#[test]
fn a_copy_left_by_sigkill_is_removed_by_the_next_run() {
    let w = World::new();
    overlay_app(&w);
    let leader = w.path().join("renderer.pid");
    let env = fake_renderer(
        &w,
        &format!(
            "echo $$ > {0}.tmp\nmv {0}.tmp {0}\nsleep 300",
            leader.display()
        ),
    );
    let req = Request {
        deadline: Duration::from_secs(1),
        term: Term::Kill,
        ..Request::generate(&w, "overlays/prod").sidecar(env.clone())
    };
    let out = req.run();
    assert!(out.timed_out);
    assert_eq!(out.code, None, "stderr: {}", out.stderr);
    // Nothing of the plugin ran after SIGKILL: its renderer guard ended the
    // renderer (see orphans.rs), but the decrypted copy is still there.
    assert_gone(read_pid(&leader), "the renderer");
    let tmp = w.path().join("tmp");
    let left: Vec<_> = fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    let db = fs::read_to_string(left[0].join("repo/base/db.yaml")).unwrap();
    assert!(
        db.contains(DB_PASSWORD),
        "the scenario needs plaintext on disk"
    );

    // The next request (any app, any mode) sweeps it.
    w.write("plain/cm.yaml", CONFIGMAP);
    Request::generate(&w, "plain").run().success();
}
