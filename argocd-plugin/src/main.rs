//! `argocd-sops-plugin`: an Argo CD Config Management Plugin (sidecar) that
//! decrypts sops files at sync time.
//!
//! Subcommands: `generate` (the manifest stream, written to stdout only
//! after everything succeeded) and `discover` (for plugin.yaml's
//! `discover.find.command`). Diagnostics go to stderr and never contain a
//! decrypted value. See README.md for installation.

#![forbid(unsafe_code)]

mod children;
mod decrypted_copy;
mod discover;
mod error;
mod generate;
mod glob;
mod guard;
mod helm;
mod key_policy;
mod keys;
mod kustomize;
mod manifest;
mod namespace;
mod params;
mod render;
mod scratch;
mod settings;
mod stores;
mod walk;

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::Failure;
use crate::settings::{Env, Settings};

const USAGE: &str = "usage: argocd-sops-plugin <generate|discover>";

/// `--help`: the commands, where the settings come from, the exit codes.
/// The settings themselves are documented in argocd-plugin/README.md.
const HELP: &str = "\
argocd-sops-plugin: an Argo CD config management plugin (sidecar) that decrypts sops files at sync time

usage: argocd-sops-plugin <generate|discover>

commands:
  generate  render the app in the current directory (directory, kustomize or Helm; the
            `mode` parameter) with its sops files decrypted, and write the manifests to
            stdout, only once everything succeeded
  discover  print the repository-relative paths of up to 10 sops files of the app (no
            output when there is none; never decrypts), for plugin.yaml's
            discover.find.command

options:
  -h, --help  print this help

The operator's settings are the sidecar's environment (SOPS_CMP_PROJECT_KEYS_DIR,
SOPS_CMP_KEY_POLICY, SOPS_CMP_BIND_NAMESPACE, SOPS_CMP_DEADLINE, SOPS_CMP_MAX_FILES, ...,
and the keystores' own variables such as SOPS_AGE_KEY_FILE); the tenant's parameters come
from the Application (ARGOCD_ENV_*, PARAM_*). See argocd-plugin/README.md (Settings).

Diagnostics go to stderr and never contain a decrypted value. Exit status: 0 success,
1 error, 2 usage, 25 a value could not be decrypted, 51 MAC mismatch, 128 no usable key
(the table is in argocd-plugin/README.md, Exit codes).";

fn main() -> ExitCode {
    let start = Instant::now();
    // The renderer guard (see guard.rs) is this binary too; it is not a
    // command, so the usage text does not name it.
    let raw: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if let Some((first, rest)) = raw.split_first()
        && first == guard::ARG
    {
        return guard::main(rest);
    }
    // The cmp-server starts us in the app directory, which the tenant
    // controls. Every path we use is made from this absolute one; the
    // process itself leaves, so no relative path resolves into the
    // repository: not the AWS SDK's `~/.aws/config` when HOME is unset (a
    // tenant's `~/.aws/config` with a `credential_process` would run), not
    // a relative operator path (`AWS_WEB_IDENTITY_TOKEN_FILE`,
    // `SOPS_AGE_KEY_FILE`, a `.` entry of PATH).
    let cwd = std::env::current_dir();
    if std::env::set_current_dir("/").is_err() {
        return fail(&Failure::generic("cannot leave the app directory".into()));
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.as_slice() {
        [c] if c == "generate" || c == "discover" => c.clone(),
        [h] if h == "-h" || h == "--help" => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("argocd-sops-plugin: {USAGE}");
            return ExitCode::from(2);
        }
    };
    let env = Env::from_process();
    let op = match Settings::from_env(&env) {
        Ok(op) => op,
        Err(f) => return fail(&f),
    };
    // Parsed before either command runs: a broken policy fails closed.
    let policy = match keys::load_policy(&op) {
        Ok(p) => p,
        Err(f) => return fail(&f),
    };
    let deadline = start + op.limits.deadline;
    if command == "generate" {
        if let Err(f) = scratch::install_signal_cleanup() {
            return fail(&f);
        }
        // Copies left by runs that were SIGKILLed (memory limit) may hold
        // decrypted files: remove them before anything else.
        let swept = scratch::sweep_stale(&scratch::parent(&env));
        if op.debug && swept > 0 {
            eprintln!("argocd-sops-plugin: debug: removed {swept} stale scratch copies");
        }
    }

    // The gate is held while stdout is written: the watchdog may only end
    // the process before any output was produced.
    let gate = Arc::new(Mutex::new(false));
    spawn_watchdog(Arc::clone(&gate), op.limits.deadline);

    let Ok(cwd) = cwd else {
        return fail(&Failure::generic(
            "cannot determine the app directory".into(),
        ));
    };
    let result = if command == "generate" {
        generate::run(&env, &cwd, deadline, &op, policy.as_ref())
    } else {
        discover::run(&env, &cwd, deadline, &op).map(zeroize::Zeroizing::new)
    };
    let output = match result {
        Ok(o) => o,
        Err(f) => return fail(&f),
    };
    let Ok(mut started) = gate.lock() else {
        return fail(&Failure::generic("internal error".into()));
    };
    *started = true;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&output).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe is the reader's choice, not our failure (ripgrep).
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(_) => fail(&Failure::generic("cannot write to stdout".into())),
    }
}

/// Ends the process at the deadline (plus a little slack, so the cooperative
/// checks normally report first) if no output has started.
fn spawn_watchdog(gate: Arc<Mutex<bool>>, budget: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(budget + Duration::from_millis(500));
        if let Ok(started) = gate.lock()
            && !*started
        {
            children::terminate_all();
            scratch::cleanup_all();
            eprintln!(
                "argocd-sops-plugin: internal deadline of {}s exceeded",
                budget.as_secs()
            );
            std::process::exit(1);
        }
    });
}

fn fail(f: &Failure) -> ExitCode {
    eprintln!("{f}");
    ExitCode::from(f.code)
}
