//! Confined, bounded reads of the app directory.
//!
//! The cmp-server unpacks the repository into a fresh work dir and runs us
//! with cwd = `<workdir>/<app path>`. Every path we open is checked against
//! the repository root (cwd minus `ARGOCD_APP_SOURCE_PATH`), with symlinks
//! resolved: a link that leaves the root is an error, whatever its name, so
//! the same binary stays safe outside Argo CD (whose own check is the first
//! line of defence). Symlinked directories are not descended into (as Go's
//! `filepath.Walk`, which Argo's directory mode uses).

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use crate::error::Failure;
use crate::settings::Limits;

/// The repository root and the app directory, both canonical.
#[derive(Debug, Clone)]
pub struct Roots {
    pub repo: PathBuf,
    pub app: PathBuf,
}

impl Roots {
    /// Derives the repo root from the app dir (cwd) and `ARGOCD_APP_SOURCE_PATH`:
    /// the app dir minus that suffix when it matches, else the app dir itself.
    pub fn derive(cwd: &Path, source_path: Option<&str>) -> Result<Self, Failure> {
        let app = fs::canonicalize(cwd)
            .map_err(|_| Failure::generic("cannot resolve the app directory".to_owned()))?;
        let mut repo = app.clone();
        if let Some(sp) = source_path {
            let comps: Vec<_> = Path::new(sp).components().collect();
            let normal = comps
                .iter()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
            let names: Vec<_> = comps
                .iter()
                .filter_map(|c| match c {
                    Component::Normal(n) => Some(*n),
                    _ => None,
                })
                .collect();
            if normal && !names.is_empty() {
                let mut candidate = app.clone();
                let mut matches = true;
                for name in names.iter().rev() {
                    if candidate.file_name() == Some(name) {
                        candidate.pop();
                    } else {
                        matches = false;
                        break;
                    }
                }
                if matches {
                    repo = candidate;
                }
            }
        }
        Ok(Self { repo, app })
    }

    /// Path relative to the repo root, for messages ([`shown_path`]).
    pub fn display(&self, path: &Path) -> String {
        shown_path(path.strip_prefix(&self.repo).unwrap_or(path))
    }
}

/// How a path is shown in messages (the one helper for every path that
/// reaches stderr): as it is, or, when it holds control characters (a
/// newline, an escape sequence: file names come from the tenant's
/// repository and could forge lines of our output or drive a terminal) or
/// is not UTF-8, quoted with those escaped (`"a\nb.yaml"`).
pub fn shown_path(path: &Path) -> String {
    match path.to_str() {
        Some(s) if !s.chars().any(char::is_control) => s.to_owned(),
        _ => format!("{:?}", path.to_string_lossy()),
    }
}

/// A file selected for reading, with the path it is known by.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path relative to the app dir, `/`-separated (glob matching, order).
    pub rel: String,
    /// Path relative to the repo root, for messages.
    pub shown: String,
    /// Where to read it (the symlink's target when it was one).
    pub real: PathBuf,
}

/// What to collect from the app dir.
pub struct Select<'a> {
    pub recurse: bool,
    /// Keep a file whose name passes this test.
    pub wanted: &'a dyn Fn(&str) -> bool,
    /// Skip hidden files and dirs (`.git`, `.argocd-source.yaml`).
    pub skip_hidden: bool,
    /// Stop after this many matches (`discover`).
    pub max_matches: Option<usize>,
    /// An escaping symlink is an error (`generate`) or skipped (`discover`).
    pub escape_is_error: bool,
}

/// Walks the app dir in lexical order; returns the wanted files.
pub fn collect(
    roots: &Roots,
    sel: &Select<'_>,
    limits: &Limits,
    deadline: Instant,
) -> Result<Vec<Entry>, Failure> {
    let mut out = Vec::new();
    let mut visited = 0usize;
    let mut stack: Vec<(PathBuf, String)> = vec![(roots.app.clone(), String::new())];
    while let Some((dir, rel_dir)) = stack.pop() {
        check_deadline(deadline, limits, "listing files")?;
        let mut names: Vec<_> = fs::read_dir(&dir)
            .map_err(|_| Failure::generic(format!("cannot list {}", roots.display(&dir))))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        let mut subdirs = Vec::new();
        for name in names {
            visited += 1;
            if visited > limits.max_files {
                return Err(Failure::generic(format!(
                    "too many files (>{}) in the app directory",
                    limits.max_files
                ))
                .with_hint("raise SOPS_CMP_MAX_FILES on the sidecar if this is intended"));
            }
            let Some(name_str) = name.to_str() else {
                continue;
            };
            if sel.skip_hidden && name_str.starts_with('.') {
                continue;
            }
            let rel = if rel_dir.is_empty() {
                name_str.to_owned()
            } else {
                format!("{rel_dir}/{name_str}")
            };
            let path = dir.join(&name);
            let meta = fs::symlink_metadata(&path)
                .map_err(|_| Failure::generic(format!("cannot stat {}", roots.display(&path))))?;
            let (real, meta) = if meta.file_type().is_symlink() {
                let shown = roots.display(&path);
                let target = fs::canonicalize(&path)
                    .ok()
                    .filter(|t| t.starts_with(&roots.repo));
                let Some(target) = target else {
                    if sel.escape_is_error {
                        return Err(Failure::generic(format!(
                            "{shown} resolves outside the repository"
                        )));
                    }
                    continue;
                };
                let meta = fs::metadata(&target)
                    .map_err(|_| Failure::generic(format!("cannot stat {shown}")))?;
                if meta.is_dir() {
                    continue; // not followed, as filepath.Walk
                }
                (target, meta)
            } else {
                (path.clone(), meta)
            };
            if meta.is_dir() {
                if sel.recurse {
                    subdirs.push((path, rel));
                }
                continue;
            }
            if !meta.is_file() || !(sel.wanted)(&rel) {
                continue;
            }
            out.push(Entry {
                shown: roots.display(&path),
                rel,
                real,
            });
            if sel.max_matches.is_some_and(|m| out.len() >= m) {
                return Ok(out);
            }
        }
        // Depth-first in lexical order: push in reverse.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(out)
}

/// Reads a whole file, refusing anything over the per-file limit and
/// counting it against the total.
pub fn read_bounded(entry: &Entry, limits: &Limits, total: &mut u64) -> Result<Vec<u8>, Failure> {
    let too_big = || {
        Failure::generic(format!(
            "{} exceeds {} bytes",
            entry.shown, limits.max_file_bytes
        ))
        .with_hint("raise SOPS_CMP_MAX_FILE_BYTES on the sidecar if this is intended")
    };
    let file = fs::File::open(&entry.real)
        .map_err(|_| Failure::generic(format!("cannot read {}", entry.shown)))?;
    let mut buf = Vec::new();
    file.take(limits.max_file_bytes + 1)
        .read_to_end(&mut buf)
        .map_err(|_| Failure::generic(format!("cannot read {}", entry.shown)))?;
    if buf.len() as u64 > limits.max_file_bytes {
        return Err(too_big());
    }
    *total += buf.len() as u64;
    if *total > limits.max_total_bytes {
        return Err(Failure::generic(format!(
            "the app's files exceed {} bytes in total",
            limits.max_total_bytes
        ))
        .with_hint("raise SOPS_CMP_MAX_TOTAL_BYTES on the sidecar if this is intended"));
    }
    Ok(buf)
}

/// Reads at most `head + tail` bytes: the start and the end of the file
/// (sops metadata usually sits at the end).
pub fn read_head_tail(path: &Path, head: u64, tail: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Seek, SeekFrom};
    let mut file = fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut buf = Vec::new();
    if len <= head + tail {
        file.take(head + tail).read_to_end(&mut buf)?;
        return Ok(buf);
    }
    (&mut file).take(head).read_to_end(&mut buf)?;
    buf.push(b'\n');
    file.seek(SeekFrom::Start(len - tail))?;
    file.take(tail).read_to_end(&mut buf)?;
    Ok(buf)
}

pub fn check_deadline(deadline: Instant, limits: &Limits, doing: &str) -> Result<(), Failure> {
    if Instant::now() > deadline {
        return Err(Failure::generic(format!(
            "internal deadline of {}s exceeded while {doing}",
            limits.deadline.as_secs()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_paths_are_quoted_when_they_hold_control_characters() {
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(shown_path(Path::new("a/b c.yaml")), "a/b c.yaml");
        assert_eq!(
            shown_path(Path::new("a/b\n\u{1b}.yaml")),
            r#""a/b\n\u{1b}.yaml""#
        );
        let raw = std::ffi::OsStr::from_bytes(b"a\xff.yaml");
        assert_eq!(shown_path(Path::new(raw)), "\"a\u{fffd}.yaml\"");
    }

    #[test]
    fn repo_root_is_cwd_minus_source_path() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("apps/web");
        fs::create_dir_all(&app).unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        let r = Roots::derive(&app, Some("apps/web")).unwrap();
        assert_eq!(r.repo, base);
        let r = Roots::derive(&app, Some("./apps/web/")).unwrap();
        assert_eq!(r.repo, base);
        // Mismatch, absolute or `..`: the app dir is the root.
        for sp in ["other/web", "/apps/web", "../web", ".", ""] {
            let r = Roots::derive(&app, Some(sp)).unwrap();
            assert_eq!(r.repo, base.join("apps/web"), "{sp}");
        }
    }
}
