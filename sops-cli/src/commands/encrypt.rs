//! `sops encrypt` and `sops -e`.

use std::path::{Path, PathBuf};

use sops_core::config::{Config, CreationRule};
use sops_core::keys::{KeyError, KeySpec, MasterKey, built_in_keystores, master_key_from_spec};
use sops_core::metadata::PartialRule;
use sops_core::ops::{self, EncryptOptions};
use sops_core::stores::Format;
use zeroize::Zeroizing;

use crate::cli::{IoFlags, KeyFlags, RuleFlags, keystore_refusal};
use crate::commands;
use crate::exit_code::{self as code, CliError, Stage, library_error, store_error, store_error_in};
use crate::progress::Stages;

/// Everything encrypt needs, from the subcommand or the root form.
pub struct EncryptRequest<'a> {
    pub file: Option<&'a PathBuf>,
    pub io: &'a IoFlags,
    pub keys: &'a KeyFlags,
    pub rules: &'a RuleFlags,
    /// `--encryption-context` (encrypt, edit and the root form).
    pub encryption_context: Option<&'a str>,
    /// Whether that context also reaches a rule's flat KMS keys: the root
    /// form only (sops 3.12, #2021); sops 3.13.2's `encrypt` and `edit`
    /// subcommands load the rule before they read the flag and drop it.
    pub rule_keys_take_context: bool,
    /// Root form only.
    pub unencrypted_comment_regex: Option<&'a str>,
    pub encrypted_comment_regex: Option<&'a str>,
    pub mac_only_encrypted: bool,
    pub shamir_threshold: usize,
    pub indent: Option<i64>,
    pub config: Option<&'a Path>,
}

impl<'a> EncryptRequest<'a> {
    /// The request of a subcommand (encrypt, edit): root-only flags unset.
    pub fn subcommand(
        file: Option<&'a PathBuf>,
        io: &'a IoFlags,
        keys: &'a KeyFlags,
        rules: &'a RuleFlags,
        shamir_threshold: usize,
        config: Option<&'a Path>,
    ) -> Self {
        Self {
            file,
            io,
            keys,
            rules,
            encryption_context: None,
            rule_keys_take_context: false,
            unencrypted_comment_regex: None,
            encrypted_comment_regex: None,
            mac_only_encrypted: false,
            shamir_threshold,
            indent: None,
            config,
        }
    }

    /// A subcommand's request with the root flags sops 3.13 reads from any
    /// command (`sops --indent 4 --mac-only-encrypted encrypt FILE`: #2100,
    /// #2156); the comment regexes stay root-only, as there.
    pub fn subcommand_with_root(
        file: Option<&'a PathBuf>,
        io: &'a IoFlags,
        keys: &'a KeyFlags,
        rules: &'a RuleFlags,
        shamir_threshold: usize,
        root: &'a crate::cli::RootArgs,
    ) -> Self {
        Self {
            mac_only_encrypted: root.mac_only_encrypted,
            indent: root.indent,
            ..Self::subcommand(
                file,
                io,
                keys,
                rules,
                shamir_threshold,
                root.config.as_deref(),
            )
        }
    }

    /// The request of the root form (`sops -e FILE`, `sops FILE`).
    pub fn root(file: &'a PathBuf, root: &'a crate::cli::RootArgs) -> Self {
        Self {
            file: Some(file),
            io: &root.io,
            keys: &root.keys,
            rules: &root.rules,
            encryption_context: root.encryption_context.as_deref(),
            rule_keys_take_context: true,
            unencrypted_comment_regex: root.unencrypted_comment_regex.as_deref(),
            encrypted_comment_regex: root.encrypted_comment_regex.as_deref(),
            mac_only_encrypted: root.mac_only_encrypted,
            shamir_threshold: root.shamir.shamir_threshold,
            indent: root.indent,
            config: root.config.as_deref(),
        }
    }
}

pub fn run(req: EncryptRequest<'_>) -> Result<(), CliError> {
    if req.file.is_none() && req.io.filename_override.is_none() {
        return Err(CliError::new(
            code::ERROR_CONFLICTING_PARAMETERS,
            "Error: must specify --filename-override when reading from stdin",
        ));
    }
    let dest = commands::destination(req.io, req.file.map(PathBuf::as_path))?;
    let input = commands::read_input(req.file.map(PathBuf::as_path))?;
    let stages = Stages::for_input("encrypt", input.path.as_deref(), input.bytes.len());
    let name = commands::name_for_formats(req.io, input.path.as_deref());
    let (in_format, out_format) = commands::formats(&req.io.types, name);
    let config = commands::load_config(req.config)?;
    let in_store = commands::store_for_config(in_format, req.indent, config.as_ref())?;
    let out_store = commands::store_for_config(out_format, req.indent, config.as_ref())?;
    // The creation rule is looked up first: with a config but no matching
    // rule sops fails even when key flags are given.
    let target = name.map(commands::absolute).unwrap_or_default();
    let rule = creation_rule(config.as_ref(), &target)?;

    stages.stage("parsing");
    // Plaintext until `ops::encrypt` is done: wiped on every way out.
    let mut docs = Zeroizing::new(
        in_store
            .load(&input.bytes)
            .map_err(|e| store_error_in(Stage::LoadPlain, &e, input.path.as_deref()))?,
    );
    drop(input);
    if docs.is_empty() {
        return Err(store_error(
            Stage::LoadPlain,
            &sops_core::stores::StoreError::Empty,
        ));
    }
    if in_store.looks_encrypted(&docs) {
        return Err(
            CliError::new(code::FILE_ALREADY_ENCRYPTED, ALREADY_ENCRYPTED)
                .with_hint(Some(sops_core::error::ALREADY_ENCRYPTED_HINT)),
        );
    }
    let (groups, opts) = new_file_keys(&req, rule, in_format)?;
    let ctx = commands::key_context();
    stages.stage("encrypting");
    let (docs, mut metadata) = ops::encrypt(std::mem::take(&mut *docs), &groups, &ctx, &opts)
        .map_err(|e| library_error(e, in_format))?
        .into_parts();
    if in_format == Format::Binary {
        metadata.rule = None;
    }
    stages.stage("writing");
    let output = out_store
        .emit_encrypted(&docs, &metadata)
        .map_err(|e| store_error(Stage::Emit, &e))?;
    commands::write_output(&dest, &output)
}

/// The creation rule for a target path (none without a config).
pub fn creation_rule<'c>(
    config: Option<&'c Config>,
    target: &Path,
) -> Result<Option<&'c CreationRule>, CliError> {
    match config {
        Some(c) => c
            .rule_for(target)
            .map_err(|e| CliError::new(code::ERROR_GENERIC, e.to_string()).with_hint(e.hint())),
        None => Ok(None),
    }
}

/// The key groups and options of a new file: the key flags (which replace
/// the rule's keys), else the creation rule's; options per field from the
/// flags, else the rule (sops-cli.md §8.6).
pub fn new_file_keys(
    req: &EncryptRequest<'_>,
    rule: Option<&CreationRule>,
    in_format: Format,
) -> Result<(KeyGroups, EncryptOptions), CliError> {
    // The encryption context is an AWS KMS setting: refused when that
    // keystore is not built in, else it travels with each `--kms` key.
    let kms = sops_core::keys::aws_kms::KIND;
    let kms_built_in = kms.keystore().is_some_and(|k| k.is_built_in());
    let context = match req.encryption_context.filter(|c| !c.is_empty()) {
        Some(_) if !kms_built_in => {
            return Err(CliError::new(
                code::ERROR_GENERIC,
                format!(
                    "--encryption-context: this flag is not supported yet by this sops implementation (it applies to {} keys, which are not supported yet)",
                    kms.display_name()
                ),
            ));
        }
        Some(text) => parse_encryption_context(text).ok_or_else(|| {
            CliError::new(
                code::ERROR_INVALID_KMS_ENCRYPTION_CONTEXT_FORMAT,
                "Invalid KMS encryption context format",
            )
        })?,
        None => Vec::new(),
    };
    let flag_keys = master_keys(req.keys, &context)?;
    let groups = if !flag_keys.is_empty() {
        vec![flag_keys]
    } else if let Some(rule) = rule {
        let context: &[(String, String)] = if req.rule_keys_take_context {
            &context
        } else {
            &[]
        };
        rule_groups(rule, context)?
    } else {
        return Err(CliError::new(
            code::ERROR_GENERIC,
            "config file not found, or has no creation rules, and no keys provided through command line options",
        )
        .with_hint(Some(sops_core::error::NO_KEYS_HINT)));
    };
    let mut opts = EncryptOptions {
        rule: partial_rule(req, rule)?,
        mac_only_encrypted: req.mac_only_encrypted || rule.is_some_and(|r| r.mac_only_encrypted),
        shamir_threshold: if req.shamir_threshold != 0 {
            req.shamir_threshold
        } else {
            rule.map_or(0, |r| r.shamir_threshold)
        },
    };
    if in_format == Format::Binary {
        // The binary store has one key that must always be encrypted.
        opts.rule = None;
        opts.mac_only_encrypted = false;
    }
    Ok((groups, opts))
}

/// Master keys by key group.
type KeyGroups = Vec<Vec<Box<dyn MasterKey>>>;

/// sops' "already encrypted" text, word-wrapped at 75 columns as sops prints it
/// (3.13's: it names `sops edit`, where 3.11 said `sops my_file.yaml`).
pub const ALREADY_ENCRYPTED: &str =
    "The file you have provided contains a top-level entry called 'sops', or for flat file
formats top-level entries starting with 'sops_'. This is generally due to the
file already being encrypted. SOPS uses a top-level entry called 'sops' to
store the metadata required to decrypt the file. For this reason, SOPS can not
encrypt files that already contain such an entry.

If this is an unencrypted file, rename the 'sops' entry.

If this is an encrypted file and you want to edit it, use the editor mode,
for example: `sops edit my_file.yaml`";

/// sops' `--encryption-context k:v,k2:v2` as pairs; `None` when an item
/// is not exactly one `key:value`.
pub fn parse_encryption_context(text: &str) -> Option<Vec<(String, String)>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(',')
        .map(
            |item| match item.split(':').collect::<Vec<_>>().as_slice() {
                [k, v] => Some(((*k).to_owned(), (*v).to_owned())),
                _ => None,
            },
        )
        .collect()
}

/// Gives every AWS KMS key of `specs` the encryption context `context`
/// (as the `context.<k>` fields of a `.sops.yaml` key group).
pub fn with_context(mut specs: Vec<KeySpec>, context: &[(String, String)]) -> Vec<KeySpec> {
    for spec in specs
        .iter_mut()
        .filter(|s| s.kind == sops_core::keys::aws_kms::KIND)
    {
        for (k, v) in context {
            spec.fields.push((format!("context.{k}"), v.clone()));
        }
    }
    specs
}

/// The master keys named on the command line (or their environment
/// variables), KMS keys with the `--encryption-context` pairs.
fn master_keys(
    flags: &KeyFlags,
    context: &[(String, String)],
) -> Result<Vec<Box<dyn MasterKey>>, CliError> {
    if let Some(flag) = flags.unsupported_keystore() {
        return Err(CliError::new(
            code::ERROR_GENERIC,
            keystore_refusal(&flag, &built_in_keystores()),
        ));
    }
    if let Some((flag, keystore)) = flags.unsupported_option() {
        return Err(CliError::new(
            code::ERROR_GENERIC,
            format!(
                "{flag}: this flag is not supported yet by this sops implementation (it applies to {keystore} keys, which are not supported yet)"
            ),
        ));
    }
    flag_keys(with_context(flags.specs(), context))
}

/// The master keys of key flags (`--age`, `--add-pgp`, `groups add --age` …),
/// built by their keystores; callers refuse keystores that are not built in
/// first, with their own wording. The keys are put in the keystores'
/// key-flag order (pgp before age, as sops builds the group).
pub fn flag_keys(mut specs: Vec<KeySpec>) -> Result<Vec<Box<dyn MasterKey>>, CliError> {
    specs.sort_by_key(|s| s.kind.spec().order.key_flags);
    let mut keys = specs
        .iter()
        .map(|spec| {
            master_key_from_spec(spec)
                .map_err(|e| CliError::new(code::ERROR_GENERIC, e.to_string()).with_hint(e.hint()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    prepare(&mut keys)?;
    Ok(keys)
}

/// Completes keys as sops does when it loads them (Azure Key Vault keys
/// without a version get the current one), after all were parsed.
fn prepare(keys: &mut [Box<dyn MasterKey>]) -> Result<(), CliError> {
    let mut ctx = None;
    for key in keys {
        let ctx = ctx.get_or_insert_with(commands::key_context);
        key.prepare(ctx)
            .map_err(|e| CliError::new(code::ERROR_GENERIC, e.to_string()))?;
    }
    Ok(())
}

/// The key groups of a creation rule as master keys; keystores we do not
/// implement yet are an error rather than a silently dropped key.
pub fn rule_groups(
    rule: &CreationRule,
    context: &[(String, String)],
) -> Result<KeyGroups, CliError> {
    let mut groups = rule_keys(rule, context)?;
    for group in &mut groups {
        prepare(group)?;
    }
    Ok(groups)
}

fn rule_keys(rule: &CreationRule, context: &[(String, String)]) -> Result<KeyGroups, CliError> {
    // A `key_groups` KMS entry carries its own context.
    let context = if rule.flat_keys { context } else { &[] };
    rule.key_groups
        .iter()
        .map(|group| {
            with_context(group.clone(), context)
                .iter()
                .map(|spec| match master_key_from_spec(spec) {
                    Err(KeyError::Unsupported(name)) => Err(CliError::new(
                        code::ERROR_GENERIC,
                        keystore_refusal(
                            &format!("creation rule {} names {name} key {}", rule.index, spec.id),
                            &built_in_keystores(),
                        ),
                    )),
                    other => other.map_err(|e| CliError::new(code::ERROR_GENERIC, e.to_string())),
                })
                .collect()
        })
        .collect()
}

/// The partial-encryption rule: per option the flag's value, else the
/// creation rule's; more than one option in total is an error, as in sops.
fn partial_rule(
    req: &EncryptRequest<'_>,
    rule: Option<&CreationRule>,
) -> Result<Option<PartialRule>, CliError> {
    let mut given: Vec<PartialRule> = [
        req.rules
            .unencrypted_suffix
            .clone()
            .map(PartialRule::UnencryptedSuffix),
        req.rules
            .encrypted_suffix
            .clone()
            .map(PartialRule::EncryptedSuffix),
        req.rules
            .unencrypted_regex
            .clone()
            .map(PartialRule::UnencryptedRegex),
        req.rules
            .encrypted_regex
            .clone()
            .map(PartialRule::EncryptedRegex),
        req.unencrypted_comment_regex
            .map(|r| PartialRule::UnencryptedCommentRegex(r.to_owned())),
        req.encrypted_comment_regex
            .map(|r| PartialRule::EncryptedCommentRegex(r.to_owned())),
    ]
    .into_iter()
    .flatten()
    .filter(|r| !r.field().1.is_empty())
    .collect();
    if let Some(from_rule) = rule.and_then(|r| r.rule.clone())
        && !given.iter().any(|g| g.field().0 == from_rule.field().0)
    {
        given.push(from_rule);
    }
    match given.len() {
        0 => Ok(None),
        1 => Ok(given.into_iter().next()),
        _ => Err(CliError::new(
            code::ERROR_CONFLICTING_PARAMETERS,
            "Error: cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file",
        )),
    }
}
