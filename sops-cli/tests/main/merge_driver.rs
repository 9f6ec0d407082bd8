//! `sops merge-driver`: real `git merge`s of encrypted files, branches
//! changed with the reference sops (as a team member's sops would), the
//! result checked with the reference.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{AgeKey, Bin, Output, Sandbox, read, require_tool};

const FILE: &str = "secrets.enc.yaml";

/// A git repository in a sandbox, with the merge driver set up as the
/// README says, one committed encrypted file and a branch `theirs`.
struct Repo {
    sb: Sandbox,
    key: AgeKey,
    dir: PathBuf,
    name: String,
}

impl Repo {
    /// `plain` encrypted by the reference for a fresh age key, committed
    /// on `main`, with a branch `theirs` at the same commit.
    fn new(plain: &str) -> Self {
        Self::with_file(plain, FILE)
    }

    /// As [`Repo::new`] with a file of another name (and format).
    fn with_file(plain: &str, name: &str) -> Self {
        let mut sb = Sandbox::new();
        let key = sb.age_keygen("k");
        sb.use_identity(&key);
        let dir = sb.path("repo");
        std::fs::create_dir_all(&dir).unwrap();
        let repo = Self {
            sb,
            key,
            dir,
            name: name.to_owned(),
        };
        repo.git(&["init", "-q", "-b", "main"]).ok();
        repo.git(&["config", "user.name", "Test"]).ok();
        repo.git(&["config", "user.email", "test@example.com"]).ok();
        repo.git(&["config", "merge.sops.name", "sops three-way merge"])
            .ok();
        let driver = format!("{} merge-driver %O %A %B %P", env!("CARGO_BIN_EXE_sops"));
        repo.git(&["config", "merge.sops.driver", &driver]).ok();
        std::fs::write(
            repo.dir.join(".gitattributes"),
            "*.enc.yaml merge=sops\n*.enc.json merge=sops\n*.enc.env merge=sops\n",
        )
        .unwrap();
        let ext = name.rsplit('.').next().unwrap();
        let plain_path = repo.sb.write(&format!("plain.{ext}"), plain);
        let enc = repo
            .sops(&[
                "encrypt",
                "--age",
                &repo.key.recipient,
                plain_path.to_str().unwrap(),
            ])
            .ok();
        std::fs::write(repo.file(), enc).unwrap();
        repo.commit("base");
        repo.git(&["branch", "theirs"]).ok();
        repo
    }

    fn file(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// Runs git in the repository with the sandbox's HOME and identity (the
    /// driver git starts inherits them); no system or user git config.
    fn git(&self, args: &[&str]) -> Output {
        let git = require_tool("git", "git");
        let mut cmd = Command::new(git);
        cmd.args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.sb.dir())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("SOPS_AGE_KEY_FILE", &self.key.identity_file)
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "")
            .stdin(Stdio::null());
        let out = cmd.output().expect("run git");
        Output::from_process(format!("git {}", args.join(" ")), out)
    }

    /// The reference sops with the sandbox's identity.
    fn sops(&self, args: &[&str]) -> Output {
        self.sb.run(Bin::Reference, args.iter().map(OsString::from))
    }

    fn commit(&self, message: &str) {
        self.git(&["add", "-A"]).ok();
        self.git(&["commit", "-q", "-m", message]).ok();
    }

    /// Checks out `branch`, runs `change` on the file, commits.
    fn on(&self, branch: &str, change: impl FnOnce(&Self)) {
        self.git(&["checkout", "-q", branch]).ok();
        change(self);
        self.commit(&format!("change on {branch}"));
    }

    /// `sops updatekeys -y` by the reference, against a config whose one
    /// rule names `recipients` (comma-separated age recipients).
    fn update_recipients(&self, recipients: &str) {
        let config = self.sb.write(
            "sops.yaml",
            format!("creation_rules:\n  - age: {recipients}\n"),
        );
        let file = self.file();
        self.sops(&[
            "--config",
            config.to_str().unwrap(),
            "updatekeys",
            "-y",
            file.to_str().unwrap(),
        ])
        .ok();
    }

    /// `sops set FILE PATH JSON` by the reference.
    fn set(&self, path: &str, json: &str) {
        let file = self.file();
        self.sops(&["set", file.to_str().unwrap(), path, json]).ok();
    }

    /// `sops edit` by the reference, the editor being a shell script body
    /// run on "$1".
    fn edit(&self, script: &str) {
        self.edit_with(Bin::Reference, script);
    }

    fn edit_with(&self, bin: Bin, script: &str) {
        let editor = self
            .sb
            .write("editor.sh", format!("#!/bin/sh\nset -e\n{script}\n"));
        make_executable(&editor);
        let file = self.file();
        self.sb
            .cmd(bin, ["edit", file.to_str().unwrap()])
            .env("EDITOR", editor.as_os_str().to_owned())
            .run()
            .ok();
    }

    /// `git merge theirs` on main.
    fn merge(&self) -> Output {
        self.git(&["checkout", "-q", "main"]).ok();
        self.git(&["merge", "--no-edit", "theirs"])
    }

    /// The merged file decrypted by the reference.
    fn decrypted(&self) -> String {
        let file = self.file();
        String::from_utf8(self.sops(&["decrypt", file.to_str().unwrap()]).ok()).unwrap()
    }

    /// The file's bytes at a revision.
    fn at(&self, rev: &str) -> String {
        String::from_utf8(self.git(&["show", &format!("{rev}:{}", self.name)]).ok()).unwrap()
    }
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The line of an encrypted YAML file that starts with `prefix`.
fn line<'a>(file: &'a str, prefix: &str) -> &'a str {
    file.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in\n{file}"))
}

#[test]
fn branches_changing_different_keys_merge_cleanly_keeping_ciphertexts() {
    let repo = Repo::new("a: one\nb: two\nc: three\n");
    repo.on("theirs", |r| r.set(r#"["a"]"#, r#""ONE""#));
    repo.on("main", |r| r.set(r#"["c"]"#, r#""THREE""#));
    let (base, ours, theirs) = (repo.at("main~1"), repo.at("main"), repo.at("theirs"));
    let out = repo.merge();
    assert_eq!(out.code, 0, "{}\n{}", out.stderr, out.stdout_str());
    assert_eq!(repo.decrypted(), "a: ONE\nb: two\nc: THREE\n");
    let merged = String::from_utf8(read(&repo.file())).unwrap();
    // Unchanged values and ours' change keep their ciphertext; theirs'
    // change keeps theirs' (same data key).
    assert_eq!(line(&merged, "b:"), line(&base, "b:"));
    assert_eq!(line(&merged, "c:"), line(&ours, "c:"));
    assert_eq!(line(&merged, "a:"), line(&theirs, "a:"));
    assert_ne!(line(&merged, "    mac:"), line(&ours, "    mac:"));
    // git committed the merge: nothing is left to resolve.
    assert!(repo.git(&["status", "--porcelain"]).stdout_str().is_empty());
}

#[test]
fn the_same_key_changed_on_both_sides_is_a_conflict_with_encrypted_markers() {
    let repo = Repo::new("a: one\nb: two\n");
    repo.on("theirs", |r| r.set(r#"["b"]"#, r#""theirs-secret""#));
    repo.on("main", |r| r.set(r#"["b"]"#, r#""ours-secret""#));
    let out = repo.merge();
    assert_ne!(out.code, 0);
    assert!(
        out.stdout_str().contains("CONFLICT"),
        "{}",
        out.stdout_str()
    );
    assert!(
        out.stderr.contains(r#"conflict at ["b"]"#),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("sops edit"), "{}", out.stderr);
    // No plaintext in the repository's working file.
    let raw = String::from_utf8(read(&repo.file())).unwrap();
    assert!(!raw.contains("secret") && !raw.contains("<<<<<<<"), "{raw}");
    let file = repo.file();
    let b = repo
        .sops(&["decrypt", "--extract", r#"["b"]"#, file.to_str().unwrap()])
        .stdout_str();
    assert_eq!(
        b,
        "<<<<<<< ours\nours-secret\n=======\ntheirs-secret\n>>>>>>> theirs"
    );
    assert!(repo.decrypted().starts_with("a: one\n"));

    // Our own binary reads it the same way.
    let ours = repo
        .sb
        .run(Bin::Ours, ["decrypt", file.to_str().unwrap()])
        .stdout_str();
    assert_eq!(
        ours,
        "a: one\nb: |-\n    <<<<<<< ours\n    ours-secret\n    =======\n    theirs-secret\n    >>>>>>> theirs\n"
    );

    // Resolved in the editor (ours, keeping the other value's ciphertext):
    // git takes the file and the merge completes.
    let conflicted = String::from_utf8(read(&repo.file())).unwrap();
    repo.edit_with(Bin::Ours, r#"printf 'a: one\nb: resolved\n' > "$1""#);
    let resolved = String::from_utf8(read(&repo.file())).unwrap();
    assert_eq!(line(&resolved, "a:"), line(&conflicted, "a:"));
    repo.commit("merge theirs");
    assert_eq!(repo.decrypted(), "a: one\nb: resolved\n");
}

#[test]
fn removed_on_one_side_and_changed_on_the_other_conflicts() {
    let repo = Repo::new("a: one\nb: two\n");
    repo.on("theirs", |r| {
        let file = r.file();
        r.sops(&["unset", file.to_str().unwrap(), r#"["b"]"#]).ok();
    });
    repo.on("main", |r| r.set(r#"["b"]"#, r#""changed""#));
    let out = repo.merge();
    assert_ne!(out.code, 0);
    let file = repo.file();
    let b = repo
        .sops(&["decrypt", "--extract", r#"["b"]"#, file.to_str().unwrap()])
        .stdout_str();
    assert_eq!(
        b,
        "<<<<<<< ours\nchanged\n=======\n>>>>>>> theirs (deleted)"
    );
}

#[test]
fn comments_and_additions_of_both_sides_are_merged() {
    let repo = Repo::new("# first\na: one\nb: two\n");
    repo.on("theirs", |r| {
        r.edit(r#"sed -i 's/^# first$/# first, edited/' "$1"; printf '# added by theirs\nt: 1\n' >> "$1""#);
    });
    repo.on("main", |r| r.set(r#"["o"]"#, "2"));
    let out = repo.merge();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        repo.decrypted(),
        "# first, edited\na: one\nb: two\no: 2\n# added by theirs\nt: 1\n"
    );
}

#[test]
fn list_items_changed_on_both_sides_merge_element_wise() {
    let repo = Repo::new("l:\n    - p\n    - q\n    - r\n");
    repo.on("theirs", |r| r.set(r#"["l"][2]"#, r#""R""#));
    repo.on("main", |r| r.set(r#"["l"][0]"#, r#""P""#));
    let out = repo.merge();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(repo.decrypted(), "l:\n    - P\n    - q\n    - R\n");
}

#[test]
fn list_grown_differently_on_both_sides_is_one_conflict() {
    let repo = Repo::new("l:\n    - x\n");
    repo.on("theirs", |r| r.edit(r#"printf '    - t\n' >> "$1""#));
    repo.on("main", |r| r.edit(r#"printf '    - o\n' >> "$1""#));
    let out = repo.merge();
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains(r#"conflict at ["l"]"#),
        "{}",
        out.stderr
    );
    let file = repo.file();
    let l = repo
        .sops(&["decrypt", "--extract", r#"["l"]"#, file.to_str().unwrap()])
        .stdout_str();
    assert_eq!(
        l,
        "<<<<<<< ours\n- x\n- o\n=======\n- x\n- t\n>>>>>>> theirs"
    );
}

#[test]
fn a_recipient_added_on_one_branch_is_kept() {
    let repo = Repo::new("a: one\nb: two\n");
    let other = repo.sb.age_keygen("other");
    repo.on("theirs", |r| {
        r.update_recipients(&format!("{},{}", r.key.recipient, other.recipient));
    });
    repo.on("main", |r| r.set(r#"["a"]"#, r#""ONE""#));
    let out = repo.merge();
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The new recipient alone opens the merged file.
    let file = repo.file();
    let plain = repo
        .sb
        .cmd(Bin::Reference, ["decrypt", file.to_str().unwrap()])
        .env(
            "SOPS_AGE_KEY_FILE",
            other.identity_file.as_os_str().to_owned(),
        )
        .run()
        .ok();
    assert_eq!(String::from_utf8(plain).unwrap(), "a: ONE\nb: two\n");
}

#[test]
fn a_recipient_removed_on_one_branch_is_removed() {
    let repo = Repo::new("a: one\n");
    let other = repo.sb.age_keygen("other");
    // Both recipients in the base.
    repo.git(&["checkout", "-q", "main"]).ok();
    repo.update_recipients(&format!("{},{}", repo.key.recipient, other.recipient));
    repo.commit("two recipients");
    repo.git(&["branch", "-f", "theirs"]).ok();
    repo.on("theirs", |r| r.update_recipients(&r.key.recipient));
    repo.on("main", |r| r.set(r#"["a"]"#, r#""ONE""#));
    let out = repo.merge();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let merged = String::from_utf8(read(&repo.file())).unwrap();
    assert!(!merged.contains(&other.recipient), "{merged}");
    assert_eq!(repo.decrypted(), "a: ONE\n");
}

#[test]
fn a_data_key_rotated_on_one_branch_wins() {
    let repo = Repo::new("a: one\nb: two\n");
    repo.on("theirs", |r| {
        let file = r.file();
        r.sops(&["rotate", "-i", file.to_str().unwrap()]).ok();
    });
    repo.on("main", |r| r.set(r#"["a"]"#, r#""ONE""#));
    let theirs = repo.at("theirs");
    let out = repo.merge();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(repo.decrypted(), "a: ONE\nb: two\n");
    let merged = String::from_utf8(read(&repo.file())).unwrap();
    // Theirs' data key: its unchanged value keeps its ciphertext.
    assert_eq!(line(&merged, "b:"), line(&theirs, "b:"));
    assert_eq!(
        line(&merged, "          enc:"),
        line(&theirs, "          enc:")
    );
}

#[test]
fn a_data_key_rotated_on_both_branches_is_a_conflict_keeping_ours() {
    let repo = Repo::new("a: one\nb: two\n");
    let rotate = |r: &Repo| {
        let file = r.file();
        r.sops(&["rotate", "-i", file.to_str().unwrap()]).ok();
    };
    repo.on("theirs", rotate);
    repo.on("main", |r| {
        rotate(r);
        r.set(r#"["a"]"#, r#""ONE""#);
    });
    let ours = repo.at("main");
    let out = repo.merge();
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("the data key was rotated on both sides"),
        "{}",
        out.stderr
    );
    assert_eq!(String::from_utf8(read(&repo.file())).unwrap(), ours);
}

#[test]
fn a_side_that_cannot_be_decrypted_leaves_ours_alone() {
    let repo = Repo::new("a: one\n");
    repo.on("theirs", |r| r.set(r#"["a"]"#, r#""ONE""#));
    let (base, ours, theirs) = (
        repo.sb.write("base.yaml", repo.at("main")),
        repo.sb.write("ours.yaml", repo.at("main")),
        repo.sb.write("theirs.yaml", repo.at("theirs")),
    );
    let before = read(&ours);
    let out = repo
        .sb
        .cmd(
            Bin::Ours,
            [
                "merge-driver".into(),
                base.into_os_string(),
                ours.clone().into_os_string(),
                theirs.into_os_string(),
                OsString::from(FILE),
            ],
        )
        .env("SOPS_AGE_KEY_FILE", "/nonexistent")
        .run();
    out.fails_with(
        128,
        &[
            "sops merge-driver",
            "could not decrypt ours",
            "(ours is left as it is)",
        ],
    );
    assert_eq!(read(&ours), before);
}

#[test]
fn json_files_merge_and_conflict_too() {
    let repo = Repo::with_file(
        "{\n\t\"a\": \"one\",\n\t\"b\": 2,\n\t\"c\": [1, 2]\n}",
        "secrets.enc.json",
    );
    repo.on("theirs", |r| {
        r.set(r#"["a"]"#, r#""theirs""#);
        r.set(r#"["c"][1]"#, "20");
    });
    repo.on("main", |r| {
        r.set(r#"["a"]"#, r#""ours""#);
        r.set(r#"["b"]"#, "3");
    });
    let out = repo.merge();
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains(r#"conflict at ["a"]"#),
        "{}",
        out.stderr
    );
    let file = repo.file();
    let a = repo
        .sops(&["decrypt", "--extract", r#"["a"]"#, file.to_str().unwrap()])
        .stdout_str();
    assert_eq!(a, "<<<<<<< ours\nours\n=======\ntheirs\n>>>>>>> theirs");
    let plain = repo.decrypted();
    assert!(
        plain.ends_with("\t\"b\": 3,\n\t\"c\": [\n\t\t1,\n\t\t20\n\t]\n}\n"),
        "{plain}"
    );
}

#[test]
fn dotenv_files_merge_cleanly() {
    let repo = Repo::with_file("A=one\nB=two\n", "secrets.enc.env");
    repo.on("theirs", |r| r.set(r#"["A"]"#, r#""ONE""#));
    repo.on("main", |r| r.set(r#"["B"]"#, r#""TWO""#));
    let out = repo.merge();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(repo.decrypted(), "A=ONE\nB=TWO\n");
}
