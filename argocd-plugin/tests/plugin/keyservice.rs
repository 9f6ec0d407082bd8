//! A key service as the plugin's key source: a sidecar (here our own
//! `sops keyservice` server code, in-process) holds the key, the plugin
//! none. Only the operator's settings (`SOPS_CMP_KEYSERVICE`,
//! `SOPS_CMP_LOCAL_KEYSERVICE`) point the plugin at it; a tenant cannot.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sops_core::keys::{KeyContext, KeyServiceAddr, KeyServiceServer};
use sops_core::stores::Format;

use crate::harness::{Key, Request, World, encrypt, get_str};

const PASSWORD: &str = "held-by-the-key-service";

/// Serves `key`'s identity on a unix socket under `dir` for the rest of
/// the test process; the socket's path.
fn key_service(dir: &Path, key: &Key) -> PathBuf {
    let socket = dir.join("keyservice.sock");
    let addr = KeyServiceAddr::Unix(socket.clone());
    let ctx = KeyContext::builder().age_identity_file(&key.file).build();
    std::thread::spawn(move || {
        KeyServiceServer::new(ctx)
            .serve(&addr, || {}, std::future::pending())
            .unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "the key service never came up");
        std::thread::sleep(Duration::from_millis(20));
    }
    socket
}

fn app(w: &World, recipient: &str) {
    let plain = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\ntype: Opaque\nstringData:\n  password: {PASSWORD}\n"
    );
    w.write("app/s.yaml", encrypt(&plain, Format::Yaml, recipient, None));
}

#[test]
fn the_operator_can_point_the_plugin_at_a_key_service() {
    let w = World::new();
    let service_key = Key::generate(w.path(), "service.txt");
    let socket = key_service(w.path(), &service_key);
    app(&w, &service_key.recipient);
    let uri = format!("unix://{}", socket.display());

    // Only the service holds the key: the plugin's own (w.key) cannot open it.
    Request::generate(&w, "app")
        .run()
        .failure(Some(128))
        .leaks_none(&[PASSWORD]);

    for local in ["true", "false"] {
        let mut sidecar = w.sidecar_env();
        sidecar.push(("SOPS_CMP_KEYSERVICE".into(), uri.clone()));
        sidecar.push(("SOPS_CMP_LOCAL_KEYSERVICE".into(), local.into()));
        let out = Request::generate(&w, "app").sidecar(sidecar).run();
        out.success();
        assert_eq!(
            get_str(&out.docs()[0], &["stringData", "password"]),
            PASSWORD
        );
    }

    // A tenant's variables name no key service.
    for var in ["SOPS_CMP_KEYSERVICE", "SOPS_KEYSERVICE"] {
        Request::generate(&w, "app")
            .env(&format!("ARGOCD_ENV_{var}"), &uri)
            .run()
            .failure(Some(128))
            .leaks_none(&[PASSWORD]);
    }
}

#[test]
fn without_the_local_service_the_plugin_keys_are_not_used() {
    let w = World::new();
    // Encrypted for the plugin's own key; the service holds another.
    app(&w, &w.key.recipient);
    let other = Key::generate(w.path(), "other.txt");
    let socket = key_service(w.path(), &other);
    let mut sidecar = w.sidecar_env();
    sidecar.push((
        "SOPS_CMP_KEYSERVICE".into(),
        format!("unix://{}", socket.display()),
    ));
    sidecar.push(("SOPS_CMP_LOCAL_KEYSERVICE".into(), "false".into()));
    Request::generate(&w, "app")
        .sidecar(sidecar)
        .run()
        .failure(Some(128))
        .stderr_contains("rpc error: code = Unknown")
        .leaks_none(&[PASSWORD]);
    // A setting that does not parse fails closed.
    let mut sidecar = w.sidecar_env();
    sidecar.push(("SOPS_CMP_KEYSERVICE".into(), "127.0.0.1:5000".into()));
    Request::generate(&w, "app")
        .sidecar(sidecar)
        .run()
        .failure(Some(1))
        .stderr_contains("SOPS_CMP_KEYSERVICE");
}
