//! Reading small files that hold key material (identity files, SSH keys):
//! bounded in size and into buffers that are wiped on drop, so a mistaken
//! path (a device, a huge log) cannot exhaust memory and no copy of a key
//! is left behind when the buffer grows.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use zeroize::{Zeroize, Zeroizing};

/// Files (and key command output) larger than this are refused, as age does.
pub const SECRET_FILE_LIMIT: u64 = 1 << 24;

/// Why a key file could not be read. Messages name the path, never content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretFileError {
    #[error("cannot open {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
}

/// Reads a whole key file of at most [`SECRET_FILE_LIMIT`] bytes into a
/// buffer that is wiped on drop.
pub fn read_secret_file(path: impl AsRef<Path>) -> Result<Zeroizing<Vec<u8>>, SecretFileError> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|source| SecretFileError::Open {
        path: path.to_owned(),
        source,
    })?;
    let hint = file
        .metadata()
        .map(|m| m.len())
        .unwrap_or(0)
        .min(SECRET_FILE_LIMIT);
    let mut data = Zeroizing::new(Vec::with_capacity(hint as usize + 1));
    let mut limited = file.take(SECRET_FILE_LIMIT + 1);
    // Read in chunks so that growing the buffer never leaves copies behind.
    let mut chunk = Zeroizing::new([0u8; 8192]);
    loop {
        let n = match limited.read(chunk.as_mut()) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(SecretFileError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        if data.len() + n > data.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity((data.len() + n) * 2));
            bigger.extend_from_slice(&data);
            data = bigger;
        }
        data.extend_from_slice(&chunk[..n]);
    }
    if data.len() as u64 > SECRET_FILE_LIMIT {
        data.zeroize();
        return Err(SecretFileError::TooLarge {
            path: path.to_owned(),
            limit: SECRET_FILE_LIMIT,
        });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whole_files_and_names_the_path_on_failure() {
        let dir =
            std::env::temp_dir().join(format!("sops-core-secret-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key.txt");
        let text = "x".repeat(20_000);
        std::fs::write(&path, &text).unwrap();
        assert_eq!(read_secret_file(&path).unwrap().as_slice(), text.as_bytes());
        let missing = dir.join("missing");
        let e = read_secret_file(&missing).unwrap_err();
        assert!(matches!(e, SecretFileError::Open { .. }));
        assert_eq!(e.to_string(), format!("cannot open {}", missing.display()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
