//! `sops exec-env` and `sops exec-file`: run a command with the decrypted
//! values in its environment, or with the plaintext in a private file (a
//! named pipe by default, so the plaintext never touches the disk).

use std::io::Write;
#[cfg(unix)]
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use sops_core::ops::{self, DecryptOptions};
use sops_core::tree::{Branch, Item, Value};
use zeroize::Zeroizing;

use crate::cli::{ExecCommon, ExecEnvArgs, ExecFileArgs};
use crate::commands;
use crate::commands::run_as::RunAs;
use crate::exit_code::{self as code, CliError, Stage, library_error, store_error, store_error_in};

/// The decrypted documents of FILE (MAC always verified: exec-* have no
/// --ignore-mac), with the key types to try first.
fn decrypt_docs(
    file: &Path,
    input_type: Option<&str>,
    decryption_order: Vec<String>,
) -> Result<Zeroizing<Vec<Branch>>, CliError> {
    let input = commands::read_input(Some(file))?;
    let format = commands::select_format(input_type, input.path.as_deref());
    let store = commands::store_for_config(format, None, None)?;
    let (docs, meta) = store
        .load_encrypted(&input.bytes)
        .map_err(|e| store_error_in(Stage::LoadEncrypted(format), &e, input.path.as_deref()))?;
    drop(input);
    let opts = DecryptOptions {
        ignore_mac: false,
        decryption_order,
    };
    let ctx = commands::key_context();
    Ok(ops::decrypt_loaded(docs, meta, &ctx, &opts)
        .map_err(|e| library_error(e, format))?
        .into_docs())
}

fn file_and_command(common: &ExecCommon) -> Result<(&Path, &str), CliError> {
    match common.positionals.as_slice() {
        [file, command] => Ok((Path::new(file), command)),
        _ => Err(CliError::new(
            code::ERROR_GENERIC,
            "error: missing file to decrypt",
        )),
    }
}

/// The user of `--user`, looked up where sops 3.13 does: after decryption.
fn run_as(common: &ExecCommon) -> Result<Option<RunAs>, CliError> {
    common.user.as_deref().map(RunAs::lookup).transpose()
}

/// sops' rendering of a value as an environment variable.
fn env_value(key: &str, value: &Value) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let text = match value {
        Value::Str(s) => s.as_bytes().to_vec(),
        Value::Bytes(b) => b.clone(),
        Value::Time(t) => t.as_str().as_bytes().to_vec(),
        Value::Map(_) | Value::Seq(_) => {
            return Err(CliError::new(
                code::ERROR_GENERIC,
                format!("cannot use complex value in environment; offending key {key}"),
            ));
        }
        other => sops_core::stores::dotenv::scalar_text(key, other)
            .map_err(|e| CliError::new(code::ERROR_GENERIC, e.to_string()))?
            .into_owned(),
    };
    Ok(Zeroizing::new(text))
}

/// Runs `/bin/sh -c COMMAND` (as the `--user`, if any) and maps its status
/// to sops' exit code.
fn run_shell(mut command: Command, user: Option<&RunAs>, background: bool) -> Result<u8, CliError> {
    let spawned = match user {
        Some(user) => user.spawn(&mut command),
        None => command.spawn(),
    };
    let mut child = spawned
        .map_err(|e| CliError::new(code::ERROR_GENERIC, format!("could not run command: {e}")))?;
    if background {
        return Ok(0);
    }
    let status = child
        .wait()
        .map_err(|e| CliError::new(code::ERROR_GENERIC, e.to_string()))?;
    Ok(exit_code_of(status))
}

fn exit_code_of(status: ExitStatus) -> u8 {
    match status.code() {
        Some(0) => 0,
        Some(n) => {
            eprintln!("exit status {n}");
            u8::try_from(n).unwrap_or(1)
        }
        None => {
            eprintln!("signal: killed");
            255
        }
    }
}

fn shell(command: &str) -> Command {
    let mut c = Command::new("/bin/sh");
    c.arg("-c").arg(command);
    c
}

/// `sops exec-env FILE COMMAND`.
pub fn run_exec_env(args: &ExecEnvArgs) -> Result<u8, CliError> {
    let (file, command) = file_and_command(&args.common)?;
    // sops 3.11 checks the order first, even before `--background` conflicts.
    let decryption_order = commands::decryption_order(&args.common.order.decryption_order)?;
    if args.common.background {
        eprintln!(
            "exec-env's --background option is deprecated and will be removed in a future version of sops"
        );
        if args.same_process {
            return Err(CliError::new(
                code::ERROR_CONFLICTING_PARAMETERS,
                "Error: The --same-process flag cannot be used with --background",
            ));
        }
    }
    let docs = decrypt_docs(file, None, decryption_order)?;
    let mut vars = Vec::new();
    for item in docs.first().map(|d| d.0.as_slice()).unwrap_or_default() {
        let Item::Entry(key, value) = item else {
            continue;
        };
        if key.contains('=') {
            return Err(CliError::new(
                code::ERROR_GENERIC,
                format!("cannot use keys with '=' in environment: {key}"),
            ));
        }
        vars.push((key.clone(), env_value(key, value)?));
    }
    let user = run_as(&args.common)?;
    let mut cmd = shell(command);
    if args.pristine {
        cmd.env_clear();
    }
    // The user's variables first: a decrypted value of the same name wins, as in sops.
    for (k, v) in user.iter().flat_map(RunAs::env) {
        cmd.env(k, v);
    }
    for (k, v) in &vars {
        cmd.env(k, std::ffi::OsStr::from_bytes(v));
    }
    // --same-process replaces sops with the command; running it as a child
    // and returning its status is the same to the caller.
    run_shell(cmd, user.as_ref(), args.common.background)
}

/// `sops exec-file FILE COMMAND`.
/// `indent` is the root's `--indent` (3.13 reads it for every command).
pub fn run_exec_file(args: &ExecFileArgs, indent: Option<i64>) -> Result<u8, CliError> {
    let (file, command) = file_and_command(&args.common)?;
    let decryption_order = commands::decryption_order(&args.common.order.decryption_order)?;
    if args.common.background {
        eprintln!(
            "exec-file's --background option is deprecated and will be removed in a future version of sops"
        );
    }
    let docs = decrypt_docs(file, args.types.input_type.as_deref(), decryption_order)?;
    let out_format = commands::select_format(args.types.output_type.as_deref(), Some(file));
    let out_store = commands::store_for_config(out_format, indent, None)?;
    let plaintext = Zeroizing::new(
        out_store
            .emit_plain(&docs)
            .map_err(|e| store_error(Stage::Emit, &e))?,
    );
    drop(docs);
    let user = run_as(&args.common)?;
    // 3.13 (#2155): the name stays inside the private directory. An empty
    // name is no name (the default).
    let filename = args.filename.as_deref().filter(|n| !n.is_empty());
    if let Some(name) = filename
        && !is_local(name)
    {
        return Err(CliError::new(
            code::ERROR_GENERIC,
            "The provided filename is not a local path.",
        )
        .with_hint(Some(
            "--filename names the file inside exec-file's private temporary directory: \
             give a plain name such as secrets.json, without directories or ..",
        )));
    }
    let dir = commands::private_dir_builder(".sops")
        .tempdir()
        .map_err(|e| {
            CliError::new(
                code::COULD_NOT_WRITE_OUTPUT_FILE,
                format!("could not create temporary directory: {e}"),
            )
        })?;
    let name = match (filename, args.no_fifo) {
        (Some(n), _) => n.to_owned(),
        (None, false) => "tmp-file".to_owned(),
        (None, true) => format!("tmp-file{}", std::process::id()),
    };
    let path = dir.path().join(name);
    if args.no_fifo {
        write_private_file(&path, &plaintext, user.as_ref())?;
    } else {
        make_fifo(&path)?;
        if let Some(user) = &user {
            user.give(&path)?;
        }
        serve_fifo_once(path.clone(), plaintext);
    }
    // The directory last: until then only we can reach what is in it.
    if let Some(user) = &user {
        user.give(dir.path())?;
    }
    let command = command.replace("{}", &path.to_string_lossy());
    let mut cmd = shell(&command);
    for (k, v) in user.iter().flat_map(RunAs::env) {
        cmd.env(k, v);
    }
    let status = run_shell(cmd, user.as_ref(), args.common.background);
    // The directory (and the plaintext file, if any) goes away with `dir`.
    drop(dir);
    status
}

/// Go's `filepath.IsLocal` on Unix: relative, and not leaving the directory
/// it is resolved in (`a/../b` is local, `../b` and `a/../../b` are not).
fn is_local(name: &str) -> bool {
    if name.is_empty() || name.starts_with('/') {
        return false;
    }
    let mut depth = 0usize;
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

/// Writes the plaintext to a new 0600 file, owned by the `--user` if any.
fn write_private_file(path: &Path, bytes: &[u8], user: Option<&RunAs>) -> Result<(), CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(|e| {
        CliError::new(
            code::COULD_NOT_WRITE_OUTPUT_FILE,
            format!("could not create temporary file: {e}"),
        )
    })?;
    // Given away while still empty and in our private directory.
    if let Some(user) = user {
        user.give(path)?;
    }
    f.write_all(bytes).map_err(|e| {
        CliError::new(
            code::COULD_NOT_WRITE_OUTPUT_FILE,
            format!("could not write temporary file: {e}"),
        )
    })
}

#[cfg(unix)]
fn make_fifo(path: &Path) -> Result<(), CliError> {
    use rustix::fs::{CWD, FileType, Mode, mknodat};
    mknodat(CWD, path, FileType::Fifo, Mode::RUSR | Mode::WUSR, 0).map_err(|e| {
        CliError::new(
            code::COULD_NOT_WRITE_OUTPUT_FILE,
            format!("could not create named pipe: {e}"),
        )
    })
}

#[cfg(not(unix))]
fn make_fifo(_path: &Path) -> Result<(), CliError> {
    Err(CliError::new(
        code::ERROR_GENERIC,
        "named pipes are not supported here; use --no-fifo",
    ))
}

/// Writes the plaintext into the pipe once, when a reader opens it. If the
/// command never reads it, the thread ends with the process.
fn serve_fifo_once(path: PathBuf, plaintext: Zeroizing<Vec<u8>>) {
    std::thread::spawn(move || {
        if let Ok(mut pipe) = std::fs::OpenOptions::new().write(true).open(&path) {
            let _ = pipe.write_all(&plaintext);
        }
    });
}
