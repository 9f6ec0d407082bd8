//! Interop with the reference sops 3.11.0, both directions.
//!
//! * Golden vectors (written by the reference, `testdata/vectors`) decrypt
//!   with our binary to exactly the bytes the reference printed.
//! * Files we encrypt decrypt with the reference to the same bytes as the
//!   reference's own encryption of the same plaintext, files the reference
//!   encrypts decrypt with ours to those bytes too, and our encrypted file
//!   has the same layout as the reference's (same values encrypted, same
//!   metadata), for each format and partial-encryption option.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::{AgeKey, Bin, Sandbox, assert_same_bytes, assert_same_layout, read, testdata};

// ---------------------------------------------------------------------------
// Golden vectors: reference -> ours
// ---------------------------------------------------------------------------

/// Decrypts `testdata/vectors/<enc>` (with `extra` args before the file)
/// with both binaries, identities from `testdata/vectors/keys.txt`, and
/// compares with `testdata/vectors/<expected>`.
fn check_vector(enc: &str, expected: &str, extra: &[&str]) {
    let mut sb = Sandbox::new();
    sb.set_env("SOPS_AGE_KEY_FILE", testdata("vectors/keys.txt"));
    let enc_path = testdata(&format!("vectors/{enc}"));
    let want = read(&testdata(&format!("vectors/{expected}")));
    // The reference first: a failure here means the vector itself is wrong.
    for bin in [Bin::Reference, Bin::Ours] {
        let mut args: Vec<std::ffi::OsString> = vec!["decrypt".into()];
        args.extend(extra.iter().map(Into::into));
        args.push(enc_path.clone().into());
        let got = sb.run(bin, args).ok();
        assert_same_bytes(&format!("{bin}: decrypt {extra:?} {enc}"), &got, &want);
    }
}

macro_rules! vector_tests {
    ($($name:ident: $enc:literal => $expected:literal $(, $extra:literal)*;)*) => {
        $(
            #[test]
            fn $name() {
                check_vector($enc, $expected, &[$($extra),*]);
            }
        )*
    };
}

vector_tests! {
    vector_yaml_comments: "yaml_comments.enc.yaml" => "yaml_comments.decrypted.yaml";
    vector_yaml_comments_as_json: "yaml_comments.enc.yaml" => "yaml_comments.decrypted-as.json", "--output-type", "json";
    vector_yaml_scalars: "yaml_scalars.enc.yaml" => "yaml_scalars.decrypted.yaml";
    vector_yaml_structure: "yaml_structure.enc.yaml" => "yaml_structure.decrypted.yaml";
    vector_yaml_structure_as_json: "yaml_structure.enc.yaml" => "yaml_structure.decrypted-as.json", "--output-type", "json";
    vector_yaml_types: "yaml_types.enc.yaml" => "yaml_types.decrypted.yaml";
    vector_yaml_types_as_dotenv: "yaml_types.enc.yaml" => "yaml_types.decrypted-as.env", "--output-type", "dotenv";
    vector_multidoc: "multidoc.enc.yaml" => "multidoc.decrypted.yaml";
    vector_encrypted_regex: "encrypted_regex.enc.yaml" => "encrypted_regex.decrypted.yaml";
    vector_unencrypted_suffix: "unencrypted_suffix.enc.yaml" => "unencrypted_suffix.decrypted.yaml";
    vector_mac_only_encrypted: "mac_only_encrypted.enc.yaml" => "mac_only_encrypted.decrypted.yaml";
    vector_encrypted_comment_regex: "encrypted_comment_regex.enc.yaml" => "encrypted_comment_regex.decrypted.yaml";
    vector_json_types: "json_types.enc.json" => "json_types.decrypted.json";
    vector_json_types_as_yaml: "json_types.enc.json" => "json_types.decrypted-as.yaml", "--output-type", "yaml";
    vector_json_numbers: "json_numbers.enc.json" => "json_numbers.decrypted.json";
    vector_json_numbers_as_yaml: "json_numbers.enc.json" => "json_numbers.decrypted-as.yaml", "--output-type", "yaml";
    vector_all_keystores_yaml: "all_keystores.enc.yaml" => "all_keystores.decrypted.yaml";
    vector_all_keystores_json: "all_keystores.enc.json" => "all_keystores.decrypted.json";
    vector_key_groups_json: "key_groups.enc.json" => "key_groups.decrypted.json";
    vector_shamir_yaml: "shamir.enc.yaml" => "shamir.decrypted.yaml";
    vector_dotenv: "dotenv.enc.env" => "dotenv.decrypted.env";
    vector_dotenv_quirks: "dotenv_quirks.enc.env" => "dotenv_quirks.decrypted.env";
    vector_dotenv_quirks_as_json: "dotenv_quirks.enc.env" => "dotenv_quirks.decrypted-as.json", "--output-type", "json";
    vector_key_groups_env: "key_groups.enc.env" => "key_groups.decrypted.env";
    vector_all_keystores_env: "all_keystores.enc.env" => "all_keystores.decrypted.env";
    vector_ini: "ini.enc.ini" => "ini.decrypted.ini";
    vector_ini_quirks: "ini_quirks.enc.ini" => "ini_quirks.decrypted.ini";
    vector_ini_quirks_as_json: "ini_quirks.enc.ini" => "ini_quirks.decrypted-as.json", "--output-type", "json";
    vector_all_keystores_ini: "all_keystores.enc.ini" => "all_keystores.decrypted.ini";
    vector_binary: "binary.enc.bin" => "binary.decrypted.bin";
}

/// The vector keys file holds two identities; key A alone must do for the
/// single-recipient vectors, key B alone for multidoc (A and B recipients).
#[test]
fn vector_multidoc_with_second_identity_only() {
    let keys = String::from_utf8(read(&testdata("vectors/keys.txt"))).unwrap();
    let key_b = keys
        .lines()
        .filter(|l| l.starts_with("AGE-SECRET-KEY-"))
        .nth(1)
        .expect("keys.txt holds two identities")
        .to_owned();
    let mut sb = Sandbox::new();
    let b_file = sb.write("b.agekey", format!("{key_b}\n"));
    sb.set_env("SOPS_AGE_KEY_FILE", b_file);
    let want = read(&testdata("vectors/multidoc.decrypted.yaml"));
    for bin in [Bin::Reference, Bin::Ours] {
        let got = sb
            .run(
                bin,
                [
                    "decrypt".into(),
                    testdata("vectors/multidoc.enc.yaml").into_os_string(),
                ],
            )
            .ok();
        assert_same_bytes(&format!("{bin}: decrypt multidoc with key B"), &got, &want);
    }
}

// ---------------------------------------------------------------------------
// Plaintexts for the live round trips
// ---------------------------------------------------------------------------

const YAML_COMMENTS: &str = "\
# Application secrets for the billing service
app:
    # service name
    name: billing
    # database settings
    database:
        host: db.internal
        port: 5432
        password: s3cr3t-p@ss
        ssl: true
        timeout: 2.5
    replicas: 3
    nothing: null
    tags:
        - prod
        - eu-west-1
        - 42
    users:
        - name: alice
          token: abc123
        - name: bob
          token: def456
description: |
    multi-line
    text block
# trailing comment
";

/// Inline comments: sops moves them onto their own line before the entry.
const YAML_INLINE_COMMENTS: &str = "\
key: value # inline comment
map:
    a: 1 # one
    list:
        - x # first
        - y
";

const YAML_MULTIDOC: &str = "\
# first document
kind: Secret
data:
    password: one
---
kind: ConfigMap
data:
    url: https://example.invalid/path
    retries: 5
";

const JSON_NESTED: &str = r#"{
	"name": "service",
	"port": 8080,
	"ratio": 1.5,
	"enabled": true,
	"disabled": false,
	"nothing": null,
	"unicode": "héllo wörld ✓ 😀 日本",
	"escaped": "line1\nline2\t\"quoted\" \\ slash/",
	"nested": {
		"list": [1, [2, 3], {"deep": [true, null, "x", -7, 0.25]}],
		"empty_obj": {},
		"empty_arr": []
	},
	"users": [
		{"name": "alice", "token": "abc"},
		{"name": "bob", "token": "def"}
	]
}
"#;

const YAML_PARTIAL: &str = "\
# partial encryption
user_public: alice
password: hunter2
api_key_secret: k-123
data:
    token: t0k3n
    url_public: https://example.invalid
stringData:
    cert: cert-body
metadata:
    name: demo
    # a comment under metadata
    labels:
        app: demo
";

const YAML_COMMENT_MARKERS: &str = "\
# sops:enc
top: secret1
plain: clear1
# sops:clear
shown: visible
nested:
    # sops:enc
    inner: secret2
    # sops:clear
    other: clear2
";

const YAML_EXTRACT: &str = "\
a:
    - b:
        c: 1
        d:
            - x
            - y
      s: text
    - b: plain string
n: 7
f: 1.5
t: true
z: null
l:
    - 1
    - two
";

// ---------------------------------------------------------------------------
// Round-trip machinery
// ---------------------------------------------------------------------------

/// A sandbox with one throwaway age key used for encryption and decryption.
struct Fixture {
    sb: Sandbox,
    key: AgeKey,
}

impl Fixture {
    fn new() -> Self {
        let mut sb = Sandbox::new();
        let key = sb.age_keygen("main");
        sb.use_identity(&key);
        Self { sb, key }
    }

    fn tag(bin: Bin) -> &'static str {
        match bin {
            Bin::Ours => "ours",
            Bin::Reference => "ref",
        }
    }

    /// Runs `bin <args…> <plain>` and saves stdout as the encrypted file
    /// `<case>.<bin>.enc.<out_ext>`.
    fn encrypt(
        &self,
        bin: Bin,
        case: &str,
        out_ext: &str,
        args: &[String],
        plain: &Path,
    ) -> PathBuf {
        let mut full: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        full.push(plain.into());
        let out = self.sb.run(bin, full).ok();
        assert!(
            !out.is_empty(),
            "{bin}: encryption of {case} printed nothing"
        );
        self.sb
            .write(&format!("{case}.{}.enc.{out_ext}", Self::tag(bin)), out)
    }

    fn decrypt(&self, bin: Bin, args: &[&str], file: &Path) -> Vec<u8> {
        let mut full: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        full.push(file.into());
        self.sb.run(bin, full).ok()
    }

    /// The core interop check. Writes `plaintext` as `<case>.plain.<ext>`,
    /// encrypts it with both binaries using `encrypt_args` (the file is
    /// appended), then asserts
    /// `ref decrypt(ours enc) == ref decrypt(ref enc)`,
    /// `ours decrypt(ref enc) == that`, `ours decrypt(ours enc) == that`
    /// (decrypting with `decrypt_args`) and the same encrypted layout.
    /// Returns (ours encrypted, reference encrypted, expected plaintext).
    fn round_trip(
        &self,
        case: &str,
        ext: &str,
        plaintext: &str,
        encrypt_args: &[String],
        decrypt_args: &[&str],
    ) -> (PathBuf, PathBuf, Vec<u8>) {
        let plain = self.sb.write(&format!("{case}.plain.{ext}"), plaintext);
        let ours_enc = self.encrypt(Bin::Ours, case, ext, encrypt_args, &plain);
        let ref_enc = self.encrypt(Bin::Reference, case, ext, encrypt_args, &plain);
        let expected = self.decrypt(Bin::Reference, decrypt_args, &ref_enc);
        assert!(
            !expected.is_empty(),
            "reference round trip of {case} is empty"
        );
        assert_same_bytes(
            &format!("{case}: reference decrypt of OUR encryption"),
            &self.decrypt(Bin::Reference, decrypt_args, &ours_enc),
            &expected,
        );
        assert_same_bytes(
            &format!("{case}: OUR decrypt of the reference's encryption"),
            &self.decrypt(Bin::Ours, decrypt_args, &ref_enc),
            &expected,
        );
        assert_same_bytes(
            &format!("{case}: OUR decrypt of our encryption"),
            &self.decrypt(Bin::Ours, decrypt_args, &ours_enc),
            &expected,
        );
        assert_same_layout(case, &read(&ours_enc), &read(&ref_enc), ext == "json");
        (ours_enc, ref_enc, expected)
    }

    /// `encrypt --age <key> <extra…>` (file appended by `round_trip`).
    fn encrypt_args(&self, extra: &[&str]) -> Vec<String> {
        let mut v = vec![
            "encrypt".to_owned(),
            "--age".to_owned(),
            self.key.recipient.clone(),
        ];
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    }

    /// Root form: `<flags…> --age <key> -e` (file appended).
    fn legacy_encrypt_args(&self, flags: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = flags.iter().map(|s| (*s).to_owned()).collect();
        v.extend([
            "--age".to_owned(),
            self.key.recipient.clone(),
            "-e".to_owned(),
        ]);
        v
    }
}

// ---------------------------------------------------------------------------
// Ours <-> reference round trips
// ---------------------------------------------------------------------------

#[test]
fn roundtrip_yaml_with_comments() {
    let fx = Fixture::new();
    let (_, _, expected) = fx.round_trip(
        "comments",
        "yaml",
        YAML_COMMENTS,
        &fx.encrypt_args(&[]),
        &["decrypt"],
    );
    // This plaintext is already in sops' canonical layout.
    assert_same_bytes(
        "comments: round trip equals input",
        &expected,
        YAML_COMMENTS.as_bytes(),
    );
}

/// A file large enough (over 2 MiB encrypted) for ours to decrypt it as it
/// reads it, in several runs, with comments between its top-level entries.
#[test]
fn roundtrip_large_yaml_decrypted_as_it_is_read() {
    let mut plain = String::from("# head\n");
    for i in 0..4000 {
        plain.push_str(&format!(
            "# entry {i}\nservice{i}:\n    name: value {i}\n    port: {i}\n    tags:\n        - a{i}\n        - true\n"
        ));
    }
    let fx = Fixture::new();
    let (ours_enc, ref_enc, expected) =
        fx.round_trip("large", "yaml", &plain, &fx.encrypt_args(&[]), &["decrypt"]);
    for enc in [&ours_enc, &ref_enc] {
        let size = std::fs::metadata(enc).unwrap().len();
        assert!(
            size > 2 * 1024 * 1024,
            "{} is only {size} bytes",
            enc.display()
        );
    }
    assert_same_bytes(
        "large: round trip equals input",
        &expected,
        plain.as_bytes(),
    );
}

#[test]
fn roundtrip_yaml_inline_comments() {
    let fx = Fixture::new();
    fx.round_trip(
        "inline",
        "yaml",
        YAML_INLINE_COMMENTS,
        &fx.encrypt_args(&[]),
        &["decrypt"],
    );
}

/// Issue 10: empty comments (`a: #`, `- x #`, `- r: #`: sops encrypts and
/// decrypts "" to the string "", which replaces an empty comment inside a
/// sequence) and comments right after a dash (`- # c`: go-yaml gives them
/// to the node on a later line, and they leave the sequence when it ends).
#[test]
fn roundtrip_yaml_empty_comments_and_comments_after_dashes() {
    let fx = Fixture::new();
    let cases = [
        "l:\n- r: #\n",
        "l:\n  - r: #\n    s: 1\n",
        "a: #\nb: 1\n",
        "a: # \n",
        "l:\n- x #\n",
        "l:\n-   #\n    x: 1\n",
        "l:\n- #\n",
        "l:\n- #\n- x\n",
        "l:\n- #\nb: 1\n",
        "a:\n  l:\n  - #\n  - y\n",
        "l:\n- # c\n",
        "l:\n- a\n- # c\n- x\n",
        "a:\n  l:\n    - # c\n  b: 1\n",
        "a:\n  l:\n    - # c\n",
        "l:\n- # c\n  x: 1\n",
        "l:\n- # c\n  - y\n",
        "l:\n- # c\n  x\n",
        "l:\n- - # c\n",
        "l:\n- - # c\n  - z\n",
        "l:\n- # c\n  # d\n- x\n",
        "l:\n- {a: 1}\n- # a\n  # d\n",
        "l:\n- | # c\n  text\n",
        "a: | # c\n  text\nb: 1\n",
    ];
    for (n, plain) in cases.iter().enumerate() {
        fx.round_trip(
            &format!("dash-comment-{n}"),
            "yaml",
            plain,
            &fx.encrypt_args(&[]),
            &["decrypt"],
        );
    }
}

/// An empty line comment on a mapping in a sequence (`- r: 1 #`): sops
/// 3.11 moves it before the item's dash, where an empty comment becomes the
/// item `""` once encrypted. Like sops 3.13 we keep it on its line
/// (`- r: ENC[…] #`; an empty comment is not encrypted), so each sops
/// reads it back as it places such a comment: 3.11 above the dash, we at
/// the end of the line (3.13.2 does the same, by its code).
#[test]
fn yaml_empty_line_comment_in_a_sequence_stays_on_its_line() {
    let fx = Fixture::new();
    let plain = fx.sb.write("empty-line.plain.yaml", "l:\n- r: 1 #\n");
    let ours = fx.encrypt(
        Bin::Ours,
        "empty-line",
        "yaml",
        &fx.encrypt_args(&[]),
        &plain,
    );
    let text = read(&ours);
    assert!(text.starts_with(b"l:\n    - r: ENC[AES256_GCM,"));
    assert!(String::from_utf8_lossy(&text).contains(",type:int] #\n"));
    assert_same_bytes(
        "ours",
        &fx.decrypt(Bin::Ours, &["decrypt"], &ours),
        b"l:\n    - r: 1 #\n",
    );
    assert_same_bytes(
        "reference",
        &fx.decrypt(Bin::Reference, &["decrypt"], &ours),
        b"l:\n    #\n    - r: 1\n",
    );
}

#[test]
fn roundtrip_yaml_legacy_flags() {
    let fx = Fixture::new();
    fx.round_trip(
        "legacy",
        "yaml",
        YAML_COMMENTS,
        &fx.legacy_encrypt_args(&[]),
        &["-d"],
    );
}

#[test]
fn roundtrip_yaml_multidoc() {
    let fx = Fixture::new();
    fx.round_trip(
        "multidoc",
        "yaml",
        YAML_MULTIDOC,
        &fx.encrypt_args(&[]),
        &["decrypt"],
    );
}

#[test]
fn roundtrip_json_nested() {
    let fx = Fixture::new();
    fx.round_trip(
        "nested",
        "json",
        JSON_NESTED,
        &fx.encrypt_args(&[]),
        &["decrypt"],
    );
}

#[test]
fn roundtrip_json_legacy_flags() {
    let fx = Fixture::new();
    fx.round_trip(
        "legacy",
        "json",
        JSON_NESTED,
        &fx.legacy_encrypt_args(&[]),
        &["-d"],
    );
}

#[test]
fn roundtrip_unencrypted_suffix() {
    let fx = Fixture::new();
    let (ours, _, _) = fx.round_trip(
        "unenc_suffix",
        "yaml",
        YAML_PARTIAL,
        &fx.encrypt_args(&["--unencrypted-suffix", "_public"]),
        &["decrypt"],
    );
    let text = String::from_utf8(read(&ours)).unwrap();
    assert!(text.contains("user_public: alice\n"), "{text}");
    assert!(text.contains("unencrypted_suffix: _public\n"), "{text}");
}

#[test]
fn roundtrip_encrypted_suffix() {
    let fx = Fixture::new();
    let (ours, _, _) = fx.round_trip(
        "enc_suffix",
        "yaml",
        YAML_PARTIAL,
        &fx.encrypt_args(&["--encrypted-suffix", "_secret"]),
        &["decrypt"],
    );
    let text = String::from_utf8(read(&ours)).unwrap();
    assert!(text.contains("password: hunter2\n"), "{text}");
    assert!(text.contains("api_key_secret: ENC["), "{text}");
}

#[test]
fn roundtrip_unencrypted_regex() {
    let fx = Fixture::new();
    fx.round_trip(
        "unenc_regex",
        "yaml",
        YAML_PARTIAL,
        &fx.encrypt_args(&["--unencrypted-regex", "^(metadata|user_public)$"]),
        &["decrypt"],
    );
}

#[test]
fn roundtrip_encrypted_regex() {
    let fx = Fixture::new();
    let (ours, _, _) = fx.round_trip(
        "enc_regex",
        "yaml",
        YAML_PARTIAL,
        &fx.encrypt_args(&["--encrypted-regex", "^(data|stringData)$"]),
        &["decrypt"],
    );
    let text = String::from_utf8(read(&ours)).unwrap();
    assert!(text.contains("    name: demo\n"), "{text}");
    assert!(text.contains("    token: ENC["), "{text}");
}

#[test]
fn roundtrip_json_encrypted_regex() {
    let fx = Fixture::new();
    fx.round_trip(
        "enc_regex",
        "json",
        JSON_NESTED,
        &fx.encrypt_args(&["--encrypted-regex", "^(users|port)$"]),
        &["decrypt"],
    );
}

#[test]
fn roundtrip_root_encrypted_comment_regex() {
    let fx = Fixture::new();
    fx.round_trip(
        "enc_comment_regex",
        "yaml",
        YAML_COMMENT_MARKERS,
        &fx.legacy_encrypt_args(&["--encrypted-comment-regex", "sops:enc"]),
        &["decrypt"],
    );
}

#[test]
fn roundtrip_root_unencrypted_comment_regex() {
    let fx = Fixture::new();
    fx.round_trip(
        "unenc_comment_regex",
        "yaml",
        YAML_COMMENT_MARKERS,
        &fx.legacy_encrypt_args(&["--unencrypted-comment-regex", "sops:clear"]),
        &["decrypt"],
    );
}

#[test]
fn roundtrip_root_mac_only_encrypted() {
    let fx = Fixture::new();
    let (ours, _, _) = fx.round_trip(
        "mac_only",
        "yaml",
        YAML_PARTIAL,
        &fx.legacy_encrypt_args(&["--mac-only-encrypted", "--unencrypted-suffix", "_public"]),
        &["-d"],
    );
    let text = String::from_utf8(read(&ours)).unwrap();
    assert!(text.contains("mac_only_encrypted: true\n"), "{text}");
}

/// Two recipients with `--age a,b` and with `SOPS_AGE_RECIPIENTS`: each
/// identity alone decrypts what either binary wrote.
#[test]
fn several_recipients() {
    let mut sb = Sandbox::new();
    let a = sb.age_keygen("a");
    let b = sb.age_keygen("b");
    let plain = sb.write("multi.yaml", YAML_COMMENTS);
    let both = format!("{},{}", a.recipient, b.recipient);
    let mut encrypted = Vec::new();
    for bin in Bin::BOTH {
        let flag = sb
            .run(bin, ["encrypt", "--age", &both, plain.to_str().unwrap()])
            .ok();
        encrypted.push((
            format!("{bin} --age a,b"),
            sb.write(&format!("flag-{bin}.enc.yaml"), flag),
        ));
        let env = sb
            .cmd(bin, ["encrypt", plain.to_str().unwrap()])
            .env("SOPS_AGE_RECIPIENTS", &both)
            .run()
            .ok();
        encrypted.push((
            format!("{bin} SOPS_AGE_RECIPIENTS"),
            sb.write(&format!("env-{bin}.enc.yaml"), env),
        ));
    }
    for (what, file) in &encrypted {
        let text = String::from_utf8(read(file)).unwrap();
        for key in [&a, &b] {
            assert!(
                text.contains(&key.recipient),
                "{what}: recipient {} missing",
                key.recipient
            );
        }
        for key in [&a, &b] {
            sb.use_identity(key);
            for bin in Bin::BOTH {
                let got = sb.run(bin, ["decrypt", file.to_str().unwrap()]).ok();
                assert_same_bytes(
                    &format!("{bin} decrypt of ({what}) with identity {}", key.recipient),
                    &got,
                    YAML_COMMENTS.as_bytes(),
                );
            }
        }
    }
}

/// `encrypt --output-type json` of YAML and `--output-type yaml` of JSON,
/// then decrypting the converted files, and `decrypt --output-type`.
#[test]
fn type_conversions() {
    let fx = Fixture::new();
    let sb = &fx.sb;
    for (case, in_ext, out_ext, plaintext) in [
        ("y2j", "yaml", "json", YAML_COMMENTS),
        ("j2y", "json", "yaml", JSON_NESTED),
    ] {
        let plain = sb.write(&format!("{case}.plain.{in_ext}"), plaintext);
        let args = fx.encrypt_args(&["--output-type", out_ext]);
        let ours_enc = fx.encrypt(Bin::Ours, case, out_ext, &args, &plain);
        let ref_enc = fx.encrypt(Bin::Reference, case, out_ext, &args, &plain);
        let expected = fx.decrypt(Bin::Reference, &["decrypt"], &ref_enc);
        assert_same_bytes(
            &format!("{case}: reference decrypt of our converted encryption"),
            &fx.decrypt(Bin::Reference, &["decrypt"], &ours_enc),
            &expected,
        );
        assert_same_bytes(
            &format!("{case}: our decrypt of the reference's converted encryption"),
            &fx.decrypt(Bin::Ours, &["decrypt"], &ref_enc),
            &expected,
        );
        // Decrypt-time conversion back to the input type.
        let back = ["decrypt", "--output-type", in_ext];
        assert_same_bytes(
            &format!("{case}: decrypt --output-type {in_ext}"),
            &fx.decrypt(Bin::Ours, &back, &ref_enc),
            &fx.decrypt(Bin::Reference, &back, &ref_enc),
        );
        // Decrypt-time conversion of a same-type encryption.
        let same = fx.encrypt(
            Bin::Reference,
            &format!("{case}-same"),
            in_ext,
            &fx.encrypt_args(&[]),
            &plain,
        );
        let conv = ["decrypt", "--output-type", out_ext];
        assert_same_bytes(
            &format!("{case}: decrypt --output-type {out_ext} of a {in_ext} file"),
            &fx.decrypt(Bin::Ours, &conv, &same),
            &fx.decrypt(Bin::Reference, &conv, &same),
        );
    }
}

/// `--extract` output (mapping, string without newline, scalars, lists; yaml
/// and json output) equals the reference's, on files both binaries wrote.
#[test]
fn extract_matches_reference() {
    let fx = Fixture::new();
    let (ours_enc, ref_enc, _) = fx.round_trip(
        "extract",
        "yaml",
        YAML_EXTRACT,
        &fx.encrypt_args(&[]),
        &["decrypt"],
    );
    let paths = [
        r#"["a"][0]["b"]"#,
        r#"["a"][0]["b"]["c"]"#,
        r#"["a"][0]["s"]"#,
        r#"["a"][1]["b"]"#,
        r#"["a"][0]["b"]["d"]"#,
        r#"["n"]"#,
        r#"["f"]"#,
        r#"["t"]"#,
        r#"["z"]"#,
        r#"['l']"#,
    ];
    for file in [&ours_enc, &ref_enc] {
        for path in paths {
            for output_type in [None, Some("json")] {
                let mut args = vec!["decrypt", "--extract", path];
                if let Some(t) = output_type {
                    args.extend(["--output-type", t]);
                }
                let want = fx.decrypt(Bin::Reference, &args, file);
                let got = fx.decrypt(Bin::Ours, &args, file);
                assert_same_bytes(
                    &format!(
                        "{args:?} on {}",
                        file.file_name().unwrap().to_string_lossy()
                    ),
                    &got,
                    &want,
                );
            }
        }
    }
    // Root form too.
    let want = fx.decrypt(
        Bin::Reference,
        &["-d", "--extract", r#"["a"][0]["b"]"#],
        &ref_enc,
    );
    assert_same_bytes(
        "-d --extract",
        &fx.decrypt(
            Bin::Ours,
            &["-d", "--extract", r#"["a"][0]["b"]"#],
            &ref_enc,
        ),
        &want,
    );
    // A string value is printed raw, with no trailing newline.
    assert_same_bytes(
        "string extract",
        &fx.decrypt(
            Bin::Reference,
            &["decrypt", "--extract", r#"["a"][1]["b"]"#],
            &ref_enc,
        ),
        b"plain string",
    );
}

/// stdin input: decrypt with `--input-type` or `--filename-override`,
/// encrypt with `--filename-override`.
#[test]
fn stdin_input() {
    let fx = Fixture::new();
    let sb = &fx.sb;
    for (ext, plaintext) in [("yaml", YAML_COMMENTS), ("json", JSON_NESTED)] {
        let plain = sb.write(&format!("stdin.plain.{ext}"), plaintext);
        let ref_enc = fx.encrypt(Bin::Reference, "stdin", ext, &fx.encrypt_args(&[]), &plain);
        let expected = fx.decrypt(Bin::Reference, &["decrypt"], &ref_enc);
        let enc_bytes = read(&ref_enc);
        let override_name = format!("from-stdin.{ext}");
        for args in [
            // Without a file name the output type would default to binary.
            vec!["decrypt", "--input-type", ext, "--output-type", ext],
            vec!["decrypt", "--filename-override", override_name.as_str()],
            // The root form needs a FILE argument.
            vec![
                "-d",
                "--input-type",
                ext,
                "--output-type",
                ext,
                "/dev/stdin",
            ],
        ] {
            for bin in Bin::BOTH {
                let got = sb.cmd(bin, &args).stdin(enc_bytes.clone()).run().ok();
                assert_same_bytes(
                    &format!("{bin} {args:?} < encrypted {ext}"),
                    &got,
                    &expected,
                );
            }
        }
        // Encrypt from stdin; the reference decrypts what we wrote.
        let args = fx.encrypt_args(&["--filename-override", &override_name]);
        for bin in Bin::BOTH {
            let out = sb.cmd(bin, &args).stdin(plaintext).run().ok();
            let file = sb.write(&format!("stdin-{}.enc.{ext}", Fixture::tag(bin)), out);
            assert_same_bytes(
                &format!(
                    "reference decrypt of `{bin} encrypt --filename-override` from stdin ({ext})"
                ),
                &fx.decrypt(Bin::Reference, &["decrypt"], &file),
                &expected,
            );
        }
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// `-i` (subcommand and `-e -i` / `-d -i`) rewrites the file in place and
/// keeps its mode (0640 stays 0640).
#[test]
fn in_place_keeps_mode() {
    let fx = Fixture::new();
    let sb = &fx.sb;
    type Forms = (
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
    );
    let forms: [Forms; 2] = [
        ("subcommand", &["encrypt", "-i"], &["decrypt", "-i"]),
        ("legacy", &["-e", "-i"], &["-d", "-i"]),
    ];
    for (form, enc_flags, dec_flags) in forms {
        for bin in Bin::BOTH {
            let file = sb.write(
                &format!("inplace-{form}-{}.yaml", Fixture::tag(bin)),
                YAML_COMMENTS,
            );
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
            let mut args: Vec<String> = enc_flags.iter().map(|s| (*s).to_owned()).collect();
            args.extend(["--age".to_owned(), fx.key.recipient.clone()]);
            args.push(file.to_str().unwrap().to_owned());
            let out = sb.run(bin, &args);
            out.ok();
            assert!(out.stdout.is_empty(), "{bin} {form} -i printed to stdout");
            assert_eq!(mode(&file), 0o640, "{bin} {form}: mode after encrypt -i");
            let encrypted = read(&file);
            assert!(
                String::from_utf8_lossy(&encrypted).contains("ENC[AES256_GCM,"),
                "{bin} {form}: file not encrypted in place"
            );
            // The other binary can read it.
            let other = if bin == Bin::Ours {
                Bin::Reference
            } else {
                Bin::Ours
            };
            assert_same_bytes(
                &format!("{other} decrypt of {bin}'s in-place encryption"),
                &fx.decrypt(other, &["decrypt"], &file),
                YAML_COMMENTS.as_bytes(),
            );
            let out = fx.sb.run(
                bin,
                dec_flags.iter().copied().chain([file.to_str().unwrap()]),
            );
            out.ok();
            assert!(
                out.stdout.is_empty(),
                "{bin} {form} decrypt -i printed to stdout"
            );
            assert_eq!(mode(&file), 0o640, "{bin} {form}: mode after decrypt -i");
            assert_same_bytes(
                &format!("{bin} {form}: decrypt -i"),
                &read(&file),
                YAML_COMMENTS.as_bytes(),
            );
        }
    }
}

/// `--output F` writes F and prints nothing.
#[test]
fn output_flag_writes_file() {
    let fx = Fixture::new();
    let sb = &fx.sb;
    let plain = sb.write("out.plain.yaml", YAML_COMMENTS);
    for bin in Bin::BOTH {
        let tag = Fixture::tag(bin);
        let enc = sb.path(&format!("out-{tag}.enc.yaml"));
        let out = sb.run(
            bin,
            [
                "encrypt",
                "--age",
                &fx.key.recipient,
                "--output",
                enc.to_str().unwrap(),
                plain.to_str().unwrap(),
            ],
        );
        out.ok();
        assert!(
            out.stdout.is_empty(),
            "{bin} encrypt --output printed to stdout"
        );
        assert!(
            enc.is_file(),
            "{bin} encrypt --output did not write {}",
            enc.display()
        );
        let dec = sb.path(&format!("out-{tag}.dec.yaml"));
        for reader in Bin::BOTH {
            let _ = std::fs::remove_file(&dec);
            let out = sb.run(
                reader,
                [
                    "decrypt",
                    "--output",
                    dec.to_str().unwrap(),
                    enc.to_str().unwrap(),
                ],
            );
            out.ok();
            assert!(
                out.stdout.is_empty(),
                "{reader} decrypt --output printed to stdout"
            );
            assert_same_bytes(
                &format!("{reader} decrypt --output of {bin}'s encryption"),
                &read(&dec),
                YAML_COMMENTS.as_bytes(),
            );
        }
    }
}

/// Compatibility note: JSON integers that fit int64 are stored as
/// `type:int` (sops 3.13 behaviour) so they keep every digit; sops 3.11
/// reads them back exactly, while its own encryption rounds them through
/// float64.
#[test]
fn json_big_integer_keeps_digits() {
    let fx = Fixture::new();
    // (sops 3.11 reads `type:int` JSON values back exactly: checked with a
    // reference-made `encrypt --output-type json` of the same YAML ints.)
    let plaintext = "{\n\t\"id\": 9007199254740993,\n\t\"max\": 9223372036854775807\n}\n";
    let plain = fx.sb.write("bigint.json", plaintext);
    let ours_enc = fx.encrypt(Bin::Ours, "bigint", "json", &fx.encrypt_args(&[]), &plain);
    let text = String::from_utf8(read(&ours_enc)).unwrap();
    assert!(
        text.contains("type:int]"),
        "integers should be stored as type:int:\n{text}"
    );
    let decrypted = fx.decrypt(Bin::Reference, &["decrypt"], &ours_enc);
    assert_same_bytes(
        "reference decrypt of our big integers",
        &decrypted,
        plaintext.as_bytes(),
    );
}

// ---------------------------------------------------------------------------
// dotenv, INI and binary
// ---------------------------------------------------------------------------

#[test]
fn roundtrip_dotenv() {
    let fx = Fixture::new();
    let plain = "# database\nDB_HOST=db.internal\nDB_PASSWORD=p=w\nMULTI=a\\nb\nPUBLIC_unencrypted=clear\n#end\n";
    fx.round_trip("flat", "env", plain, &fx.encrypt_args(&[]), &["decrypt"]);
}

#[test]
fn roundtrip_ini() {
    let fx = Fixture::new();
    let plain = "; top\nglobal = g\n\n[db]\n# user comment\nuser = admin\npassword = p4ss\n\n[svc]\ntoken_unencrypted = visible\n";
    let (ours, _, expected) = fx.round_trip(
        "sections",
        "ini",
        plain,
        &fx.encrypt_args(&[]),
        &["decrypt"],
    );
    assert!(String::from_utf8_lossy(&read(&ours)).contains("\n[sops]\n"));
    assert!(String::from_utf8_lossy(&expected).contains("user     = admin"));
}

#[test]
fn roundtrip_binary_with_arbitrary_bytes() {
    let fx = Fixture::new();
    let bytes: Vec<u8> = (0..=255u8).chain([0, 0xff, b'\n']).collect();
    let plain = fx.sb.write("blob.bin", &bytes);
    for bin in Bin::BOTH {
        let enc = fx
            .sb
            .run(
                bin,
                [
                    "encrypt".into(),
                    "--age".into(),
                    fx.key.recipient.clone().into(),
                    plain.clone().into_os_string(),
                ],
            )
            .ok();
        let enc_path = fx.sb.write(&format!("blob.{bin}.enc"), &enc);
        for other in Bin::BOTH {
            let out = fx
                .sb
                .run(other, ["decrypt".into(), enc_path.clone().into_os_string()])
                .ok();
            assert_same_bytes(
                &format!("{other} decrypts the binary file {bin} encrypted"),
                &out,
                &bytes,
            );
        }
    }
}

/// issue 10: sops decrypts a value whose IV is not 32 bytes (Go's
/// `cipher.NewGCMWithNonceSize(block, len(iv))`); we refused 8-byte IVs.
/// A golden file with `app.password` re-encrypted under an 8-byte IV (same
/// plaintext, so the MAC still holds) decrypts alike with both binaries.
#[test]
fn r10_eight_byte_iv_decrypts_as_with_the_reference() {
    use aes_gcm::aead::AeadInPlace;
    use aes_gcm::aead::KeyInit;
    use aes_gcm::aead::consts::U8;
    use aes_gcm::aead::generic_array::GenericArray;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use sops_core::cipher::ValueCipher;

    let index = sops_core::Format::Json
        .store()
        .unwrap()
        .load(&read(&testdata("vectors/vectors.json")))
        .unwrap()
        .remove(0);
    let hex_key = match index.get("cases") {
        Some(sops_core::Value::Map(cases)) => match cases.get("yaml_comments") {
            Some(sops_core::Value::Map(case)) => case.get("data_key_hex").and_then(|v| v.as_str()),
            _ => None,
        },
        _ => None,
    }
    .expect("data key of yaml_comments");
    let raw: Vec<u8> = (0..hex_key.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex_key[i..i + 2], 16).unwrap())
        .collect();
    let data_key = sops_core::DataKey::from_slice(&raw).unwrap();
    let text = String::from_utf8(read(&testdata("vectors/yaml_comments.enc.yaml"))).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("    password: ENC["))
        .unwrap();
    let enc = line.trim_start_matches("    password: ");
    let aad = "app:password:";
    let sops_core::Value::Str(plain) = ValueCipher::new(&data_key).decrypt_value(enc, aad).unwrap()
    else {
        panic!("password is a string")
    };
    let iv = [7u8; 8];
    let mut buf = plain.into_bytes();
    let tag = aes_gcm::AesGcm::<aes_gcm::aes::Aes256, U8>::new(GenericArray::from_slice(&raw))
        .encrypt_in_place_detached(GenericArray::from_slice(&iv), aad.as_bytes(), &mut buf)
        .unwrap();
    let short = format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:str]",
        STANDARD.encode(&buf),
        STANDARD.encode(iv),
        STANDARD.encode(tag)
    );
    let edited = text.replace(line, &format!("    password: {short}"));
    assert_ne!(edited, text);
    let mut sb = Sandbox::new();
    sb.set_env("SOPS_AGE_KEY_FILE", testdata("vectors/keys.txt"));
    let file = sb.write("short_iv.enc.yaml", &edited);
    let want = read(&testdata("vectors/yaml_comments.decrypted.yaml"));
    for bin in [Bin::Reference, Bin::Ours] {
        let out = sb.run(bin, ["decrypt", file.to_str().unwrap()]).ok();
        assert_same_bytes(&format!("{bin}: 8-byte IV"), &out, &want);
    }
    // What we write back (the value gets a fresh 32-byte IV) the reference reads.
    sb.run(
        Bin::Ours,
        ["set", file.to_str().unwrap(), r#"["app"]["port"]"#, "1"],
    )
    .ok();
    let out = sb
        .run(Bin::Reference, ["decrypt", file.to_str().unwrap()])
        .ok();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("    port: 1\n"), "{out}");
    assert!(!String::from_utf8(read(&file)).unwrap().contains(&short));
}

/// issue 10: inputs sops 3.11 accepts and we refused: INI with a UTF-8
/// byte order mark, UTF-16 YAML with one, bytes that are not UTF-8 in
/// dotenv and INI values. Each binary encrypts the input, and each decrypts
/// both results to what the reference makes of its own.
#[test]
fn r10_bom_utf16_and_non_utf8_inputs_as_the_reference() {
    let mut sb = Sandbox::new();
    let key = sb.age_keygen("inputs");
    sb.use_identity(&key);
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("a: b\nc: é\n".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let cases: [(&str, Vec<u8>); 5] = [
        ("bom.ini", b"\xEF\xBB\xBF[sec]\na = b\n".to_vec()),
        ("utf16.yaml", utf16),
        ("bytes.env", b"a=b\xff\xfe\nc=d\n".to_vec()),
        ("bytes.ini", b"[sec]\na = b\xff\xfe\nc = d\n".to_vec()),
        ("bom.env", b"\xEF\xBB\xBFa=b\n".to_vec()),
    ];
    for (name, plain) in cases {
        let ext = name.rsplit('.').next().unwrap();
        let plain_path = sb.write(name, &plain);
        let mut decrypted = Vec::new();
        for bin in [Bin::Reference, Bin::Ours] {
            let enc = sb
                .run(
                    bin,
                    [
                        "encrypt",
                        "--age",
                        &key.recipient,
                        plain_path.to_str().unwrap(),
                    ],
                )
                .ok();
            let enc_path = sb.write(&format!("{bin}-{name}.enc.{ext}"), &enc);
            for reader in [Bin::Reference, Bin::Ours] {
                let out = sb.run(reader, ["decrypt", enc_path.to_str().unwrap()]).ok();
                decrypted.push((format!("{name}: {bin} -> {reader}"), out));
            }
        }
        let (_, want) = decrypted[0].clone();
        for (what, got) in &decrypted {
            assert_same_bytes(what, got, &want);
        }
    }
}
