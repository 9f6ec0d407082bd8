//! `fake-kms [--port N] [--delay-ms N]`: the fake AWS KMS of
//! `test_support::fake_kms` as a process, for `bench/kms.sh`. Prints its
//! endpoint on the first line of stdout, then serves until killed;
//! `GET /calls` returns the call counts.

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use test_support::fake_kms::FakeKms;

fn main() {
    let mut port = 0u16;
    let mut delay_ms = 0u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--port" => port = value.parse().expect("--port N"),
            "--delay-ms" => delay_ms = value.parse().expect("--delay-ms N"),
            _ => {
                eprintln!("usage: fake-kms [--port N] [--delay-ms N]");
                std::process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
    let server = FakeKms::serve_on(listener, Duration::from_millis(delay_ms));
    println!("{}", server.endpoint());
    std::io::stdout().flush().expect("stdout");
    loop {
        std::thread::park();
    }
}
