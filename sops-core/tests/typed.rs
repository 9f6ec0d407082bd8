//! The `serde` feature through the public API: round trips, files written
//! by the reference sops, errors that never show a value, MAC checks.
//! (`serde` is on in every test build: sops-core dev-depends on itself
//! with it.)

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use age::secrecy::ExposeSecret;
use proptest::prelude::*;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sops_core::{Error, Format};
use sops_core::{KeyContext, Recipients};

/// A fresh age identity: its recipient as key groups, a context that
/// decrypts, and the identity's text for the reference sops.
struct Keys {
    recipient: String,
    identity: String,
    ctx: KeyContext,
}

impl Keys {
    fn new() -> Self {
        let identity = age::x25519::Identity::generate();
        let text = identity.to_string().expose_secret().to_owned();
        Self {
            recipient: identity.to_public().to_string(),
            ctx: KeyContext::builder()
                .age_identity_text("test identity", &text)
                .build(),
            identity: text,
        }
    }

    fn groups(&self) -> Recipients {
        Recipients::new().age(self.recipient.clone())
    }

    fn encrypt<T: Serialize>(&self, value: &T, format: Format) -> Vec<u8> {
        sops_core::to_vec(value, format, &self.groups()).unwrap()
    }

    fn decrypt<T: DeserializeOwned>(&self, bytes: &[u8], format: Format) -> Result<T, Error> {
        sops_core::from_slice(bytes, format, &self.ctx)
    }

    /// The reference sops run with this identity only.
    fn reference(&self, dir: &Path, args: &[&str]) -> Vec<u8> {
        let out = Command::new(test_support::reference_sops())
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("HOME", dir)
            .env("SOPS_AGE_KEY", &self.identity)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "reference sops {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Mode {
    Off,
    Limited(u32),
    Window { from: String, to: String },
    Pair(i64, bool),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Inner {
    name: String,
    weight: f64,
    tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Everything {
    small: i8,
    big: i64,
    unsigned: u32,
    float: f64,
    flag: bool,
    nothing: Option<String>,
    something: Option<i64>,
    letter: char,
    text: String,
    list: Vec<i64>,
    nested: BTreeMap<String, Inner>,
    numbered: BTreeMap<u16, String>,
    modes: Vec<Mode>,
    tuple: (u8, String),
    unit: (),
}

fn text() -> impl Strategy<Value = String> {
    // Any text, including empty and non-ASCII.
    any::<String>()
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Off),
        any::<u32>().prop_map(Mode::Limited),
        (text(), text()).prop_map(|(from, to)| Mode::Window { from, to }),
        (any::<i64>(), any::<bool>()).prop_map(|(a, b)| Mode::Pair(a, b)),
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        Just(0.0),
        Just(-1.5),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(1e21),
    ]
}

fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0),
        Just(-1)
    ]
}

fn everything() -> impl Strategy<Value = Everything> {
    let inner = (text(), float(), prop::collection::vec(text(), 0..3))
        .prop_map(|(name, weight, tags)| Inner { name, weight, tags });
    (
        (any::<i8>(), int(), any::<u32>(), float(), any::<bool>()),
        (
            prop::option::of(text()),
            prop::option::of(int()),
            any::<char>(),
            text(),
        ),
        (
            prop::collection::vec(int(), 0..4),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..3),
            prop::collection::btree_map(any::<u16>(), text(), 0..3),
            prop::collection::vec(mode(), 0..4),
            (any::<u8>(), text()),
        ),
    )
        .prop_map(
            |(
                (small, big, unsigned, float, flag),
                (nothing, something, letter, text),
                (list, nested, numbered, modes, tuple),
            )| Everything {
                small,
                big,
                unsigned,
                float,
                flag,
                nothing,
                something,
                letter,
                text,
                list,
                nested,
                numbered,
                modes,
                tuple,
                unit: (),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn yaml_and_json_round_trip(value in everything()) {
        let keys = Keys::new();
        for format in [Format::Yaml, Format::Json] {
            let bytes = keys.encrypt(&value, format);
            let back: Everything = keys.decrypt(&bytes, format).unwrap();
            prop_assert_eq!(&back, &value, "{:?}", format);
        }
    }

    #[test]
    fn dotenv_round_trips(user in "[ -~]{0,20}", secret in any::<String>(), port in any::<u16>(), debug in any::<bool>(), ratio in float()) {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        #[allow(non_snake_case)]
        struct Env {
            USER: String,
            SECRET: String,
            PORT: u16,
            DEBUG: bool,
            RATIO: f64,
            MISSING: Option<String>,
        }
        // dotenv cannot hold a NUL or a lone `\n` escape ambiguity: sops
        // writes a newline as `\n` and reads `\n` back as a newline.
        prop_assume!(!secret.contains('\0') && !secret.contains("\\n"));
        let value = Env { USER: user, SECRET: secret, PORT: port, DEBUG: debug, RATIO: ratio, MISSING: None };
        let keys = Keys::new();
        let bytes = keys.encrypt(&value, Format::Dotenv);
        prop_assert!(!String::from_utf8_lossy(&bytes).contains("MISSING"));
        let back: Env = keys.decrypt(&bytes, Format::Dotenv).unwrap();
        prop_assert_eq!(back, value);
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Section {
    host: String,
    port: u16,
    password: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct IniFile {
    database: Section,
    cache: Section,
}

fn ini_value() -> IniFile {
    IniFile {
        database: Section {
            host: "db.internal".into(),
            port: 5432,
            password: "hunter2".into(),
        },
        cache: Section {
            host: "cache".into(),
            port: 6379,
            password: "swordfish".into(),
        },
    }
}

#[test]
fn ini_round_trips_and_the_reference_reads_it() {
    let keys = Keys::new();
    let bytes = keys.encrypt(&ini_value(), Format::Ini);
    assert!(!String::from_utf8_lossy(&bytes).contains("hunter2"));
    let back: IniFile = keys.decrypt(&bytes, Format::Ini).unwrap();
    assert_eq!(back, ini_value());

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.ini"), &bytes).unwrap();
    let plain = keys.reference(dir.path(), &["decrypt", "app.ini"]);
    assert_eq!(
        String::from_utf8(plain).unwrap(),
        "[database]\nhost     = db.internal\nport     = 5432\npassword = hunter2\n\n\
         [cache]\nhost     = cache\nport     = 6379\npassword = swordfish\n"
    );
}

#[test]
fn binary_is_its_data() {
    let keys = Keys::new();
    let bytes = keys.encrypt(&"line one\nline two\n", Format::Binary);
    let text: String = keys.decrypt(&bytes, Format::Binary).unwrap();
    assert_eq!(text, "line one\nline two\n");

    let raw = vec![0u8, 0xff, 0xfe, b'\n', 7];
    let bytes = keys.encrypt(&raw, Format::Binary);
    let back: Vec<u8> = keys.decrypt(&bytes, Format::Binary).unwrap();
    assert_eq!(back, raw);
    let err = keys.decrypt::<String>(&bytes, Format::Binary).unwrap_err();
    assert!(
        err.to_string().contains("expected a string, found bytes"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blob"), &bytes).unwrap();
    assert_eq!(keys.reference(dir.path(), &["decrypt", "blob"]), raw);
}

#[derive(Debug, PartialEq, Deserialize)]
struct Service {
    name: String,
    port: u16,
    ratio: f64,
    enabled: bool,
    owner: Option<String>,
    created: String,
    hosts: Vec<String>,
    limits: BTreeMap<String, i64>,
    password: String,
}

const SERVICE_YAML: &str = "\
# a comment sops keeps
name: api
port: 8443
ratio: 0.25
enabled: true
owner: null
created: 2024-01-02T03:04:05Z
hosts:
  - a.internal
  # between the hosts
  - b.internal
limits:
  cpu: 2
  memory: -9223372036854775808
password: hunter2
";

fn service() -> Service {
    Service {
        name: "api".into(),
        port: 8443,
        ratio: 0.25,
        enabled: true,
        owner: None,
        created: "2024-01-02T03:04:05Z".into(),
        hosts: vec!["a.internal".into(), "b.internal".into()],
        limits: BTreeMap::from([("cpu".into(), 2), ("memory".into(), i64::MIN)]),
        password: "hunter2".into(),
    }
}

#[test]
fn a_file_written_by_the_reference_reads_into_a_struct() {
    let keys = Keys::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("service.yaml"), SERVICE_YAML).unwrap();
    let encrypted = keys.reference(
        dir.path(),
        &["encrypt", "--age", &keys.recipient, "service.yaml"],
    );
    std::fs::write(dir.path().join("service.enc.yaml"), &encrypted).unwrap();
    let back: Service =
        sops_core::from_path(dir.path().join("service.enc.yaml"), &keys.ctx).unwrap();
    assert_eq!(back, service());

    // The same document as JSON, through the reference's conversion.
    let json = keys.reference(
        dir.path(),
        &[
            "encrypt",
            "--age",
            &keys.recipient,
            "--output-type",
            "json",
            "service.yaml",
        ],
    );
    let back: Service = keys.decrypt(&json, Format::Json).unwrap();
    assert_eq!(back, service());
}

#[test]
fn the_reference_decrypts_what_to_vec_writes() {
    #[derive(Serialize)]
    struct Out {
        name: &'static str,
        port: u16,
        ratio: f64,
        big: i64,
        enabled: bool,
        owner: Option<String>,
        hosts: Vec<&'static str>,
        mode: Mode,
    }
    let value = Out {
        name: "api",
        port: 8443,
        ratio: 0.25,
        big: i64::MAX,
        enabled: false,
        owner: None,
        hosts: vec!["a", "b"],
        mode: Mode::Window {
            from: "9".into(),
            to: "17".into(),
        },
    };
    let keys = Keys::new();
    let dir = tempfile::tempdir().unwrap();
    for (format, name, expected) in [
        (
            Format::Yaml,
            "out.yaml",
            "name: api\nport: 8443\nratio: 0.25\nbig: 9223372036854775807\nenabled: false\n\
             owner: null\nhosts:\n    - a\n    - b\nmode:\n    Window:\n        from: \"9\"\n        to: \"17\"\n",
        ),
        (
            Format::Json,
            "out.json",
            "{\n\t\"name\": \"api\",\n\t\"port\": 8443,\n\t\"ratio\": 0.25,\n\t\"big\": 9223372036854775807,\n\
             \t\"enabled\": false,\n\t\"owner\": null,\n\t\"hosts\": [\n\t\t\"a\",\n\t\t\"b\"\n\t],\n\
             \t\"mode\": {\n\t\t\"Window\": {\n\t\t\t\"from\": \"9\",\n\t\t\t\"to\": \"17\"\n\t\t}\n\t}\n}\n",
        ),
    ] {
        std::fs::write(dir.path().join(name), keys.encrypt(&value, format)).unwrap();
        let plain = keys.reference(dir.path(), &["decrypt", name]);
        assert_eq!(String::from_utf8(plain).unwrap(), expected, "{name}");
    }

    #[derive(Serialize)]
    #[allow(non_snake_case)]
    struct Env {
        USER: &'static str,
        PORT: u16,
        DEBUG: bool,
        EMPTY: Option<u8>,
    }
    let env = Env {
        USER: "admin",
        PORT: 80,
        DEBUG: true,
        EMPTY: None,
    };
    std::fs::write(
        dir.path().join("out.env"),
        keys.encrypt(&env, Format::Dotenv),
    )
    .unwrap();
    let plain = keys.reference(dir.path(), &["decrypt", "out.env"]);
    assert_eq!(
        String::from_utf8(plain).unwrap(),
        "USER=admin\nPORT=80\nDEBUG=true\n"
    );
}

/// A secret that must never appear in an error's text (its chain included).
const SECRET: &str = "hunter2-XyZ";

fn error_text(err: &Error) -> String {
    let text = sops_core::error::chain(err).to_string();
    assert!(!text.contains(SECRET), "the error shows the value: {text}");
    assert!(
        !format!("{err:?}").contains(SECRET),
        "Debug shows the value"
    );
    text
}

fn encrypt_yaml(keys: &Keys, yaml: &str) -> Vec<u8> {
    let plain = sops_core::PlainFile::parse(yaml.as_bytes(), Format::Yaml).unwrap();
    sops_core::encrypt(
        &plain,
        &keys.groups(),
        &keys.ctx,
        &sops_core::EncryptOptions::new(),
    )
    .unwrap()
    .to_bytes()
    .unwrap()
}

#[test]
fn wrong_types_name_the_path_and_types_never_the_value() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Db {
        hosts: Vec<Host>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Host {
        port: u16,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Root {
        db: Db,
    }
    let keys = Keys::new();
    let bytes = encrypt_yaml(
        &keys,
        &format!("db:\n  hosts:\n    - port: 1\n    - port: {SECRET}\n"),
    );
    let err = keys.decrypt::<Root>(&bytes, Format::Yaml).unwrap_err();
    let text = error_text(&err);
    assert_eq!(
        text,
        r#"could not deserialize ["db"]["hosts"][1]["port"]: invalid type: expected u16, found a string"#
    );
    assert_eq!(err.exit_code(), 1);
    match &err {
        Error::Typed(typed) => assert_eq!(typed.path(), r#"["db"]["hosts"][1]["port"]"#),
        other => panic!("{other:?}"),
    }

    // A number out of range: the number is not shown either.
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Small {
        pin: u8,
    }
    let bytes = encrypt_yaml(&keys, "pin: 987654321\n");
    let err = keys.decrypt::<Small>(&bytes, Format::Yaml).unwrap_err();
    let text = error_text(&err);
    assert!(!text.contains("987654321"), "{text}");
    assert!(
        text.contains(r#"["pin"]: invalid value: expected u8"#),
        "{text}"
    );

    // A quoted number is a string in YAML, as sops types it.
    let bytes = encrypt_yaml(&keys, "pin: \"12\"\n");
    let err = keys.decrypt::<Small>(&bytes, Format::Yaml).unwrap_err();
    assert!(error_text(&err).contains("found a string"));

    // An unknown enum variant is a value: left out. An unknown field is a
    // key: named.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct WithMode {
        mode: Mode,
    }
    let bytes = encrypt_yaml(&keys, &format!("mode: {SECRET}\n"));
    let text = error_text(&keys.decrypt::<WithMode>(&bytes, Format::Yaml).unwrap_err());
    assert!(
        text.contains(r#"["mode"]: unknown variant, expected one of `Off`"#),
        "{text}"
    );
    let bytes = encrypt_yaml(&keys, &format!("mode: Off\nextra: {SECRET}\n"));
    let text = error_text(&keys.decrypt::<WithMode>(&bytes, Format::Yaml).unwrap_err());
    assert!(text.contains("unknown field `extra`"), "{text}");

    // A `Deserialize` implementation's own message that quotes the value
    // is withheld.
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Checked {
        #[serde(deserialize_with = "quoting")]
        token: String,
    }
    fn quoting<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let s = String::deserialize(d)?;
        Err(serde::de::Error::custom(format!("token {s} is not valid")))
    }
    let bytes = encrypt_yaml(&keys, &format!("token: {SECRET}\n"));
    let text = error_text(&keys.decrypt::<Checked>(&bytes, Format::Yaml).unwrap_err());
    assert!(
        text.contains(r#"["token"]: the value was rejected"#),
        "{text}"
    );

    // dotenv: a string that does not read as the number asked for.
    #[derive(Debug, Serialize, Deserialize)]
    #[allow(non_snake_case, dead_code)]
    struct Env {
        PORT: String,
    }
    #[derive(Debug, Deserialize)]
    #[allow(non_snake_case, dead_code)]
    struct EnvPort {
        PORT: u16,
    }
    let bytes = keys.encrypt(
        &Env {
            PORT: SECRET.into(),
        },
        Format::Dotenv,
    );
    let text = error_text(&keys.decrypt::<EnvPort>(&bytes, Format::Dotenv).unwrap_err());
    assert!(
        text.contains(r#"["PORT"]: invalid value: expected u16"#),
        "{text}"
    );
}

#[test]
fn a_tampered_file_fails_with_the_mac_error() {
    #[derive(Serialize, Deserialize)]
    struct Doc {
        password: String,
        region_unencrypted: String,
    }
    let keys = Keys::new();
    let bytes = keys.encrypt(
        &Doc {
            password: SECRET.into(),
            region_unencrypted: "eu-west-1".into(),
        },
        Format::Yaml,
    );
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("region_unencrypted: eu-west-1"));
    let tampered = text.replace("eu-west-1", "us-east-1");
    let err = keys
        .decrypt::<Doc>(tampered.as_bytes(), Format::Yaml)
        .err()
        .unwrap();
    assert_eq!(err.exit_code(), sops_core::exit_code::MAC_MISMATCH, "{err}");
    error_text(&err);
}

#[test]
fn several_yaml_documents_need_from_slice_documents() {
    let keys = Keys::new();
    let bytes = encrypt_yaml(&keys, "a: 1\n---\na: 2\n");
    let err = keys
        .decrypt::<BTreeMap<String, i64>>(&bytes, Format::Yaml)
        .unwrap_err();
    assert!(error_text(&err).contains("expected one document, found 2"));
    let all: Vec<BTreeMap<String, i64>> =
        sops_core::from_slice_documents(&bytes, Format::Yaml, &keys.ctx).unwrap();
    assert_eq!(all[1]["a"], 2);
}

#[test]
fn values_without_a_place_in_a_document_are_refused() {
    let keys = Keys::new();
    let groups = keys.groups();
    let refused = |result: Result<Vec<u8>, Error>| error_text(&result.unwrap_err());

    assert!(
        refused(sops_core::to_vec(&[1, 2], Format::Yaml, &groups))
            .contains("a yaml document is a mapping (a struct or a map), found sequence")
    );
    assert!(
        refused(sops_core::to_vec(
            &BTreeMap::from([("big", u64::MAX)]),
            Format::Json,
            &groups
        ))
        .contains(r#"could not serialize ["big"]: a u64 out of the range of a sops int"#)
    );
    assert!(
        refused(sops_core::to_vec(
            &BTreeMap::from([("sops", SECRET)]),
            Format::Yaml,
            &groups
        ))
        .contains(r#"["sops"]: the top-level key is reserved"#)
    );
    assert!(
        refused(sops_core::to_vec(
            &BTreeMap::from([("LIST", vec![SECRET])]),
            Format::Dotenv,
            &groups
        ))
        .contains(r#"["LIST"]: a dotenv value is a string, number or boolean, found sequence"#)
    );
    assert!(
        refused(sops_core::to_vec(
            &BTreeMap::from([("top", SECRET)]),
            Format::Ini,
            &groups
        ))
        .contains(r#"["top"]: an INI file is a mapping of sections"#)
    );
    assert!(
        refused(sops_core::to_vec(
            &BTreeMap::from([("a", 1)]),
            Format::Binary,
            &groups
        ))
        .contains("the binary format takes a string or bytes, found mapping")
    );
    let no_keys = Recipients::new();
    assert!(matches!(
        sops_core::to_vec(&BTreeMap::from([("a", 1)]), Format::Yaml, &no_keys),
        Err(Error::NoKeys)
    ));
}

#[test]
fn serde_attributes_that_buffer_the_document_work() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "kind", rename_all = "lowercase")]
    enum Backend {
        Postgres { host: String, port: u16 },
        Memory,
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(untagged)]
    enum Limit {
        Count(i64),
        Named(String),
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Common {
        region: String,
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct App {
        #[serde(flatten)]
        common: Common,
        backends: Vec<Backend>,
        limits: Vec<Limit>,
        #[serde(default)]
        absent: Vec<String>,
        #[serde(rename = "api-key")]
        api_key: String,
    }
    let app = App {
        common: Common {
            region: "eu".into(),
        },
        backends: vec![
            Backend::Postgres {
                host: "db".into(),
                port: 5432,
            },
            Backend::Memory,
        ],
        limits: vec![Limit::Count(3), Limit::Named("unlimited".into())],
        absent: Vec::new(),
        api_key: SECRET.into(),
    };
    let keys = Keys::new();
    for format in [Format::Yaml, Format::Json] {
        let bytes = keys.encrypt(&app, format);
        let back: App = keys.decrypt(&bytes, format).unwrap();
        assert_eq!(back, app);
    }

    // An unknown tag of an internally tagged enum is a value: left out.
    let bytes = encrypt_yaml(
        &keys,
        &format!("region: eu\nbackends:\n  - kind: {SECRET}\nlimits: []\napi-key: x\n"),
    );
    let text = error_text(&keys.decrypt::<App>(&bytes, Format::Yaml).unwrap_err());
    assert!(text.contains("unknown variant"), "{text}");
}
