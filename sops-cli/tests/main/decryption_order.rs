//! `--decryption-order` naming a key type twice: sops 3.11 refuses it with
//! exit 112 `Duplicate decryption key type: <t>`, counting empty items
//! (`a,,b,` names "" twice), before it reads the file but after some
//! checks of its own (conflicting flags, a missing file in `-d`/`-r`, keys
//! added to a missing file, `set`'s index and value). Every case runs
//! through both binaries and must give the same code, stdout and stderr,
//! leaving the file as it was.

use std::path::PathBuf;

use crate::support::{Bin, Output, Sandbox, read, testdata};

/// A sandbox holding an age-encrypted file written by the reference
/// (`testdata/vectors`), with the identities that open it.
fn fixture() -> (Sandbox, PathBuf, Vec<u8>) {
    let mut sb = Sandbox::new();
    sb.set_env("SOPS_AGE_KEY_FILE", testdata("vectors/keys.txt"));
    let bytes = read(&testdata("vectors/yaml_scalars.enc.yaml"));
    let path = sb.write("enc.yaml", &bytes);
    (sb, path, bytes)
}

/// Runs `args` (and `env`) with both binaries; asserts the same outcome and
/// returns ours.
fn same(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Output {
    let run = |bin| {
        let mut cmd = sb.cmd(bin, args).env("EDITOR", "true");
        for (k, v) in env {
            cmd = cmd.env(k, *v);
        }
        cmd.run()
    };
    let (reference, ours) = (run(Bin::Reference), run(Bin::Ours));
    assert_eq!(
        (ours.code, &ours.stderr),
        (reference.code, &reference.stderr),
        "{args:?} {env:?}: ours vs the reference"
    );
    assert_eq!(ours.stdout, reference.stdout, "{args:?}: stdout");
    ours
}

/// Arguments, extra environment, expected exit code, and the type named in
/// the 112 message.
type Case<'a> = (Vec<String>, Vec<(&'a str, &'a str)>, i32, &'a str);

#[test]
fn a_key_type_named_twice_is_refused_as_in_sops() {
    let (sb, path, bytes) = fixture();
    let file = path.to_str().unwrap();
    let missing = sb.path("missing.yaml");
    let missing = missing.to_str().unwrap();
    let dup = "Duplicate decryption key type: ";
    let own = |args: &[&str]| -> Vec<String> { args.iter().map(|s| (*s).to_owned()).collect() };
    // `head`, then `--decryption-order age,age`, then `tail`.
    let with = |head: &[&str], tail: &[&str]| -> Vec<String> {
        own(&[head, &["--decryption-order", "age,age"][..], tail].concat())
    };
    let cases: Vec<Case> = vec![
        (with(&["decrypt"], &[file]), vec![], 112, "age"),
        (
            own(&["decrypt", "--decryption-order", "pgp,age,pgp", file]),
            vec![],
            112,
            "pgp",
        ),
        (
            own(&["decrypt", "--decryption-order", "foo,foo", file]),
            vec![],
            112,
            "foo",
        ),
        // Empty items count: `,` and `a,,b,` name "" twice.
        (
            own(&["decrypt", "--decryption-order", ",", file]),
            vec![],
            112,
            "",
        ),
        (
            own(&["decrypt", "--decryption-order", "a,,b,", file]),
            vec![],
            112,
            "",
        ),
        (
            own(&["decrypt", file]),
            vec![("SOPS_DECRYPTION_ORDER", "age,age")],
            112,
            "age",
        ),
        (with(&["-d"], &[file]), vec![], 112, "age"),
        (
            with(&["decrypt"], &["--extract", "bad", file]),
            vec![],
            112,
            "age",
        ),
        (with(&["edit"], &[file]), vec![], 112, "age"),
        (with(&["edit"], &[missing]), vec![], 112, "age"),
        (with(&[], &[file]), vec![], 112, "age"),
        (with(&["rotate"], &[file]), vec![], 112, "age"),
        (with(&["rotate"], &[missing]), vec![], 112, "age"),
        (with(&["-r"], &[file]), vec![], 112, "age"),
        (with(&["set"], &[file, r#"["a"]"#, "1"]), vec![], 112, "age"),
        (with(&["unset"], &[file, r#"["a"]"#]), vec![], 112, "age"),
        (with(&[], &["--set", "bad", file]), vec![], 112, "age"),
        (with(&["exec-env"], &[file, "true"]), vec![], 112, "age"),
        (
            with(
                &["exec-env", "--background", "--same-process"],
                &[file, "true"],
            ),
            vec![],
            112,
            "age",
        ),
        (with(&["exec-file"], &[file, "true"]), vec![], 112, "age"),
        (
            own(&["exec-env", file, "true"]),
            vec![("SOPS_DECRYPTION_ORDER", "age,age")],
            112,
            "age",
        ),
        (
            own(&["exec-file", file, "true"]),
            vec![("SOPS_DECRYPTION_ORDER", "pgp,pgp")],
            112,
            "pgp",
        ),
        // sops' own checks that come first.
        (with(&["decrypt"], &[missing]), vec![], 100, ""),
        (with(&["-r"], &[missing]), vec![], 100, ""),
        (
            with(&["rotate"], &["--add-age", "x", missing]),
            vec![],
            49,
            "",
        ),
        (
            with(&["decrypt"], &["-i", "--output", "x", file]),
            vec![],
            8,
            "",
        ),
        (with(&["set"], &[file, "bad", "1"]), vec![], 7, ""),
    ];
    for (args, env, code, text) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = same(&sb, &args, &env);
        out.fails_with(code, &[]);
        if code == 112 {
            assert_eq!(out.stderr, format!("{dup}{text}\n"), "{args:?}");
        } else {
            assert!(!out.stderr.contains(dup), "{args:?}: {}", out.stderr);
        }
        assert_eq!(read(&path), bytes, "{args:?} changed the file");
        assert!(!sb.path("missing.yaml").exists(), "{args:?}");
    }
}

#[test]
fn an_order_without_duplicates_still_decrypts() {
    let (sb, path, _) = fixture();
    let file = path.to_str().unwrap();
    for order in ["age,pgp", "pgp,age", "age,", "", "AGE,age"] {
        let out = same(&sb, &["decrypt", "--decryption-order", order, file], &[]);
        assert_eq!(
            out.ok(),
            read(&testdata("vectors/yaml_scalars.decrypted.yaml")),
            "{order}"
        );
    }
}
