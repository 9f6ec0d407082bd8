//! PGP through gpg, against the reference on the same keyring: the vector
//! written by sops 3.11, files each side encrypts for a throwaway key, and
//! key groups with a threshold mixing age and PGP.

use test_support::GnupgHome;

use crate::support::{Bin, Sandbox, assert_same_bytes, read, testdata};

/// A private GNUPGHOME inside the sandbox, named by `GNUPGHOME` in every
/// later command.
fn gnupg_home(sb: &mut Sandbox) -> GnupgHome {
    let home = GnupgHome::new(&sb.path("gnupg"));
    sb.set_env("GNUPGHOME", home.dir());
    home
}

#[test]
fn pgp_vector_decrypts_with_ours() {
    let mut sb = Sandbox::new();
    let home = gnupg_home(&mut sb);
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
    let home = gnupg_home(&mut sb);
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
    let home = gnupg_home(&mut sb);
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
