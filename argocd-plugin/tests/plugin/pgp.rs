//! PGP keys through gpg, as the CLI uses them: the sidecar's `GNUPGHOME`,
//! and with per-project key dirs only `<dir>/<project>/gnupg` (never the
//! sidecar's own keyring).

use sops_core::keys::pgp::PgpKey;
use sops_core::keys::{KeyContext, MasterKey};
use sops_core::metadata::PartialRule;
use sops_core::ops::{self, EncryptOptions};
use sops_core::stores::Format;

use test_support::GnupgHome;

use crate::harness::{Request, World, get_str};

const PGP_VALUE: &str = "pgp-sidecar-secret-value";

fn encrypt_pgp(home: &GnupgHome, fingerprint: &str) -> Vec<u8> {
    let plain = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: pgp\n  namespace: team-a\nstringData:\n  k: {PGP_VALUE}\n"
    );
    let store = Format::Yaml.store().unwrap();
    let docs = store.load(plain.as_bytes()).unwrap();
    let keys: Vec<Box<dyn MasterKey>> = vec![Box::new(PgpKey::parse(fingerprint).unwrap())];
    let ctx = KeyContext::from_vars([("GNUPGHOME", home.dir().display().to_string())]);
    let opts = EncryptOptions {
        rule: Some(PartialRule::EncryptedRegex("^stringData$".into())),
        ..EncryptOptions::default()
    };
    let (docs, metadata) = ops::encrypt(docs, &[keys], &ctx, &opts)
        .unwrap()
        .into_parts();
    store.emit_encrypted(&docs, &metadata).unwrap()
}

#[test]
fn pgp_keys_come_from_the_sidecar_or_the_projects_own_gnupg_home() {
    let w = World::new();
    // The keyring sits where per-project scoping looks for team-a's.
    let keys = w.path().join("project-keys");
    let home = GnupgHome::new(&keys.join("team-a/gnupg"));
    let fingerprint = home.generate("plugin");
    w.write("app/pgp.yaml", encrypt_pgp(&home, &fingerprint));

    // Without scoping: the sidecar's GNUPGHOME.
    let mut env = w.sidecar_env();
    env.push(("GNUPGHOME".into(), home.dir().display().to_string()));
    let out = Request::generate(&w, "app").sidecar(env.clone()).run();
    let docs = out.success().docs();
    assert_eq!(get_str(&docs[0], &["stringData", "k"]), PGP_VALUE);

    // With scoping: team-a's own gpg home works …
    env.push((
        "SOPS_CMP_PROJECT_KEYS_DIR".into(),
        keys.display().to_string(),
    ));
    let out = Request::generate(&w, "app").sidecar(env.clone()).run();
    assert_eq!(
        get_str(&out.success().docs()[0], &["stringData", "k"]),
        PGP_VALUE
    );

    // … and another project gets neither it nor the sidecar's GNUPGHOME.
    std::fs::create_dir_all(keys.join("team-b")).unwrap();
    Request::generate(&w, "app")
        .sidecar(env)
        .env("ARGOCD_APP_PROJECT_NAME", "team-b")
        .run()
        .failure(Some(128))
        .stderr_contains(&format!("{fingerprint}:"))
        .leaks_none(&[PGP_VALUE]);
}
