//! PGP keys through gpg, as the CLI uses them: the sidecar's `GNUPGHOME`,
//! and with per-project key dirs only `<dir>/<project>/gnupg` (never the
//! sidecar's own keyring).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sops_core::keys::pgp::PgpKey;
use sops_core::keys::{KeyContext, MasterKey};
use sops_core::metadata::PartialRule;
use sops_core::ops::{self, EncryptOptions};
use sops_core::stores::Format;

use crate::harness::{Request, World, get_str};

const PGP_VALUE: &str = "pgp-sidecar-secret-value";

/// A throwaway gpg home; the agent is stopped on drop.
struct GnupgHome(PathBuf);

impl GnupgHome {
    fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        Self(dir.to_path_buf())
    }

    fn gpg(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("gpg")
            .args([
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .env("GNUPGHOME", &self.0)
            .output()
            .expect("gpg not found: apt-get install -y gnupg (scripts/install-test-tools.sh)");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn generate(&self) -> String {
        self.gpg(&[
            "--quick-gen-key",
            "plugin test <plugin@example.invalid>",
            "default",
            "default",
            "never",
        ]);
        let listing = String::from_utf8(self.gpg(&["--list-keys", "--with-colons"])).unwrap();
        listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_owned())
            .expect("fingerprint")
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", &self.0)
            .status();
    }
}

fn encrypt_pgp(home: &GnupgHome, fingerprint: &str) -> Vec<u8> {
    let plain = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: pgp\n  namespace: team-a\nstringData:\n  k: {PGP_VALUE}\n"
    );
    let store = Format::Yaml.store().unwrap();
    let mut docs = store.load(plain.as_bytes()).unwrap();
    let keys: Vec<Box<dyn MasterKey>> = vec![Box::new(PgpKey::parse(fingerprint).unwrap())];
    let ctx = KeyContext::from_vars([("GNUPGHOME", home.0.display().to_string())]);
    let opts = EncryptOptions {
        rule: Some(PartialRule::EncryptedRegex("^stringData$".into())),
        ..EncryptOptions::default()
    };
    let metadata = ops::encrypt(&mut docs, &[keys], &ctx, &opts).unwrap();
    store.emit_encrypted(&docs, &metadata).unwrap()
}

#[test]
fn pgp_keys_come_from_the_sidecar_or_the_projects_own_gnupg_home() {
    let w = World::new();
    // The keyring sits where per-project scoping looks for team-a's.
    let keys = w.path().join("project-keys");
    let home = GnupgHome::new(&keys.join("team-a/gnupg"));
    let fingerprint = home.generate();
    w.write("app/pgp.yaml", encrypt_pgp(&home, &fingerprint));

    // Without scoping: the sidecar's GNUPGHOME.
    let mut env = w.sidecar_env();
    env.push(("GNUPGHOME".into(), home.0.display().to_string()));
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
