//! Tests of the age keystore. Keys are generated at test time; contexts are
//! literal variable lists (the real environment and HOME are never used).
//! External tools: `ssh-keygen` (Debian `openssh-client`) and `age`
//! (Debian `age`); tests needing them fail with an install hint.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use age::secrecy::ExposeSecret;
use tempfile::TempDir;

use super::*;
use crate::keys::age::AgeSources;

// --- helpers ------------------------------------------------------------------

fn x25519_pair() -> (String, String) {
    let identity = x25519::Identity::generate();
    (
        identity.to_public().to_string(),
        identity.to_string().expose_secret().to_owned(),
    )
}

fn ctx(vars: &[(&str, &str)]) -> KeyContext {
    KeyContext::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

fn secret() -> Vec<u8> {
    (0u8..32)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect()
}

fn wrap(recipient: &str, secret: &[u8]) -> KeyEntry {
    let key = AgeKey::parse(recipient).expect("recipient parses");
    key.encrypt(secret, &ctx(&[])).expect("encrypt")
}

fn unwrap(entry: &KeyEntry, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let key = AgeKey::parse(entry.field("recipient").unwrap()).unwrap();
    key.decrypt(entry, ctx)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

fn s(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// Runs an external tool; a missing tool fails the test with an install hint.
fn run_tool(program: &str, package: &str, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let mut child = match Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{program}` is not installed; this test needs it: install the Debian package `{package}` (apt-get install {package})"
        ),
        Err(e) => panic!("could not run {program}: {e}"),
    };
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `ssh-keygen -t <kind> -N <passphrase> -f <dir>/<name>`; returns the
/// private key path and the public key line.
fn ssh_keygen(dir: &Path, name: &str, kind: &str, passphrase: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut args = vec!["-q", "-t", kind, "-N", passphrase, "-C", "test@sops-rs"];
    if kind == "rsa" {
        args.extend(["-b", "2048"]);
    }
    let file = s(&path);
    args.extend(["-f", &file]);
    run_tool("ssh-keygen", "openssh-client", &args, None);
    let public = std::fs::read_to_string(format!("{file}.pub")).unwrap();
    (path, public.trim().to_owned())
}

/// Minimal Bech32 encoder for building plugin recipients/identities.
fn bech32(hrp: &str, data: &[u8]) -> String {
    const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    fn polymod(values: &[u8]) -> u32 {
        const GEN: [u32; 5] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
        let mut chk = 1u32;
        for v in values {
            let top = chk >> 25;
            chk = ((chk & 0x1ffffff) << 5) ^ u32::from(*v);
            for (i, g) in GEN.iter().enumerate() {
                if (top >> i) & 1 == 1 {
                    chk ^= g;
                }
            }
        }
        chk
    }
    let mut five = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in data {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            five.push(((acc >> bits) & 31) as u8);
        }
    }
    if bits > 0 {
        five.push(((acc << (5 - bits)) & 31) as u8);
    }
    let mut values: Vec<u8> = hrp.bytes().map(|c| c >> 5).collect();
    values.push(0);
    values.extend(hrp.bytes().map(|c| c & 31));
    values.extend(&five);
    values.extend([0; 6]);
    let checksum = polymod(&values) ^ 1;
    let mut out = format!("{hrp}1");
    for d in five {
        out.push(CHARSET[d as usize] as char);
    }
    for i in 0..6 {
        out.push(CHARSET[((checksum >> (5 * (5 - i))) & 31) as usize] as char);
    }
    out
}

// --- recipients and armor ------------------------------------------------------

#[test]
fn entry_has_recipient_then_enc_and_sops_armor_layout() {
    let (recipient, _) = x25519_pair();
    let entry = wrap(&format!("  {recipient}\n"), &secret());
    assert_eq!(entry.kind, KIND);
    let names: Vec<&str> = entry
        .fields
        .0
        .iter()
        .map(|i| match i {
            crate::tree::Item::Entry(k, _) => k.as_str(),
            crate::tree::Item::Comment(_) => "#",
        })
        .collect();
    assert_eq!(names, ["recipient", "enc"]);
    assert_eq!(entry.field("recipient"), Some(recipient.as_str()));

    let enc = entry.enc().unwrap();
    assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
    assert!(enc.ends_with("\n-----END AGE ENCRYPTED FILE-----\n"));
    assert!(!enc.contains('\r'));
    let lines: Vec<&str> = enc.trim_end_matches('\n').split('\n').collect();
    let body = &lines[1..lines.len() - 1];
    assert!(!body.is_empty());
    for (i, line) in body.iter().enumerate() {
        if i + 1 < body.len() {
            assert_eq!(line.len(), 64, "line {i} of the armor");
        } else {
            assert!(!line.is_empty() && line.len() <= 64);
        }
        assert!(
            line.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        );
    }
    let joined: String = body.concat();
    let file = base64::engine::general_purpose::STANDARD
        .decode(joined)
        .unwrap();
    assert!(file.starts_with(b"age-encryption.org/v1\n-> X25519 "));
}

#[test]
fn armor_of_exact_multiple_of_64_columns_has_no_empty_line() {
    let text = armor(&[7u8; 48]); // 64 base64 columns
    assert_eq!(
        text,
        format!(
            "-----BEGIN AGE ENCRYPTED FILE-----\n{}\n-----END AGE ENCRYPTED FILE-----\n",
            base64::engine::general_purpose::STANDARD.encode([7u8; 48])
        )
    );
    let text = armor(&[1u8; 49]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[1].len(), 64);
    assert_eq!(lines[2], "AQ==");
}

#[test]
fn invalid_recipients_are_rejected_naming_them() {
    for bad in [
        "age1notbech32",
        "AGE1QQQ",
        "ssh-ed25519 AAAAnope",
        "pgp:ABCDEF",
        "",
        "age1pq1qqqqqq",
    ] {
        match AgeKey::parse(bad) {
            Err(KeyError::Invalid { identifier, reason }) => {
                assert_eq!(identifier, bad.trim());
                assert!(!reason.is_empty());
            }
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
    let err = AgeKey::parse("nonsense").unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid key nonsense: failed to parse input, unknown recipient type"
    );
}

#[test]
fn plugin_recipient_parses_and_needs_its_plugin_to_encrypt() {
    let recipient = bech32("age1sopsrsnoplugin", &[42u8; 33]);
    let key = AgeKey::parse(&recipient).expect("plugin recipient parses");
    assert_eq!(key.identifier(), recipient);
    let err = key.encrypt(&secret(), &ctx(&[])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to create writer for encrypting sops data key with age: exec: \"age-plugin-sopsrsnoplugin\": executable file not found in $PATH"
    );
}

#[test]
fn plugin_identity_counts_as_identity_and_missing_plugin_is_reported() {
    let (recipient, _) = x25519_pair();
    let entry = wrap(&recipient, &secret());
    let identity = bech32("age-plugin-sopsrsnoplugin-", &[9u8; 16]).to_uppercase();
    let home = TempDir::new().unwrap();
    let c = ctx(&[("SOPS_AGE_KEY", &identity), ("HOME", &s(home.path()))]);
    assert_eq!(c.age_identities().len(), 1);
    match unwrap(&entry, &c).unwrap_err() {
        KeyError::Rejected(text) => assert!(
            text.contains("Errors while loading age identities: exec: \"age-plugin-sopsrsnoplugin\": executable file not found in $PATH"),
            "{text}"
        ),
        other => panic!("{other:?}"),
    }
}

// --- round trips -----------------------------------------------------------------

#[test]
fn x25519_round_trip_and_shamir_share() {
    let (recipient, identity) = x25519_pair();
    let c = ctx(&[("SOPS_AGE_KEY", &identity)]);
    let entry = wrap(&recipient, &secret());
    assert_eq!(unwrap(&entry, &c).unwrap().as_slice(), secret().as_slice());

    let share: Vec<u8> = (0u8..33).collect();
    let entry = wrap(&recipient, &share);
    assert_eq!(unwrap(&entry, &c).unwrap().as_slice(), share.as_slice());
}

/// sops 3.11 decrypts with the identities alone: a stored recipient that
/// does not parse (truncated, hand-edited) still decrypts, and fails only
/// when the key is asked to encrypt (rotate, updatekeys).
#[test]
fn stored_recipient_that_does_not_parse_still_decrypts() {
    let (recipient, identity) = x25519_pair();
    let c = ctx(&[("SOPS_AGE_KEY", &identity)]);
    let wrapped = wrap(&recipient, &secret());
    for broken in [&recipient[..recipient.len() - 3], "12", ""] {
        let mut entry = wrapped.clone();
        entry.fields.remove("recipient");
        entry.fields.push("recipient", Value::Str(broken.to_owned()));
        let key = crate::keys::master_key_for(&entry).expect("any stored recipient");
        assert_eq!(key.identifier(), broken);
        assert_eq!(
            key.decrypt(&entry, &c).unwrap().as_slice(),
            secret().as_slice()
        );
        assert!(matches!(
            key.encrypt(&secret(), &c),
            Err(KeyError::Invalid { identifier, .. }) if identifier == broken
        ));
    }
}

#[test]
fn ssh_ed25519_round_trip_via_env_file() {
    let dir = TempDir::new().unwrap();
    let (private, public) = ssh_keygen(dir.path(), "key", "ed25519", "");
    assert!(public.starts_with("ssh-ed25519 ") && public.ends_with(" test@sops-rs"));
    let entry = wrap(&public, &secret());
    assert_eq!(entry.field("recipient"), Some(public.as_str()));
    let c = ctx(&[("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &s(&private))]);
    assert_eq!(unwrap(&entry, &c).unwrap().as_slice(), secret().as_slice());
}

#[test]
fn ssh_ed25519_and_rsa_round_trip_via_home() {
    let home = TempDir::new().unwrap();
    let (_, ed) = ssh_keygen(home.path(), ".ssh/id_ed25519", "ed25519", "");
    let (_, rsa) = ssh_keygen(home.path(), ".ssh/id_rsa", "rsa", "");
    assert!(rsa.starts_with("ssh-rsa "));
    let c = ctx(&[("HOME", &s(home.path()))]);
    assert_eq!(c.age_identities().len(), 2);
    for recipient in [&ed, &rsa] {
        let entry = wrap(recipient, &secret());
        assert_eq!(unwrap(&entry, &c).unwrap().as_slice(), secret().as_slice());
    }
}

#[test]
fn ssh_rsa_round_trip_via_env_file() {
    let dir = TempDir::new().unwrap();
    let (private, public) = ssh_keygen(dir.path(), "rsa", "rsa", "");
    let entry = wrap(&public, &secret());
    let c = ctx(&[("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &s(&private))]);
    assert_eq!(unwrap(&entry, &c).unwrap().as_slice(), secret().as_slice());
}

#[test]
fn passphrase_protected_ssh_key_is_reported_clearly() {
    let home = TempDir::new().unwrap();
    let (_, public) = ssh_keygen(home.path(), ".ssh/id_ed25519", "ed25519", "correct horse");
    let entry = wrap(&public, &secret());
    let path = s(&home.path().join(".ssh/id_ed25519"));
    let c = ctx(&[("HOME", &s(home.path()))]);
    assert!(c.age_identities().is_empty());
    let err = unwrap(&entry, &c).unwrap_err();
    assert!(matches!(err, KeyError::NoCredentials(_)));
    assert!(
        err.to_string().contains(&format!(
            "SSH key \"{path}\" is passphrase-protected, and passphrase prompts are not supported yet"
        )),
        "{err}"
    );
}

// --- identity sources ------------------------------------------------------------

/// A fresh hybrid post-quantum pair (`age1pq1…`, `AGE-SECRET-KEY-PQ-1…`).
fn pq_pair() -> (String, String) {
    let pair = crate::keys::age::generate_key_pair(true);
    (pair.recipient().to_owned(), pair.identity().to_owned())
}

/// Encrypts to a fresh key, X25519 and then post-quantum, and checks that
/// exactly the given context decrypts.
fn assert_source_works(make: impl Fn(&Path, &str) -> Vec<(String, String)>) {
    for pair in [x25519_pair, pq_pair] {
        assert_source_works_with(pair(), &make);
    }
}

fn assert_source_works_with(
    (recipient, identity): (String, String),
    make: &impl Fn(&Path, &str) -> Vec<(String, String)>,
) {
    let entry = wrap(&recipient, &secret());
    let dir = TempDir::new().unwrap();
    let vars = make(dir.path(), &identity);
    let c = KeyContext::from_vars(vars.clone());
    assert_eq!(c.age_identities().len(), 1, "{:?}", c.age_identities());
    assert!(
        c.age_identities().errors().is_empty(),
        "{:?}",
        c.age_identities()
    );
    assert_eq!(unwrap(&entry, &c).unwrap().as_slice(), secret().as_slice());
}

#[test]
fn identity_from_sops_age_key() {
    assert_source_works(|dir, id| {
        vec![
            ("HOME".into(), s(dir)),
            (
                "SOPS_AGE_KEY".into(),
                format!("# a comment\r\n\r\n{id}\r\n"),
            ),
        ]
    });
}

#[test]
fn identity_from_sops_age_key_file() {
    assert_source_works(|dir, id| {
        let file = write(
            dir,
            "keys.txt",
            &format!("# created: now\n# public key: x\n{id}\n"),
        );
        vec![
            ("HOME".into(), s(dir)),
            ("SOPS_AGE_KEY_FILE".into(), s(&file)),
        ]
    });
}

#[test]
fn identity_from_sops_age_key_cmd() {
    assert_source_works(|dir, id| {
        let file = write(dir, "my keys.txt", &format!("{id}\n"));
        vec![
            ("HOME".into(), s(dir)),
            ("SOPS_AGE_KEY_CMD".into(), format!("cat '{}'", s(&file))),
        ]
    });
}

#[test]
fn identity_from_xdg_default_file() {
    assert_source_works(|dir, id| {
        write(dir, "xdg/sops/age/keys.txt", &format!("{id}\n"));
        vec![
            ("HOME".into(), s(&dir.join("home"))),
            ("XDG_CONFIG_HOME".into(), s(&dir.join("xdg"))),
        ]
    });
}

#[test]
fn identity_from_home_default_file() {
    assert_source_works(|dir, id| {
        write(dir, ".config/sops/age/keys.txt", &format!("{id}\n"));
        vec![("HOME".into(), format!("{}/", s(dir)))]
    });
}

#[test]
fn all_sources_are_read_together() {
    let dir = TempDir::new().unwrap();
    let home = s(dir.path());
    let keys: Vec<(String, String)> = (0..5).map(|_| x25519_pair()).collect();
    let file = write(dir.path(), "file.txt", &format!("{}\n", keys[1].1));
    let cmd = write(dir.path(), "cmd.txt", &format!("{}\n", keys[2].1));
    write(
        dir.path(),
        ".config/sops/age/keys.txt",
        &format!("{}\n", keys[3].1),
    );
    let (_, ssh_public) = ssh_keygen(dir.path(), ".ssh/id_ed25519", "ed25519", "");
    let c = ctx(&[
        ("HOME", &home),
        ("SOPS_AGE_KEY", &keys[0].1),
        ("SOPS_AGE_KEY_FILE", &s(&file)),
        ("SOPS_AGE_KEY_CMD", &format!("cat {}", s(&cmd))),
    ]);
    let ids = c.age_identities();
    assert_eq!(ids.len(), 5, "{ids:?}");
    let locations: Vec<&str> = ids.locations().collect();
    assert_eq!(
        locations,
        [
            format!("{home}/.ssh/id_ed25519").as_str(),
            "SOPS_AGE_KEY",
            "SOPS_AGE_KEY_FILE",
            "SOPS_AGE_KEY_CMD",
            format!("{home}/.config/sops/age/keys.txt").as_str(),
        ]
    );
    for recipient in keys[..4].iter().map(|k| &k.0).chain([&ssh_public]) {
        let entry = wrap(recipient, &secret());
        assert_eq!(unwrap(&entry, &c).unwrap().as_slice(), secret().as_slice());
    }
    let entry = wrap(&keys[4].0, &secret());
    assert!(matches!(unwrap(&entry, &c), Err(KeyError::Rejected(_))));
}

// --- failures and their texts ------------------------------------------------------

#[test]
fn wrong_identity_is_rejected_with_sops_text() {
    let (recipient, _) = x25519_pair();
    let (_, other) = x25519_pair();
    let home = TempDir::new().unwrap();
    let home_s = s(home.path());
    let c = ctx(&[("SOPS_AGE_KEY", &other), ("HOME", &home_s)]);
    let entry = wrap(&recipient, &secret());
    let err = unwrap(&entry, &c).unwrap_err();
    assert_eq!(
        err,
        KeyError::Rejected(format!(
            "failed to create reader for decrypting sops data key with age: identity did not match any of the recipients: incorrect identity for recipient block. Did not find keys in locations 'SOPS_AGE_SSH_PRIVATE_KEY_FILE', 'SOPS_AGE_SSH_PRIVATE_KEY_CMD', '{home_s}/.ssh/id_ed25519', '{home_s}/.ssh/id_rsa', 'SOPS_AGE_KEY_FILE', and 'SOPS_AGE_KEY_CMD'."
        ))
    );
    assert!(!err.to_string().contains("AGE-SECRET-KEY"));
}

#[test]
fn no_identity_gives_no_credentials_with_sops_text() {
    let (recipient, _) = x25519_pair();
    let entry = wrap(&recipient, &secret());
    let home = TempDir::new().unwrap();
    let h = s(home.path());
    let err = unwrap(&entry, &ctx(&[("HOME", &h)])).unwrap_err();
    assert_eq!(
        err,
        KeyError::NoCredentials(format!(
            "failed to load age identities. Did not find keys in locations 'SOPS_AGE_SSH_PRIVATE_KEY_FILE', 'SOPS_AGE_SSH_PRIVATE_KEY_CMD', '{h}/.ssh/id_ed25519', '{h}/.ssh/id_rsa', 'SOPS_AGE_KEY', 'SOPS_AGE_KEY_FILE', 'SOPS_AGE_KEY_CMD', and '{h}/.config/sops/age/keys.txt'."
        ))
    );

    // Without HOME at all, as sops on a bare environment.
    let err = unwrap(&entry, &ctx(&[])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to load age identities. Errors while loading age identities: $HOME is not defined; user config directory could not be determined: neither $XDG_CONFIG_HOME nor $HOME are defined. Did not find keys in locations 'SOPS_AGE_SSH_PRIVATE_KEY_FILE', 'SOPS_AGE_SSH_PRIVATE_KEY_CMD', 'SOPS_AGE_KEY', 'SOPS_AGE_KEY_FILE', and 'SOPS_AGE_KEY_CMD'."
    );
}

#[test]
fn builder_takes_explicit_identities_and_never_the_environment() {
    let (recipient, identity) = x25519_pair();
    let entry = wrap(&recipient, &secret());
    let dir = TempDir::new().unwrap();

    // Text with a location name.
    let c = KeyContext::builder()
        .age_identity_text("project keys", &identity)
        .build();
    assert_eq!(unwrap(&entry, &c).unwrap().as_slice(), secret().as_slice());
    assert_eq!(
        c.age_identities().locations().collect::<Vec<_>>(),
        ["project keys"]
    );

    // An identity the caller parsed already.
    let parsed: x25519::Identity = identity.parse().unwrap();
    let c = KeyContext::builder().age_identity("vault", parsed).build();
    assert_eq!(unwrap(&entry, &c).unwrap().as_slice(), secret().as_slice());

    // A file, read through the bounded reader; its messages name the path.
    let file = write(dir.path(), "team/age.txt", &format!("{identity}\n"));
    let c = KeyContext::builder().age_identity_file(&file).build();
    assert_eq!(unwrap(&entry, &c).unwrap().as_slice(), secret().as_slice());
    let bad = write(dir.path(), "team/bad.txt", "garbage\n");
    let missing = dir.path().join("team/missing.txt");
    let c = KeyContext::builder()
        .age_identity_file(&bad)
        .age_identity_file(&missing)
        .build();
    assert_eq!(
        unwrap(&entry, &c).unwrap_err().to_string(),
        format!(
            "failed to load age identities. Errors while loading age identities: failed to open file: open {}: no such file or directory; failed to parse '{}' age identities: unknown identity type",
            s(&missing),
            s(&bad)
        )
    );

    // The default locations, from explicit directories.
    write(dir.path(), "config/sops/age/keys.txt", &identity);
    let c = KeyContext::builder()
        .age_default_locations(dir.path().join("home"), dir.path().join("config"))
        .build();
    assert_eq!(unwrap(&entry, &c).unwrap().as_slice(), secret().as_slice());

    // Nothing given: no identity, and no location of the environment named.
    let c = KeyContext::builder().build();
    assert_eq!(
        unwrap(&entry, &c).unwrap_err().to_string(),
        "failed to load age identities"
    );
}

#[test]
fn context_debug_names_locations_never_keys() {
    let (_, identity) = x25519_pair();
    let c = ctx(&[
        ("SOPS_AGE_KEY", &identity),
        ("SOPS_AGE_KEY_FILE", "/keys/age.txt"),
    ]);
    let shown = format!("{c:?}");
    assert!(shown.contains("SOPS_AGE_KEY_FILE=/keys/age.txt"), "{shown}");
    assert!(
        shown.contains("SOPS_AGE_SSH_PRIVATE_KEY_FILE (unset)"),
        "{shown}"
    );
    assert!(!shown.contains("AGE-SECRET-KEY"), "{shown}");
    let c = KeyContext::builder()
        .age_identity_text("inline", &identity)
        .gpg_home("/keys/gnupg")
        .build();
    let shown = format!("{c:?}");
    assert!(
        shown.contains("inline") && shown.contains("/keys/gnupg"),
        "{shown}"
    );
    assert!(!shown.contains("AGE-SECRET-KEY"), "{shown}");
}

#[test]
fn source_failures_are_listed_in_sops_order() {
    let (recipient, _) = x25519_pair();
    let entry = wrap(&recipient, &secret());
    let home = TempDir::new().unwrap();
    let h = s(home.path());
    let c = ctx(&[
        ("HOME", &h),
        ("SOPS_AGE_KEY", "not-a-key"),
        ("SOPS_AGE_KEY_FILE", "/nonexistent/sops-rs/keys.txt"),
        ("SOPS_AGE_KEY_CMD", "false"),
        ("SOPS_AGE_SSH_PRIVATE_KEY_FILE", "/nonexistent/sops-rs/id"),
    ]);
    let err = unwrap(&entry, &c).unwrap_err();
    assert_eq!(
        err,
        KeyError::NoCredentials(format!(
            "failed to load age identities. Errors while loading age identities: failed to open file: open /nonexistent/sops-rs/id: no such file or directory; failed to open SOPS_AGE_KEY_FILE file: open /nonexistent/sops-rs/keys.txt: no such file or directory; failed to execute command false from SOPS_AGE_KEY_CMD: exit status 1; failed to parse 'SOPS_AGE_KEY' age identities: unknown identity type. Did not find keys in locations 'SOPS_AGE_SSH_PRIVATE_KEY_CMD', '{h}/.ssh/id_ed25519', and '{h}/.ssh/id_rsa'."
        ))
    );
}

#[test]
fn one_bad_line_fails_the_whole_source() {
    let (_, id) = x25519_pair();
    let (recipient2, id2) = x25519_pair();
    // A bad word: rejected like age/sops do; the line itself is never quoted.
    let c = ctx(&[
        ("SOPS_AGE_KEY", &format!("{id}\n{id} junk\n")),
        ("SOPS_AGE_KEY_CMD", "sops-rs-no-such-command --flag"),
        ("XDG_CONFIG_HOME", "relative/dir"),
    ]);
    let ids = c.age_identities();
    assert!(ids.is_empty());
    assert_eq!(
        ids.errors(),
        [
            "$HOME is not defined",
            "failed to execute command sops-rs-no-such-command --flag from SOPS_AGE_KEY_CMD: exec: \"sops-rs-no-such-command\": executable file not found in $PATH",
            "failed to parse 'SOPS_AGE_KEY' age identities: unknown identity type",
        ]
    );
    // The config directory error only counts when nothing else was found.
    let c2 = ctx(&[("XDG_CONFIG_HOME", "relative/dir")]);
    assert_eq!(
        c2.age_identities().errors(),
        [
            "$HOME is not defined",
            "user config directory could not be determined: path in $XDG_CONFIG_HOME is relative",
        ]
    );
    let debug = format!("{ids:?}");
    assert!(!debug.contains("AGE-SECRET-KEY"));

    // A malformed X25519 key.
    // Change the last (checksum) character to a different one.
    let last = if id2.ends_with('Q') { 'P' } else { 'Q' };
    let broken = format!("{}{last}", &id2[..id2.len() - 1]);
    let c = ctx(&[("SOPS_AGE_KEY", &broken)]);
    let errors = c.age_identities().errors();
    assert!(
        errors.iter().any(|e| e
            .starts_with("failed to parse 'SOPS_AGE_KEY' age identities: malformed secret key")),
        "{errors:?}"
    );
    assert!(errors.iter().all(|e| !e.contains(&broken[20..])));
    let _ = recipient2;
}

#[test]
fn empty_and_comment_only_sources_are_listed_as_unused() {
    let dir = TempDir::new().unwrap();
    let file = write(dir.path(), "empty.txt", "# nothing here\n\n");
    let (_, id) = x25519_pair();
    let c = ctx(&[
        ("SOPS_AGE_KEY", "# only a comment"),
        ("SOPS_AGE_KEY_FILE", &s(&file)),
        ("SOPS_AGE_KEY_CMD", &format!("echo {id}")),
    ]);
    let ids = c.age_identities();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        ids.unused_locations(),
        [
            "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
            "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
            "SOPS_AGE_KEY",
            "SOPS_AGE_KEY_FILE"
        ]
    );
    // Listings name the file too; sops' messages keep the variable.
    assert_eq!(
        ids.unused_described()[3],
        format!("SOPS_AGE_KEY_FILE ({})", s(&file))
    );
    let (recipient, id) = x25519_pair();
    let key_file = write(dir.path(), "keys.txt", &format!("{id}\n"));
    let c = ctx(&[("SOPS_AGE_KEY_FILE", &s(&key_file))]);
    let described = c.age_identities().described();
    assert_eq!(
        described,
        [(format!("SOPS_AGE_KEY_FILE ({})", s(&key_file)), recipient)]
    );
    assert_eq!(
        c.age_identities().locations().collect::<Vec<_>>(),
        ["SOPS_AGE_KEY_FILE"]
    );
}

// --- sops 3.12/3.13 identity sources -----------------------------------------

fn passphrase_file(text: &str, passphrase: &str, armored: bool) -> Vec<u8> {
    test_support::age_passphrase_file(text.as_bytes(), passphrase, armored)
}

/// Sources from `vars` whose passphrases come from `answer` (counting the
/// prompts in `asked`) instead of the terminal.
fn sources_answering(
    vars: &[(&str, &str)],
    answer: &'static str,
    asked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) -> AgeSources {
    let lookup = |k: &str| {
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
    };
    let mut sources = AgeSources::from_vars(&lookup);
    sources.set_passphrase_source(std::sync::Arc::new(move |prompt: &str| {
        asked.lock().unwrap().push(prompt.to_owned());
        Ok(Zeroizing::new(answer.to_owned()))
    }));
    sources
}

#[test]
fn passphrase_protected_identity_files_decrypt_after_one_prompt() {
    let (recipient, id) = x25519_pair();
    let (recipient2, id2) = x25519_pair();
    let dir = TempDir::new().unwrap();
    let keys = format!("# created by age-keygen\n{id}\n{id2}\n");
    for armored in [true, false] {
        let file = dir.path().join(format!("keys-{armored}.age"));
        std::fs::write(&file, passphrase_file(&keys, "correct horse", armored)).unwrap();
        let asked = std::sync::Arc::default();
        let sources = sources_answering(
            &[("SOPS_AGE_KEY_FILE", &s(&file)), ("HOME", &s(dir.path()))],
            "correct horse",
            std::sync::Arc::clone(&asked),
        );
        let ids = AgeIdentities::load(&sources, None);
        assert_eq!(ids.len(), 1, "{:?}", ids.errors());
        // Not asked before an entry needs it.
        assert!(asked.lock().unwrap().is_empty());
        for r in [&recipient, &recipient2] {
            let entry = wrap(r, &secret());
            let enc = entry.enc().unwrap().as_bytes().to_vec();
            let out = decrypt_with(&ids, None, &enc).unwrap();
            assert_eq!(out.as_slice(), secret().as_slice());
        }
        assert_eq!(
            *asked.lock().unwrap(),
            ["Enter passphrase for identity 'SOPS_AGE_KEY_FILE':"],
            "one prompt for the file, whatever the number of entries"
        );
        // Bound to its recipient (the Argo CD plugin), an identity inside
        // opens only its own entries.
        let entry = wrap(&recipient2, &secret());
        let enc = entry.enc().unwrap().as_bytes().to_vec();
        assert!(decrypt_with(&ids, Some(recipient.as_str()), &enc).is_err());
        assert!(decrypt_with(&ids, Some(recipient2.as_str()), &enc).is_ok());
    }
}

#[test]
fn passphrase_protected_identity_is_tried_after_plain_ones() {
    let (recipient, id) = x25519_pair();
    let (_, other) = x25519_pair();
    let dir = TempDir::new().unwrap();
    let file = write(dir.path(), "k.txt", "");
    std::fs::write(&file, passphrase_file(&other, "pw", true)).unwrap();
    let asked = std::sync::Arc::default();
    let sources = sources_answering(
        &[("SOPS_AGE_KEY_FILE", &s(&file)), ("SOPS_AGE_KEY", &id)],
        "pw",
        std::sync::Arc::clone(&asked),
    );
    let ids = AgeIdentities::load(&sources, None);
    let entry = wrap(&recipient, &secret());
    let enc = entry.enc().unwrap().as_bytes().to_vec();
    assert!(decrypt_with(&ids, None, &enc).is_ok());
    assert!(
        asked.lock().unwrap().is_empty(),
        "no prompt when a plain identity opens the entry"
    );
}

#[test]
fn wrong_passphrase_and_foreign_age_files_give_sops_texts() {
    let (recipient, id) = x25519_pair();
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("k.age");
    std::fs::write(&file, passphrase_file(&id, "right", true)).unwrap();
    let entry = wrap(&recipient, &secret());
    let enc = entry.enc().unwrap().as_bytes().to_vec();
    let home = s(dir.path());
    let vars = [("SOPS_AGE_KEY_FILE", s(&file)), ("HOME", home.clone())];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let unused = format!(
        ". Did not find keys in locations 'SOPS_AGE_SSH_PRIVATE_KEY_FILE', 'SOPS_AGE_SSH_PRIVATE_KEY_CMD', '{home}/.ssh/id_ed25519', '{home}/.ssh/id_rsa', 'SOPS_AGE_KEY', and 'SOPS_AGE_KEY_CMD'."
    );
    let ids = AgeIdentities::load(&sources_answering(&vars, "wrong", Default::default()), None);
    assert_eq!(
        decrypt_with(&ids, None, &enc).unwrap_err(),
        KeyError::Rejected(format!(
            "failed to create reader for decrypting sops data key with age: incorrect passphrase{unused}"
        ))
    );
    let ids = AgeIdentities::load(&sources_answering(&vars, "", Default::default()), None);
    assert_eq!(
        decrypt_with(&ids, None, &enc).unwrap_err(),
        KeyError::Rejected(format!(
            "failed to create reader for decrypting sops data key with age: failed to decrypt identity file: passphrase can't be empty{unused}"
        ))
    );
    // An age file encrypted to a key, not a passphrase: no prompt.
    let (other, _) = x25519_pair();
    let foreign = wrap(&other, id.as_bytes());
    std::fs::write(&file, foreign.enc().unwrap()).unwrap();
    let asked = std::sync::Arc::default();
    let ids = AgeIdentities::load(
        &sources_answering(&vars, "right", std::sync::Arc::clone(&asked)),
        None,
    );
    assert_eq!(
        decrypt_with(&ids, None, &enc).unwrap_err(),
        KeyError::Rejected(format!(
            "failed to create reader for decrypting sops data key with age: incorrect passphrase{unused}"
        ))
    );
    assert!(asked.lock().unwrap().is_empty());
    // Messages and Debug never show the passphrase or the identity.
    let shown = format!("{ids:?}");
    assert!(!shown.contains("AGE-SECRET-KEY") && !shown.contains("right"));
}

#[test]
fn several_identities_on_one_line_only_in_sops_age_key() {
    let (r1, id1) = x25519_pair();
    let (r2, id2) = x25519_pair();
    let (r3, id3) = x25519_pair();
    let c = ctx(&[("SOPS_AGE_KEY", &format!("{id1} {id2}\t {id3}\n# c\n"))]);
    assert_eq!(c.age_identities().len(), 3, "{:?}", c.age_identities());
    for r in [&r1, &r2, &r3] {
        assert!(unwrap(&wrap(r, &secret()), &c).is_ok());
    }
    // Files and commands keep one identity per line (as in sops 3.13).
    let dir = TempDir::new().unwrap();
    let file = write(dir.path(), "k.txt", &format!("{id1} {id2}\n"));
    let c = ctx(&[
        ("SOPS_AGE_KEY_FILE", &s(&file)),
        ("SOPS_AGE_KEY_CMD", &format!("cat {}", s(&file))),
    ]);
    assert!(c.age_identities().is_empty());
    let errors = c.age_identities().errors();
    assert!(
        errors[1..].iter().all(|e| e.contains("malformed secret key")),
        "{errors:?}"
    );
    assert!(errors.iter().all(|e| !e.contains(&id2[20..])), "{errors:?}");
}

/// A script that logs `SOPS_AGE_RECIPIENT` to `log` and prints the
/// identity stored under `<dir>/<recipient>`.
fn recipient_script(dir: &Path, log: &Path) -> String {
    let script = write(
        dir,
        "key-cmd.sh",
        &format!(
            "#!/bin/sh\necho \"recipient=${{SOPS_AGE_RECIPIENT-unset}}\" >> '{}'\necho 'a diagnostic' >&2\ncat \"{}/$SOPS_AGE_RECIPIENT\"\n",
            s(log),
            s(dir)
        ),
    );
    format!("sh {}", s(&script))
}

#[test]
fn key_cmd_sees_the_recipient_once_per_recipient() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("log");
    let (r1, id1) = x25519_pair();
    let (r2, id2) = x25519_pair();
    write(dir.path(), &r1, &format!("{id1}\n"));
    write(dir.path(), &r2, &format!("{id2}\n"));
    let c = ctx(&[
        ("SOPS_AGE_KEY_CMD", &recipient_script(dir.path(), &log)),
        ("HOME", &s(dir.path())),
    ]);
    let e1 = wrap(&r1, &secret());
    let e2 = wrap(&r2, &secret());
    assert!(unwrap(&e1, &c).is_ok());
    assert!(unwrap(&e2, &c).is_ok());
    assert!(unwrap(&e1, &c).is_ok());
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("recipient={r1}\nrecipient={r2}\n"),
        "run once per recipient, with SOPS_AGE_RECIPIENT set"
    );
    // A command that prints another recipient's identity does not open it.
    let (r3, _) = x25519_pair();
    write(dir.path(), &r3, &format!("{id1}\n"));
    let err = unwrap(&wrap(&r3, &secret()), &c).unwrap_err();
    assert!(
        matches!(&err, KeyError::Rejected(m) if m.contains("incorrect identity")),
        "{err:?}"
    );
    // Without a recipient (the public `age_identities`) it is unset.
    let _ = c.age_identities();
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .ends_with("recipient=unset\n")
    );
}

#[test]
fn ssh_key_cmd_decrypts_and_sees_the_recipient() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("log");
    let (key, public) = ssh_keygen(dir.path(), "id", "ed25519", "");
    let recipient = public.trim().to_owned();
    let entry = wrap(&recipient, &secret());
    let script = write(
        dir.path(),
        "ssh-cmd.sh",
        &format!(
            "#!/bin/sh\necho \"recipient=$SOPS_AGE_RECIPIENT\" >> '{}'\ncat '{}'\n",
            s(&log),
            s(&key)
        ),
    );
    let c = ctx(&[
        ("SOPS_AGE_SSH_PRIVATE_KEY_CMD", &format!("sh {}", s(&script))),
        ("HOME", &s(dir.path())),
    ]);
    assert_eq!(unwrap(&entry, &c).unwrap().as_slice(), secret().as_slice());
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("recipient={recipient}\n")
    );
    assert_eq!(
        c.age_identities().locations().collect::<Vec<_>>(),
        ["SOPS_AGE_SSH_PRIVATE_KEY_CMD"]
    );
}

#[test]
fn ssh_key_cmd_failures_give_sops_texts_without_the_output() {
    let dir = TempDir::new().unwrap();
    let (protected, _) = ssh_keygen(dir.path(), "locked", "ed25519", "hunter22");
    let (recipient, id) = x25519_pair();
    let entry = wrap(&recipient, &secret());
    let garbage = write(dir.path(), "garbage", "NOT-A-KEY-BUT-SECRET-OUTPUT\n");
    let cases = [
        (
            format!("cat {}", s(&protected)),
            "the SSH key returned by running SOPS_AGE_SSH_PRIVATE_KEY_CMD is password protected, which is unsupported. (\"ssh: this private key is passphrase protected\")".to_owned(),
        ),
        (
            format!("cat {}", s(&garbage)),
            "malformed SSH identity returned by running SOPS_AGE_SSH_PRIVATE_KEY_CMD: \"ssh: no key found\"".to_owned(),
        ),
        (
            "sh -c 'echo SECRET-OUTPUT; exit 3'".to_owned(),
            "failed to execute command sh -c 'echo SECRET-OUTPUT; exit 3' from SOPS_AGE_SSH_PRIVATE_KEY_CMD: exit status 3".to_owned(),
        ),
    ];
    for (command, expected) in cases {
        let c = ctx(&[
            ("SOPS_AGE_SSH_PRIVATE_KEY_CMD", &command),
            ("SOPS_AGE_KEY", &id),
            ("HOME", &s(dir.path())),
        ]);
        // The other sources still work; the failure is listed first (the
        // SSH sources come before SOPS_AGE_KEY).
        assert!(unwrap(&entry, &c).is_ok());
        let ids = c.age_identities();
        assert_eq!(ids.errors(), [expected.as_str()], "{command}");
        assert!(!ids.errors()[0].contains("SECRET-OUTPUT\n"));
        assert!(!ids.errors()[0].contains("NOT-A-KEY"));
    }
}

/// sops 3.12 reads `AGE-SECRET-KEY-PQ-1…` lines (they were skipped with a
/// note before); a malformed one fails its source like any bad secret key.
#[test]
fn post_quantum_identity_lines_are_identities() {
    let (x_recipient, x_id) = x25519_pair();
    let (pq_recipient, pq_id) = pq_pair();
    let home = TempDir::new().unwrap();
    let home = s(home.path());
    let c = ctx(&[
        ("HOME", &home),
        ("SOPS_AGE_KEY", &format!("{pq_id}\n{x_id}\n")),
    ]);
    assert_eq!(c.age_identities().len(), 2);
    assert!(c.age_identities().errors().is_empty());
    for recipient in [&x_recipient, &pq_recipient] {
        let entry = wrap(recipient, &secret());
        assert!(entry.enc().unwrap().starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        assert_eq!(unwrap(&entry, &c).unwrap().as_slice(), secret().as_slice());
    }

    let c = ctx(&[
        ("HOME", &home),
        (
            "SOPS_AGE_KEY",
            &format!("AGE-SECRET-KEY-PQ-1QQQQQQQQQQQQ\n{x_id}\n"),
        ),
    ]);
    assert_eq!(c.age_identities().len(), 0);
    assert_eq!(
        c.age_identities().errors(),
        ["failed to parse 'SOPS_AGE_KEY' age identities: malformed secret key: invalid Bech32 encoding"]
    );
}

/// The PQ identity that does not belong to a recipient is not tried when
/// identities are bound to recipients, and a wrong one is rejected with
/// sops' text; Debug of the context never shows the key.
#[test]
fn post_quantum_wrong_identity_and_debug() {
    let (recipient, _) = pq_pair();
    let (_, other) = pq_pair();
    let c = ctx(&[("SOPS_AGE_KEY", &other)]);
    let entry = wrap(&recipient, &secret());
    let err = unwrap(&entry, &c).unwrap_err().to_string();
    assert!(
        err.contains("incorrect identity for recipient block"),
        "{err}"
    );
    assert!(!err.contains(&other[19..]));
    assert!(!format!("{c:?}").contains(&other[19..]));
}

#[test]
fn garbage_enc_is_rejected() {
    let (recipient, id) = x25519_pair();
    let c = ctx(&[("SOPS_AGE_KEY", &id)]);
    let mut entry = wrap(&recipient, &secret());
    entry.fields.remove("enc");
    entry
        .fields
        .push("enc", Value::Str("not an age file".into()));
    match unwrap(&entry, &c).unwrap_err() {
        KeyError::Rejected(text) => assert!(
            text.starts_with("failed to create reader for decrypting sops data key with age: "),
            "{text}"
        ),
        other => panic!("{other:?}"),
    }
}

// --- interoperability ---------------------------------------------------------------

#[test]
fn enc_we_write_decrypts_with_age_cli() {
    let (recipient, identity) = x25519_pair();
    let dir = TempDir::new().unwrap();
    let keys = write(dir.path(), "keys.txt", &format!("{identity}\n"));
    let entry = wrap(&recipient, &secret());
    let out = run_tool(
        "age",
        "age",
        &["-d", "-i", &s(&keys)],
        Some(entry.enc().unwrap().as_bytes()),
    );
    assert_eq!(out, secret());
}

#[test]
fn enc_we_write_for_ssh_decrypts_with_age_cli() {
    let dir = TempDir::new().unwrap();
    let (private, public) = ssh_keygen(dir.path(), "id", "ed25519", "");
    let entry = wrap(&public, &secret());
    let out = run_tool(
        "age",
        "age",
        &["-d", "-i", &s(&private)],
        Some(entry.enc().unwrap().as_bytes()),
    );
    assert_eq!(out, secret());
}

#[test]
fn file_armored_by_age_cli_decrypts_with_us() {
    let (recipient, identity) = x25519_pair();
    let armored = run_tool("age", "age", &["-a", "-r", &recipient], Some(&secret()));
    let armored = String::from_utf8(armored).unwrap();
    assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
    let mut fields = Branch::new();
    fields.push("recipient", Value::Str(recipient.clone()));
    fields.push("enc", Value::Str(armored));
    let entry = KeyEntry { kind: KIND, fields };
    let c = ctx(&[("SOPS_AGE_KEY", &identity)]);
    assert_eq!(unwrap(&entry, &c).unwrap().as_slice(), secret().as_slice());
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors")
}

#[test]
fn sops_reference_vector_decrypts() {
    let yaml = std::fs::read_to_string(testdata().join("yaml_comments.enc.yaml")).unwrap();
    let begin = yaml.find("-----BEGIN AGE ENCRYPTED FILE-----").unwrap();
    let end = yaml.find("-----END AGE ENCRYPTED FILE-----").unwrap();
    let mut enc = String::new();
    for line in yaml[begin..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        enc.push_str(line);
        enc.push('\n');
    }
    enc.push_str("-----END AGE ENCRYPTED FILE-----\n");
    let recipient = "age1mq23p4ppx7lvcvntp7sn5k7flqfd2cql4nuyld2em3yjtvqcmeqqm9c5ck";
    assert!(yaml.contains(recipient));
    let mut fields = Branch::new();
    fields.push("recipient", Value::Str(recipient.into()));
    fields.push("enc", Value::Str(enc));
    let entry = KeyEntry { kind: KIND, fields };

    let vectors = std::fs::read_to_string(testdata().join("vectors.json")).unwrap();
    let case = vectors.find("\"yaml_comments\"").unwrap();
    let re = regex::Regex::new(r#""data_key_hex"\s*:\s*"([0-9a-f]{64})""#).unwrap();
    let want = hex::decode(&re.captures(&vectors[case..]).unwrap()[1]).unwrap();

    let keys = s(&testdata().join("keys.txt"));
    let c = ctx(&[("SOPS_AGE_KEY_FILE", &keys)]);
    assert_eq!(c.age_identities().len(), 2);
    assert_eq!(unwrap(&entry, &c).unwrap().as_slice(), want.as_slice());
}

#[test]
fn keys_and_identities_are_thread_safe() {
    fn check<T: Send + Sync>() {}
    check::<AgeKey>();
    check::<AgeIdentities>();
    check::<KeyContext>();
}

// --- helpers of the loader ------------------------------------------------------------

#[test]
fn shell_word_splitting() {
    use crate::shlex::{SplitError, split};
    assert_eq!(split("cat /a/b").unwrap(), ["cat", "/a/b"]);
    assert_eq!(
        split("  op read 'op://v/k ey' \"x \\\" y\" a\\ b  ").unwrap(),
        ["op", "read", "op://v/k ey", "x \" y", "a b"]
    );
    assert_eq!(split("a'b'\"c\"d e").unwrap(), ["abcd", "e"]);
    assert_eq!(split("a # comment\nb").unwrap(), ["a", "b"]);
    assert_eq!(split("a#b").unwrap(), ["a#b"]);
    assert_eq!(split("x ''").unwrap(), ["x", ""]);
    assert!(split("   ").unwrap().is_empty());
    assert_eq!(split("'open").unwrap_err(), SplitError::UnclosedQuote);
    assert_eq!(split("\"open").unwrap_err(), SplitError::UnclosedQuote);
    assert_eq!(split("end\\").unwrap_err(), SplitError::TrailingEscape);
}

#[test]
fn key_cmd_parse_errors() {
    let c = ctx(&[("SOPS_AGE_KEY_CMD", "cat 'unterminated")]);
    assert_eq!(
        c.age_identities().errors()[1],
        "failed to parse command cat 'unterminated from SOPS_AGE_KEY_CMD: EOF found when expecting closing quote"
    );
}

#[test]
fn go_style_path_cleaning() {
    use crate::keys::age::identities::clean_path;
    assert_eq!(
        clean_path("/home/u//.config/./sops"),
        "/home/u/.config/sops"
    );
    assert_eq!(clean_path("/a/b/../c/"), "/a/c");
    assert_eq!(clean_path("/../x"), "/x");
    assert_eq!(clean_path("a/../../b"), "../b");
    assert_eq!(clean_path(""), ".");
}

#[test]
fn recipient_binding_refuses_a_relabelled_entry() {
    let (r1, i1) = x25519_pair();
    let (r2, i2) = x25519_pair();
    let both = format!("{i1}\n{i2}\n");
    // An entry wrapped for r2 whose label was changed to r1.
    let mut forged = wrap(&r2, &secret());
    forged.fields = Branch::new();
    forged.fields.push("recipient", Value::Str(r1.clone()));
    forged.fields.push(
        "enc",
        Value::Str(wrap(&r2, &secret()).enc().unwrap().to_owned()),
    );
    let plain = ctx(&[("SOPS_AGE_KEY", &both)]);
    assert_eq!(unwrap(&forged, &plain).unwrap().as_slice(), secret());
    let bound = ctx(&[("SOPS_AGE_KEY", &both)]).with_age_recipient_binding();
    assert!(matches!(
        unwrap(&forged, &bound),
        Err(KeyError::Rejected(_))
    ));
    // Honest entries still open with binding on.
    assert_eq!(
        unwrap(&wrap(&r1, &secret()), &bound).unwrap().as_slice(),
        secret()
    );
    assert_eq!(
        unwrap(&wrap(&r2, &secret()), &bound).unwrap().as_slice(),
        secret()
    );
}
