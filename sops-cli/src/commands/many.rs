//! Running a command over many files (`updatekeys`, `rotate`): the files
//! are worked on concurrently, each file's messages are kept together and
//! printed in the order the files were named (so a run reads as a
//! sequential one would), a progress line is shown while they run when
//! stderr is a terminal, and a summary ends the run. The file selection
//! itself is sops-core's ([`sops_core::batch`]).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sops_core::batch::{self, BlockState, Candidate, Coverage, Selection, Skipped};
use sops_core::config::Config;

use crate::commands;
use crate::exit_code::{self as code, CliError};
use crate::progress;

/// How many files are worked on at once: the work is mostly waiting on
/// keystores (KMS calls, gpg), not the CPU, and each file holds little
/// memory; more would mostly queue at the keystores.
pub const CONCURRENCY: usize = 16;

/// Where a file's messages go: straight to the terminal (one file, or
/// files asked about one at a time), or kept until the file's turn.
pub enum Log {
    Direct,
    Buffered(Vec<(Stream, String)>),
}

#[derive(Clone, Copy)]
pub enum Stream {
    Out,
    Err,
}

impl Log {
    /// A line on stderr.
    pub fn err(&mut self, line: impl Into<String>) {
        match self {
            Log::Direct => eprintln!("{}", line.into()),
            Log::Buffered(lines) => lines.push((Stream::Err, line.into())),
        }
    }

    /// A line on stdout.
    pub fn out(&mut self, line: impl Into<String>) {
        match self {
            Log::Direct => println!("{}", line.into()),
            Log::Buffered(lines) => lines.push((Stream::Out, line.into())),
        }
    }
}

/// What became of one file.
pub enum Outcome {
    /// Written.
    Changed,
    /// Left as it was (already up to date, or the user said no).
    Unchanged,
    /// Found in a directory but not sops-encrypted: not touched.
    NotEncrypted,
    Failed(CliError),
}

/// The selection of `paths` for a many-file run, with a note on stderr for
/// every path left out while walking.
pub fn select(paths: &[PathBuf], config: Option<&Config>) -> Result<Vec<Candidate>, CliError> {
    let Selection { files, skipped } = batch::select_files(paths, config, Coverage::AnyRule)
        .map_err(|e| CliError::new(code::ERROR_GENERIC, e.to_string()))?;
    for (path, why) in skipped {
        let why = match why {
            Skipped::Symlink => "symbolic link, not followed inside a directory",
            _ => "directory could not be read",
        };
        eprintln!("skipped {}: {why}", path.display());
    }
    Ok(files)
}

/// True for a file found by walking a directory that holds no `sops`
/// block: it is left out with a note. A file named explicitly always goes
/// on, to fail as it would alone.
pub fn not_encrypted(file: &Candidate, input_type: Option<&str>) -> bool {
    if file.explicit {
        return false;
    }
    let Ok(bytes) = std::fs::read(&file.path) else {
        return false;
    };
    let format = commands::select_format(input_type, Some(&file.path));
    let Ok(store) = format.store() else {
        return false;
    };
    batch::block_state(store.as_ref(), &bytes) == BlockState::NotEncrypted
}

/// Prints each file's messages once every file before it has printed, and
/// the progress line in between.
struct Printer {
    state: Mutex<PrinterState>,
    progress: bool,
    total: usize,
    verb: &'static str,
}

struct PrinterState {
    next: usize,
    done: usize,
    pending: BTreeMap<usize, Vec<(Stream, String)>>,
}

impl Printer {
    fn finished(&self, index: usize, lines: Vec<(Stream, String)>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.done += 1;
        state.pending.insert(index, lines);
        let mut err = std::io::stderr().lock();
        let mut out = std::io::stdout().lock();
        if self.progress {
            progress::clear(&mut err);
        }
        loop {
            let next = state.next;
            let Some(lines) = state.pending.remove(&next) else {
                break;
            };
            for (stream, line) in lines {
                let _ = match stream {
                    Stream::Out => {
                        let r = writeln!(out, "{line}");
                        let _ = out.flush();
                        r
                    }
                    Stream::Err => writeln!(err, "{line}"),
                };
            }
            state.next += 1;
        }
        if self.progress && state.done < self.total {
            let text = format!("{} {}/{} files", self.verb, state.done, self.total);
            progress::show(&mut err, &text);
        }
        let _ = err.flush();
    }
}

/// Runs `job` on every file, at most [`CONCURRENCY`] at once, and returns
/// the outcomes in file order. `job` gets a buffered [`Log`].
pub fn run_concurrently<J>(files: &[Candidate], verb: &'static str, job: J) -> Vec<Outcome>
where
    J: Fn(&Candidate, &mut Log) -> Outcome + Sync,
{
    let printer = Printer {
        state: Mutex::new(PrinterState {
            next: 0,
            done: 0,
            pending: BTreeMap::new(),
        }),
        progress: std::io::stderr().is_terminal(),
        total: files.len(),
        verb,
    };
    progress::batch_owns_line(true);
    let outcomes = sops_core::parallel::map_ordered(
        files.len(),
        CONCURRENCY,
        |i| {
            let mut log = Log::Buffered(Vec::new());
            let outcome = job(&files[i], &mut log);
            if let Outcome::Failed(e) = &outcome
                && !e.message.is_empty()
            {
                log.err(e.to_string());
            }
            if let Log::Buffered(lines) = log {
                printer.finished(i, lines);
            }
            outcome
        },
        |_| false,
    );
    progress::batch_owns_line(false);
    outcomes
}

/// Prints the summary line and gives the run's result: the first failure's
/// exit code (its message was printed with its file), else success.
pub fn summary(command: &str, outcomes: Vec<Outcome>) -> Result<(), CliError> {
    let (mut changed, mut unchanged, mut skipped, mut failed) = (0, 0, 0, 0);
    let mut first_code = None;
    for outcome in outcomes {
        match outcome {
            Outcome::Changed => changed += 1,
            Outcome::Unchanged => unchanged += 1,
            Outcome::NotEncrypted => skipped += 1,
            Outcome::Failed(e) => {
                failed += 1;
                first_code.get_or_insert(e.code);
            }
        }
    }
    let verb = if command == "rotate" {
        "rotated"
    } else {
        "updated"
    };
    let mut line = format!("{command}: {changed} {verb}, {unchanged} unchanged, {failed} failed");
    if skipped > 0 {
        line.push_str(&format!(", {skipped} skipped (not encrypted)"));
    }
    eprintln!("{line}");
    match first_code {
        None => Ok(()),
        Some(code) => Err(CliError::new(code, String::new())),
    }
}

/// The note for a file left out because it is not encrypted.
pub fn not_encrypted_note(path: &Path) -> String {
    format!("skipped {}: not a sops-encrypted file", path.display())
}
