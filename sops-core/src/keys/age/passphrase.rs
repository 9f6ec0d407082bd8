//! Passphrase-protected (scrypt) age identity files, as sops reads them:
//! the passphrase is asked for on the terminal when the identity is first
//! needed, and the file is opened with it (a leaf of the `age` folder; the
//! identities it holds are parsed by the loader).
//!
//! The passphrase never comes from a standard input that is not a
//! terminal: without `/dev/tty` or a terminal on stdin the prompt fails
//! and says why.

use std::io::Read;
use std::sync::Mutex;

use age::secrecy::SecretString;
use zeroize::Zeroizing;

/// Asks for the passphrase of an identity file; the argument is the
/// prompt. Replaceable so that the decryption can be tested without a
/// terminal.
pub(crate) type AskPassphrase = dyn Fn(&str) -> Result<Zeroizing<String>, String> + Send + Sync;

/// The largest scrypt work factor accepted (log2 N), as age's Go
/// implementation, which sops uses, accepts.
const MAX_WORK_FACTOR: u8 = 22;

/// True when `data` is an age file (binary or armored) rather than
/// identity lines; sops looks at the same 14 bytes.
pub(crate) fn is_age_file(data: &[u8]) -> bool {
    data.starts_with(b"age-encryption") || data.starts_with(b"-----BEGIN AGE")
}

/// sops' prompt for the identity file found at `location`.
pub(crate) fn prompt_for(location: &str) -> String {
    format!("Enter passphrase for identity '{location}':")
}

/// Opens a passphrase-protected identity file and returns its content.
/// Errors carry sops' texts: `incorrect passphrase`, or `failed to decrypt
/// identity file: …` (which includes a failed prompt).
pub(crate) fn decrypt_identity_file(
    contents: &[u8],
    location: &str,
    ask: Option<&AskPassphrase>,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let failed = |why: String| format!("failed to decrypt identity file: {why}");
    let decryptor = age::Decryptor::new(age::armor::ArmoredReader::new(contents))
        .map_err(|e| failed(super::plugins::one_line(&e.to_string())))?;
    // A file encrypted to anything but one passphrase cannot be opened
    // with one; sops then reports a wrong passphrase without asking.
    if !decryptor.is_scrypt() {
        return Err("incorrect passphrase".to_owned());
    }
    let prompt = prompt_for(location);
    let passphrase = match ask {
        Some(ask) => ask(&prompt),
        None => read_from_terminal(&prompt),
    }
    .map_err(|e| failed(format!("could not read passphrase: {e}")))?;
    if passphrase.is_empty() {
        return Err(failed("passphrase can't be empty".to_owned()));
    }
    let mut identity = age::scrypt::Identity::new(SecretString::from(passphrase.as_str()));
    identity.set_max_work_factor(MAX_WORK_FACTOR);
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::DecryptionFailed
            | age::DecryptError::KeyDecryptionFailed
            | age::DecryptError::NoMatchingKeys => "incorrect passphrase".to_owned(),
            e => failed(super::plugins::one_line(&e.to_string())),
        })?;
    let mut out = Zeroizing::new(Vec::new());
    reader
        .by_ref()
        .take(crate::keys::SECRET_FILE_LIMIT)
        .read_to_end(&mut out)
        .map_err(|e| failed(e.to_string()))?;
    Ok(out)
}

/// One prompt at a time: parallel decryptions must not interleave on the
/// terminal.
static PROMPT: Mutex<()> = Mutex::new(());

/// Reads a passphrase without echo from the controlling terminal, else
/// from standard input when that is a terminal (as age's Go code does).
#[cfg(unix)]
pub(crate) fn read_from_terminal(prompt: &str) -> Result<Zeroizing<String>, String> {
    use std::io::{IsTerminal, Write};
    use std::os::fd::AsFd;

    let _turn = PROMPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty");
    let stdin = std::io::stdin();
    match tty {
        Ok(mut tty) => {
            let mut input = tty.try_clone().map_err(|e| e.to_string())?;
            read_no_echo(&mut input, &mut tty, prompt)
        }
        Err(_) if stdin.is_terminal() => {
            let fd = stdin.as_fd().try_clone_to_owned().map_err(|e| e.to_string())?;
            let mut input = std::fs::File::from(fd);
            let mut out = std::io::stderr();
            let read = read_no_echo(&mut input, &mut out, prompt);
            let _ = out.flush();
            read
        }
        Err(e) => Err(format!(
            "standard input is not a terminal, and /dev/tty is not available: open /dev/tty: {}",
            super::plugins::go_errno_text(&e)
        )),
    }
}

#[cfg(not(unix))]
pub(crate) fn read_from_terminal(_prompt: &str) -> Result<Zeroizing<String>, String> {
    let _turn = PROMPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    Err("passphrase prompts are only supported on Unix terminals".to_owned())
}

/// Writes the prompt, turns echo off, reads one line, restores the
/// terminal and clears the prompt line.
#[cfg(unix)]
fn read_no_echo(
    input: &mut std::fs::File,
    out: &mut dyn std::io::Write,
    prompt: &str,
) -> Result<Zeroizing<String>, String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};

    // Echo goes off before the prompt shows, so that nothing typed after
    // it is ever echoed; typed-ahead input is kept (not flushed).
    let saved = tcgetattr(&*input).map_err(|e| e.to_string())?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&*input, OptionalActions::Now, &quiet).map_err(|e| e.to_string())?;
    let _ = write!(out, "{prompt} ");
    let _ = out.flush();
    let line = read_line(input);
    let _ = tcsetattr(&*input, OptionalActions::Now, &saved);
    // New line, back to the prompt's line, erase it (the prompt leaves no
    // trace, as age's does).
    let _ = write!(out, "\n\x1b[F\r\x1b[K");
    let _ = out.flush();
    let line = line?;
    String::from_utf8(line.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| "the passphrase is not valid UTF-8".to_owned())
}

/// One line as Go's `term.ReadPassword` reads it: up to `\n`, a backspace
/// removes the last byte, end of input ends a non-empty line.
#[cfg(unix)]
fn read_line(input: &mut std::fs::File) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut line = Zeroizing::new(Vec::new());
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) if line.is_empty() => return Err("EOF".to_owned()),
            Ok(0) => return Ok(line),
            Ok(_) => match byte[0] {
                b'\n' => return Ok(line),
                8 => {
                    line.pop();
                }
                b => line.push(b),
            },
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
        if line.len() > 4096 {
            return Err("passphrase too long".to_owned());
        }
    }
}
