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

/// sops 3.13 (#2155): `--filename` must be a local relative path; an empty
/// one is the default name. (3.11 lets `../x` write outside its directory.)
#[test]
fn exec_file_filename_must_stay_in_its_directory() {
    let (sb, enc) = fixture();
    let run = |name: &str, command: &str| {
        sb.run(
            Bin::Ours,
            [
                "exec-file".into(),
                "--filename".into(),
                name.into(),
                enc.clone().into_os_string(),
                command.into(),
            ],
        )
    };
    for name in ["../x", "/tmp/x", "a/../../x", ".."] {
        let out = run(name, "touch ran");
        out.fails_with(1, &[]);
        assert_eq!(
            out.stderr, "The provided filename is not a local path.\n",
            "{name}"
        );
        assert!(!sb.path("ran").exists(), "{name}: the command ran");
    }
    assert_eq!(run("", "basename {}").ok(), b"tmp-file\n");
    // Local, but its directory does not exist: the pipe cannot be made.
    assert_ne!(run("a/../b", "true").code, 0);
}

/// The uid, gid, supplementary groups and HOME/USER/LOGNAME a command sees,
/// one per line.
const WHO: &str = r#"id -u; id -g; sed -n 's/^Groups:[[:space:]]*//p' /proc/self/status | xargs; echo "$HOME|$USER|$LOGNAME""#;

/// `nobody` as the password and group files describe it, in WHO's form.
fn nobody_expected() -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let entry: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .expect("a nobody user in /etc/passwd")
        .split(':')
        .collect();
    let groups = std::process::Command::new("id")
        .args(["-G", "nobody"])
        .output()
        .unwrap();
    let mut groups: Vec<u32> = String::from_utf8(groups.stdout)
        .unwrap()
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let groups: Vec<String> = groups.iter().map(u32::to_string).collect();
    format!(
        "{}\n{}\n{}\n{}|nobody|nobody\n",
        entry[2],
        entry[3],
        groups.join(" "),
        entry[5]
    )
}

fn require_root() {
    assert!(
        is_root(),
        "the --user tests switch to nobody and must run as root"
    );
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

/// sops 3.13 (#2154, #2194, #2230): `--user NAME` runs the command as that
/// user, with its primary group, its supplementary groups only (not
/// root's) and its HOME/USER/LOGNAME; a decrypted value of the same name
/// still wins in exec-env.
#[test]
fn exec_user_runs_the_command_as_that_user() {
    require_root();
    let (sb, _, enc, _) = encrypted_by_reference("A: secret\nLOGNAME: from-file\n", "u.enc.yaml");
    let expected = nobody_expected();
    let out = sb
        .run(
            Bin::Ours,
            [
                "exec-env".into(),
                "--user".into(),
                "nobody".into(),
                enc.clone().into_os_string(),
                format!("{WHO}; echo \"$A\"").into(),
            ],
        )
        .ok();
    let with_file_logname = expected.replace("|nobody|nobody\n", "|nobody|from-file\n");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("{with_file_logname}secret\n")
    );
    let out = sb
        .run(
            Bin::Ours,
            [
                "exec-env".into(),
                "--pristine".into(),
                "--user".into(),
                "nobody".into(),
                enc.clone().into_os_string(),
                "echo \"$HOME|$USER|$A\"".into(),
            ],
        )
        .ok();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "{}|nobody|secret\n",
            expected.lines().nth(3).unwrap().split('|').next().unwrap()
        )
    );
    // exec-file: the directory and the file are the user's and nobody
    // else's; TMPDIR must be one the user can enter.
    for fifo in [true, false] {
        let mut args: Vec<std::ffi::OsString> = vec!["exec-file".into()];
        if !fifo {
            args.push("--no-fifo".into());
        }
        args.extend([
            "--user".into(),
            "nobody".into(),
            enc.clone().into_os_string(),
            format!("{WHO}; stat -c '%U %G %a' $(dirname {{}}) {{}}; cat {{}}; dirname {{}} >&2")
                .into(),
        ]);
        let out = sb.cmd(Bin::Ours, args).env("TMPDIR", "/tmp").run();
        let stdout = String::from_utf8(out.ok()).unwrap();
        assert_eq!(
            stdout,
            format!(
                "{expected}nobody nogroup 700\nnobody nogroup 600\nA: secret\nLOGNAME: from-file\n"
            )
            .replace("nogroup", &group_name(expected.lines().nth(1).unwrap())),
            "fifo: {fifo}"
        );
        let dir = out.stderr.trim();
        assert!(dir.starts_with("/tmp/.sops"), "{dir}");
        assert!(!std::path::Path::new(dir).exists(), "{dir} left behind");
    }
}

/// The name of a group id.
fn group_name(gid: &str) -> String {
    let group = std::fs::read_to_string("/etc/group").unwrap();
    group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|p| p.len() > 2 && p[2] == gid)
        .map_or_else(|| gid.to_owned(), |p| p[0].to_owned())
}

/// An unknown user: Go's text, exit 1, the command never runs.
#[test]
fn exec_user_unknown_fails_before_running_anything() {
    let (sb, enc) = fixture();
    for command in ["exec-env", "exec-file"] {
        let out = sb.run(
            Bin::Ours,
            [
                command.into(),
                "--user".into(),
                "no-such-user-13".into(),
                enc.clone().into_os_string(),
                "touch ran".into(),
            ],
        );
        out.fails_with(1, &[]);
        assert_eq!(
            out.stderr, "user: unknown user no-such-user-13\n",
            "{command}"
        );
        assert!(!sb.path("ran").exists(), "{command}: the command ran");
    }
}
