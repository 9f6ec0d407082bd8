//! Tests of the hybrid post-quantum type: the age spec's example key, the
//! C2SP CCTV `hybrid*` vectors (testdata/cctv-age/, copied from the npm
//! package `cctv-age` 0.2.0), round trips and the parsing edges.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use age::{DecryptError, Identity as _, Recipient as _};
use sha2::{Digest as _, Sha256};

use super::*;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/cctv-age")
}

fn encrypt_to(recipient: &PqRecipient, plain: &[u8]) -> Vec<u8> {
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .unwrap();
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).unwrap();
    w.write_all(plain).unwrap();
    w.finish().unwrap();
    out
}

fn decrypt_with(identity: &dyn age::Identity, file: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let d = age::Decryptor::new(age::armor::ArmoredReader::new(file))?;
    let mut r = d.decrypt(std::iter::once(identity))?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn spec_example_identity_gives_spec_example_recipient() {
    let text = std::fs::read_to_string(testdata().join("c2sp-spec-example.txt")).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let identity = PqIdentity::parse(lines[0]).unwrap();
    assert_eq!(identity.to_public().to_string(), lines[1]);
    assert_eq!(identity.to_secret_string().as_str(), lines[0]);
    let recipient: PqRecipient = lines[1].parse().unwrap();
    assert_eq!(recipient.to_string(), lines[1]);
}

/// One CCTV vector: `key: value` lines, an empty line, the age file.
struct Vector {
    expect: String,
    payload: Option<String>,
    identities: Vec<String>,
    file: Vec<u8>,
}

fn read_vector(path: &Path) -> Vector {
    let data = std::fs::read(path).unwrap();
    let split = data.windows(2).position(|w| w == b"\n\n").unwrap();
    let header = std::str::from_utf8(&data[..split]).unwrap();
    let mut v = Vector {
        expect: String::new(),
        payload: None,
        identities: Vec::new(),
        file: data[split + 2..].to_vec(),
    };
    for line in header.lines() {
        let (key, value) = line.split_once(": ").unwrap();
        match key {
            "expect" => v.expect = value.to_owned(),
            "payload" => v.payload = Some(value.to_owned()),
            "identity" => v.identities.push(value.to_owned()),
            "compressed" => panic!("{}: store vectors decompressed", path.display()),
            _ => {}
        }
    }
    v
}

/// Every `hybrid*` vector of the CCTV age suite, through age's decryptor
/// with our identity (and age's X25519 one where a vector lists one).
#[test]
fn cctv_hybrid_vectors() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(testdata())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with("hybrid") || name == "armor_hybrid"
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 19, "the 19 hybrid vectors of cctv-age 0.2.0");
    for path in names {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let v = read_vector(&path);
        let mut pq_ids = Vec::new();
        let mut x_ids = Vec::new();
        for id in &v.identities {
            if id.starts_with(IDENTITY_PREFIX) {
                pq_ids.push(PqIdentity::parse(id).unwrap());
            } else {
                x_ids.push(id.parse::<age::x25519::Identity>().unwrap());
            }
        }
        assert!(!pq_ids.is_empty(), "{name}: no hybrid identity");
        let ids = pq_ids
            .iter()
            .map(|i| i as &dyn age::Identity)
            .chain(x_ids.iter().map(|i| i as &dyn age::Identity));
        let result = age::Decryptor::new(age::armor::ArmoredReader::new(&v.file[..]))
            .and_then(|d| d.decrypt(ids))
            .and_then(|mut r| {
                let mut out = Vec::new();
                r.read_to_end(&mut out)?;
                Ok(out)
            });
        match (v.expect.as_str(), result) {
            ("success", Ok(plain)) => assert_eq!(
                hex::encode(Sha256::digest(&plain)),
                v.payload.clone().unwrap(),
                "{name}: payload hash"
            ),
            // The categories as age's own CCTV runner maps its errors.
            ("no match", Err(DecryptError::NoMatchingKeys | DecryptError::DecryptionFailed)) => {}
            (
                "header failure",
                Err(DecryptError::InvalidHeader | DecryptError::UnknownFormat),
            ) => {}
            (expect, got) => panic!("{name}: expected {expect}, got {got:?}"),
        }
    }
}

#[test]
fn round_trip_through_age() {
    let identity = PqIdentity::generate();
    let recipient = identity.to_public();
    let file = encrypt_to(&recipient, b"a sops data key, 32 bytes long!!");
    let header = String::from_utf8_lossy(&file[..200]).into_owned();
    assert!(header.contains("\n-> mlkem768x25519 "), "{header}");
    assert_eq!(
        decrypt_with(&identity, &file).unwrap(),
        b"a sops data key, 32 bytes long!!"
    );
    // Another identity, PQ or X25519, does not match.
    let other = PqIdentity::generate();
    assert!(matches!(
        decrypt_with(&other, &file),
        Err(DecryptError::NoMatchingKeys)
    ));
    let x = age::x25519::Identity::generate();
    assert!(matches!(
        decrypt_with(&x, &file),
        Err(DecryptError::NoMatchingKeys)
    ));
}

#[test]
fn stanza_layout_and_label() {
    let identity = PqIdentity::generate();
    let file_key = FileKey::new(Box::new([7u8; 16]));
    let (stanzas, labels) = identity.to_public().wrap_file_key(&file_key).unwrap();
    assert_eq!(labels, HashSet::from(["postquantum".to_owned()]));
    let [stanza] = stanzas.as_slice() else {
        panic!("one stanza")
    };
    assert_eq!(stanza.tag, "mlkem768x25519");
    assert_eq!(stanza.args.len(), 1);
    assert_eq!(STANDARD_NO_PAD.decode(&stanza.args[0]).unwrap().len(), 1120);
    assert_eq!(stanza.body.len(), 32);
    let unwrapped = identity.unwrap_stanza(stanza).unwrap().unwrap();
    assert_eq!(unwrapped.expose_secret(), &[7u8; 16]);

    // Other tags are not ours; a wrong argument count is a header failure.
    let mut other = Stanza {
        tag: "X25519".to_owned(),
        args: stanza.args.clone(),
        body: stanza.body.clone(),
    };
    assert!(identity.unwrap_stanza(&other).is_none());
    other.tag = STANZA_TAG.to_owned();
    other.args.push("AAAA".to_owned());
    assert!(matches!(
        identity.unwrap_stanza(&other),
        Some(Err(DecryptError::InvalidHeader))
    ));
    other.args.truncate(1);
    other.body.push(0);
    assert!(matches!(
        identity.unwrap_stanza(&other),
        Some(Err(DecryptError::InvalidHeader))
    ));
}

#[test]
fn recipient_parsing_refuses_bad_input() {
    let identity = PqIdentity::generate();
    let good = identity.to_public().to_string();
    assert!(good.starts_with("age1pq1"));
    assert_eq!(good.len(), 1959);
    assert!(good.parse::<PqRecipient>().is_ok());
    // Upper case, truncation, a flipped character, the wrong HRP.
    assert!(good.to_uppercase().parse::<PqRecipient>().is_err());
    assert!(good[..good.len() - 1].parse::<PqRecipient>().is_err());
    let mut flipped = good.clone().into_bytes();
    flipped[100] = if flipped[100] == b'q' { b'p' } else { b'q' };
    assert!(
        String::from_utf8(flipped)
            .unwrap()
            .parse::<PqRecipient>()
            .is_err()
    );
    let x = age::x25519::Identity::generate().to_public().to_string();
    assert!(x.parse::<PqRecipient>().is_err());

    // An encapsulation key with a coefficient ≥ q is refused (FIPS 203
    // §7.2), even with a valid checksum.
    let mut bytes = identity.to_public().0.to_bytes().to_vec();
    bytes[0] = 0xff;
    bytes[1] |= 0x0f;
    let hrp = bech32::Hrp::parse_unchecked(RECIPIENT_HRP);
    assert!(bech32_encode(hrp, &bytes).parse::<PqRecipient>().is_err());
    assert!(bech32_encode(hrp, &bytes[..1215]).parse::<PqRecipient>().is_err());
}

#[test]
fn identity_parsing_refuses_bad_input_without_quoting_it() {
    let identity = PqIdentity::generate();
    let text = identity.to_secret_string();
    assert!(text.starts_with("AGE-SECRET-KEY-PQ-1"));
    let back = PqIdentity::parse(&text).unwrap();
    assert_eq!(back.to_public().to_string(), identity.to_public().to_string());
    let secret_part = &text[19..40];
    for bad in [
        text.to_lowercase(),
        text[..text.len() - 1].to_owned(),
        text.replace("AGE-SECRET-KEY-PQ-1", "AGE-SECRET-KEY-1"),
    ] {
        let e = PqIdentity::parse(&bad).unwrap_err();
        assert!(!e.contains(secret_part), "{e}");
    }
    // 31 and 33 bytes.
    let hrp = bech32::Hrp::parse_unchecked(IDENTITY_HRP);
    for len in [31, 33] {
        let s = bech32_encode(hrp, &vec![1u8; len]).to_uppercase();
        assert_eq!(PqIdentity::parse(&s).unwrap_err(), "incorrect identity length");
    }
}

#[test]
fn debug_shows_no_key_material() {
    let identity = PqIdentity::generate();
    let text = identity.to_secret_string();
    let debug = format!("{identity:?}");
    assert_eq!(debug, "PqIdentity(..)");
    assert!(!debug.contains(&text[19..]));
}

#[test]
fn low_order_recipient_fails_to_wrap_without_panicking() {
    let identity = PqIdentity::generate();
    let mut public = identity.to_public();
    public.0.pk_x = [0u8; 32];
    let file_key = FileKey::new(Box::new([1u8; 16]));
    assert!(public.wrap_file_key(&file_key).is_err());
}
