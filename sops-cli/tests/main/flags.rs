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
