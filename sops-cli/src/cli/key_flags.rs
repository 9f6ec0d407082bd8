//! The key flags, generated from sops-core's keystore registry: `--X` (with
//! its variable) for encrypt, edit and the root form, `--add-X`/`--rm-X`
//! for rotate, and `groups add --X`. Flag names, variables, help texts and
//! order come from each keystore's spec, so a new keystore brings its flags
//! along. The clap traits are implemented by hand because the derive needs
//! one struct field per flag.

use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use sops_core::keys::keystore::GroupsAdd;
use sops_core::keys::{KeyKind, KeySpec, Keystore, keystores_by};

/// The keystores in the order of the encrypt/edit flags.
fn by_key_flags() -> Vec<&'static Keystore> {
    keystores_by(|s| s.order.key_flags)
}

/// The keystores in the order of the rotate and `groups add` flags.
fn by_creation_rule() -> Vec<&'static Keystore> {
    keystores_by(|s| s.order.creation_rule)
}

/// The refusal of `subject` (a flag, a creation rule's key) naming a
/// keystore that is not usable here, followed by the keystores that are
/// (`usable`, e.g. [`sops_core::keys::built_in_keystores`]):
/// `… (age and PGP are)`. The
/// list comes from the registry, so it follows the build's features.
pub fn keystore_refusal(subject: &str, usable: &[&Keystore]) -> String {
    let names: Vec<&str> = usable.iter().map(|k| k.kind.display_name()).collect();
    let list = match names.as_slice() {
        [] => "none is".to_owned(),
        [one] => format!("{one} is"),
        [init @ .., last] => format!("{} and {last} are", init.join(", ")),
    };
    format!("{subject}: this keystore is not supported yet by this sops implementation ({list})")
}

/// The id clap's derive would give a field named after the flag.
fn arg_id(flag: &str) -> String {
    flag.replace('-', "_")
}

/// A `String` flag with an empty default that help does not show (the
/// shape of every key flag except `groups add`'s).
fn string_flag(flag: String, help: Option<&'static str>) -> Arg {
    let arg = Arg::new(arg_id(&flag))
        .value_name(arg_id(&flag).to_uppercase())
        .num_args(1)
        .action(ArgAction::Set)
        .value_parser(clap::value_parser!(String))
        .long(flag)
        .default_value("")
        .hide_default_value(true);
    match help {
        Some(help) => arg.help(help),
        None => arg,
    }
}

/// The value of a `String` flag, if the matches have it.
fn string_value(m: &ArgMatches, flag: &str) -> Result<Option<String>, clap::Error> {
    let id = arg_id(flag);
    if !m.contains_id(&id) {
        return Ok(None);
    }
    m.try_get_one::<String>(&id)
        .map(|v| Some(v.cloned().unwrap_or_default()))
        .map_err(|e| clap::Error::raw(ErrorKind::InvalidValue, e))
}

/// Sets `kind`'s value in a per-keystore list.
fn set(list: &mut Vec<(KeyKind, String)>, kind: KeyKind, value: String) {
    match list.iter_mut().find(|(k, _)| *k == kind) {
        Some(slot) => slot.1 = value,
        None => list.push((kind, value)),
    }
}

/// The value for `kind` in a per-keystore list ("" when not given).
fn get(list: &[(KeyKind, String)], kind: KeyKind) -> &str {
    list.iter()
        .find(|(k, _)| *k == kind)
        .map_or("", |(_, v)| v.as_str())
}

/// Key specs of comma-separated lists: sops splits on commas without
/// dropping empty items, so `a,,b` names an empty key (an error later),
/// except for keystores whose lists skip them (HuaweiCloud KMS).
fn specs_of<'a>(
    lists: impl IntoIterator<Item = (KeyKind, &'a str)>,
    fields: impl Fn(KeyKind) -> Vec<(String, String)>,
) -> Vec<KeySpec> {
    lists
        .into_iter()
        .filter(|(_, list)| !list.is_empty())
        .flat_map(|(kind, list)| {
            let fields = fields(kind);
            list.split(',')
                .filter(move |id| kind.spec().config.normalise.names_a_key(id))
                .map(move |id| KeySpec {
                    kind,
                    id: id.to_owned(),
                    fields: fields.clone(),
                })
        })
        .collect()
}

/// The keystore flags of encrypt, edit and the root form (`--kms`,
/// `--age` …, each falling back to its variable) and the options of their
/// keys (`--aws-profile`).
#[derive(Debug, Default, Clone)]
pub struct KeyFlags {
    ids: Vec<(KeyKind, String)>,
    /// (keystore, option field, value)
    options: Vec<(KeyKind, &'static str, String)>,
}

impl KeyFlags {
    /// The comma-separated ids given for a keystore ("" when none).
    pub fn ids(&self, kind: KeyKind) -> &str {
        get(&self.ids, kind)
    }

    /// The first `--X` given for a keystore this build cannot use.
    pub fn unsupported_keystore(&self) -> Option<String> {
        by_key_flags()
            .into_iter()
            .find(|ks| !ks.is_built_in() && !self.ids(ks.kind).is_empty())
            .map(|ks| format!("--{}", ks.spec().cli.flag))
    }

    /// The first key option flag given (`--aws-profile`) whose keystore
    /// this build cannot use, with that keystore's name.
    pub fn unsupported_option(&self) -> Option<(String, &'static str)> {
        by_key_flags().into_iter().find_map(|ks| {
            let given = ks.spec().config.options.iter().find(|o| {
                self.options
                    .iter()
                    .any(|(k, f, v)| *k == ks.kind && *f == o.field && !v.is_empty())
            })?;
            (!ks.is_built_in()).then(|| (format!("--{}", given.flag), ks.spec().name))
        })
    }

    /// One spec per key named, with the key options given for its keystore.
    pub fn specs(&self) -> Vec<KeySpec> {
        specs_of(self.ids.iter().map(|(k, v)| (*k, v.as_str())), |kind| {
            self.options
                .iter()
                .filter(|(k, _, v)| *k == kind && !v.is_empty())
                .map(|(_, f, v)| ((*f).to_owned(), v.clone()))
                .collect()
        })
    }
}

impl Args for KeyFlags {
    fn augment_args(mut cmd: Command) -> Command {
        for ks in by_key_flags() {
            let cli = &ks.spec().cli;
            let mut arg = string_flag(cli.flag.to_owned(), Some(cli.help)).env(cli.env);
            if let Some(short) = cli.short {
                arg = arg.short(short);
            }
            cmd = cmd.arg(arg);
            // A keystore's key options follow its flag (`--kms`, `--aws-profile`).
            for option in ks.spec().config.options {
                cmd = cmd.arg(string_flag(option.flag.to_owned(), Some(option.help)));
            }
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for KeyFlags {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(m)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        for ks in by_key_flags() {
            if let Some(v) = string_value(m, ks.spec().cli.flag)? {
                set(&mut self.ids, ks.kind, v);
            }
            for option in ks.spec().config.options {
                if let Some(v) = string_value(m, option.flag)? {
                    self.options
                        .retain(|(k, f, _)| !(*k == ks.kind && *f == option.field));
                    self.options.push((ks.kind, option.field, v));
                }
            }
        }
        Ok(())
    }
}

/// `--add-X`/`--rm-X` of rotate and the root form (comma-separated lists).
#[derive(Debug, Default, Clone)]
pub struct AddRemoveFlags {
    add: Vec<(KeyKind, String)>,
    rm: Vec<(KeyKind, String)>,
}

impl AddRemoveFlags {
    /// Whether any add/rm flag was given.
    pub fn any(&self) -> bool {
        self.add.iter().chain(&self.rm).any(|(_, v)| !v.is_empty())
    }

    /// The first add/rm flag of a keystore this build cannot use.
    pub fn other_given(&self) -> Option<String> {
        by_creation_rule()
            .into_iter()
            .filter(|ks| !ks.is_built_in())
            .find_map(|ks| {
                let flag = ks.spec().cli.flag;
                if !get(&self.add, ks.kind).is_empty() {
                    Some(format!("--add-{flag}"))
                } else if !get(&self.rm, ks.kind).is_empty() {
                    Some(format!("--rm-{flag}"))
                } else {
                    None
                }
            })
    }

    /// The keys to add.
    pub fn added(&self) -> Vec<KeySpec> {
        specs_of(self.add.iter().map(|(k, v)| (*k, v.as_str())), |_| {
            Vec::new()
        })
    }

    /// The keys to remove.
    pub fn removed(&self) -> Vec<KeySpec> {
        specs_of(self.rm.iter().map(|(k, v)| (*k, v.as_str())), |_| {
            Vec::new()
        })
    }
}

impl Args for AddRemoveFlags {
    fn augment_args(mut cmd: Command) -> Command {
        for ks in by_creation_rule() {
            let cli = &ks.spec().cli;
            cmd = cmd
                .arg(string_flag(format!("add-{}", cli.flag), cli.add_help))
                .arg(string_flag(format!("rm-{}", cli.flag), cli.rm_help));
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for AddRemoveFlags {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(m)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        for ks in by_creation_rule() {
            let flag = ks.spec().cli.flag;
            if let Some(v) = string_value(m, &format!("add-{flag}"))? {
                set(&mut self.add, ks.kind, v);
            }
            if let Some(v) = string_value(m, &format!("rm-{flag}"))? {
                set(&mut self.rm, ks.kind, v);
            }
        }
        Ok(())
    }
}

/// The keystore flags of `groups add` (each repeatable; every value a
/// comma-separated list).
#[derive(Debug, Default, Clone)]
pub struct GroupsAddKeyFlags {
    given: Vec<(KeyKind, Vec<String>)>,
}

impl GroupsAddKeyFlags {
    /// The keystores with a `groups add` flag, in flag order.
    fn keystores() -> impl Iterator<Item = (&'static Keystore, GroupsAddFlag)> {
        by_creation_rule()
            .into_iter()
            .filter_map(|ks| match ks.spec().cli.groups_add {
                GroupsAdd::Absent => None,
                GroupsAdd::NotYet { help } => Some((ks, GroupsAddFlag { help, ready: false })),
                GroupsAdd::Ready { help } => Some((ks, GroupsAddFlag { help, ready: true })),
            })
    }

    /// The keystores whose `groups add` flag works in this build.
    pub fn usable() -> Vec<&'static Keystore> {
        Self::keystores()
            .filter(|(ks, flag)| flag.ready && ks.is_built_in())
            .map(|(ks, _)| ks)
            .collect()
    }

    /// The first flag given that `groups add` refuses: its keystore is not
    /// built in, or its `groups add` support is not ready.
    pub fn refused(&self) -> Option<String> {
        Self::keystores().find_map(|(ks, flag)| {
            let given = self
                .given
                .iter()
                .any(|(k, v)| *k == ks.kind && !v.is_empty());
            (given && !(flag.ready && ks.is_built_in()))
                .then(|| format!("--{}", ks.spec().cli.flag))
        })
    }

    /// One spec per key named.
    pub fn specs(&self) -> Vec<KeySpec> {
        specs_of(
            self.given
                .iter()
                .flat_map(|(k, lists)| lists.iter().map(|l| (*k, l.as_str()))),
            |_| Vec::new(),
        )
    }
}

struct GroupsAddFlag {
    help: &'static str,
    ready: bool,
}

impl Args for GroupsAddKeyFlags {
    fn augment_args(mut cmd: Command) -> Command {
        for (ks, flag) in Self::keystores() {
            let name = ks.spec().cli.flag;
            cmd = cmd.arg(
                Arg::new(arg_id(name))
                    .value_name(arg_id(name).to_uppercase())
                    .num_args(1)
                    .action(ArgAction::Append)
                    .value_parser(clap::value_parser!(String))
                    .long(name)
                    .help(flag.help),
            );
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for GroupsAddKeyFlags {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(m)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        for (ks, _) in Self::keystores() {
            let id = arg_id(ks.spec().cli.flag);
            if !m.contains_id(&id) {
                continue;
            }
            let values: Vec<String> = m
                .try_get_many::<String>(&id)
                .map_err(|e| clap::Error::raw(ErrorKind::InvalidValue, e))?
                .map(|v| v.cloned().collect())
                .unwrap_or_default();
            self.given.retain(|(k, _)| *k != ks.kind);
            self.given.push((ks.kind, values));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use sops_core::keys::{age, aws_kms, built_in_keystores, pgp};

    use super::*;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        keys: KeyFlags,
        #[command(flatten)]
        add_remove: AddRemoveFlags,
    }

    #[derive(Debug, Parser)]
    struct GroupsProbe {
        #[command(flatten)]
        keys: GroupsAddKeyFlags,
    }

    #[test]
    fn flags_reach_their_keystores() {
        let p = Probe::try_parse_from([
            "t",
            "--age",
            "age1x,age1y",
            "-p",
            "FP",
            "--add-age",
            "age1z",
            "--rm-pgp",
            "FP2",
        ])
        .unwrap();
        assert_eq!(p.keys.ids(age::KIND), "age1x,age1y");
        assert_eq!(p.keys.ids(pgp::KIND), "FP");
        let q = Probe::try_parse_from(["t", "--age", "a,,b", "--hckms", " r:u ,,r:v,"]).unwrap();
        let mut ids: Vec<_> = q.keys.specs().into_iter().map(|s| s.id).collect();
        ids.sort();
        assert_eq!(ids, ["", " r:u ", "a", "b", "r:v"]);
        let ids: Vec<_> = p.keys.specs().into_iter().map(|s| s.id).collect();
        assert_eq!(ids.len(), 3);
        assert!(p.add_remove.any());
        assert_eq!(p.add_remove.other_given(), None);
        assert_eq!(p.add_remove.added()[0].id, "age1z");
        assert_eq!(p.add_remove.removed()[0].kind, pgp::KIND);
    }

    #[test]
    fn keystores_not_built_in_are_named() {
        let p = Probe::try_parse_from(["t", "--rm-hc-vault-transit", "u", "--add-azure-kv", "a"])
            .unwrap();
        let vault_built_in = sops_core::keys::hc_vault::KEYSTORE.is_built_in();
        assert_eq!(
            p.add_remove.other_given().as_deref(),
            (!vault_built_in).then_some("--rm-hc-vault-transit")
        );
        let p = Probe::try_parse_from(["t", "--azure-kv", "x"]).unwrap();
        assert_eq!(p.keys.unsupported_keystore(), None);
    }

    #[test]
    fn kms_flags_carry_their_profile() {
        let p =
            Probe::try_parse_from(["t", "-k", "arn", "--aws-profile", "prod", "--add-kms", "a"])
                .unwrap();
        assert_eq!(p.keys.unsupported_keystore(), None);
        assert_eq!(p.keys.unsupported_option(), None);
        assert_eq!(p.add_remove.other_given(), None);
        let spec = p.keys.specs().into_iter().next().unwrap();
        assert_eq!(spec.kind, aws_kms::KIND);
        assert_eq!(spec.fields, [("aws_profile".to_owned(), "prod".to_owned())]);
    }

    #[test]
    fn groups_add_refuses_what_is_not_ready() {
        let p = GroupsProbe::try_parse_from(["t", "--age", "a,b", "--age", "c"]).unwrap();
        assert_eq!(p.keys.refused(), None);
        assert_eq!(p.keys.specs().len(), 3);
        let p = GroupsProbe::try_parse_from(["t", "--age", "a", "--pgp", "FP"]).unwrap();
        assert_eq!(p.keys.refused().as_deref(), Some("--pgp"));
        let p = GroupsProbe::try_parse_from(["t", "--kms", "arn"]).unwrap();
        assert_eq!(p.keys.refused(), None);
        // HuaweiCloud KMS lists skip empty items, as sops' do.
        let p = GroupsProbe::try_parse_from(["t", "--hckms", "r:u, ,", "--hckms", "r:v"]).unwrap();
        assert_eq!(p.keys.refused(), None);
        assert_eq!(p.keys.specs().len(), 2);
    }

    /// The texts of this build (every keystore built in, listed in the
    /// creation-rule order; `groups add` ready for all but PGP), which the
    /// CLI tests see.
    #[test]
    fn refusals_list_what_is_usable() {
        let suffix = ": this keystore is not supported yet by this sops implementation";
        let text = keystore_refusal("--kms", &built_in_keystores());
        assert!(
            text.starts_with(&format!("--kms{suffix} (age, PGP, kms, gcp_kms")),
            "{text}"
        );
        assert!(
            text.contains("azure_kv") && text.ends_with(" are)"),
            "{text}"
        );
        let text = keystore_refusal("--pgp", &GroupsAddKeyFlags::usable());
        assert!(
            text.starts_with(&format!("--pgp{suffix} (age, kms, gcp_kms")),
            "{text}"
        );
        assert!(text.contains("azure_kv"), "{text}");
        let all: Vec<_> = keystores_by(|s| s.order.creation_rule);
        assert_eq!(
            keystore_refusal("x", &all[..3]),
            format!("x{suffix} (age, PGP and kms are)")
        );
        assert_eq!(keystore_refusal("x", &[]), format!("x{suffix} (none is)"));
    }
}
