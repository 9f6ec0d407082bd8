//! Key services (sops-cli.md §10): our `--keyservice` client against the
//! reference's `sops keyservice`, the reference's client against ours,
//! over a unix socket and over TCP on 127.0.0.1; age keys (the server holds
//! the identity, the client none) and AWS KMS keys on moto (the server
//! holds the credentials, the client none); `--prompt`; unreachable
//! services; the local service asked first.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use test_support::{aws_test_env, moto_create_key, moto_endpoint};

use super::cloud_support::PLAIN;
use super::support::{AgeKey, Bin, Sandbox, one_line_error};

/// Where a test server listens.
#[derive(Clone, Copy)]
enum Net {
    Unix,
    Tcp,
}

/// A running `sops keyservice`, stopped with SIGTERM when dropped.
struct Server {
    child: Option<Child>,
    /// The client's `--keyservice` URI.
    uri: String,
    socket: Option<PathBuf>,
}

impl Server {
    /// Starts `bin keyservice` in `sb` with `env` (the server's own
    /// credentials) and waits until it accepts connections.
    fn start(sb: &Sandbox, bin: Bin, net: Net, env: &[(&str, String)], prompt: bool) -> Self {
        let (args, uri, socket) = match net {
            Net::Unix => {
                let path = sb.path(&format!("ks-{}.sock", free_port()));
                let p = path.to_str().unwrap().to_owned();
                (
                    vec![
                        "keyservice".into(),
                        "--network".into(),
                        "unix".into(),
                        "--address".into(),
                        p.clone(),
                    ],
                    format!("unix://{p}"),
                    Some(path),
                )
            }
            Net::Tcp => {
                let addr = format!("127.0.0.1:{}", free_port());
                (
                    vec![
                        "keyservice".into(),
                        "--net".into(),
                        "tcp".into(),
                        "--addr".into(),
                        addr.clone(),
                    ],
                    format!("tcp://{addr}"),
                    None,
                )
            }
        };
        let mut args: Vec<String> = args;
        if prompt {
            args.push("--prompt".into());
        }
        let mut cmd = sb.cmd(bin, &args);
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        if prompt {
            cmd = cmd.keep_stdin();
        }
        let child = cmd.spawn();
        let server = Self {
            child: Some(child),
            uri,
            socket,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = match &self.socket {
                Some(path) => std::os::unix::net::UnixStream::connect(path).is_ok(),
                None => TcpStream::connect(self.uri.trim_start_matches("tcp://")).is_ok(),
            };
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "key service at {} never came up",
                self.uri
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Answers the next `--prompt` question.
    fn answer(&mut self, line: &str) {
        let stdin = self.child.as_mut().unwrap().stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Sends SIGTERM and returns the exit code and stdout.
    fn stop(&mut self) -> (Option<i32>, String) {
        let child = self.child.take().unwrap();
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
    }
}

/// A TCP port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The client's flags: only the remote service.
fn remote_only(uri: &str) -> Vec<String> {
    vec![
        "--enable-local-keyservice=false".into(),
        "--keyservice".into(),
        uri.into(),
    ]
}

fn age_sandbox() -> (Sandbox, AgeKey) {
    let sb = Sandbox::new();
    let key = sb.age_keygen("server");
    sb.write("plain.yaml", PLAIN);
    (sb, key)
}

/// `client` encrypts through the service for `key_flags`, and decrypts
/// again through it; the client has no key material of its own.
fn round_trip(sb: &Sandbox, client: Bin, uri: &str, key_flags: &[&str]) {
    let mut args: Vec<String> = vec!["encrypt".into()];
    args.extend(remote_only(uri));
    args.extend(key_flags.iter().map(|s| (*s).to_owned()));
    args.push("plain.yaml".into());
    let enc = sb.run(client, &args).ok();
    sb.write("enc.yaml", &enc);
    let mut args: Vec<String> = vec!["decrypt".into()];
    args.extend(remote_only(uri));
    args.push("enc.yaml".into());
    let out = sb.run(client, &args).ok();
    assert_eq!(String::from_utf8(out).unwrap(), PLAIN, "{client} via {uri}");
}

#[test]
fn age_through_a_key_service_both_ways_over_unix_and_tcp() {
    let (sb, key) = age_sandbox();
    let server_env = [("SOPS_AGE_KEY_FILE", key.identity_file.display().to_string())];
    for net in [Net::Unix, Net::Tcp] {
        for (server, client) in [(Bin::Reference, Bin::Ours), (Bin::Ours, Bin::Reference)] {
            let srv = Server::start(&sb, server, net, &server_env, false);
            round_trip(&sb, client, &srv.uri, &["--age", &key.recipient]);
            // The file is an ordinary one: the identity alone opens it.
            let out = sb
                .cmd(Bin::Reference, ["decrypt", "enc.yaml"])
                .env("SOPS_AGE_KEY_FILE", &key.identity_file)
                .run()
                .ok();
            assert_eq!(String::from_utf8(out).unwrap(), PLAIN);
        }
    }
}

#[test]
fn aws_kms_through_a_key_service_whose_server_holds_the_credentials() {
    let endpoint = moto_endpoint();
    let sb = Sandbox::new();
    sb.write("plain.yaml", PLAIN);
    let arn = moto_create_key(&endpoint, "us-east-1");
    let server_env: Vec<(&str, String)> = aws_test_env(&endpoint);
    for net in [Net::Unix, Net::Tcp] {
        for (server, client) in [(Bin::Reference, Bin::Ours), (Bin::Ours, Bin::Reference)] {
            let srv = Server::start(&sb, server, net, &server_env, false);
            round_trip(&sb, client, &srv.uri, &["--kms", &arn]);
            let enc = String::from_utf8(super::support::read(&sb.path("enc.yaml"))).unwrap();
            assert!(enc.contains(&format!("- arn: {arn}\n")), "{enc}");
            assert!(enc.contains("created_at: "), "{enc}");
            // Without the service, the client has no credentials.
            let out = sb.run(client, ["decrypt", "enc.yaml"]);
            assert_eq!(out.code, 128, "{client}: {}", out.stderr);
        }
    }
}

/// The role and the encryption context travel in the key service's
/// `KmsKey` both ways (the server assumes the role and sends the context,
/// which moto enforces: a changed context does not decrypt remotely).
#[test]
fn aws_kms_role_and_context_travel_through_a_key_service() {
    let endpoint = moto_endpoint();
    let sb = Sandbox::new();
    sb.write("plain.yaml", PLAIN);
    let arn = moto_create_key(&endpoint, "us-east-1");
    let key = format!("{arn}+arn:aws:iam::123456789012:role/sops-test");
    let server_env: Vec<(&str, String)> = aws_test_env(&endpoint);
    for (server, client) in [(Bin::Reference, Bin::Ours), (Bin::Ours, Bin::Reference)] {
        let srv = Server::start(&sb, server, Net::Unix, &server_env, false);
        round_trip(
            &sb,
            client,
            &srv.uri,
            &["--kms", &key, "--encryption-context", "app:demo"],
        );
        let enc = String::from_utf8(super::support::read(&sb.path("enc.yaml"))).unwrap();
        assert!(
            enc.contains("role: arn:aws:iam::123456789012:role/sops-test\n"),
            "{enc}"
        );
        assert!(enc.contains("context:\n            app: demo\n"), "{enc}");
        sb.write("wrong.yaml", enc.replace("app: demo", "app: other"));
        let mut args: Vec<String> = vec!["decrypt".into()];
        args.extend(remote_only(&srv.uri));
        args.push("wrong.yaml".into());
        let out = sb.run(client, &args);
        assert_eq!(out.code, 128, "{client} via {server}: {}", out.stderr);
    }
}

/// A keystore sops-core only knows through its entry fields (no
/// keystore-specific code in the key service): the server holds the Vault
/// token, the client none.
#[test]
fn vault_transit_through_a_key_service_whose_server_holds_the_token() {
    let sb = Sandbox::new();
    sb.write("plain.yaml", PLAIN);
    let key = super::vault::uri("transit", "through-keyservice");
    let server_env = [("VAULT_TOKEN", "root".to_owned())];
    for (server, client) in [(Bin::Reference, Bin::Ours), (Bin::Ours, Bin::Reference)] {
        let srv = Server::start(&sb, server, Net::Unix, &server_env, false);
        round_trip(&sb, client, &srv.uri, &["--hc-vault-transit", &key]);
        let enc = String::from_utf8(super::support::read(&sb.path("enc.yaml"))).unwrap();
        assert!(enc.contains("key_name: through-keyservice"), "{enc}");
        // Without the service, the client has no token.
        let out = sb.run(client, ["decrypt", "enc.yaml"]);
        assert_eq!(out.code, 128, "{client}: {}", out.stderr);
    }
}

#[test]
fn prompt_accepts_and_rejects_requests() {
    let (sb, key) = age_sandbox();
    let enc = sb
        .cmd(
            Bin::Reference,
            ["encrypt", "--age", &key.recipient, "plain.yaml"],
        )
        .run()
        .ok();
    sb.write("enc.yaml", enc);
    let server_env = [("SOPS_AGE_KEY_FILE", key.identity_file.display().to_string())];
    let mut srv = Server::start(&sb, Bin::Ours, Net::Tcp, &server_env, true);
    let mut decrypt: Vec<String> = vec!["decrypt".into()];
    decrypt.extend(remote_only(&srv.uri));
    decrypt.push("enc.yaml".into());
    // A word other than y or n is asked again.
    srv.answer("yes\ny\n");
    let out = sb.run(Bin::Reference, &decrypt).ok();
    assert_eq!(String::from_utf8(out).unwrap(), PLAIN);
    srv.answer("n\n");
    for client in [Bin::Reference, Bin::Ours] {
        let out = sb.run(client, &decrypt);
        out.fails_with(
            128,
            &[
                "rpc error: code = PermissionDenied desc = Request rejected",
                "by user",
            ],
        );
        srv.answer("n\n");
    }
    let (code, stdout) = srv.stop();
    assert_eq!(code, Some(0));
    let question = "\nReceived decrypt request using Unknown key type. Respond to request? (y/n): ";
    assert_eq!(stdout, question.repeat(4), "{stdout}");
}

#[test]
fn unreachable_services_fail_as_in_sops() {
    let (sb, key) = age_sandbox();
    let enc = sb
        .cmd(
            Bin::Reference,
            ["encrypt", "--age", &key.recipient, "plain.yaml"],
        )
        .run()
        .ok();
    sb.write("enc.yaml", enc);
    let closed = format!("tcp://127.0.0.1:{}", free_port());
    let missing = format!("unix://{}", sb.path("nope.sock").display());
    for uri in [closed.as_str(), missing.as_str()] {
        let mut args: Vec<String> = vec!["decrypt".into()];
        args.extend(remote_only(uri));
        args.push("enc.yaml".into());
        let ours = sb.run(Bin::Ours, &args);
        let reference = sb.run(Bin::Reference, &args);
        assert_eq!(ours.code, 128, "{}", ours.stderr);
        assert_eq!(ours.stderr, reference.stderr, "decrypt via {uri}");
        let mut args: Vec<String> = vec!["encrypt".into()];
        args.extend(remote_only(uri));
        args.extend(["--age".into(), key.recipient.clone(), "plain.yaml".into()]);
        let ours = sb.run(Bin::Ours, &args);
        let reference = sb.run(Bin::Reference, &args);
        assert_eq!(ours.code, reference.code, "{}", ours.stderr);
        assert_eq!(ours.stderr, reference.stderr, "encrypt via {uri}");
    }
    // No service at all.
    for bin in Bin::BOTH {
        sb.run(
            bin,
            [
                "encrypt",
                "--enable-local-keyservice=false",
                "--age",
                &key.recipient,
                "plain.yaml",
            ],
        )
        .fails_with(
            1,
            &["Could not generate data key: [no key services provided, cannot update master keys]"],
        );
        let out = sb.run(
            bin,
            ["decrypt", "--enable-local-keyservice=false", "enc.yaml"],
        );
        assert_eq!(out.code, 128);
        assert!(
            out.stderr
                .contains(&format!("  {}: FAILED\n\n\nRecovery failed", key.recipient)),
            "{bin}: {}",
            out.stderr
        );
    }
}

#[test]
fn the_local_service_is_asked_first() {
    let (mut sb, key) = age_sandbox();
    let enc = sb
        .cmd(
            Bin::Reference,
            ["encrypt", "--age", &key.recipient, "plain.yaml"],
        )
        .run()
        .ok();
    sb.write("enc.yaml", enc);
    let closed = format!("tcp://127.0.0.1:{}", free_port());
    // With the identity locally, the unreachable service is never needed.
    sb.use_identity(&key);
    let out = sb
        .run(Bin::Ours, ["decrypt", "--keyservice", &closed, "enc.yaml"])
        .ok();
    assert_eq!(String::from_utf8(out).unwrap(), PLAIN);
    // Without it, both failures are listed, local first, as sops lists them.
    sb.remove_env("SOPS_AGE_KEY_FILE");
    let args = ["decrypt", "--keyservice", closed.as_str(), "enc.yaml"];
    let ours = sb.run(Bin::Ours, args);
    let reference = sb.run(Bin::Reference, args);
    assert_eq!(ours.code, 128);
    // sops 3.13 also lists the unset SOPS_AGE_SSH_PRIVATE_KEY_CMD, which
    // the reference (older) does not know.
    assert_eq!(
        one_line_error(&ours.stderr).replacen("'SOPS_AGE_SSH_PRIVATE_KEY_CMD', ", "", 1),
        one_line_error(&reference.stderr)
    );
    let local = ours.stderr.find("failed to load age identities").unwrap();
    let remote = ours.stderr.find("rpc error: code = Unavailable").unwrap();
    assert!(local < remote, "{}", ours.stderr);
    // The remote service answers when the local one cannot.
    let server_env = [("SOPS_AGE_KEY_FILE", key.identity_file.display().to_string())];
    let srv = Server::start(&sb, Bin::Ours, Net::Unix, &server_env, false);
    let out = sb
        .run(
            Bin::Ours,
            [
                "decrypt",
                "--keyservice",
                &closed,
                "--keyservice",
                &srv.uri,
                "enc.yaml",
            ],
        )
        .ok();
    assert_eq!(String::from_utf8(out).unwrap(), PLAIN);
    // SOPS_KEYSERVICE is a comma list; a URI that does not parse is skipped.
    let out = sb
        .cmd(Bin::Ours, ["decrypt", "enc.yaml"])
        .env("SOPS_KEYSERVICE", format!("%zz,{}", srv.uri))
        .run();
    assert_eq!(String::from_utf8(out.ok()).unwrap(), PLAIN);
    assert!(
        out.stderr
            .contains("Error parsing URI for keyservice, skipping"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_server_stops_on_sigterm_and_removes_its_socket() {
    let (sb, _key) = age_sandbox();
    let mut srv = Server::start(&sb, Bin::Ours, Net::Unix, &[], false);
    let socket = srv.socket.clone().unwrap();
    assert!(socket.exists());
    let (code, _) = srv.stop();
    assert_eq!(code, Some(0));
    assert!(!socket.exists());
    // A socket path already taken is refused.
    std::fs::write(sb.path("taken.sock"), "").unwrap();
    let out = sb.run(
        Bin::Ours,
        [
            "keyservice",
            "--net",
            "unix",
            "--addr",
            sb.path("taken.sock").to_str().unwrap(),
        ],
    );
    out.fails_with(
        1,
        &[
            "Error running keyservice: listen unix",
            "address already in use",
        ],
    );
}
