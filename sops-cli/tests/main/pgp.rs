//! PGP through gpg, against the reference on the same keyring: the vector
//! written by sops 3.11, files each side encrypts for a throwaway key, and
//! key groups with a threshold mixing age and PGP.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Bin, Sandbox, assert_same_bytes, read, require_tool, testdata};

/// A private GNUPGHOME inside the sandbox; the agent is stopped on drop.
struct GnupgHome {
    dir: PathBuf,
    gpg: PathBuf,
}

impl GnupgHome {
    fn new(sb: &mut Sandbox) -> Self {
        let gpg = require_tool("gpg", "gnupg");
        let dir = sb.path("gnupg");
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        sb.set_env("GNUPGHOME", dir.clone());
        Self { dir, gpg }
    }

    fn gpg(&self, args: &[&str]) -> Vec<u8> {
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

    fn import(&self, key: &Path) {
        self.gpg(&["--import", key.to_str().unwrap()]);
    }

    /// Makes a throwaway key without a passphrase and returns its fingerprint.
    fn generate(&self, name: &str) -> String {
        self.gpg(&[
            "--quick-gen-key",
            &format!("{name} <{name}@example.invalid>"),
            "default",
            "default",
            "never",
        ]);
        let listing = String::from_utf8(self.gpg(&[
            "--list-keys",
            "--with-colons",
            &format!("{name}@example.invalid"),
        ]))
        .unwrap();
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
            .env("GNUPGHOME", &self.dir)
            .status();
    }
}

#[test]
fn pgp_vector_decrypts_with_ours() {
    let mut sb = Sandbox::new();
    let home = GnupgHome::new(&mut sb);
    home.import(&testdata("vectors/pgp_secret_key.asc"));
    let want = read(&testdata("vectors/pgp.decrypted.yaml"));
    for bin in [Bin::Reference, Bin::Ours] {
        let got = sb
            .run(
                bin,
                [
                    "decrypt".into(),
                    testdata("vectors/pgp.enc.yaml").into_os_string(),
                ],
            )
            .ok();
        assert_same_bytes(&format!("{bin}: decrypt pgp vector"), &got, &want);
    }
}

#[test]
fn pgp_files_interoperate_both_ways() {
    let mut sb = Sandbox::new();
    let home = GnupgHome::new(&mut sb);
    let fp = home.generate("sops-test");
    let plain = sb.write("p.yaml", "user: admin\npassword: hunter2\n");
    let mut encrypted = Vec::new();
    for writer in Bin::BOTH {
        let enc = sb
            .run(
                writer,
                [
                    "encrypt".into(),
                    "--pgp".into(),
                    fp.clone().into(),
                    plain.clone().into_os_string(),
                ],
            )
            .ok();
        let text = String::from_utf8(enc.clone()).unwrap();
        assert!(
            text.contains(&format!("fp: {fp}")) && text.contains("-----BEGIN PGP MESSAGE-----"),
            "{writer}: {text}"
        );
        encrypted.push(sb.write(&format!("enc.{writer}.yaml"), enc));
    }
    for file in &encrypted {
        for reader in Bin::BOTH {
            let out = sb
                .run(reader, ["decrypt".into(), file.clone().into_os_string()])
                .ok();
            assert_same_bytes(
                &format!("{reader} decrypts {}", file.display()),
                &out,
                &read(&plain),
            );
        }
    }
}

#[test]
fn key_groups_mixing_age_and_pgp() {
    let mut sb = Sandbox::new();
    let home = GnupgHome::new(&mut sb);
    let fp = home.generate("sops-group");
    let a = sb.age_keygen("a");
    let c = sb.age_keygen("c");
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{}]\n      - pgp: [{fp}]\n      - age: [{}]\n",
            a.recipient, c.recipient
        ),
    );
    let plain = "token: abc\n";
    sb.write("f.yaml", plain);
    for writer in Bin::BOTH {
        let enc = sb.run(writer, ["encrypt", "f.yaml"]).ok();
        let file = sb.write(&format!("g.{writer}.yaml"), enc);
        for reader in Bin::BOTH {
            // age key a plus the PGP key (from GNUPGHOME): two groups out of three.
            let out = sb
                .cmd(reader, ["decrypt".into(), file.clone().into_os_string()])
                .env(
                    "SOPS_AGE_KEY_FILE",
                    a.identity_file.clone().into_os_string(),
                )
                .run()
                .ok();
            assert_same_bytes(
                &format!("{reader} decrypts what {writer} wrote"),
                &out,
                plain.as_bytes(),
            );
        }
    }
}
