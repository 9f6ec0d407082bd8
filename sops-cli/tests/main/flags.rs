//! The key service flags' parsing, and `--verbose`, which works as in sops where sops ignores it (subcommand
//! form) and says it has no debug logging in the root form.

use crate::support::{Bin, encrypted_by_reference};

const PLAIN: &str = "name: demo\npassword: hunter2\n";

/// issue 12: `--keyservice` and `--enable-local-keyservice=false` work now
/// (tests/main/keyservice.rs); what is left here is their parsing.
#[test]
fn keyservice_flags_parse_as_in_sops() {
    let (sb, _key, path, _) = encrypted_by_reference(PLAIN, "enc.yaml");
    let file = path.to_str().unwrap();
    for value in ["true", "1", "T"] {
        let flag = format!("--enable-local-keyservice={value}");
        let out = sb.run(Bin::Ours, ["decrypt", &flag, file]).ok();
        assert_eq!(out, PLAIN.as_bytes());
    }
    // Disabled, with no other service: the local identity is not used.
    for args in [
        vec!["decrypt", "--enable-local-keyservice=false", file],
        vec!["--enable-local-keyservice=0", "-d", file],
    ] {
        sb.run(Bin::Ours, &args)
            .fails_with(128, &["Failed to get the data key"]);
    }
    // An empty SOPS_KEYSERVICE counts as unset.
    let out = sb
        .cmd(Bin::Ours, ["decrypt", file])
        .env("SOPS_KEYSERVICE", "")
        .run()
        .ok();
    assert_eq!(out, PLAIN.as_bytes());
    // Not a Go bool: sops fails too (exit 1), with this text from the env.
    for bin in [Bin::Reference, Bin::Ours] {
        let out = sb
            .cmd(bin, ["decrypt", file])
            .env("SOPS_ENABLE_LOCAL_KEYSERVICE", "garbage")
            .run();
        assert_eq!(out.code, 1, "{}: {}", out.what, out.stderr);
        assert!(
            out.stderr
                .contains("could not parse garbage as bool value for flag enable-local-keyservice"),
            "{}: {}",
            out.what,
            out.stderr
        );
    }
}

#[test]
fn verbose_is_a_noop_in_subcommands_and_says_so_in_the_root_form() {
    let (sb, _key, path, _) = encrypted_by_reference(PLAIN, "enc.yaml");
    let file = path.to_str().unwrap();
    // sops 3.11: the global --verbose is not seen by `decrypt`.
    for bin in [Bin::Reference, Bin::Ours] {
        let out = sb.run(bin, ["--verbose", "decrypt", file]);
        assert_eq!(out.ok(), PLAIN.as_bytes());
        assert_eq!(out.stderr, "", "{}", out.what);
    }
    let out = sb.run(Bin::Ours, ["--verbose", "-d", file]);
    assert_eq!(out.ok(), PLAIN.as_bytes());
    assert!(
        out.stderr
            .contains("--verbose: this sops implementation has no debug logging"),
        "{}",
        out.stderr
    );
}

/// sops 3.13 reads the root's `--indent` (#2156) and `--mac-only-encrypted`
/// (#2100) whatever the command: `sops --indent 2 decrypt f` indents as
/// `sops -d --indent 2 f`, which the reference (3.11) already honours, so
/// each subcommand is checked against the reference's root form.
#[test]
fn root_indent_and_mac_only_encrypted_reach_the_subcommands() {
    use crate::support::{assert_same_bytes, layout, read};
    let nested = "a:\n    b: x\n    c:\n        - y\nd: z\n";
    let (sb, key, enc, original) = encrypted_by_reference(nested, "n.enc.yaml");
    let editor = sb.write("ed.sh", "#!/bin/sh\nsed -i 's/z/w/' \"$1\"\n");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let file = enc.to_str().unwrap();
    let plain = sb.write("p.yaml", nested);
    let plain = plain.to_str().unwrap();
    let age = key.recipient.as_str();
    let run = |bin, args: &[&str]| {
        sb.write("n.enc.yaml", &original);
        sb.cmd(bin, args)
            .env("EDITOR", editor.as_os_str().to_owned())
            .run()
    };
    // Plaintext out: the same bytes, and not the default layout.
    let default = run(Bin::Ours, &["decrypt", file]).ok();
    let indented = run(Bin::Reference, &["-d", "--indent", "2", file]).ok();
    assert_ne!(default, indented);
    for ours in [
        &["--indent", "2", "decrypt", file][..],
        &["--indent", "2", "exec-file", file, "cat {}"],
    ] {
        assert_same_bytes(&format!("{ours:?}"), &run(Bin::Ours, ours).ok(), &indented);
    }
    // Encrypted out: the same layout as the reference's root form.
    let written = |bin, args: &[&str], stdout: bool| {
        let out = run(bin, args).ok();
        layout(&if stdout { out } else { read(&enc) }, true)
    };
    let cases: [(&[&str], &[&str], bool); 5] = [
        (
            &[
                "--indent",
                "2",
                "--mac-only-encrypted",
                "encrypt",
                "--age",
                age,
                "--encrypted-regex",
                "^a",
                plain,
            ],
            &[
                "-e",
                "--indent",
                "2",
                "--mac-only-encrypted",
                "--age",
                age,
                "--encrypted-regex",
                "^a",
                plain,
            ],
            true,
        ),
        (
            &["--indent", "2", "set", file, r#"["d"]"#, r#""w""#],
            &["--indent", "2", "--set", r#"["d"] "w""#, file],
            false,
        ),
        (
            &["--indent", "2", "rotate", "-i", file],
            &["-r", "-i", "--indent", "2", file],
            false,
        ),
        (
            &["--indent", "2", "edit", file],
            &["--indent", "2", file],
            false,
        ),
        (
            &["--indent", "2", "unset", file, r#"["d"]"#],
            &["--indent", "2", "--set", r#"["d"] "z""#, file],
            false,
        ),
    ];
    for (ours, reference, stdout) in cases {
        let theirs = written(Bin::Reference, reference, stdout);
        let mine = written(Bin::Ours, ours, stdout);
        if ours.contains(&"unset") {
            // Only the indentation is compared: the reference has no unset.
            let indents = |t: &str| -> Vec<usize> {
                t.lines()
                    .map(|l| l.len() - l.trim_start().len())
                    .filter(|n| *n > 0)
                    .collect()
            };
            assert_eq!(
                indents(&mine).iter().min(),
                indents(&theirs).iter().min(),
                "{ours:?}"
            );
        } else {
            assert_eq!(mine, theirs, "{ours:?}");
        }
        assert!(mine.contains("\n  "), "{ours:?}: {mine}");
    }
}
