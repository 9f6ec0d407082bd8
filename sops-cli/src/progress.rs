//! The progress line on stderr, shown only when stderr is a terminal: the
//! per-file count of the many-file commands ([`crate::commands::many`])
//! and the stages of one large file (decrypt, encrypt, edit, rotate).
//!
//! A large file's progress is reported by stage (reading is done by then;
//! parsing, decrypting, encrypting, writing), from here and not from inside
//! sops-core: the library keeps no progress hook, and a stage is what the
//! user waits on. When stderr is not a terminal nothing is written and the
//! only cost is one comparison of the input's length.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// From this input size on, a single file's work shows its stages.
pub const LARGE_INPUT: usize = 8 * 1024 * 1024;

/// Set while a many-file run owns the line: the files it works on
/// concurrently do not show stages of their own.
static BATCH_OWNS_LINE: AtomicBool = AtomicBool::new(false);

/// Replaces the progress line with `text` (no newline; the next output
/// starts with [`clear`]).
pub fn show(err: &mut impl Write, text: &str) {
    let _ = write!(err, "\r\x1b[K{text}");
}

/// Removes the progress line.
pub fn clear(err: &mut impl Write) {
    let _ = write!(err, "\r\x1b[K");
}

/// Marks the start (`true`) and end of a many-file run.
pub fn batch_owns_line(owned: bool) {
    BATCH_OWNS_LINE.store(owned, Ordering::Relaxed);
}

/// The stages of one file's work; silent unless the input is large and
/// stderr is a terminal. The line is removed when this is dropped, so an
/// error message that follows starts on a clean line.
pub struct Stages {
    /// `sops decrypt: big.yaml (12.3 MB)`, or `None` when silent.
    label: Option<String>,
}

impl Stages {
    pub fn for_input(command: &str, path: Option<&Path>, len: usize) -> Stages {
        // The length first: a small input never asks the terminal.
        let on = len >= LARGE_INPUT
            && !BATCH_OWNS_LINE.load(Ordering::Relaxed)
            && std::io::stderr().is_terminal();
        let label = on.then(|| {
            let name = path
                .and_then(Path::file_name)
                .map_or_else(|| "stdin".into(), |n| n.to_string_lossy())
                // A file name is not trusted to drive the terminal: control
                // characters (escape sequences) are shown as `?`.
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect::<String>();
            #[allow(clippy::cast_precision_loss)] // a size shown to one decimal
            let mb = len as f64 / (1024.0 * 1024.0);
            format!("sops {command}: {name} ({mb:.1} MB)")
        });
        Stages { label }
    }

    /// Shows `what` (e.g. "decrypting") as the current stage.
    pub fn stage(&self, what: &str) {
        if let Some(label) = &self.label {
            let mut err = std::io::stderr().lock();
            show(&mut err, &format!("{label}: {what}..."));
            let _ = err.flush();
        }
    }

    /// Removes the line now (before an editor takes the terminal).
    pub fn clear(&mut self) {
        if self.label.take().is_some() {
            let mut err = std::io::stderr().lock();
            clear(&mut err);
            let _ = err.flush();
        }
    }
}

impl Drop for Stages {
    fn drop(&mut self) {
        self.clear();
    }
}
