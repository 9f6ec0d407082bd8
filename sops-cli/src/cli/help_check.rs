//! Every command and flag has a help text, and the texts follow one rule
//! (sops' own style): they start with a lowercase letter (or a name written
//! in capitals, such as KMS or FILE) and do not end with a period.

use clap::CommandFactory;

use super::Cli;

/// clap's own `help` subcommand and `-h/--help`, which we do not word.
fn is_builtin(id: &str) -> bool {
    id == "help"
}

/// The rule, or why a text breaks it.
fn style_problem(text: &str) -> Option<&'static str> {
    let first_line = text.lines().next().unwrap_or("").trim();
    if first_line.is_empty() {
        return Some("is empty");
    }
    let first_word = first_line.split_whitespace().next().unwrap_or("");
    let starts_lower = first_word.chars().next().is_some_and(|c| !c.is_uppercase());
    // A name in capitals (KMS, FILE, INDEX) or a word like "AWS's".
    let capitals = first_word
        .chars()
        .filter(|c| c.is_alphabetic())
        .take(2)
        .all(char::is_uppercase);
    if !starts_lower && !capitals {
        return Some("starts with a capital letter");
    }
    if first_line.ends_with('.') {
        return Some("ends with a period");
    }
    None
}

fn walk(cmd: &clap::Command, path: &str, problems: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        // Global flags are checked once, where they are defined.
        let inherited = arg.is_global_set() && path != "sops";
        if arg.is_hide_set() || inherited || is_builtin(arg.get_id().as_str()) {
            continue;
        }
        let name = match arg.get_long() {
            Some(long) => format!("--{long}"),
            None => format!("<{}>", arg.get_id()),
        };
        match arg.get_help() {
            None => problems.push(format!("{path} {name}: no help")),
            Some(help) => {
                if let Some(why) = style_problem(&help.to_string()) {
                    problems.push(format!("{path} {name}: help {why}: {help}"));
                }
            }
        }
    }
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || is_builtin(sub.get_name()) {
            continue;
        }
        let sub_path = format!("{path} {}", sub.get_name());
        match sub.get_about() {
            None if sub.get_long_about().is_none() => {
                problems.push(format!("{sub_path}: no about"));
            }
            None => {}
            Some(about) => {
                if let Some(why) = style_problem(&about.to_string()) {
                    problems.push(format!("{sub_path}: about {why}: {about}"));
                }
            }
        }
        walk(sub, &sub_path, problems);
    }
}

#[test]
fn every_command_and_flag_has_help_in_one_style() {
    let mut cmd = Cli::command();
    cmd.build();
    let mut problems = Vec::new();
    walk(&cmd, "sops", &mut problems);
    assert!(
        problems.is_empty(),
        "help texts to fix:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_rule_catches_what_it_should() {
    assert_eq!(style_problem("decrypt a file"), None);
    assert_eq!(style_problem("KMS ARNs to use"), None);
    assert_eq!(
        style_problem("Decrypt a file"),
        Some("starts with a capital letter")
    );
    assert_eq!(style_problem("decrypt a file."), Some("ends with a period"));
    assert_eq!(style_problem(""), Some("is empty"));
}
