//! `sops publish` against local servers: S3 on moto
//! (`SOPS_TEST_MOTO_ENDPOINT`), GCS on `scripts/fakes/gcs_fake.py`
//! (`SOPS_TEST_GCS_ENDPOINT`) and Vault KV on `scripts/fakes/vault_fake.py`
//! (`SOPS_TEST_VAULT_ADDR`), all started by `scripts/test.sh`. What ours
//! publishes is read back and decrypted by the reference sops; prompts,
//! messages and exit codes are compared with the reference's.

use std::io::{Read, Write};

use test_support::moto_endpoint;

use super::cloud_support::PLAIN;
use super::support::{AgeKey, Bin, Sandbox};

const GCS_VAR: &str = "SOPS_TEST_GCS_ENDPOINT";

/// The GCS fake's endpoint (`http://127.0.0.1:PORT`); fails when unset.
#[track_caller]
fn gcs_endpoint() -> String {
    match std::env::var(GCS_VAR) {
        Ok(v) if !v.is_empty() => v.trim_end_matches('/').to_owned(),
        _ => panic!(
            "{GCS_VAR} is not set: run scripts/test.sh (it starts the GCS fake), or start it by \
             hand (`python3 scripts/fakes/gcs_fake.py --port 5121 &`) and export \
             {GCS_VAR}=http://127.0.0.1:5121"
        ),
    }
}

/// One HTTP/1.1 request to a loopback test server; (status, body).
fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http:// URL: {url}"));
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host)
        .unwrap_or_else(|e| panic!("cannot reach {host}: {e} (is the test server running?)"));
    let mut request = format!(
        "{method} /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("write request");
    stream.write_all(body).expect("write body");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("odd reply from {url}"));
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut payload = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = Vec::new();
        let mut rest = payload.as_slice();
        loop {
            let line_end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("chunk size");
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[..line_end])
                    .split(';')
                    .next()
                    .unwrap()
                    .trim(),
                16,
            )
            .expect("chunk size");
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest = &rest[line_end + 4 + size..];
        }
        payload = out;
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("odd status line from {url}: {head}"));
    (status, payload)
}

/// A name no other test (or earlier run against the same server) uses.
fn unique(sb: &Sandbox, prefix: &str) -> String {
    let tail: String = sb
        .dir()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    format!("{prefix}-{tail}")
}

/// A sandbox with two age keys (the first is the identity), `enc.yaml`
/// encrypted by the reference for the first, and every server's
/// environment: moto for S3 (public-read buckets, so the test reads
/// objects back without signing), the GCS fake, dummy AWS credentials.
fn publish_sandbox() -> (Sandbox, AgeKey, AgeKey) {
    let mut sb = Sandbox::new();
    let moto = moto_endpoint();
    for (k, v) in test_support::aws_test_env(&moto) {
        sb.set_env(k, v);
    }
    sb.set_env("AWS_ENDPOINT_URL_S3", &moto);
    sb.set_env("AWS_REGION", "us-east-1");
    // Google's Go client (the reference) needs the scheme; ours takes both.
    sb.set_env("STORAGE_EMULATOR_HOST", gcs_endpoint());
    let first = sb.age_keygen("first");
    let second = sb.age_keygen("second");
    sb.use_identity(&first);
    sb.write("plain.yaml", PLAIN);
    let enc = sb
        .run(
            Bin::Reference,
            ["encrypt", "--age", first.recipient.as_str(), "plain.yaml"],
        )
        .ok();
    sb.write("enc.yaml", enc);
    (sb, first, second)
}

/// Creates a public-read bucket in moto.
fn s3_bucket(sb: &Sandbox) -> String {
    let bucket = unique(sb, "pub");
    let (status, body) = http(
        "PUT",
        &format!("{}/{bucket}", moto_endpoint()),
        &[("x-amz-acl", "public-read")],
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    bucket
}

fn s3_object(bucket: &str, key: &str) -> Vec<u8> {
    let (status, body) = http(
        "GET",
        &format!("{}/{bucket}/{key}", moto_endpoint()),
        &[],
        b"",
    );
    assert_eq!(
        status,
        200,
        "s3://{bucket}/{key}: {}",
        String::from_utf8_lossy(&body)
    );
    body
}

fn gcs_object(bucket: &str, name: &str) -> Option<Vec<u8>> {
    let (status, body) = http(
        "GET",
        &format!("{}/{bucket}/{name}", gcs_endpoint()),
        &[],
        b"",
    );
    (status == 200).then_some(body)
}

/// `bin` (the reference by default) decrypts `bytes` to PLAIN.
#[track_caller]
fn reference_decrypts(sb: &Sandbox, bytes: &[u8], identity: &AgeKey) {
    sb.write("downloaded.yaml", bytes);
    let out = sb
        .cmd(Bin::Reference, ["decrypt", "downloaded.yaml"])
        .env("SOPS_AGE_KEY_FILE", &identity.identity_file)
        .run()
        .ok();
    assert_eq!(String::from_utf8(out).unwrap(), PLAIN);
}

#[test]
fn s3_gets_the_file_as_is_and_the_reference_decrypts_it() {
    let (sb, first, _) = publish_sandbox();
    let bucket = s3_bucket(&sb);
    sb.write(
        ".sops.yaml",
        format!("destination_rules:\n  - path_regex: enc\\.yaml$\n    s3_bucket: {bucket}\n    s3_prefix: pre/\n"),
    );
    let out = sb.run(Bin::Ours, ["publish", "-y", "enc.yaml"]);
    out.ok();
    assert!(out.stdout.is_empty(), "{}", out.stdout_str());
    let object = s3_object(&bucket, "pre/enc.yaml");
    assert_eq!(object, std::fs::read(sb.path("enc.yaml")).unwrap());
    reference_decrypts(&sb, &object, &first);
}

#[test]
fn s3_recreation_rule_reencrypts_for_its_keys_only() {
    let (sb, first, second) = publish_sandbox();
    let bucket = s3_bucket(&sb);
    sb.write(
        ".sops.yaml",
        format!(
            "destination_rules:\n  - s3_bucket: {bucket}\n    recreation_rule:\n      age: {}\n",
            second.recipient
        ),
    );
    let listing = format!(
        "The following changes will be made to the file's key groups:\nGroup 1\n+++ {}\n--- {}\n",
        second.recipient, first.recipient
    );
    for bin in Bin::BOTH {
        let out = sb.run(bin, ["publish", "-y", "enc.yaml"]).ok();
        assert_eq!(String::from_utf8(out).unwrap(), listing, "{bin}");
        let object = s3_object(&bucket, "enc.yaml");
        let text = String::from_utf8(object.clone()).unwrap();
        assert!(
            text.contains(&second.recipient) && !text.contains(&first.recipient),
            "{text}"
        );
        if bin == Bin::Ours {
            // Ours keeps the default suffix (sops drops it; see README).
            assert!(text.contains("unencrypted_suffix: _unencrypted"), "{text}");
        }
        reference_decrypts(&sb, &object, &second);
        sb.write("downloaded.yaml", &object);
        sb.run(Bin::Reference, ["decrypt", "downloaded.yaml"])
            .fails_with(128, &[&second.recipient]);
    }
}

#[test]
fn s3_failures_name_the_destination() {
    let (sb, _, _) = publish_sandbox();
    let bucket = unique(&sb, "missing");
    sb.write(
        ".sops.yaml",
        format!("destination_rules:\n  - s3_bucket: {bucket}\n"),
    );
    for bin in Bin::BOTH {
        sb.run(bin, ["publish", "-y", "enc.yaml"])
            .fails_with(1, &["NoSuchBucket"]);
    }
    let out = sb.run(Bin::Ours, ["publish", "-y", "enc.yaml"]);
    assert!(
        out.stderr.contains(&format!("s3://{bucket}/enc.yaml")),
        "{}",
        out.stderr
    );
}

#[test]
fn gcs_gets_the_same_object_from_both_binaries() {
    let (sb, first, second) = publish_sandbox();
    let bucket = unique(&sb, "gcs");
    sb.write(
        ".sops.yaml",
        format!(
            "destination_rules:\n  - path_regex: ^enc\n    gcs_bucket: {bucket}\n    gcs_prefix: ours/\n  - path_regex: ^again\n    gcs_bucket: {bucket}\n    gcs_prefix: ref/\n  - path_regex: ^re\n    gcs_bucket: {bucket}\n    gcs_prefix: re/\n    recreation_rule:\n      age: {}\n",
            second.recipient
        ),
    );
    sb.run(Bin::Ours, ["publish", "-y", "enc.yaml"]).ok();
    let ours = gcs_object(&bucket, "ours/enc.yaml").expect("ours uploaded");
    assert_eq!(ours, std::fs::read(sb.path("enc.yaml")).unwrap());
    reference_decrypts(&sb, &ours, &first);
    std::fs::copy(sb.path("enc.yaml"), sb.path("again.yaml")).unwrap();
    sb.run(Bin::Reference, ["publish", "-y", "again.yaml"]).ok();
    assert_eq!(
        gcs_object(&bucket, "ref/again.yaml").expect("reference uploaded"),
        ours
    );
    // Re-encrypted for the rule's key.
    std::fs::copy(sb.path("enc.yaml"), sb.path("re.yaml")).unwrap();
    sb.run(Bin::Ours, ["publish", "-y", "re.yaml"]).ok();
    let re = gcs_object(&bucket, "re/re.yaml").expect("ours uploaded");
    reference_decrypts(&sb, &re, &second);
}

#[test]
fn gcs_refusals_fail_the_run() {
    let (sb, _, _) = publish_sandbox();
    let bucket = unique(&sb, "denied");
    sb.write(
        ".sops.yaml",
        format!("destination_rules:\n  - gcs_bucket: {bucket}\n"),
    );
    // sops 3.11 ignores the upload's outcome (it exits 0); ours does not.
    sb.run(Bin::Ours, ["publish", "-y", "enc.yaml"]).fails_with(
        1,
        &[
            &format!("gcs://{bucket}/enc.yaml"),
            "403",
            "permission denied",
        ],
    );
}

#[test]
fn recursive_walks_in_order_and_omits_extensions() {
    let (sb, _, _) = publish_sandbox();
    let bucket = unique(&sb, "rec");
    sb.write(
        ".sops.yaml",
        format!("destination_rules:\n  - path_regex: ^tree/\n    gcs_bucket: {bucket}\n"),
    );
    let enc = std::fs::read(sb.path("enc.yaml")).unwrap();
    sb.write("tree/b.yaml", &enc);
    sb.write("tree/a/z.yaml", &enc);
    sb.write("tree/c.d/x.enc.yaml", &enc);
    // Answered `n` each time: both binaries ask the same questions, say
    // the same and upload nothing.
    let mut transcripts = Vec::new();
    for bin in Bin::BOTH {
        let out = sb
            .cmd(
                bin,
                ["publish", "--recursive", "--omit-extensions", "./tree/"],
            )
            .stdin("n\nn\nn\n")
            .run();
        out.ok();
        transcripts.push(out.stdout_str());
    }
    assert_eq!(transcripts[0], transcripts[1]);
    let dir = sb.dir().display().to_string();
    let expected: String = [("a/z.yaml", "a/z"), ("b.yaml", "b"), ("c.d/x.enc.yaml", "c.d/x.enc")]
        .iter()
        .map(|(file, name)| {
            format!(
                "uploading {dir}/tree/{file} to gcs://{bucket}/{name} ? (y/n): Publication of {dir}/tree/{file} canceled\n"
            )
        })
        .collect();
    assert_eq!(transcripts[0], expected);
    assert!(gcs_object(&bucket, "b").is_none());
    sb.run(Bin::Ours, ["publish", "--recursive", "-y", "tree"])
        .ok();
    for name in ["a/z.yaml", "b.yaml", "c.d/x.enc.yaml"] {
        assert_eq!(
            gcs_object(&bucket, name).as_deref(),
            Some(enc.as_slice()),
            "{name}"
        );
    }
    // A directory needs --recursive.
    for bin in Bin::BOTH {
        let out = sb.run(bin, ["publish", "-y", "tree"]);
        assert_eq!(out.code, 1, "{bin}");
        assert!(
            out.stderr
                .contains("can't operate on a directory without --recursive flag."),
            "{bin}: {}",
            out.stderr
        );
    }
}

#[test]
fn the_prompt_matches_the_reference() {
    let (sb, _, _) = publish_sandbox();
    let bucket = unique(&sb, "prompt");
    sb.write(
        ".sops.yaml",
        format!("destination_rules:\n  - gcs_bucket: {bucket}\n    omit_extensions: true\n"),
    );
    let abs = sb.path("enc.yaml").display().to_string();
    let prompt = format!("uploading {abs} to gcs://{bucket}/enc ? (y/n): ");
    for bin in Bin::BOTH {
        // `n`: nothing uploaded, exit 1.
        let out = sb.cmd(bin, ["publish", "enc.yaml"]).stdin("n\n").run();
        assert_eq!(out.code, 1, "{bin}");
        assert_eq!(out.stdout_str(), prompt, "{bin}");
        assert!(
            out.stderr
                .contains(&format!("Publication of {abs} canceled")),
            "{bin}"
        );
        assert!(gcs_object(&bucket, "enc").is_none());
        // Another word asks again; the end of the input, an empty line or
        // two words end the run with Go's `Scanln` errors.
        for (input, error) in [
            ("", "EOF"),
            ("\n", "unexpected newline"),
            ("y n\n", "expected newline"),
        ] {
            let out = sb.cmd(bin, ["publish", "enc.yaml"]).stdin(input).run();
            assert_eq!(
                (out.code, out.stdout_str()),
                (1, prompt.clone()),
                "{bin} {input:?}"
            );
            assert!(
                out.stderr.contains(error),
                "{bin} {input:?}: {}",
                out.stderr
            );
        }
    }
    let out = sb
        .cmd(Bin::Ours, ["publish", "enc.yaml"])
        .stdin("yes\ny\n")
        .run();
    out.ok();
    assert_eq!(out.stdout_str(), prompt.repeat(2));
    assert!(gcs_object(&bucket, "enc").is_some());
}

#[test]
fn errors_match_the_reference() {
    let (sb, _, _) = publish_sandbox();
    // No config at all.
    for bin in Bin::BOTH {
        sb.run(bin, ["publish", "-y", "enc.yaml"])
            .fails_with(1, &["config file not found"]);
    }
    let cases: &[(&str, &[&str], i32, &str)] = &[
        (
            "creation_rules:\n  - age: age1x\n",
            &["enc.yaml"],
            1,
            "error loading config: no matching destination found in config",
        ),
        (
            "destination_rules:\n  - s3_bucket: a\n    gcs_bucket: b\n",
            &["enc.yaml"],
            1,
            "error loading config: more than one destinations were found in a single destination rule, you can only use one per rule",
        ),
        (
            "destination_rules:\n  - path_regex: enc\n",
            &["enc.yaml"],
            1,
            "no destination configured for this file",
        ),
        (
            "destination_rules:\n  - gcs_bucket: b\n",
            &["plain.yaml"],
            1,
            "sops metadata not found",
        ),
        (
            "destination_rules:\n  - gcs_bucket: b\n",
            &["nope.yaml"],
            1,
            "stat nope.yaml: no such file or directory",
        ),
        (
            "destination_rules:\n  - gcs_bucket: b\n",
            &[],
            100,
            "Error: no file specified",
        ),
        (
            "destination_rules:\n  - gcs_bucket: b\n    recreation_rule:\n      age: notakey\n",
            &["enc.yaml"],
            1,
            // sops: `failed to parse input, unknown recipient type: "notakey"`.
            "unknown recipient type",
        ),
    ];
    for (config, files, code, message) in cases {
        sb.write(".sops.yaml", config);
        let mut args = vec!["publish", "-y"];
        args.extend_from_slice(files);
        for bin in Bin::BOTH {
            sb.run(bin, &args).fails_with(*code, &[message]);
        }
    }
    // --decryption-order is checked before any file is read; a file given
    // with --recursive is published as `.` (sops 3.11's `filepath.Rel`).
    sb.write(".sops.yaml", "destination_rules:\n  - gcs_bucket: b\n");
    let mut transcripts = Vec::new();
    for bin in Bin::BOTH {
        sb.run(
            bin,
            ["publish", "--decryption-order", "age,age", "-y", "enc.yaml"],
        )
        .fails_with(112, &["Duplicate decryption key type: age"]);
        let out = sb
            .cmd(
                bin,
                [
                    "publish",
                    "--recursive",
                    "--decryption-order",
                    "pgp,age",
                    "enc.yaml",
                ],
            )
            .stdin("n\n")
            .run();
        out.ok();
        transcripts.push(out.stdout_str());
    }
    assert_eq!(transcripts[0], transcripts[1]);
    assert!(
        transcripts[0].contains(" to gcs://b/. ? (y/n): "),
        "{}",
        transcripts[0]
    );
    std::fs::remove_file(sb.path(".sops.yaml")).unwrap();
    for bin in Bin::BOTH {
        sb.run(
            bin,
            ["--config", "missing.yaml", "publish", "-y", "enc.yaml"],
        )
        .fails_with(1, &["could not read config file", "missing.yaml"]);
    }
}

const VAULT_VAR: &str = "SOPS_TEST_VAULT_ADDR";

/// The Vault fake's address (`scripts/fakes/vault_fake.py`, token `root`,
/// KV v2 mount `secret`, KV v1 mount `kv`); fails when unset.
#[track_caller]
fn vault_addr() -> String {
    match std::env::var(VAULT_VAR) {
        Ok(v) if !v.is_empty() => v.trim_end_matches('/').to_owned(),
        _ => panic!(
            "{VAULT_VAR} is not set: run scripts/test.sh (it starts the Vault fake), or start it \
             by hand (`python3 scripts/fakes/vault_fake.py --port 5081 &`) and export \
             {VAULT_VAR}=http://127.0.0.1:5081"
        ),
    }
}

/// A secret as the fake returns it, whitespace removed.
fn vault_get(path: &str) -> String {
    let (status, body) = http(
        "GET",
        &format!("{}/v1/{path}", vault_addr()),
        &[("X-Vault-Token", "root")],
        b"",
    );
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    String::from_utf8(body)
        .unwrap()
        .split_whitespace()
        .collect()
}

fn vault_requests_for(path: &str) -> Vec<String> {
    let (_, body) = http("GET", &format!("{}/_fake/requests", vault_addr()), &[], b"");
    let text = String::from_utf8(body).unwrap();
    text.split("], [")
        .filter(|r| r.contains(path))
        .map(|r| r.split('"').nth(1).unwrap_or("").to_owned())
        .collect()
}

#[test]
fn vault_kv_gets_the_decrypted_values() {
    let (mut sb, _, _) = publish_sandbox();
    let app = unique(&sb, "app");
    let addr = vault_addr();
    sb.set_env("VAULT_ADDR", &addr);
    sb.set_env("VAULT_TOKEN", "root");
    sb.write(
        ".sops.yaml",
        format!(
            "destination_rules:\n  - path_regex: ^v1\n    vault_path: {app}\n    vault_kv_version: 1\n    vault_kv_mount_name: kv/\n  - path_regex: ^ref\n    vault_path: {app}/ref\n    vault_address: {addr}\n  - vault_path: {app}\n"
        ),
    );
    let expected = r#"{"secret":"hunter2","nested":{"count":42}}"#;
    // The prompt shows VAULT_ADDR when the rule names no address.
    let prompts: Vec<String> = Bin::BOTH
        .iter()
        .map(|bin| {
            sb.cmd(*bin, ["publish", "enc.yaml"])
                .stdin("n\n")
                .run()
                .stdout_str()
        })
        .collect();
    assert_eq!(prompts[0], prompts[1]);
    assert!(
        prompts[0].contains(&format!(" to {addr}/v1/secret/data/{app}/enc.yaml ? ")),
        "{}",
        prompts[0]
    );
    sb.run(Bin::Ours, ["publish", "-y", "enc.yaml"]).ok();
    let values = format!("{{\"data\":{{\"data\":{expected},");
    let ours = vault_get(&format!("secret/data/{app}/enc.yaml"));
    assert!(ours.starts_with(&values), "{ours}");
    // The same values from the reference.
    std::fs::copy(sb.path("enc.yaml"), sb.path("ref.yaml")).unwrap();
    sb.run(Bin::Reference, ["publish", "-y", "ref.yaml"]).ok();
    // (Go sorts map keys; real Vault returns them sorted from both.)
    let theirs = vault_get(&format!("secret/data/{app}/ref/ref.yaml"));
    let sorted = r#"{"data":{"data":{"nested":{"count":42},"secret":"hunter2"},"#;
    assert!(theirs.starts_with(sorted), "{theirs}");
    // Unchanged: read, not written again (no new KV v2 version).
    sb.run(Bin::Ours, ["publish", "-y", "enc.yaml"]).ok();
    let seen = vault_requests_for(&format!("/v1/secret/data/{app}/enc.yaml"));
    // ours: GET, PUT; the test's GET; ours again: GET only.
    assert_eq!(seen, ["GET", "PUT", "GET", "GET"], "{seen:?}");
    // KV v1: the values themselves.
    std::fs::copy(sb.path("enc.yaml"), sb.path("v1.yaml")).unwrap();
    sb.run(Bin::Ours, ["publish", "-y", "v1.yaml"]).ok();
    assert_eq!(
        vault_get(&format!("kv/{app}/v1.yaml")),
        format!("{{\"data\":{expected}}}")
    );
    // A bad token: Vault's refusal, as sops prints it.
    for bin in Bin::BOTH {
        sb.cmd(bin, ["publish", "-y", "enc.yaml"])
            .env("VAULT_TOKEN", "wrong")
            .run()
            .fails_with(
                1,
                &[
                    &format!("URL: PUT {addr}/v1/secret/data/{app}/enc.yaml"),
                    "Code: 403. Errors:\n\n* permission denied",
                ],
            );
    }
}
