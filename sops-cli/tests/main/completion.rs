//! `sops completion SHELL` and `sops man`: the scripts load in the shells
//! that are installed (bash, zsh) and complete subcommands, flags and the
//! fixed values of flags; the pages render.

use std::path::PathBuf;
use std::process::Command;

use crate::support::{Bin, Sandbox};

fn script(shell: &str) -> String {
    let sb = Sandbox::new();
    let out = sb.run(Bin::Ours, ["completion", shell]);
    assert_eq!(out.code, 0, "{}: {}", out.what, out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let text = out.stdout_str();
    assert!(!text.trim().is_empty(), "empty {shell} script");
    text
}

/// A shell the test needs: a missing one fails the test with how to get it.
fn shell(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("install {name} (apt-get install -y {name})"))
}

/// Runs `code` in the shell with the script in `script_path`; stdout.
fn run_shell(shell: &PathBuf, args: &[&str], code: &str) -> String {
    let out = Command::new(shell).args(args).arg(code).output().unwrap();
    assert!(
        out.status.success(),
        "{} failed: {}{}",
        shell.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bash_script_loads_and_completes() {
    let bash = shell("bash");
    let sb = Sandbox::new();
    let file = sb.write("sops.bash", script("bash"));
    let f = file.display();
    let registered = run_shell(
        &bash,
        &["--norc", "-c"],
        &format!("source {f} && complete -p sops"),
    );
    assert!(
        registered.contains("complete") && registered.contains("sops"),
        "{registered}"
    );
    // What TAB would offer after `sops `, `sops decrypt --` and
    // `sops decrypt --input-type `.
    let complete = |words: &str| {
        run_shell(
            &bash,
            &["--norc", "-c"],
            &format!(
                "source {f}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); \
                 COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
                 _sops sops \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
                 printf '%s\\n' \"${{COMPREPLY[@]}}\""
            ),
        )
    };
    let subcommands = complete("sops ''");
    for word in [
        "decrypt",
        "encrypt",
        "edit",
        "completion",
        "man",
        "updatekeys",
    ] {
        assert!(
            subcommands.lines().any(|l| l == word),
            "{word} not in {subcommands}"
        );
    }
    let flags = complete("sops decrypt --");
    for flag in ["--extract", "--input-type", "--output", "--in-place"] {
        assert!(flags.lines().any(|l| l == flag), "{flag} not in {flags}");
    }
    let types = complete("sops decrypt --input-type ''");
    assert_eq!(
        types.lines().collect::<Vec<_>>(),
        ["yaml", "json", "dotenv", "ini", "binary"]
    );
    let shells = complete("sops completion ''");
    assert!(
        shells
            .lines()
            .collect::<Vec<_>>()
            .ends_with(&["bash", "zsh", "fish", "powershell"]),
        "{shells}"
    );
    // File arguments complete file names: flags through the script, the
    // positional FILE through bash's default completion.
    assert!(registered.contains("-o default"), "{registered}");
    sb.write("secrets.enc.yaml", "");
    let files = complete(&format!("sops decrypt --output {}/sec", sb.dir().display()));
    assert!(files.contains("secrets.enc.yaml"), "{files}");
}

#[test]
fn zsh_script_loads() {
    let zsh = shell("zsh");
    let sb = Sandbox::new();
    let file = sb.write("_sops", script("zsh"));
    let shown = run_shell(
        &zsh,
        &["-fc"],
        &format!(
            "autoload -U compinit && compinit -u -D && source {} && print -r -- ${{_comps[sops]}}",
            file.display()
        ),
    );
    assert_eq!(
        shown.trim(),
        "_sops",
        "sops is not registered with compinit"
    );
}

#[test]
fn fish_and_powershell_scripts_are_generated() {
    let fish = script("fish");
    assert!(fish.contains("complete -c sops"), "{fish}");
    assert!(
        fish.contains("-l input-type") && fish.contains("yaml"),
        "{fish}"
    );
    let ps = script("powershell");
    assert!(ps.contains("Register-ArgumentCompleter"), "{ps}");
    assert!(ps.contains("'decrypt'"), "{ps}");
}

#[test]
fn unknown_shell_is_refused() {
    let sb = Sandbox::new();
    let out = sb.run(Bin::Ours, ["completion", "tcsh"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr
            .contains("possible values: bash, zsh, fish, powershell"),
        "{}",
        out.stderr
    );
}

#[test]
fn man_pages_render() {
    let sb = Sandbox::new();
    let out = sb.run(Bin::Ours, ["man"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let page = out.stdout_str();
    assert!(
        page.starts_with(".ie") || page.contains(".TH sops 1"),
        "{page}"
    );
    assert!(page.contains(".TH sops 1"), "{page}");
    assert!(page.contains("\\-\\-input\\-type"), "{page}");

    let dir = sb.path("man1");
    let out = sb.run(
        Bin::Ours,
        [
            std::ffi::OsStr::new("man"),
            "--out-dir".as_ref(),
            dir.as_os_str(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    for page in [
        "sops.1",
        "sops-decrypt.1",
        "sops-groups.1",
        "sops-groups-add.1",
        "sops-man.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH sops"), "{page}: {text}");
    }
    // groff, when installed, reads every page without a warning.
    if let Some(man) = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("groff"))
        .find(|p| p.is_file())
    {
        let out = Command::new(man)
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(dir.join("sops-decrypt.1"))
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
