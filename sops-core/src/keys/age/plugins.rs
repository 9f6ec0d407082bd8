//! What the age key and the identity loader share when they talk to age
//! plugins and report the age crate's errors (a leaf of the `age` folder).

use age::plugin;

/// The age crate's messages may span lines; the failure listing wants one.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Go's wording for a plugin binary that cannot be run.
pub(crate) fn plugin_resolve_error(name: &str, e: &plugin::ResolveError) -> String {
    match e {
        plugin::ResolveError::MissingPlugin { binary_name } => {
            format!("exec: \"{binary_name}\": executable file not found in $PATH")
        }
        plugin::ResolveError::InvalidPluginName { .. } => {
            format!("invalid plugin name {name:?}")
        }
        other => one_line(&other.to_string()),
    }
}

/// Plugin callbacks without a terminal: messages (such as "touch your
/// YubiKey") go to stderr, questions and PIN requests get no answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PluginCallbacks;

impl age::Callbacks for PluginCallbacks {
    fn display_message(&self, message: &str) {
        eprintln!("{message}");
    }

    fn confirm(&self, _: &str, _: &str, _: Option<&str>) -> Option<bool> {
        None
    }

    fn request_public_string(&self, _: &str) -> Option<String> {
        None
    }

    fn request_passphrase(&self, _: &str) -> Option<age::secrecy::SecretString> {
        None
    }
}

/// The OS error text the way Go prints it (lower-case, no error number).
pub(crate) fn go_errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match (e.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(i)) => &text[..i],
        _ => &text[..],
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
