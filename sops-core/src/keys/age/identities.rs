//! Gathering age identities from the sources of a key context, all of
//! them on every load, without precedence. From the environment these are
//! the sources sops 3.13 reads (sops-cli §9.2), in its order:
//!
//! 1. the SSH private key named by `SOPS_AGE_SSH_PRIVATE_KEY_FILE`,
//! 2. the SSH private key printed by `SOPS_AGE_SSH_PRIVATE_KEY_CMD`,
//! 3. `~/.ssh/id_ed25519` and `~/.ssh/id_rsa` when they exist,
//! 4. `SOPS_AGE_KEY` (identities inline, several per line allowed),
//! 5. the file named by `SOPS_AGE_KEY_FILE`,
//! 6. the standard output of `SOPS_AGE_KEY_CMD`,
//! 7. the default `<user config dir>/sops/age/keys.txt`.
//!
//! Both commands run with `SOPS_AGE_RECIPIENT` set to the recipient being
//! decrypted, so with a command among the sources identities are loaded
//! once per recipient ([`IdentityCache`]). Identity texts that are age
//! files (passphrase-protected identity files) are opened on first use,
//! with a passphrase asked for on the terminal (`passphrase.rs`).
//!
//! The variables are resolved once into [`AgeSources`] (explicit paths,
//! texts and commands) when the context is built; loading reads only those.
//! What failed and which sources had nothing is kept so that a failed
//! decryption can say so with sops' texts. Key material never appears in
//! messages or `Debug` output.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use age::{plugin, ssh, x25519};
use zeroize::Zeroizing;

use super::passphrase::{self, AskPassphrase};
use super::plugins::{PluginCallbacks, go_errno_text, plugin_resolve_error};
use super::pq::{self, PqIdentity};
use crate::keys::{SECRET_FILE_LIMIT, SecretFileError, read_secret_file};
use crate::shlex;

const SSH_KEY_FILE_VAR: &str = "SOPS_AGE_SSH_PRIVATE_KEY_FILE";
const SSH_KEY_CMD_VAR: &str = "SOPS_AGE_SSH_PRIVATE_KEY_CMD";
/// Set for both commands: the recipient whose identity is wanted.
const RECIPIENT_VAR: &str = "SOPS_AGE_RECIPIENT";
const KEY_VAR: &str = "SOPS_AGE_KEY";
const KEY_FILE_VAR: &str = "SOPS_AGE_KEY_FILE";
const KEY_CMD_VAR: &str = "SOPS_AGE_KEY_CMD";
const DEFAULT_KEYS_FILE: &str = "sops/age/keys.txt";

/// Command output larger than this is refused, as age does.
const SIZE_LIMIT: u64 = SECRET_FILE_LIMIT;

/// One identity, ready to unwrap stanzas (plugins are resolved on use).
#[derive(Clone)]
pub(crate) enum LoadedIdentity {
    X25519(x25519::Identity),
    Ssh(Box<ssh::Identity>),
    Plugin(plugin::Identity),
    /// Hybrid post-quantum (`AGE-SECRET-KEY-PQ-1…`).
    Pq(Box<PqIdentity>),
    /// A passphrase-protected identity file, opened on first use.
    Encrypted(Arc<EncryptedIdentity>),
}

/// The identities found in all sources, with what went wrong while loading.
#[derive(Default)]
pub struct AgeIdentities {
    /// Each identity with the location it came from.
    identities: Vec<(String, LoadedIdentity)>,
    /// The recipient of each X25519 and post-quantum identity, worked out
    /// on first use (see [`AgeIdentities::recipients`]).
    recipients: OnceLock<Vec<Option<String>>>,
    /// Per-source failures, in sops' order.
    errors: Vec<String>,
    /// Sources that were not configured, did not exist, or held no identity.
    unused: Vec<String>,
    /// Locations named after a variable (as sops' messages name them) with
    /// the file the variable pointed to, for listings that show both.
    paths: Vec<(String, String)>,
}

impl fmt::Debug for AgeIdentities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let locations: Vec<&str> = self.identities.iter().map(|(l, _)| l.as_str()).collect();
        f.debug_struct("AgeIdentities")
            .field("identities_from", &locations)
            .field("errors", &self.errors)
            .field("unused_locations", &self.unused)
            .field("paths", &self.paths)
            .finish()
    }
}

/// Where identities are looked for: explicit paths, texts and commands,
/// resolved from the environment (or given by the caller) when the key
/// context was built.
#[derive(Default)]
pub(crate) struct AgeSources {
    /// SSH private key files and commands (or the variables that would
    /// have named them).
    ssh: Vec<SshSource>,
    /// The home directory whose `.ssh/id_ed25519` and `.ssh/id_rsa` are
    /// tried (`Err`: why it is unknown); `None`: not looked at.
    home: Option<Result<String, &'static str>>,
    /// Text sources, in order.
    texts: Vec<TextSource>,
    /// The directory holding `sops/age/keys.txt`; `None`: not looked at.
    config_dir: Option<Result<String, &'static str>>,
    /// Where passphrases of protected identity files come from; `None`:
    /// the terminal.
    passphrase: Option<Arc<AskPassphrase>>,
}

enum SshSource {
    /// A variable that was not set: listed as an unused location.
    Unset(&'static str),
    File(String),
    /// `SOPS_AGE_SSH_PRIVATE_KEY_CMD`: prints one unencrypted SSH key.
    Command(String),
}

enum TextSource {
    /// A variable that was not set: listed as an unused location.
    Unset(&'static str),
    Text {
        location: String,
        text: Zeroizing<String>,
        /// Several identities per line, separated by white space (sops
        /// 3.13 allows this in `SOPS_AGE_KEY` only).
        words: bool,
    },
    Identity {
        location: String,
        identity: x25519::Identity,
    },
    /// An identity file; `variable` names the variable it came from (its
    /// messages name the variable, as sops' do).
    File {
        variable: Option<&'static str>,
        path: String,
    },
    Command(String),
}

impl AgeSources {
    /// The sources sops reads, from variables (`var` returns `None` for
    /// unset or empty ones).
    pub(crate) fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut sources = Self::default();
        sources.ssh.push(match var(SSH_KEY_FILE_VAR) {
            Some(path) => SshSource::File(path),
            None => SshSource::Unset(SSH_KEY_FILE_VAR),
        });
        sources.ssh.push(match var(SSH_KEY_CMD_VAR) {
            Some(command) => SshSource::Command(command),
            None => SshSource::Unset(SSH_KEY_CMD_VAR),
        });
        sources.home = Some(home_dir(var));
        sources.texts.push(match var(KEY_VAR) {
            Some(text) => TextSource::Text {
                location: KEY_VAR.to_owned(),
                text: Zeroizing::new(text),
                words: true,
            },
            None => TextSource::Unset(KEY_VAR),
        });
        sources.texts.push(match var(KEY_FILE_VAR) {
            Some(path) => TextSource::File {
                variable: Some(KEY_FILE_VAR),
                path,
            },
            None => TextSource::Unset(KEY_FILE_VAR),
        });
        sources.texts.push(match var(KEY_CMD_VAR) {
            Some(command) => TextSource::Command(command),
            None => TextSource::Unset(KEY_CMD_VAR),
        });
        sources.config_dir = Some(user_config_dir(var));
        sources
    }

    pub(crate) fn add_text(&mut self, location: String, text: &str) {
        self.texts.push(TextSource::Text {
            location,
            text: Zeroizing::new(text.to_owned()),
            words: false,
        });
    }

    /// Replaces the terminal prompt for passphrases of protected identity
    /// files.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn set_passphrase_source(&mut self, ask: Arc<AskPassphrase>) {
        self.passphrase = Some(ask);
    }

    /// True when a source is a command, whose output may depend on the
    /// recipient (`SOPS_AGE_RECIPIENT`).
    fn has_command(&self) -> bool {
        self.ssh.iter().any(|s| matches!(s, SshSource::Command(_)))
            || self.texts.iter().any(|t| matches!(t, TextSource::Command(_)))
    }

    pub(crate) fn add_identity(&mut self, location: String, identity: x25519::Identity) {
        self.texts.push(TextSource::Identity { location, identity });
    }

    pub(crate) fn add_file(&mut self, path: &std::path::Path) {
        self.texts.push(TextSource::File {
            variable: None,
            path: path.to_string_lossy().into_owned(),
        });
    }

    pub(crate) fn add_command(&mut self, command: String) {
        self.texts.push(TextSource::Command(command));
    }

    pub(crate) fn add_ssh_file(&mut self, path: &std::path::Path) {
        self.ssh
            .push(SshSource::File(path.to_string_lossy().into_owned()));
    }

    pub(crate) fn set_default_locations(
        &mut self,
        home: &std::path::Path,
        config_dir: &std::path::Path,
    ) {
        self.home = Some(Ok(home.to_string_lossy().into_owned()));
        self.config_dir = Some(Ok(config_dir.to_string_lossy().into_owned()));
    }

    /// The locations, in load order (for `Debug` and diagnostics; never
    /// texts or commands' output).
    pub(crate) fn locations(&self) -> Vec<String> {
        let mut out = Vec::new();
        for source in &self.ssh {
            out.push(match source {
                SshSource::Unset(var) => format!("{var} (unset)"),
                SshSource::File(path) => path.clone(),
                SshSource::Command(_) => SSH_KEY_CMD_VAR.to_owned(),
            });
        }
        if let Some(Ok(home)) = &self.home {
            for name in [".ssh/id_ed25519", ".ssh/id_rsa"] {
                out.push(join_path(home, name));
            }
        }
        for source in &self.texts {
            out.push(match source {
                TextSource::Unset(var) => format!("{var} (unset)"),
                TextSource::Text { location, .. } | TextSource::Identity { location, .. } => {
                    location.clone()
                }
                TextSource::File {
                    variable: Some(var),
                    path,
                } => format!("{var}={path}"),
                TextSource::File {
                    variable: None,
                    path,
                } => path.clone(),
                TextSource::Command(_) => KEY_CMD_VAR.to_owned(),
            });
        }
        if let Some(Ok(dir)) = &self.config_dir {
            out.push(join_path(dir, DEFAULT_KEYS_FILE));
        }
        out
    }
}

/// A source read but not yet parsed (sops reads all text sources first).
enum Pending {
    /// Location, content, several identities per line.
    Text(String, Zeroizing<Vec<u8>>, bool),
    Identity(String, x25519::Identity),
}

impl AgeIdentities {
    /// Loads identities from every source of `sources`; commands run with
    /// `SOPS_AGE_RECIPIENT` set to `recipient` (unset for `None`).
    pub(crate) fn load(sources: &AgeSources, recipient: Option<&str>) -> Self {
        let mut ids = Self::default();
        ids.load_ssh(sources, recipient);

        // Text sources, read first and parsed afterwards (as sops does).
        let mut pending: Vec<Pending> = Vec::new();
        for source in &sources.texts {
            match source {
                TextSource::Unset(var) => ids.unused.push((*var).to_owned()),
                TextSource::Text {
                    location,
                    text,
                    words,
                } => pending.push(Pending::Text(
                    location.clone(),
                    Zeroizing::new(text.as_bytes().to_vec()),
                    *words,
                )),
                TextSource::Identity { location, identity } => {
                    pending.push(Pending::Identity(location.clone(), identity.clone()));
                }
                TextSource::File {
                    variable: Some(var),
                    path,
                } => {
                    ids.paths.push(((*var).to_owned(), path.clone()));
                    match read_file(path) {
                        Ok(data) => pending.push(Pending::Text((*var).to_owned(), data, false)),
                        Err(ReadError::Open(e)) => ids.errors.push(format!(
                            "failed to open {var} file: {}",
                            go_path_error("open", path, &e)
                        )),
                        Err(e) => ids.errors.push(e.describe(var, path)),
                    }
                }
                TextSource::File {
                    variable: None,
                    path,
                } => match read_file(path) {
                    Ok(data) => pending.push(Pending::Text(path.clone(), data, false)),
                    Err(e) => ids.errors.push(e.describe(path, path)),
                },
                TextSource::Command(command) => match run_key_command(
                    command,
                    KEY_CMD_VAR,
                    recipient,
                ) {
                    Ok(data) => pending.push(Pending::Text(KEY_CMD_VAR.to_owned(), data, false)),
                    Err(e) => ids.errors.push(e),
                },
            }
        }

        let nothing_yet = pending.is_empty() && ids.identities.is_empty();
        match &sources.config_dir {
            None => {}
            Some(Err(e)) if nothing_yet => ids.errors.push(format!(
                "user config directory could not be determined: {e}"
            )),
            Some(Err(_)) => {}
            Some(Ok(dir)) => {
                let path = join_path(dir, DEFAULT_KEYS_FILE);
                match read_file(&path) {
                    Ok(data) => pending.push(Pending::Text(path, data, false)),
                    Err(ReadError::Open(e)) if e.kind() == io::ErrorKind::NotFound => {
                        if nothing_yet {
                            ids.unused.push(path);
                        }
                    }
                    Err(ReadError::Open(e)) => ids.errors.push(format!(
                        "failed to open file: {}",
                        go_path_error("open", &path, &e)
                    )),
                    Err(e) => ids.errors.push(e.describe(&path, &path)),
                }
            }
        }

        for source in pending {
            let (location, data, words) = match source {
                Pending::Identity(location, identity) => {
                    ids.identities
                        .push((location, LoadedIdentity::X25519(identity)));
                    continue;
                }
                Pending::Text(location, data, words) => (location, data, words),
            };
            match parse_source(&location, data, words, sources.passphrase.as_ref()) {
                Ok(parsed) => {
                    if parsed.identities.is_empty() {
                        ids.unused.push(location);
                    } else {
                        for identity in parsed.identities {
                            ids.identities.push((location.clone(), identity));
                        }
                    }
                }
                Err(e) => ids.errors.push(e),
            }
        }
        ids
    }

    /// Parses identities from text (one per line, `#` comments) as if they
    /// came from `location`; for key services and callers that hold
    /// identities already.
    pub fn from_text(location: &str, text: &str) -> Self {
        let mut ids = Self::default();
        let data = Zeroizing::new(text.as_bytes().to_vec());
        match parse_source(location, data, false, None) {
            Ok(parsed) => {
                if parsed.identities.is_empty() {
                    ids.unused.push(location.to_owned());
                }
                for identity in parsed.identities {
                    ids.identities.push((location.to_owned(), identity));
                }
            }
            Err(e) => ids.errors.push(e),
        }
        ids
    }

    /// Number of identities loaded.
    pub fn len(&self) -> usize {
        self.identities.len()
    }

    /// True when no source yielded an identity.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// The locations identities were loaded from, one entry per identity.
    pub fn locations(&self) -> impl Iterator<Item = &str> {
        self.identities.iter().map(|(l, _)| l.as_str())
    }

    /// Each identity's location (`VAR (path)` for a file named by a
    /// variable) and what it is, public parts only: the
    /// recipient of an X25519 or post-quantum identity, else its type
    /// (`sops doctor` lists them; never key material).
    pub fn described(&self) -> Vec<(String, String)> {
        let recipients = self.recipients();
        self.identities
            .iter()
            .zip(recipients.iter())
            .map(|((location, identity), recipient)| {
                let what = match identity {
                    LoadedIdentity::X25519(_) | LoadedIdentity::Pq(_) => {
                        recipient.clone().unwrap_or_default()
                    }
                    LoadedIdentity::Ssh(_) => "SSH key".to_owned(),
                    LoadedIdentity::Plugin(i) => format!("plugin {}", i.plugin()),
                    LoadedIdentity::Encrypted(_) => "passphrase-protected identity file".to_owned(),
                };
                (self.shown(location), what)
            })
            .collect()
    }

    /// [`Self::unused_locations`] with the file a variable named, as
    /// [`Self::described`] shows locations.
    pub fn unused_described(&self) -> Vec<String> {
        self.unused.iter().map(|l| self.shown(l)).collect()
    }

    /// `VAR (path)` for a location named after a variable that named a
    /// file, else the location itself.
    fn shown(&self, location: &str) -> String {
        match self.paths.iter().find(|(var, _)| var == location) {
            Some((var, path)) => format!("{var} ({path})"),
            None => location.to_owned(),
        }
    }

    /// What went wrong while loading, one message per failed source.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Locations that were not configured, did not exist, or held no identity.
    pub fn unused_locations(&self) -> &[String] {
        &self.unused
    }

    /// `message` followed by sops' suffixes: the load errors (plus `extra`)
    /// and the unused locations.
    pub(crate) fn explain(&self, message: &str, extra: &[String]) -> String {
        let mut text = message.to_owned();
        let errors: Vec<&str> = self
            .errors
            .iter()
            .chain(extra)
            .map(String::as_str)
            .collect();
        if !errors.is_empty() {
            text.push_str(". Errors while loading age identities: ");
            text.push_str(&errors.join("; "));
        }
        match self.unused.as_slice() {
            [] => {}
            [a] => text.push_str(&format!(". Did not find keys in location '{a}'.")),
            [a, b] => text.push_str(&format!(
                ". Did not find keys in locations '{a}' and '{b}'."
            )),
            [rest @ .., last] => text.push_str(&format!(
                ". Did not find keys in locations '{}', and '{last}'.",
                rest.join("', '")
            )),
        }
        text
    }

    /// The recipient of each identity that has one in clear (X25519 and
    /// post-quantum), in the order of the identities: a scalar
    /// multiplication and a bech32 encoding each, worked out once instead of
    /// once per file (the recipient binding of a run over many files).
    fn recipients(&self) -> Cow<'_, [Option<String>]> {
        let of = |(_, identity): &(String, LoadedIdentity)| match identity {
            LoadedIdentity::X25519(i) => Some(i.to_public().to_string()),
            LoadedIdentity::Pq(i) => Some(i.to_public().to_string()),
            _ => None,
        };
        let cached = self
            .recipients
            .get_or_init(|| self.identities.iter().map(of).collect());
        if cached.len() == self.identities.len() {
            Cow::Borrowed(cached)
        } else {
            // Identities added after the cache was filled (not done today).
            Cow::Owned(self.identities.iter().map(of).collect())
        }
    }

    /// The identities ready for age's decryptor: X25519 and SSH ones
    /// directly, plugin identities grouped into one driver per plugin.
    /// Plugins whose binary cannot be found are listed in `errors`.
    /// `bound_to`: only the identities that belong to this recipient (see
    /// `KeyContext::with_age_recipient_binding`); `None` for all of them.
    pub(crate) fn drivers<'a>(&'a self, bound_to: Option<&'a str>) -> Drivers<'a> {
        let mut direct: Vec<&dyn age::Identity> = Vec::new();
        let mut encrypted = Vec::new();
        let mut by_plugin: BTreeMap<&str, Vec<plugin::Identity>> = BTreeMap::new();
        let recipients = if bound_to.is_some() {
            self.recipients()
        } else {
            Cow::Borrowed(&[][..])
        };
        for (n, (_, identity)) in self.identities.iter().enumerate() {
            let is_bound = |r: &str| recipients.get(n).and_then(Option::as_deref) == Some(r);
            match identity {
                LoadedIdentity::X25519(i) => {
                    if bound_to.is_none_or(is_bound) {
                        direct.push(i);
                    }
                }
                LoadedIdentity::Pq(i) => {
                    if bound_to.is_none_or(is_bound) {
                        direct.push(i.as_ref());
                    }
                }
                LoadedIdentity::Ssh(i) => {
                    if bound_to.is_none_or(|r| r.starts_with("ssh-")) {
                        direct.push(i.as_ref());
                    }
                }
                LoadedIdentity::Plugin(i) => {
                    let own = |r: &str| r.starts_with(&format!("age1{}1", i.plugin()));
                    if bound_to.is_none_or(own) {
                        by_plugin.entry(i.plugin()).or_default().push(i.clone());
                    }
                }
                LoadedIdentity::Encrypted(i) => encrypted.push(EncryptedUse {
                    identity: i,
                    bound_to,
                }),
            }
        }
        let mut plugins = Vec::new();
        let mut errors = Vec::new();
        for (name, identities) in by_plugin {
            match plugin::IdentityPluginV1::new(name, &identities, PluginCallbacks) {
                Ok(driver) => plugins.push(driver),
                Err(e) => errors.push(plugin_resolve_error(name, &e)),
            }
        }
        Drivers {
            direct,
            plugins,
            encrypted,
            errors,
        }
    }
}

/// Identities borrowed from [`AgeIdentities`] plus the plugin drivers.
pub(crate) struct Drivers<'a> {
    direct: Vec<&'a dyn age::Identity>,
    plugins: Vec<plugin::IdentityPluginV1<PluginCallbacks>>,
    /// Protected identity files, tried last, in the order they were found
    /// (after every identity that needs no passphrase).
    encrypted: Vec<EncryptedUse<'a>>,
    /// Plugins that could not be resolved.
    pub(crate) errors: Vec<String>,
}

impl Drivers<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.plugins.is_empty() && self.encrypted.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.direct
            .iter()
            .copied()
            .chain(self.plugins.iter().map(|p| p as &dyn age::Identity))
            .chain(self.encrypted.iter().map(|e| e as &dyn age::Identity))
    }
}

// --- passphrase-protected identity files ------------------------------------

/// An identity file that is an age file: kept encrypted until an
/// unwrap needs it, then opened once (one prompt per file and load) and
/// its identities kept for the life of the load.
pub(crate) struct EncryptedIdentity {
    location: String,
    contents: Zeroizing<Vec<u8>>,
    ask: Option<Arc<AskPassphrase>>,
    opened: OnceLock<Result<AgeIdentities, String>>,
}

impl EncryptedIdentity {
    /// The identities inside, or why the file could not be opened (the
    /// failure is kept: sops does not ask again either).
    fn open(&self) -> &Result<AgeIdentities, String> {
        self.opened.get_or_init(|| {
            let text = passphrase::decrypt_identity_file(
                &self.contents,
                &self.location,
                self.ask.as_deref(),
            )?;
            if passphrase::is_age_file(&text) {
                return Err(format!(
                    "failed to parse '{}' age identities: unknown identity type",
                    self.location
                ));
            }
            let mut inner = AgeIdentities::default();
            let parsed = parse_identities(&self.location, &text, false)?;
            for identity in parsed.identities {
                inner.identities.push((self.location.clone(), identity));
            }
            Ok(inner)
        })
    }
}

/// An [`EncryptedIdentity`] as one of a decryption's identities, bound to
/// the recipient being decrypted when the context binds them.
struct EncryptedUse<'a> {
    identity: &'a EncryptedIdentity,
    bound_to: Option<&'a str>,
}

impl age::Identity for EncryptedUse<'_> {
    fn unwrap_stanza(
        &self,
        stanza: &age_core::format::Stanza,
    ) -> Option<Result<age_core::format::FileKey, age::DecryptError>> {
        self.unwrap_stanzas(std::slice::from_ref(stanza))
    }

    fn unwrap_stanzas(
        &self,
        stanzas: &[age_core::format::Stanza],
    ) -> Option<Result<age_core::format::FileKey, age::DecryptError>> {
        let inner = match self.identity.open() {
            Ok(inner) => inner,
            Err(why) => return Some(Err(age::DecryptError::Io(io::Error::other(why.clone())))),
        };
        let drivers = inner.drivers(self.bound_to);
        if let Some(why) = drivers.errors.first() {
            return Some(Err(age::DecryptError::Io(io::Error::other(why.clone()))));
        }
        drivers.iter().find_map(|i| i.unwrap_stanzas(stanzas))
    }
}

/// Identities for one recipient at a time: the commands' output may
/// depend on `SOPS_AGE_RECIPIENT`, so with a command among the sources
/// each recipient gets its own load (its commands run once); without one
/// every recipient shares a single load.
#[derive(Default)]
pub(crate) struct IdentityCache {
    shared: OnceLock<AgeIdentities>,
    by_recipient: Mutex<HashMap<String, Arc<OnceLock<Arc<AgeIdentities>>>>>,
}

/// Identities handed out by an [`IdentityCache`].
pub(crate) enum IdentitiesRef<'a> {
    Shared(&'a AgeIdentities),
    Own(Arc<AgeIdentities>),
}

impl std::ops::Deref for IdentitiesRef<'_> {
    type Target = AgeIdentities;

    fn deref(&self) -> &AgeIdentities {
        match self {
            IdentitiesRef::Shared(ids) => ids,
            IdentitiesRef::Own(ids) => ids,
        }
    }
}

impl IdentityCache {
    /// The identities loaded without a recipient (commands run without
    /// `SOPS_AGE_RECIPIENT`).
    pub(crate) fn shared(&self, sources: &AgeSources) -> &AgeIdentities {
        self.shared.get_or_init(|| AgeIdentities::load(sources, None))
    }

    /// The identities for decrypting `recipient`'s entries.
    pub(crate) fn for_recipient(&self, sources: &AgeSources, recipient: &str) -> IdentitiesRef<'_> {
        if !sources.has_command() {
            return IdentitiesRef::Shared(self.shared(sources));
        }
        // The map's lock is not held while loading: a command (or a
        // prompt) for one recipient must not hold up the others.
        let slot = {
            let mut map = self
                .by_recipient
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.entry(recipient.to_owned()).or_default().clone()
        };
        let ids = slot.get_or_init(|| Arc::new(AgeIdentities::load(sources, Some(recipient))));
        IdentitiesRef::Own(ids.clone())
    }
}

// --- SSH keys -------------------------------------------------------------

impl AgeIdentities {
    fn load_ssh(&mut self, sources: &AgeSources, recipient: Option<&str>) {
        for source in &sources.ssh {
            match source {
                SshSource::File(path) => self.add_ssh_key(path),
                SshSource::Command(command) => {
                    match run_key_command(command, SSH_KEY_CMD_VAR, recipient)
                        .and_then(|out| ssh_key_from_command(&out))
                    {
                        Ok(identity) => self.identities.push((
                            SSH_KEY_CMD_VAR.to_owned(),
                            LoadedIdentity::Ssh(Box::new(identity)),
                        )),
                        Err(e) => self.errors.push(e),
                    }
                }
                SshSource::Unset(var) => self.unused.push((*var).to_owned()),
            }
        }
        match &sources.home {
            None => {}
            Some(Err(e)) => self.errors.push((*e).to_owned()),
            Some(Ok(home)) => {
                for name in [".ssh/id_ed25519", ".ssh/id_rsa"] {
                    let path = join_path(home, name);
                    if std::fs::metadata(&path).is_ok() {
                        self.add_ssh_key(&path);
                    } else {
                        self.unused.push(path);
                    }
                }
            }
        }
    }

    fn add_ssh_key(&mut self, path: &str) {
        match load_ssh_key(path) {
            Ok(identity) => self
                .identities
                .push((path.to_owned(), LoadedIdentity::Ssh(Box::new(identity)))),
            Err(e) => self.errors.push(e),
        }
    }
}

fn load_ssh_key(path: &str) -> Result<ssh::Identity, String> {
    let data = match read_file(path) {
        Ok(data) => data,
        Err(ReadError::Open(e)) => {
            return Err(format!(
                "failed to open file: {}",
                go_path_error("open", path, &e)
            ));
        }
        Err(e) => return Err(e.describe(path, path)),
    };
    let identity = ssh::Identity::from_buffer(&data[..], Some(path.to_owned()))
        .map_err(|e| format!("malformed SSH identity in \"{path}\": {e}"))?;
    match identity {
        ssh::Identity::Unencrypted(_) => Ok(identity),
        ssh::Identity::Encrypted(_) => Err(format!(
            "SSH key \"{path}\" is passphrase-protected, and passphrase prompts are not supported yet"
        )),
        ssh::Identity::Unsupported(key) => {
            let why = match key {
                ssh::UnsupportedKey::EncryptedPem => {
                    "passphrase-protected PEM keys are not supported".to_owned()
                }
                ssh::UnsupportedKey::EncryptedSsh(cipher) => {
                    format!("keys encrypted with {cipher} are not supported")
                }
                ssh::UnsupportedKey::Hardware(kind) => {
                    format!("hardware security keys ({kind}) are not supported")
                }
                ssh::UnsupportedKey::Type(kind) => {
                    format!("unsupported SSH identity type: {kind}")
                }
            };
            Err(format!("malformed SSH identity in \"{path}\": {why}"))
        }
    }
}

/// The SSH key printed by `SOPS_AGE_SSH_PRIVATE_KEY_CMD`, with sops 3.13's
/// texts (a protected key is refused: there is no prompt for it).
fn ssh_key_from_command(out: &[u8]) -> Result<ssh::Identity, String> {
    let malformed = |why: &str| {
        format!("malformed SSH identity returned by running {SSH_KEY_CMD_VAR}: {why:?}")
    };
    let protected = || {
        format!(
            "the SSH key returned by running {SSH_KEY_CMD_VAR} is password protected, which is unsupported. (\"ssh: this private key is passphrase protected\")"
        )
    };
    if !out.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(malformed("ssh: no key found"));
    }
    let identity = ssh::Identity::from_buffer(out, None)
        .map_err(|e| malformed(&super::plugins::one_line(&e.to_string())))?;
    match identity {
        ssh::Identity::Unencrypted(_) => Ok(identity),
        ssh::Identity::Encrypted(_)
        | ssh::Identity::Unsupported(ssh::UnsupportedKey::EncryptedPem)
        | ssh::Identity::Unsupported(ssh::UnsupportedKey::EncryptedSsh(_)) => Err(protected()),
        ssh::Identity::Unsupported(ssh::UnsupportedKey::Hardware(kind))
        | ssh::Identity::Unsupported(ssh::UnsupportedKey::Type(kind)) => {
            Err(malformed(&format!("ssh: unsupported key type {kind:?}")))
        }
    }
}

// --- text sources -----------------------------------------------------------

/// One text source: a passphrase-protected identity file (an age file,
/// opened when first needed) or identity lines.
fn parse_source(
    location: &str,
    data: Zeroizing<Vec<u8>>,
    words: bool,
    ask: Option<&Arc<AskPassphrase>>,
) -> Result<Parsed, String> {
    if passphrase::is_age_file(&data) {
        let identity = EncryptedIdentity {
            location: location.to_owned(),
            contents: data,
            ask: ask.cloned(),
            opened: OnceLock::new(),
        };
        return Ok(Parsed {
            identities: vec![LoadedIdentity::Encrypted(Arc::new(identity))],
        });
    }
    parse_identities(location, &data, words)
}

struct Parsed {
    identities: Vec<LoadedIdentity>,
}

/// Parses one text source. Lines: empty or `#…` are skipped (a trailing CR
/// is dropped), `AGE-SECRET-KEY-1…`, `AGE-SECRET-KEY-PQ-1…` and
/// `AGE-PLUGIN-…` are identities, anything else fails the whole source. With
/// `words`, each white-space separated word of a line is one identity.
/// Messages never quote a line.
fn parse_identities(location: &str, data: &[u8], words: bool) -> Result<Parsed, String> {
    let fail = |why: &str| format!("failed to parse '{location}' age identities: {why}");
    let mut identities = Vec::new();
    for line in identity_items(data, words) {
        let text = std::str::from_utf8(line).ok();
        if line.starts_with(b"AGE-PLUGIN-") {
            let parsed = text
                .ok_or("invalid UTF-8")
                .and_then(|t| t.parse::<plugin::Identity>());
            match parsed {
                Ok(identity) => identities.push(LoadedIdentity::Plugin(identity)),
                Err(e) => return Err(fail(&format!("malformed plugin identity: {e}"))),
            }
        } else if line.starts_with(b"AGE-SECRET-KEY-1") {
            let parsed = text
                .ok_or("invalid UTF-8")
                .and_then(|t| t.parse::<x25519::Identity>());
            match parsed {
                Ok(identity) => identities.push(LoadedIdentity::X25519(identity)),
                Err(e) => return Err(fail(&format!("malformed secret key: {e}"))),
            }
        } else if line.starts_with(pq::IDENTITY_PREFIX.as_bytes()) {
            let parsed = text.ok_or("invalid UTF-8").and_then(PqIdentity::parse);
            match parsed {
                Ok(identity) => identities.push(LoadedIdentity::Pq(Box::new(identity))),
                Err(e) => return Err(fail(&format!("malformed secret key: {e}"))),
            }
        } else {
            return Err(fail("unknown identity type"));
        }
    }
    Ok(Parsed { identities })
}

// --- SOPS_AGE_KEY_CMD -----------------------------------------------------

/// The identity lines of a text source (empty and `#` lines dropped, a
/// trailing CR removed), or with `words` the white-space separated words
/// of those lines, as sops 3.13 reads `SOPS_AGE_KEY`.
fn identity_items(data: &[u8], words: bool) -> Vec<&[u8]> {
    let lines = data
        .split(|&b| b == b'\n')
        .map(|raw| raw.strip_suffix(b"\r").unwrap_or(raw))
        .filter(|line| !line.is_empty() && !line.starts_with(b"#"));
    if !words {
        return lines.collect();
    }
    lines
        .flat_map(|line| match std::str::from_utf8(line) {
            Ok(text) => text.split_whitespace().map(str::as_bytes).collect(),
            Err(_) => line
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>(),
        })
        .collect()
}

/// Runs a key command (`variable` names where it came from) without a
/// shell, with `SOPS_AGE_RECIPIENT` set to `recipient` (stdin empty,
/// stderr passed through) and returns its standard output, which is never
/// logged nor quoted.
fn run_key_command(
    command: &str,
    variable: &str,
    recipient: Option<&str>,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let words = shlex::split(command)
        .map_err(|e| format!("failed to parse command {command} from {variable}: {e}"))?;
    let Some((program, args)) = words.split_first() else {
        return Err(format!(
            "failed to parse command {command} from {variable}: empty command"
        ));
    };
    let failed =
        |why: String| format!("failed to execute command {command} from {variable}: {why}");
    let mut cmd = Command::new(program);
    if let Some(recipient) = recipient {
        cmd.env(RECIPIENT_VAR, recipient);
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| failed(go_exec_error(program, &e)))?;
    let mut out = Zeroizing::new(Vec::new());
    let read = match child.stdout.take() {
        Some(stdout) => stdout
            .take(SIZE_LIMIT + 1)
            .read_to_end(&mut out)
            .map(|_| ()),
        None => Ok(()),
    };
    let too_long = out.len() as u64 > SIZE_LIMIT;
    if too_long || read.is_err() {
        // Do not wait on a child that may be blocked writing to a closed pipe.
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| failed(e.to_string()))?;
    if let Err(e) = read {
        return Err(failed(e.to_string()));
    }
    if too_long {
        return Err(failed("output too long".to_owned()));
    }
    if !status.success() {
        return Err(failed(go_exit_status(&status)));
    }
    Ok(out)
}

/// Go's text for a failed `exec.Command(...).Start()`.
fn go_exec_error(program: &str, e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::NotFound && !program.contains('/') {
        format!("exec: \"{program}\": executable file not found in $PATH")
    } else {
        format!("fork/exec {program}: {}", go_errno_text(e))
    }
}

/// Go's `*exec.ExitError` text.
fn go_exit_status(status: &std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                1 => "hangup",
                2 => "interrupt",
                3 => "quit",
                6 => "aborted",
                9 => "killed",
                11 => "segmentation fault",
                13 => "broken pipe",
                15 => "terminated",
                _ => return format!("signal: signal {signal}"),
            };
            return format!("signal: {name}");
        }
    }
    status.to_string()
}

// --- files and paths --------------------------------------------------------

enum ReadError {
    Open(io::Error),
    Read(io::Error),
    TooLong,
}

impl ReadError {
    /// Message for a failure after the file was opened.
    fn describe(&self, location: &str, path: &str) -> String {
        match self {
            ReadError::Open(e) => {
                format!("failed to open file: {}", go_path_error("open", path, e))
            }
            ReadError::Read(e) => {
                format!(
                    "failed to read '{location}': {}",
                    go_path_error("read", path, e)
                )
            }
            ReadError::TooLong => format!("failed to read '{location}': file too long"),
        }
    }
}

/// Reads a whole (small) file into a buffer that is wiped on drop.
fn read_file(path: &str) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    read_secret_file(path).map_err(|e| match e {
        SecretFileError::Open { source, .. } => ReadError::Open(source),
        SecretFileError::Read { source, .. } => ReadError::Read(source),
        _ => ReadError::TooLong,
    })
}

/// Go's `*fs.PathError` text: `open /x: no such file or directory`.
fn go_path_error(op: &str, path: &str, e: &io::Error) -> String {
    format!("{op} {path}: {}", go_errno_text(e))
}

/// The user's home directory as Go's `os.UserHomeDir` finds it.
fn home_dir(var: &dyn Fn(&str) -> Option<String>) -> Result<String, &'static str> {
    if cfg!(windows) {
        var("USERPROFILE").ok_or("%userprofile% is not defined")
    } else {
        var("HOME").ok_or("$HOME is not defined")
    }
}

/// The directory holding `sops/age/keys.txt`, as sops finds it.
fn user_config_dir(var: &dyn Fn(&str) -> Option<String>) -> Result<String, &'static str> {
    if cfg!(windows) {
        var("AppData")
            .or_else(|| var("APPDATA"))
            .ok_or("%AppData% is not defined")
    } else if cfg!(target_os = "macos") {
        if let Some(dir) = var("XDG_CONFIG_HOME") {
            return Ok(dir);
        }
        var("HOME")
            .map(|home| format!("{home}/Library/Application Support"))
            .ok_or("$HOME is not defined")
    } else {
        match var("XDG_CONFIG_HOME") {
            Some(dir) if !dir.starts_with('/') => Err("path in $XDG_CONFIG_HOME is relative"),
            Some(dir) => Ok(dir),
            None => var("HOME")
                .map(|home| format!("{home}/.config"))
                .ok_or("neither $XDG_CONFIG_HOME nor $HOME are defined"),
        }
    }
}

/// `dir` + `/` + `rel`, cleaned lexically like Go's `filepath.Join`.
fn join_path(dir: &str, rel: &str) -> String {
    if cfg!(windows) {
        return std::path::Path::new(dir)
            .join(rel)
            .to_string_lossy()
            .into_owned();
    }
    clean_path(&format!("{dir}/{rel}"))
}

/// Lexical path clean (Go `path.Clean`): no doubled slashes, no `.`
/// segments, `..` resolved where possible, no trailing slash.
pub(crate) fn clean_path(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}
