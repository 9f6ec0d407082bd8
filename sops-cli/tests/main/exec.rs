//! `exec-env` and `exec-file`: same output and exit codes as the reference,
//! and no plaintext left behind.

use crate::support::{Bin, Sandbox, encrypted_by_reference};

const PLAIN: &str = "A: \"x y\"\nB: 2\nC: 1.5\nD: true\nE: null\nMULTI: |\n    one\n    two\n";

fn fixture() -> (Sandbox, std::path::PathBuf) {
    let (sb, _, path, _) = encrypted_by_reference(PLAIN, "e.enc.yaml");
    (sb, path)
}

#[test]
fn exec_env_and_exec_file_match_reference() {
    let (sb, enc) = fixture();
    let cases: [&[&str]; 6] = [
        &[
            "exec-env",
            "ENC",
            r#"printf '%s|%s|%s|%s|%s|%s' "$A" "$B" "$C" "$D" "$E" "$MULTI""#,
        ],
        &[
            "exec-env",
            "--pristine",
            "ENC",
            "env | grep -v '^PWD=' | grep -v '^SHLVL=' | grep -v '^_=' | sort",
        ],
        &["exec-file", "ENC", "cat {}"],
        &["exec-file", "--no-fifo", "ENC", "cat {}; stat -c %a {}"],
        &["exec-file", "--output-type", "json", "ENC", "cat {}"],
        &[
            "exec-file",
            "--filename",
            "f.txt",
            "ENC",
            "basename {}; cat {}",
        ],
    ];
    for case in cases {
        let args: Vec<std::ffi::OsString> = case
            .iter()
            .map(|a| {
                if *a == "ENC" {
                    enc.clone().into_os_string()
                } else {
                    a.into()
                }
            })
            .collect();
        let reference = sb.run(Bin::Reference, args.clone()).ok();
        let ours = sb.run(Bin::Ours, args).ok();
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&reference),
            "{case:?}"
        );
    }
}

#[test]
fn exec_exit_codes_and_cleanup() {
    let (sb, enc) = fixture();
    for bin in Bin::BOTH {
        let out = sb.run(
            bin,
            [
                "exec-env".into(),
                enc.clone().into_os_string(),
                "exit 3".into(),
            ],
        );
        assert_eq!(out.code, 3, "{bin}: {out:?}");
        sb.run(bin, ["exec-env".into(), enc.clone().into_os_string()])
            .fails_with(1, &["missing file to decrypt"]);
        // The temporary directory is gone after the command.
        let listing = sb
            .run(
                bin,
                [
                    "exec-file".into(),
                    enc.clone().into_os_string(),
                    "dirname {}".into(),
                ],
            )
            .ok();
        let dir = String::from_utf8(listing).unwrap();
        assert!(
            !std::path::Path::new(dir.trim()).exists(),
            "{bin}: {dir} left behind"
        );
    }
    // A command that never reads the pipe still ends, and nothing is left.
    let out = sb.run(
        Bin::Ours,
        ["exec-file".into(), enc.into_os_string(), "true".into()],
    );
    assert_eq!(out.code, 0);
    let leftovers: Vec<_> = std::fs::read_dir(sb.dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".sops"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
