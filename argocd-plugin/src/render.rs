//! Running a renderer (kustomize, kubectl, helm) safely.
//!
//! The child gets a clean environment (only what the caller lists: `PATH`,
//! a private `HOME`), never the sidecar's keys or cloud credentials. It
//! runs under a guard ([`crate::guard`]) in a process group of its own,
//! which is ended with the plugin (see [`crate::children`]), also when the
//! plugin is SIGKILLed. Its stdout is captured (bounded); its stderr is captured
//! and passed on only through [`Redactor`], because renderers quote values
//! in their errors (Helm template failures, kustomize merge conflicts).
//! Its output goes through the same checks as directory mode ([`finish`]).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sops_core::stores::{Format, StoreError};
use sops_core::{Branch, Value};
use zeroize::Zeroizing;

use crate::children;
use crate::error::Failure;
use crate::guard;
use crate::manifest;
use crate::params::Params;
use crate::settings::{Env, Limits};
use crate::stores::{limit_failure, store_for};

/// Longest stderr line passed on; longer ones are dropped (spec §3.9).
const MAX_LINE: usize = 500;
/// Total filtered stderr passed on (it ends up in the Application's condition).
const MAX_STDERR: usize = 4096;
/// Shortest decrypted value that is searched for and redacted.
const MIN_SECRET: usize = 4;

/// The decrypted strings of a run, to be cut out of renderer stderr.
#[derive(Default)]
pub struct Redactor {
    secrets: Vec<Zeroizing<String>>,
    /// Indices into `secrets` by a keyed hash of the text, so that adding
    /// is not a scan of every earlier secret (a 20 MB values file holds
    /// 130 000 strings: the scan took 17 s).
    index: HashMap<u64, Vec<usize>>,
    hasher: RandomState,
}

impl Redactor {
    /// Adds every string leaf of decrypted documents (each line of a
    /// multi-line value too, and the base64 form a Secret would carry).
    pub fn add_docs(&mut self, docs: &[Branch]) {
        for doc in docs {
            for (_, v) in doc.entries() {
                self.add_value(v);
            }
        }
    }

    fn add_value(&mut self, v: &Value) {
        match v {
            Value::Str(s) => self.add(s),
            Value::Map(b) => {
                for (_, v) in b.entries() {
                    self.add_value(v);
                }
            }
            Value::Seq(items) => {
                for v in items {
                    self.add_value(v);
                }
            }
            _ => {}
        }
    }

    /// Adds one decrypted string.
    pub fn add(&mut self, s: &str) {
        let mut push = |t: &str| {
            let t = t.trim();
            if t.len() < MIN_SECRET {
                return;
            }
            let same = self.index.entry(self.hasher.hash_one(t)).or_default();
            if !same.iter().any(|&i| self.secrets[i].as_str() == t) {
                same.push(self.secrets.len());
                self.secrets.push(Zeroizing::new(t.to_owned()));
            }
        };
        push(s);
        if s.contains('\n') {
            for line in s.lines() {
                push(line);
            }
        }
        push(&base64::engine::general_purpose::STANDARD.encode(s.trim().as_bytes()));
    }

    /// Adds the raw bytes of a decrypted non-tree file (dotenv, binary).
    pub fn add_bytes(&mut self, bytes: &[u8]) {
        if let Ok(s) = std::str::from_utf8(bytes) {
            for line in s.lines() {
                self.add(line);
                if let Some((_, v)) = line.split_once('=') {
                    self.add(v);
                }
            }
        }
    }

    /// Filters renderer stderr: invalid UTF-8 and long lines are dropped,
    /// decrypted values replaced with `<redacted>`, the total capped.
    pub fn filter(&self, stderr: &[u8]) -> String {
        let text = String::from_utf8_lossy(stderr);
        // Longest first, so a value containing another is cut whole.
        let mut secrets: Vec<&str> = self.secrets.iter().map(|s| s.as_str()).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = String::new();
        let mut dropped = 0usize;
        for line in text.lines() {
            if line.len() > MAX_LINE || line.contains('\u{FFFD}') {
                dropped += 1;
                continue;
            }
            let mut line: String = line.chars().filter(|c| !c.is_control()).collect();
            for s in &secrets {
                if line.contains(s) {
                    line = line.replace(s, "<redacted>");
                }
            }
            if out.len() + line.len() + 1 > MAX_STDERR {
                out.push_str("  [further output cut]\n");
                break;
            }
            out.push_str("  ");
            out.push_str(&line);
            out.push('\n');
        }
        if dropped > 0 {
            out.push_str(&format!("  [{dropped} overlong or binary lines dropped]\n"));
        }
        out
    }
}

/// What a renderer produced.
pub struct Rendered {
    pub stdout: Zeroizing<Vec<u8>>,
}

/// One renderer invocation.
pub struct Job<'a> {
    /// How the tool is called in messages.
    pub name: &'a str,
    pub argv: &'a [String],
    pub cwd: &'a Path,
    /// The child's whole environment.
    pub env: &'a [(String, String)],
    pub stdin: Option<&'a [u8]>,
}

/// Runs a job under the deadline.
pub fn run(
    job: &Job<'_>,
    redactor: &Redactor,
    limits: &Limits,
    deadline: Instant,
) -> Result<Rendered, Failure> {
    let Job {
        name,
        argv,
        cwd,
        env,
        stdin,
    } = *job;
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| Failure::generic(format!("{name}: empty command")))?;
    let cannot_run = || {
        Failure::config(format!(
            "cannot run {name} ({})",
            crate::walk::shown_path(Path::new(prog))
        ))
        .with_hint("install the renderer in the sidecar image or set its path in the sidecar env")
    };
    // Through the guard, which ends the group if the plugin is SIGKILLed;
    // the renderer gets exactly this environment (the guard adds nothing).
    let mut child = guard::command(prog, args)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, led by the guard: everything the renderer spawns
        // can be ended at once.
        .process_group(0)
        .spawn()
        .map_err(|_| Failure::generic(format!("cannot start the process guard for {name}")))?;
    children::register(&child);
    let writer = match (stdin, child.stdin.take()) {
        (Some(data), Some(mut pipe)) => {
            let data = Zeroizing::new(data.to_vec());
            Some(std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            }))
        }
        _ => None,
    };
    let max_out = limits.max_total_bytes;
    let mut out = child.stdout.take().ok_or_else(|| pipe_error(name))?;
    let mut err = child.stderr.take().ok_or_else(|| pipe_error(name))?;
    let out_t = std::thread::spawn(move || {
        let mut b = Zeroizing::new(Vec::new());
        let _ = (&mut out).take(max_out + 1).read_to_end(&mut b);
        // Drain the rest so the child is never blocked on a full pipe.
        let _ = std::io::copy(&mut out, &mut std::io::sink());
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Zeroizing::new(Vec::new());
        let _ = (&mut err).take(64 * 1024).read_to_end(&mut b);
        let _ = std::io::copy(&mut err, &mut std::io::sink());
        b
    });
    let status = loop {
        match children::wait_step(&mut child) {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(_) => {
                children::terminate(&mut child);
                return Err(Failure::generic(format!("cannot wait for {name}")));
            }
        }
        if Instant::now() > deadline {
            children::terminate(&mut child);
            return Err(Failure::generic(format!(
                "internal deadline of {}s exceeded while running {name}",
                limits.deadline.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    let stdout = out_t.join().map_err(|_| pipe_error(name))?;
    let stderr = err_t.join().map_err(|_| pipe_error(name))?;
    // The signal thread or the watchdog is ending the plugin (and killed the
    // renderer): it removes the scratch copy and exits with its own code;
    // reporting a renderer failure here would race it.
    while children::terminating() {
        std::thread::sleep(Duration::from_millis(50));
    }
    if guard::could_not_start(status, &stderr) {
        return Err(cannot_run());
    }
    if !status.success() {
        let code = status
            .code()
            .map_or_else(|| "signal".to_owned(), |c| c.to_string());
        let filtered = redactor.filter(&stderr);
        return Err(Failure::generic(format!(
            "{name} failed (exit {code}){}{}",
            if filtered.is_empty() { "" } else { ":\n" },
            filtered.trim_end()
        )));
    }
    if stdout.len() as u64 > max_out {
        return Err(Failure::generic(format!(
            "{name} produced more than {max_out} bytes"
        )));
    }
    Ok(Rendered { stdout })
}

/// Parses, checks and re-emits a renderer's output stream. `source_of`
/// names the failure of the input file that sops data left in the output
/// comes from, when it is known (a file that failed to decrypt).
pub fn finish(
    stdout: &[u8],
    name: &str,
    env: &Env,
    params: &Params,
    limits: &Limits,
    source_of: &dyn Fn(&manifest::SopsData) -> Option<Failure>,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let store = store_for(Format::Yaml, limits)?;
    let shown = format!("{name} output");
    // Helm prints nothing at all for a chart without templates. The
    // rendered documents may hold decrypted values: wiped when dropped.
    let mut docs = Zeroizing::new(if manifest::is_blank_yaml(stdout) {
        Vec::new()
    } else {
        match store.load(stdout) {
            Ok(d) => d,
            Err(StoreError::Empty) => Vec::new(),
            Err(e) => {
                return Err(limit_failure(&shown, Format::Yaml, &e, limits)
                    .unwrap_or_else(|| Failure::generic(format!("{shown}: malformed YAML: {e}"))));
            }
        }
    });
    docs.retain(|d| d.entries().next().is_some());
    for doc in docs.iter() {
        if let Some(found) = manifest::find_sops_data(doc) {
            return Err(source_of(&found).unwrap_or_else(|| {
                Failure::generic(manifest::leftover_message(&shown, doc, &found))
            }));
        }
        manifest::check(doc, &shown)?;
    }
    manifest::finish_output(
        &docs,
        params.allow_empty,
        name,
        env.get("ARGOCD_APP_SOURCE_PATH"),
    )
}

fn pipe_error(name: &str) -> Failure {
    Failure::generic(format!("cannot read the output of {name}"))
}

/// Looks a program up in a `PATH` value.
pub fn which(path_var: &str, prog: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(prog))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_is_redacted_and_capped() {
        let mut r = Redactor::default();
        r.add("hunter2-password");
        r.add("abc"); // too short to search for
        r.add_bytes(b"TOKEN=dotenv-token-value\n");
        let long = "x".repeat(600);
        let input = format!(
            "error: value hunter2-password is invalid\n{long}\nbase64 {} and dotenv-token-value\nabc\n",
            base64::engine::general_purpose::STANDARD.encode("hunter2-password")
        );
        let out = r.filter(input.as_bytes());
        assert!(!out.contains("hunter2-password"), "{out}");
        assert!(!out.contains("aHVudGVyMi1wYXNzd29yZA=="), "{out}");
        assert!(!out.contains("dotenv-token-value"), "{out}");
        assert!(!out.contains(&long));
        assert!(out.contains("1 overlong or binary lines dropped"), "{out}");
        let huge = "line of error text\n".repeat(1000);
        assert!(r.filter(huge.as_bytes()).len() <= MAX_STDERR + 100);
    }
}
