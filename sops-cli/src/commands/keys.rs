//! Key management: `rotate` (a new data key, every value re-encrypted,
//! `--add-*`/`--rm-*`) and `updatekeys` (the creation rule's keys, same data
//! key, values untouched).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use sops_core::keys::{KeyContext, MasterKey, built_in_keystores, master_key_for};
use sops_core::metadata::Metadata;
use sops_core::ops::{DecryptOptions, EncryptedFile};
use sops_core::stores::{Format, Store};

use crate::cli::{
    AddRemoveFlags, GroupsAddKeyFlags, IoFlags, RotateArgs, UpdatekeysArgs, keystore_refusal,
};
use crate::commands::encrypt::{flag_keys, parse_encryption_context, with_context};
use crate::commands::many::{self, Log, Outcome};
use crate::commands::{self, Destination};
use crate::exit_code::{self as code, CliError, library_error};
use crate::progress::Stages;
use sops_core::batch::Candidate;

/// Master keys for a file's key groups, to re-wrap a data key.
fn groups_of(metadata: &Metadata) -> Result<Vec<Vec<Box<dyn MasterKey>>>, CliError> {
    metadata
        .key_groups
        .iter()
        .map(|g| {
            g.0.iter()
                .map(|entry| {
                    master_key_for(entry).map_err(|e| {
                        CliError::new(
                            code::ERROR_GENERIC,
                            format!(
                                "cannot re-encrypt the data key for {}: {e}",
                                entry.identifier()
                            ),
                        )
                    })
                })
                .collect()
        })
        .collect()
}

/// `sops rotate` (and `sops -r`): `subcommand` picks sops' wording for a
/// missing file; `decryption_order` is the flag as given;
/// `encryption_context` applies to the KMS keys added and removed (one
/// that does not parse is ignored, as sops does here).
pub struct RotateRequest<'a> {
    pub file: Option<&'a PathBuf>,
    pub io: &'a IoFlags,
    pub add_remove: &'a AddRemoveFlags,
    pub ignore_mac: bool,
    pub decryption_order: &'a [String],
    pub subcommand: bool,
    pub encryption_context: Option<&'a str>,
    /// The root's `--indent` (3.13 reads it for every command).
    pub indent: Option<i64>,
}

pub fn rotate(req: RotateRequest<'_>) -> Result<(), CliError> {
    let RotateRequest {
        file,
        io,
        add_remove,
        ignore_mac,
        decryption_order,
        subcommand,
        encryption_context,
        indent,
    } = req;
    let Some(file) = file else {
        return Err(CliError::new(
            code::NO_FILE_SPECIFIED,
            "Error: no file specified",
        ));
    };
    let path = commands::absolute(file);
    let missing = !path.exists();
    if missing && add_remove.any() {
        let hint = if subcommand {
            "use the `edit` subcommand instead"
        } else {
            "use `--kms` and `--pgp` instead"
        };
        return Err(CliError::new(
            code::CANNOT_CHANGE_KEYS_FROM_NON_EXISTENT_FILE,
            format!(
                "Error: cannot add or remove keys on non-existent file \"{}\", {hint}.",
                path.display()
            ),
        ));
    }
    if missing && !subcommand {
        return Err(CliError::new(
            code::NO_FILE_SPECIFIED,
            format!(
                "Error: cannot operate on non-existent file \"{}\"",
                path.display()
            ),
        ));
    }
    // sops 3.11 checks the order here: after the checks of `-r` above, but
    // before the subcommand finds the file missing.
    let decryption_order = commands::decryption_order(decryption_order)?;
    if missing {
        return Err(CliError::new(
            code::COULD_NOT_READ_INPUT_FILE,
            format!(
                "Error reading file: open {}: no such file or directory",
                path.display()
            ),
        ));
    }
    if let Some(flag) = add_remove.other_given() {
        return Err(CliError::new(
            code::ERROR_GENERIC,
            keystore_refusal(&flag, &built_in_keystores()),
        ));
    }
    let dest = commands::destination(io, Some(&path))?;
    let input = commands::read_input(Some(&path))?;
    let stages = Stages::for_input("rotate", Some(&path), input.bytes.len());
    let name = commands::name_for_formats(io, input.path.as_deref());
    let (in_format, out_format) = commands::formats(&io.types, name);
    let in_store = commands::store_for_config(in_format, None, None)?;
    let out_store = commands::store_for_config(out_format, indent, None)?;
    stages.stage("parsing");
    let encrypted = commands::open_encrypted(in_store.as_ref(), &input.bytes, &path)?;
    drop(input);
    let ctx = commands::key_context();
    let opts = DecryptOptions {
        ignore_mac,
        decryption_order,
    };
    stages.stage("decrypting");
    let mut plain = encrypted
        .decrypt(&ctx, &opts)
        .map_err(|e| library_error(e, in_format))?;

    let mut groups = groups_of(plain.metadata())?;
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    let context = encryption_context
        .and_then(parse_encryption_context)
        .unwrap_or_default();
    groups[0].extend(flag_keys(with_context(add_remove.added(), &context))?);
    let removed: Vec<String> = flag_keys(with_context(add_remove.removed(), &context))?
        .iter()
        .map(|k| k.identifier())
        .collect();
    for group in &mut groups {
        group.retain(|k| !removed.contains(&k.identifier()));
    }
    stages.stage("encrypting");
    plain
        .rotate(&groups, &ctx)
        .map_err(|e| library_error(e, in_format))?;
    let encrypted = plain.encrypt().map_err(|e| library_error(e, in_format))?;
    stages.stage("writing");
    let output = commands::emit_encrypted(&encrypted, out_store.as_ref())?;
    commands::write_output(&dest, &output)
}

/// `sops rotate PATH...`: one file as sops; several files or a directory
/// are rotated in place concurrently ([`commands::many`]), which needs
/// `--in-place` (several results cannot share stdout or one `--output`).
pub fn run_rotate(
    args: &RotateArgs,
    indent: Option<i64>,
    config_flag: Option<&Path>,
) -> Result<(), CliError> {
    fn request<'a>(
        args: &'a RotateArgs,
        file: Option<&'a PathBuf>,
        indent: Option<i64>,
    ) -> RotateRequest<'a> {
        RotateRequest {
            file,
            io: &args.io,
            add_remove: &args.add_remove,
            ignore_mac: false,
            decryption_order: &args.order.decryption_order,
            subcommand: true,
            encryption_context: args.encryption_context.as_deref(),
            indent,
        }
    }
    let many_files = !args.extra.is_empty() || args.file.as_ref().is_some_and(|f| f.is_dir());
    if !many_files {
        return rotate(request(args, args.file.as_ref(), indent));
    }
    if !args.io.in_place || args.io.output.is_some() || args.io.filename_override.is_some() {
        return Err(CliError::new(
            code::ERROR_CONFLICTING_PARAMETERS,
            "Error: rotating several files or a directory needs --in-place (and takes neither --output nor --filename-override)",
        ));
    }
    commands::decryption_order(&args.order.decryption_order)?;
    let paths: Vec<PathBuf> = args
        .file
        .iter()
        .cloned()
        .chain(args.extra.iter().map(PathBuf::from))
        .collect();
    let config = commands::load_config(config_flag)?;
    let files = many::select(&paths, config.as_ref())?;
    let outcomes = many::run_concurrently(&files, "rotate", |file, log| {
        if many::not_encrypted(file, args.io.types.input_type.as_deref()) {
            log.err(many::not_encrypted_note(&file.path));
            return Outcome::NotEncrypted;
        }
        match rotate(request(args, Some(&file.path), indent)) {
            Ok(()) => {
                log.err(format!("File {} rotated", file.path.display()));
                Outcome::Changed
            }
            Err(e) => Outcome::Failed(CliError::new(
                e.code,
                format!("File {} not rotated: {e}", file.path.display()),
            )),
        }
    });
    many::summary("rotate", outcomes)
}

/// `sops updatekeys PATH...`. One file behaves as sops'; several files or
/// a directory are a many-file run ([`commands::many`]): with `--yes` the
/// files are worked on concurrently, without it they are asked about one
/// at a time (each with its changes, answers read from stdin as sops
/// does); a summary ends the run, and a failure leaves its file untouched
/// without stopping the others.
pub fn run_updatekeys(args: &UpdatekeysArgs, config_flag: Option<&Path>) -> Result<(), CliError> {
    if args.files.is_empty() {
        return Err(CliError::new(
            code::NO_FILE_SPECIFIED,
            "Error: no file specified",
        ));
    }
    let Some(config) = commands::load_config(config_flag)? else {
        return Err(CliError::new(code::ERROR_GENERIC, "config file not found"));
    };
    // One context for the run: a data key wrapped the same way in several
    // files is unwrapped once, and keystore clients are built once.
    let ctx = commands::key_context();
    if let [file] = args.files.as_slice()
        && !file.is_dir()
    {
        return update_one(file, args, &config, &ctx, &mut Log::Direct).map(|_| ());
    }
    let files = many::select(&args.files, Some(&config))?;
    let job = |file: &Candidate, log: &mut Log| {
        if many::not_encrypted(file, args.input_type.as_deref()) {
            log.err(many::not_encrypted_note(&file.path));
            return Outcome::NotEncrypted;
        }
        match update_one(&file.path, args, &config, &ctx, log) {
            Ok(true) => Outcome::Changed,
            Ok(false) => Outcome::Unchanged,
            Err(e) => Outcome::Failed(e),
        }
    };
    let outcomes = if args.yes {
        many::run_concurrently(&files, "updatekeys", job)
    } else {
        // Questions on a terminal come one at a time.
        files
            .iter()
            .map(|file| {
                let outcome = job(file, &mut Log::Direct);
                if let Outcome::Failed(e) = &outcome {
                    eprintln!("{e}");
                }
                outcome
            })
            .collect()
    };
    many::summary("updatekeys", outcomes)
}

/// A file whose key groups `updatekeys` would change.
struct UpdatePlan {
    path: PathBuf,
    format: Format,
    store: Box<dyn Store>,
    file: EncryptedFile,
    new_groups: Vec<Vec<Box<dyn MasterKey>>>,
    /// Identifiers of the old and new groups' keys, for the listing.
    old: Vec<Vec<String>>,
    new: Vec<Vec<String>>,
    old_threshold: usize,
    new_threshold: usize,
}

/// Reads `file` and compares its key groups with its creation rule's;
/// `None` when they already agree. Prints nothing.
fn plan_update(
    file: &Path,
    args: &UpdatekeysArgs,
    config: &sops_core::config::Config,
) -> Result<Option<UpdatePlan>, CliError> {
    let path = commands::absolute(file);
    if path.is_dir() {
        return Err(CliError::new(
            code::ERROR_GENERIC,
            "can't operate on a directory",
        ));
    }
    let bytes = std::fs::read(&path).map_err(|_| {
        CliError::new(
            code::ERROR_GENERIC,
            format!("stat {}: no such file or directory", path.display()),
        )
    })?;
    let format = commands::select_format(args.input_type.as_deref(), Some(&path));
    let store = commands::store_for_config(format, None, Some(config))?;
    let file = commands::open_encrypted(store.as_ref(), &bytes, &path)?;
    if config.creation_rules.is_none() {
        return Err(CliError::new(
            code::ERROR_GENERIC,
            format!(
                "The config file {} does not contain any creation rule",
                config.path.display()
            ),
        )
        .with_hint(Some(sops_core::error::NO_KEYS_HINT)));
    }
    let rule = commands::encrypt::creation_rule(Some(config), &path)?.ok_or_else(|| {
        CliError::new(
            code::ERROR_GENERIC,
            "error loading config: no matching creation rules found",
        )
        .with_hint(sops_core::config::ConfigError::NoMatchingRule.hint())
    })?;
    let new_groups = commands::encrypt::rule_groups(rule, &[])?;
    let old: Vec<Vec<String>> = file
        .metadata()
        .key_groups
        .iter()
        .map(|g| g.0.iter().map(|e| e.identifier()).collect())
        .collect();
    let new: Vec<Vec<String>> = new_groups
        .iter()
        .map(|g| g.iter().map(|k| k.identifier()).collect())
        .collect();
    let old_threshold = file.metadata().shamir_threshold;
    let new_threshold = if old_threshold > new.len() {
        new.len()
    } else {
        old_threshold
    };
    // The comparison `sops doctor` reports as drift (groups as sets).
    if sops_core::ops::doctor::key_drift(file.metadata(), &new).is_none() {
        return Ok(None);
    }
    Ok(Some(UpdatePlan {
        path,
        format,
        store,
        file,
        new_groups,
        old,
        new,
        old_threshold,
        new_threshold,
    }))
}

/// Updates one file's key groups; `Ok(true)` when it was written.
fn update_one(
    file: &Path,
    args: &UpdatekeysArgs,
    config: &sops_core::config::Config,
    ctx: &KeyContext,
    log: &mut Log,
) -> Result<bool, CliError> {
    let shown = commands::absolute(file);
    if shown.is_dir() {
        // Refused before the "Syncing" line, as sops does.
        return Err(CliError::new(
            code::ERROR_GENERIC,
            "can't operate on a directory",
        ));
    }
    log.err(format!("Syncing keys for file {}", shown.display()));
    let Some(plan) = plan_update(file, args, config)? else {
        log.err(format!("File {} already up to date", shown.display()));
        return Ok(false);
    };
    let UpdatePlan {
        path,
        format,
        store,
        mut file,
        new_groups,
        old,
        new,
        old_threshold,
        new_threshold,
    } = plan;
    log.out("The following changes will be made to the file's groups:");
    if old_threshold == new_threshold && new_threshold > 0 {
        log.out(format!("shamir_threshold: {new_threshold}"));
    } else {
        if new_threshold > 0 {
            log.out(format!("+++ shamir_threshold: {new_threshold}"));
        }
        if old_threshold > 0 {
            log.out(format!("--- shamir_threshold: {old_threshold}"));
        }
    }
    let empty = Vec::new();
    for i in 0..old.len().max(new.len()) {
        let (o, n) = (old.get(i).unwrap_or(&empty), new.get(i).unwrap_or(&empty));
        log.out(format!("Group {}", i + 1));
        for k in o.iter().filter(|k| n.contains(k)) {
            log.out(format!("    {k}"));
        }
        for k in n.iter().filter(|k| !o.contains(k)) {
            log.out(format!("+++ {k}"));
        }
        for k in o.iter().filter(|k| !n.contains(k)) {
            log.out(format!("--- {k}"));
        }
    }
    if !args.yes && !confirm()? {
        log.err(format!("File {} left unchanged", path.display()));
        return Ok(false);
    }
    let key = file
        .recover_key(ctx, &[])
        .map_err(|e| library_error(e, format))?;
    // Several groups store the threshold they need; one group keeps the
    // value computed above (sops does the same).
    let threshold = if new_groups.len() > 1 {
        Metadata::threshold_for(new_groups.len(), new_threshold)
    } else {
        new_threshold
    };
    // Values, lastmodified and the MAC stay as they are.
    file.set_key_groups(&key, &new_groups, threshold, ctx)
        .map_err(|e| library_error(e, format))?;
    let output = commands::emit_encrypted(&file, store.as_ref())?;
    commands::write_output(&Destination::InPlace(path.clone()), &output)?;
    log.err(format!("File {} synced with new keys", path.display()));
    Ok(true)
}

/// `Is this okay? (y/n):` until y or n; EOF is an error.
fn confirm() -> Result<bool, CliError> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock();
    loop {
        print!("Is this okay? (y/n):");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        let mut answer = String::new();
        match lines.read_line(&mut answer) {
            Ok(0) | Err(_) => return Err(CliError::new(code::ERROR_GENERIC, "EOF")),
            Ok(_) => match answer.trim() {
                "y" => return Ok(true),
                "n" => return Ok(false),
                _ => {}
            },
        }
    }
}

/// `sops groups add` / `sops groups delete`: change the key groups, re-wrap
/// the same data key; values, `lastmodified` and the MAC stay as they are.
pub fn run_groups(args: &crate::cli::GroupsArgs, indent: Option<i64>) -> Result<(), CliError> {
    use crate::cli::GroupsCommand;
    let (file, in_place, threshold) = match &args.command {
        GroupsCommand::Add(a) => (&a.file, a.in_place, a.shamir.shamir_threshold),
        GroupsCommand::Delete(d) => (&d.file, d.in_place, d.shamir.shamir_threshold),
    };
    if let GroupsCommand::Add(a) = &args.command {
        if !a.extra.is_empty() {
            return Err(CliError::new(
                code::ERROR_GENERIC,
                "error: no positional arguments allowed",
            ));
        }
        if let Some(flag) = a.keys.refused() {
            return Err(CliError::new(
                code::ERROR_GENERIC,
                keystore_refusal(&flag, &GroupsAddKeyFlags::usable()),
            ));
        }
    }
    let delete_index = match &args.command {
        GroupsCommand::Delete(d) => {
            let [index] = d.positionals.as_slice() else {
                return Err(CliError::new(
                    code::ERROR_GENERIC,
                    "error: exactly one positional argument (index) required",
                ));
            };
            Some(index.parse::<usize>().map_err(|_| {
                CliError::new(
                    code::ERROR_GENERIC,
                    format!("failed to parse [index] argument: strconv.ParseUint: parsing {index:?}: invalid syntax"),
                )
            })?)
        }
        GroupsCommand::Add(_) => None,
    };
    let path = commands::absolute(Path::new(file));
    let bytes = std::fs::read(&path).map_err(|_| {
        CliError::new(
            code::COULD_NOT_READ_INPUT_FILE,
            format!("Error reading file: open {file}: no such file or directory"),
        )
    })?;
    let format = commands::select_format(None, Some(&path));
    let store = commands::store_for_config(format, indent, None)?;
    let mut file = commands::open_encrypted(store.as_ref(), &bytes, &path)?;
    let ctx = commands::key_context();
    let key = file
        .recover_key(&ctx, &[])
        .map_err(|e| library_error(e, format))?;
    let mut groups = groups_of(file.metadata())?;
    match (&args.command, delete_index) {
        (GroupsCommand::Add(a), _) => {
            let context = a
                .encryption_context
                .as_deref()
                .and_then(parse_encryption_context)
                .unwrap_or_default();
            let mut specs = with_context(a.keys.specs(), &context);
            if !a.aws_profile.is_empty() {
                for spec in specs
                    .iter_mut()
                    .filter(|s| s.kind == sops_core::keys::aws_kms::KIND)
                {
                    spec.fields
                        .push(("aws_profile".to_owned(), a.aws_profile.clone()));
                }
            }
            groups.push(flag_keys(specs)?);
        }
        (GroupsCommand::Delete(_), Some(index)) => {
            if index >= groups.len() {
                return Err(CliError::new(
                    code::ERROR_GENERIC,
                    format!("no key group with index {index}"),
                ));
            }
            groups.remove(index);
        }
        (GroupsCommand::Delete(_), None) => {}
    }
    let threshold = if threshold != 0 {
        threshold
    } else {
        file.metadata().shamir_threshold
    };
    if groups.len() < threshold {
        return Err(CliError::new(
            code::ERROR_GENERIC,
            format!(
                "removing this key group will make the Shamir threshold impossible to satisfy: Shamir threshold is {}, but we only have {} key groups",
                threshold,
                groups.len()
            ),
        ));
    }
    let threshold = Metadata::stored_threshold(groups.len(), threshold);
    // sops ignores a failure here and writes a file nobody can decrypt; we refuse.
    file.set_key_groups(&key, &groups, threshold, &ctx)
        .map_err(|e| library_error(e, format))?;
    let output = commands::emit_encrypted(&file, store.as_ref())?;
    let dest = if in_place {
        Destination::InPlace(path)
    } else {
        Destination::Stdout
    };
    commands::write_output(&dest, &output)
}
