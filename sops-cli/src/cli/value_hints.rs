//! What completions and the man page may offer for a flag's value, without
//! changing what the flag accepts.

use std::ffi::OsStr;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};

/// The names `--input-type`/`--output-type` understand
/// (`sops_core::stores::Format::from_name`).
const FORMAT_NAMES: &[&str] = &["yaml", "json", "dotenv", "ini", "binary"];

/// Any text, as before; the known names are only offered. sops falls back
/// to the file's extension on an unknown type instead of failing, so a
/// `PossibleValuesParser` (which rejects) would change behaviour.
#[derive(Clone)]
pub struct Offered(&'static [&'static str]);

pub fn format_name() -> Offered {
    Offered(FORMAT_NAMES)
}

impl TypedValueParser for Offered {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            self.0.iter().map(|name| PossibleValue::new(*name)),
        ))
    }
}

/// The shells `sops completion` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    #[value(name = "powershell")]
    PowerShell,
}
