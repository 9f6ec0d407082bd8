//! `sops keyservice`: a key service server holding this process' key
//! material (its environment, as the local key service would use it), for
//! clients that run with `--keyservice` and no credentials of their own.

use std::io::{BufRead, Write};

use sops_core::keys::{KeyContext, KeyServiceAddr, KeyServiceServer};

use crate::cli::KeyserviceArgs;
use crate::exit_code::{self as code, CliError};

pub fn run(args: &KeyserviceArgs) -> Result<(), CliError> {
    // Registered before the socket exists, so that a signal sent as soon as
    // it does still closes it cleanly.
    let shutdown = termination_signal()?;
    let addr = KeyServiceAddr::listen(&args.network, &args.address);
    let mut server = KeyServiceServer::new(KeyContext::from_process_env());
    if args.prompt {
        server = server.with_prompt(ask_operator);
    }
    let verbose = args.verbose;
    server
        .serve(
            &addr,
            || {
                if verbose {
                    eprintln!("Listening on {addr}");
                }
            },
            shutdown,
        )
        .map_err(|e| {
            CliError::new(
                code::ERROR_GENERIC,
                format!("Error running keyservice: {e}"),
            )
        })
}

/// sops' question after each operation, on stdout; the answer is a line of
/// stdin, asked again until it is `y` or `n`.
fn ask_operator(request: &str, key: &str) -> Result<bool, String> {
    let stdin = std::io::stdin();
    loop {
        print!("\nReceived {request} request using {key}. Respond to request? (y/n): ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) => return Err("EOF".to_owned()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
        match line.trim() {
            "y" => return Ok(true),
            "n" => return Ok(false),
            _ => {}
        }
    }
}

/// Completes on the first SIGINT or SIGTERM.
fn termination_signal() -> Result<impl Future<Output = ()> + Send + 'static, CliError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(|e| {
        CliError::new(
            code::ERROR_GENERIC,
            format!("Error running keyservice: could not handle signals: {e}"),
        )
    })?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = tx.send(());
        }
    });
    Ok(async move {
        let _ = rx.await;
    })
}
