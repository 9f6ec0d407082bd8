//! What the user typed: clap definitions mirroring sops 3.11's flags
//! (sops-cli.md §1). Resolution into what we will do happens in `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[cfg(test)]
mod help_check;
mod key_flags;
mod value_hints;

pub use value_hints::CompletionShell;

pub use key_flags::{AddRemoveFlags, GroupsAddKeyFlags, KeyFlags, keystore_refusal};

// No `Debug` on `Cli`, `RootArgs`, `Command` and `SetArgs`: `--set` and
// `sops set FILE PATH VALUE` carry a plaintext value on the command line.
#[derive(Parser)]
#[command(
    name = "sops",
    about = "sops - encrypted file editor with AWS KMS, GCP KMS, Azure Key Vault, age, and GPG support",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub root: RootArgs,
}

/// The four suffix/regex flags every encrypting command has.
#[derive(Debug, Args, Default, Clone)]
pub struct RuleFlags {
    /// override the unencrypted key suffix.
    #[arg(long = "unencrypted-suffix")]
    pub unencrypted_suffix: Option<String>,
    /// override the encrypted key suffix. When empty, all keys will be encrypted, unless otherwise marked with unencrypted-suffix.
    #[arg(long = "encrypted-suffix")]
    pub encrypted_suffix: Option<String>,
    /// set the unencrypted key regex. When specified, only keys not matching the regex will be encrypted.
    #[arg(long = "unencrypted-regex")]
    pub unencrypted_regex: Option<String>,
    /// set the encrypted key regex. When specified, only keys matching the regex will be encrypted.
    #[arg(long = "encrypted-regex")]
    pub encrypted_regex: Option<String>,
}

/// Flags for the key services (sops-cli.md §10): the local one (this
/// process' credentials) unless disabled, then each `--keyservice` URI
/// (`commands::use_key_services`).
#[derive(Debug, Args, Default, Clone)]
pub struct KeyServiceFlags {
    /// use local key service
    #[arg(long = "enable-local-keyservice", env = "SOPS_ENABLE_LOCAL_KEYSERVICE", default_value = "true", action = clap::ArgAction::Set, hide_default_value = true)]
    pub enable_local_keyservice: String,
    /// specify the key services to use in addition to the local one (protocol://address, e.g. tcp://myserver.com:5000)
    #[arg(long = "keyservice", env = "SOPS_KEYSERVICE", value_delimiter = ',')]
    pub keyservice: Vec<String>,
}

/// `--input-type`/`--output-type` of every command that reads a file and
/// writes one (the read-only `filestatus` and `updatekeys` take only
/// `--input-type`, as in sops).
#[derive(Debug, Args, Default, Clone)]
pub struct TypeFlags {
    /// currently json, yaml, dotenv and binary are supported. If not set, sops will use the file's extension to determine the type
    #[arg(long = "input-type", value_parser = value_hints::format_name(), hide_possible_values = true)]
    pub input_type: Option<String>,
    /// currently json, yaml, dotenv and binary are supported. If not set, sops will use the input file's extension to determine the output format
    #[arg(long = "output-type", value_parser = value_hints::format_name(), hide_possible_values = true)]
    pub output_type: Option<String>,
}

/// `--ignore-mac` of the commands that decrypt a file and check its MAC.
#[derive(Debug, Args, Default, Clone)]
pub struct IgnoreMacFlag {
    /// ignore Message Authentication Code during decryption
    #[arg(long = "ignore-mac")]
    pub ignore_mac: bool,
}

/// `--decryption-order` (env `SOPS_DECRYPTION_ORDER`) of every command that
/// recovers a data key.
#[derive(Debug, Args, Default, Clone)]
pub struct DecryptionOrderFlag {
    /// comma separated list of decryption key types
    #[arg(
        long = "decryption-order",
        env = "SOPS_DECRYPTION_ORDER",
        value_delimiter = ','
    )]
    pub decryption_order: Vec<String>,
}

/// `--shamir-secret-sharing-threshold` of the commands that (re)build key groups.
#[derive(Debug, Args, Default, Clone)]
pub struct ShamirFlag {
    /// the number of master keys required to retrieve the data key with shamir
    #[arg(long = "shamir-secret-sharing-threshold", default_value_t = 0)]
    pub shamir_threshold: usize,
}

/// Format and file-name flags shared by encrypt and decrypt.
#[derive(Debug, Args, Default, Clone)]
pub struct IoFlags {
    #[command(flatten)]
    pub types: TypeFlags,
    /// save the output after encryption or decryption to the file specified
    #[arg(long = "output")]
    pub output: Option<PathBuf>,
    /// use this filename instead of the provided argument for loading configuration, and for determining input type and output type
    #[arg(long = "filename-override")]
    pub filename_override: Option<PathBuf>,
    /// write output back to the same file instead of stdout
    #[arg(short = 'i', long = "in-place")]
    pub in_place: bool,
}

#[derive(Args)]
pub struct RootArgs {
    /// decrypt a file and output the result to stdout
    #[arg(short = 'd', long = "decrypt")]
    pub decrypt: bool,
    /// encrypt a file and output the result to stdout
    #[arg(short = 'e', long = "encrypt")]
    pub encrypt: bool,
    /// generate a new data encryption key and reencrypt all values with the new key
    #[arg(short = 'r', long = "rotate")]
    pub rotate: bool,
    /// set a specific key or branch in the input document. value must be a json encoded string.
    #[arg(long = "set")]
    pub set: Option<String>,
    /// extract a specific key or branch from the input document. Decrypt mode only.
    #[arg(long = "extract")]
    pub extract: Option<String>,
    #[command(flatten)]
    pub mac: IgnoreMacFlag,
    /// compute the MAC only over values that are encrypted
    #[arg(long = "mac-only-encrypted")]
    pub mac_only_encrypted: bool,
    /// set the unencrypted comment regex
    #[arg(long = "unencrypted-comment-regex")]
    pub unencrypted_comment_regex: Option<String>,
    /// set the encrypted comment regex
    #[arg(long = "encrypted-comment-regex")]
    pub encrypted_comment_regex: Option<String>,
    /// the number of spaces to indent YAML or JSON encoded file
    #[arg(long = "indent", allow_negative_numbers = true)]
    pub indent: Option<i64>,
    /// comma separated list of KMS encryption context key:value pairs
    #[arg(long = "encryption-context")]
    pub encryption_context: Option<String>,
    #[command(flatten)]
    pub shamir: ShamirFlag,
    /// display master encryption keys in the file during editing
    #[arg(short = 's', long = "show-master-keys")]
    pub show_master_keys: bool,
    #[command(flatten)]
    pub order: DecryptionOrderFlag,
    /// print the version
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// path to sops' config file. If set, sops will not search for the config file recursively.
    #[arg(long = "config", env = "SOPS_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// enable verbose logging output
    // sops 3.11 honours it only in the root form (and in publish, where ours
    // prints its few steps, and keyservice): `sops --verbose decrypt f` logs nothing extra,
    // as here. In the root form sops adds debug log lines; we have no debug
    // logging, so the root form says so once on stderr instead of ignoring
    // the flag silently.
    #[arg(long = "verbose", global = true)]
    pub verbose: bool,
    /// disable checking GitHub for newer versions of sops
    #[arg(
        long = "disable-version-check",
        env = "SOPS_DISABLE_VERSION_CHECK",
        global = true
    )]
    pub disable_version_check: bool,
    /// check whether the latest version of sops is newer than the current version
    #[arg(long = "check-for-updates")]
    pub check_for_updates: bool,
    #[command(flatten)]
    pub keys: KeyFlags,
    #[command(flatten)]
    pub rules: RuleFlags,
    #[command(flatten)]
    pub io: IoFlags,
    #[command(flatten)]
    pub keyservice: KeyServiceFlags,
    #[command(flatten)]
    pub add_remove: AddRemoveFlags,
    /// the file to work on; further arguments are ignored with a warning (as sops does).
    pub file: Option<PathBuf>,
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DecryptArgs {
    // The help as an attribute, not a doc comment: rustdoc would read
    // `[0]` as an intra-doc link.
    #[arg(
        long = "extract",
        help = r#"extract a specific key or branch from the input document. Example: --extract '["somekey"][0]'"#
    )]
    pub extract: Option<String>,
    #[command(flatten)]
    pub mac: IgnoreMacFlag,
    #[command(flatten)]
    pub order: DecryptionOrderFlag,
    #[command(flatten)]
    pub io: IoFlags,
    #[command(flatten)]
    pub keyservice: KeyServiceFlags,
    /// the encrypted file; stdin when omitted (then give --filename-override or --input-type)
    pub file: Option<PathBuf>,
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// comma separated list of KMS encryption context key:value pairs
    #[arg(long = "encryption-context")]
    pub encryption_context: Option<String>,
    #[command(flatten)]
    pub shamir: ShamirFlag,
    #[command(flatten)]
    pub keys: KeyFlags,
    #[command(flatten)]
    pub rules: RuleFlags,
    #[command(flatten)]
    pub io: IoFlags,
    #[command(flatten)]
    pub keyservice: KeyServiceFlags,
    /// the file to encrypt; stdin when omitted (then give --filename-override)
    pub file: Option<PathBuf>,
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

// sops' `set` has the Shamir flag; we accept it but keep it out of the help.
#[derive(Args)]
#[command(mut_arg("shamir_threshold", |a| a.hide(true)))]
pub struct SetArgs {
    /// read the value from this file (its whole content is the JSON value)
    #[arg(long = "value-file")]
    pub value_file: bool,
    /// read the value from stdin (the whole of it is the JSON value)
    #[arg(long = "value-stdin")]
    pub value_stdin: bool,
    /// do nothing if the given index already has the given value
    #[arg(long = "idempotent")]
    pub idempotent: bool,
    #[command(flatten)]
    pub edit: InPlaceEditArgs,
    #[command(flatten)]
    pub shamir: ShamirFlag,
    /// FILE PATH VALUE (or FILE PATH with --value-stdin)
    pub positionals: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UnsetArgs {
    /// do nothing if the given index does not exist
    #[arg(long = "idempotent")]
    pub idempotent: bool,
    #[command(flatten)]
    pub edit: InPlaceEditArgs,
    /// FILE PATH
    pub positionals: Vec<String>,
}

/// Flags of the commands that decrypt a file, change it and write it back.
#[derive(Debug, Args)]
pub struct InPlaceEditArgs {
    #[command(flatten)]
    pub types: TypeFlags,
    #[command(flatten)]
    pub mac: IgnoreMacFlag,
    #[command(flatten)]
    pub order: DecryptionOrderFlag,
    #[command(flatten)]
    pub keyservice: KeyServiceFlags,
}

/// `sops replace` (ours, not in sops 3.11).
#[derive(Debug, Args)]
#[command(after_help = "\
Replaces the content of an encrypted file with a new plaintext, keeping its data key, key groups,
partial-encryption rules and the exact ciphertext of every value whose path and plaintext did not
change, so that `git diff` shows only the changed values (plus the MAC and lastmodified lines).
Changed and added values get new IVs; the MAC is computed again; the file is replaced atomically.
A plaintext equal to the file's leaves the file untouched.

Examples:
  generate-config | sops replace secrets.enc.yaml
  sops replace secrets.enc.yaml new-secrets.yaml
  sops replace --plaintext-type json secrets.enc.yaml - < new.json")]
pub struct ReplaceArgs {
    /// format of the new plaintext (yaml, json, dotenv, ini, binary); default: the encrypted file's format
    #[arg(long = "plaintext-type", value_parser = value_hints::format_name(), hide_possible_values = true)]
    pub plaintext_type: Option<String>,
    #[command(flatten)]
    pub edit: InPlaceEditArgs,
    /// the encrypted file to rewrite in place
    #[arg(value_name = "ENCRYPTED_FILE")]
    pub file: Option<PathBuf>,
    /// the new plaintext; `-` or omitted: stdin
    #[arg(value_name = "PLAINTEXT_FILE")]
    pub plaintext: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "With --check (for pre-commit; not a sops flag): every file among PATHS \
(directories walked; default: the current directory) that a creation rule with a path_regex \
of .sops.yaml covers must be sops-encrypted with a sops block that has a version, a mac and a \
master key, and no value that its rule says is encrypted may be in the clear. The files that \
are not are listed on stdout; exit 1 if there is any. No key is used and no value is printed."
)]
pub struct FilestatusArgs {
    /// currently json, yaml, dotenv and binary are supported. If not set, sops will use the file's extension to determine the type
    #[arg(long = "input-type", value_parser = value_hints::format_name(), hide_possible_values = true)]
    pub input_type: Option<String>,
    /// check that every file of PATHS a creation rule covers is encrypted (pre-commit hook)
    #[arg(long = "check")]
    pub check: bool,
    /// the file (with --check: the first of PATHS, files and directories)
    pub file: Option<PathBuf>,
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// display master encryption keys in the file during editing
    #[arg(short = 's', long = "show-master-keys")]
    pub show_master_keys: bool,
    #[command(flatten)]
    pub mac: IgnoreMacFlag,
    #[command(flatten)]
    pub order: DecryptionOrderFlag,
    /// comma separated list of KMS encryption context key:value pairs
    #[arg(long = "encryption-context")]
    pub encryption_context: Option<String>,
    #[command(flatten)]
    pub shamir: ShamirFlag,
    #[command(flatten)]
    pub types: TypeFlags,
    #[command(flatten)]
    pub keys: KeyFlags,
    #[command(flatten)]
    pub rules: RuleFlags,
    #[command(flatten)]
    pub keyservice: KeyServiceFlags,
    /// the file to edit; created when it does not exist
    pub file: Option<PathBuf>,
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Several files or directories (not a sops feature): with --in-place, \
`sops rotate -i PATH...` rotates every file named and every sops-encrypted file under each \
directory that a creation rule of .sops.yaml covers, several at a time, and ends with a summary \
(N rotated, K failed). A file that fails is left untouched and the others go on; the exit code \
is the first failure's. Symbolic links inside directories are not followed."
)]
pub struct RotateArgs {
    /// comma separated list of KMS encryption context key:value pairs
    #[arg(long = "encryption-context")]
    pub encryption_context: Option<String>,
    #[command(flatten)]
    pub order: DecryptionOrderFlag,
    #[command(flatten)]
    pub add_remove: AddRemoveFlags,
    #[command(flatten)]
    pub io: IoFlags,
    #[command(flatten)]
    pub keyservice: KeyServiceFlags,
    /// the file to rotate (with --in-place: several files and directories)
    pub file: Option<PathBuf>,
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Directories (not a sops feature) are walked: their files that a creation \
rule of .sops.yaml covers and that are sops-encrypted are updated (others are skipped with a \
note; symbolic links inside directories are not followed). With several files, --yes works on \
them several at a time (each file's messages kept together, in order; a progress line when \
stderr is a terminal); without it each file's changes are shown and asked about in turn. A \
summary ends the run (N updated, M unchanged, K failed); a file that fails is left untouched \
and the others go on; the exit code is the first failure's."
)]
pub struct UpdatekeysArgs {
    /// pre-approve all changes and run non-interactively
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
    /// currently json, yaml, dotenv and binary are supported. If not set, sops will use the file's extension to determine the type
    #[arg(long = "input-type", value_parser = value_hints::format_name(), hide_possible_values = true)]
    pub input_type: Option<String>,
    #[command(flatten)]
    pub keyservice: KeyServiceFlags,
    /// files and directories to update
    #[arg(value_name = "PATH")]
    pub files: Vec<PathBuf>,
}

// --- sops doctor (issue 14) ---
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// print one JSON object (schema in the README) instead of the report
    #[arg(long = "json")]
    pub json: bool,
    /// currently json, yaml, dotenv and binary are supported. If not set, sops will use the file's extension to determine the type
    #[arg(long = "input-type", value_parser = value_hints::format_name(), hide_possible_values = true)]
    pub input_type: Option<String>,
    #[command(flatten)]
    pub order: DecryptionOrderFlag,
    #[command(flatten)]
    pub keyservice: KeyServiceFlags,
    /// the encrypted files to examine
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}
// --- end sops doctor ---

#[derive(Debug, Args)]
pub struct GroupsArgs {
    #[command(subcommand)]
    pub command: GroupsCommand,
}

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// add a new group to a SOPS file
    Add(GroupsAddArgs),
    /// delete a key group from a SOPS file
    Delete(GroupsDeleteArgs),
}

#[derive(Debug, Args)]
pub struct GroupsAddArgs {
    /// the file to add the group to
    #[arg(long = "file", default_value = "")]
    pub file: String,
    // The keystore flags (`--age`, `--pgp` …), from the keystore registry.
    #[command(flatten)]
    pub keys: GroupsAddKeyFlags,
    /// the AWS profile to use for requests to AWS
    #[arg(long = "aws-profile", default_value = "", hide_default_value = true)]
    pub aws_profile: String,
    /// write output back to the same file instead of stdout
    #[arg(short = 'i', long = "in-place")]
    pub in_place: bool,
    #[command(flatten)]
    pub shamir: ShamirFlag,
    /// comma separated list of KMS encryption context key:value pairs
    #[arg(long = "encryption-context")]
    pub encryption_context: Option<String>,
    #[command(flatten)]
    pub keyservice: KeyServiceFlags,
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

#[derive(Debug, Args)]
pub struct GroupsDeleteArgs {
    /// the file to delete the group from
    #[arg(long = "file", default_value = "")]
    pub file: String,
    /// write output back to the same file instead of stdout
    #[arg(short = 'i', long = "in-place")]
    pub in_place: bool,
    #[command(flatten)]
    pub shamir: ShamirFlag,
    #[command(flatten)]
    pub keyservice: KeyServiceFlags,
    /// INDEX of the group to delete (0-based)
    pub positionals: Vec<String>,
}

/// Flags shared by exec-env and exec-file.
#[derive(Debug, Args)]
pub struct ExecCommon {
    /// background the process and don't wait for it to complete (DEPRECATED)
    #[arg(long = "background")]
    pub background: bool,
    /// the user to run the command as
    #[arg(long = "user")]
    pub user: Option<String>,
    #[command(flatten)]
    pub order: DecryptionOrderFlag,
    #[command(flatten)]
    pub keyservice: KeyServiceFlags,
    /// FILE COMMAND
    pub positionals: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecEnvArgs {
    /// insert decrypted values into the environment, without the environment of the sops process
    #[arg(long = "pristine")]
    pub pristine: bool,
    /// run the command in place of sops (exec), so its exit status is the command's own
    #[arg(long = "same-process")]
    pub same_process: bool,
    #[command(flatten)]
    pub common: ExecCommon,
}

#[derive(Debug, Args)]
pub struct ExecFileArgs {
    /// use a regular file (mode 0600) instead of a named pipe that can be read once
    #[arg(long = "no-fifo")]
    pub no_fifo: bool,
    /// the name of the file (default: tmp-file)
    #[arg(long = "filename")]
    pub filename: Option<String>,
    #[command(flatten)]
    pub types: TypeFlags,
    #[command(flatten)]
    pub common: ExecCommon,
}

/// `sops keyservice`: serve `Encrypt`/`Decrypt` with this process' keys.
#[derive(Debug, Args)]
pub struct KeyserviceArgs {
    /// network to listen on, e.g. 'tcp' or 'unix'
    #[arg(long = "network", visible_alias = "net", default_value = "tcp")]
    pub network: String,
    /// address to listen on, e.g. '127.0.0.1:5000' or '/tmp/sops.sock'
    #[arg(
        long = "address",
        visible_alias = "addr",
        default_value = "127.0.0.1:5000"
    )]
    pub address: String,
    /// prompt user to confirm every incoming request
    #[arg(long = "prompt")]
    pub prompt: bool,
    /// enable verbose logging output
    #[arg(long = "verbose")]
    pub verbose: bool,
}

/// `sops age-keygen`: ours, not sops'; age-keygen's file format.
#[derive(Debug, Args)]
pub struct AgeKeygenArgs {
    /// generate a hybrid post-quantum key pair (age1pq1…, AGE-SECRET-KEY-PQ-1…), as age-keygen -pq
    #[arg(long = "pq")]
    pub pq: bool,
    /// write the key file to FILE (created with mode 0600; never overwritten) instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

/// `sops publish FILE|DIR` (`--verbose` is the root's global flag, which
/// sops' publish also honours).
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// pre-approve all changes and run non-interactively
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
    /// omit file extensions in destination path when publishing sops file to configured destinations
    #[arg(long = "omit-extensions")]
    pub omit_extensions: bool,
    /// if the source path is a directory, publish all its content recursively
    #[arg(long = "recursive")]
    pub recursive: bool,
    #[command(flatten)]
    pub order: DecryptionOrderFlag,
    #[command(flatten)]
    pub keyservice: KeyServiceFlags,
    /// the file or directory to publish
    pub file: Option<PathBuf>,
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

/// `sops merge-driver BASE OURS THEIRS PATH`: ours, not sops'. git runs it
/// as `driver = sops merge-driver %O %A %B %P`.
#[derive(Debug, Args)]
#[command(after_help = MERGE_DRIVER_HELP)]
pub struct MergeDriverArgs {
    #[command(flatten)]
    pub order: DecryptionOrderFlag,
    #[command(flatten)]
    pub keyservice: KeyServiceFlags,
    /// the common ancestor's version (git's %O; empty when there is none)
    pub base: PathBuf,
    /// our version (git's %A), replaced by the merge result
    pub ours: PathBuf,
    /// their version (git's %B)
    pub theirs: PathBuf,
    /// the file's path in the repository (git's %P): gives the format
    pub path: PathBuf,
}

const MERGE_DRIVER_HELP: &str = "\
Set it up once per repository:
  git config merge.sops.name 'sops three-way merge'
  git config merge.sops.driver 'sops merge-driver %O %A %B %P'
  echo '*.enc.yaml merge=sops' >> .gitattributes

Exit status:
  0    merged; the result (encrypted with ours' data key) is in OURS
  1    conflict: each value both sides changed holds both versions between
       <<<<<<< ours / ======= / >>>>>>> theirs lines, encrypted like any
       value; resolve with `sops edit FILE`, then `git add FILE`
  1    not merged (data key rotated on both sides, key groups or the
       encryption rule changed on both sides): OURS is left as it is and
       stderr says why
  128  a side could not be decrypted (no identity): OURS is left as it is";

// --- sops completion / sops man (issue 15) ---
/// `sops completion SHELL`: sops 3.11 has the command (bash and zsh, urfave's
/// script, which asks the binary for candidates at each TAB); ours prints a
/// script generated from these definitions, so it needs no hidden flag.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// the shell to write the script for
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

const COMPLETION_LONG_ABOUT: &str = "\
Generate shell completion scripts: subcommands, flags, file names for file arguments and the \
fixed values of flags such as --input-type. The script is written to stdout.

To load completions:
  bash        source <(sops completion bash)
  zsh         source <(sops completion zsh)   (after compinit)
  fish        sops completion fish | source
  powershell  sops completion powershell | Out-String | Invoke-Expression

sops 3.11's command of the same name prints a script for bash and zsh only; fish and powershell \
are ours.";

/// `sops man [--out-dir DIR]` (ours; sops has no manual page).
#[derive(Debug, Args)]
pub struct ManArgs {
    /// write sops.1 and one page per subcommand (sops-decrypt.1, ...) into DIR instead of sops.1 to stdout
    #[arg(long = "out-dir", value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub out_dir: Option<PathBuf>,
}
// --- end sops completion / sops man ---

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per run
pub enum Command {
    /// decrypt a file, and output the results to stdout
    Decrypt(DecryptArgs),
    /// encrypt a file, and output the results to stdout
    Encrypt(EncryptArgs),
    /// edit an encrypted file
    Edit(EditArgs),
    /// set a specific key or branch in the input document
    Set(SetArgs),
    /// unset a specific key or branch in the input document
    Unset(UnsetArgs),
    /// generate a new data encryption key and reencrypt all values with the new key
    Rotate(RotateArgs),
    /// update the keys of SOPS files using the config file
    Updatekeys(UpdatekeysArgs),
    /// modify the groups on a SOPS file
    Groups(GroupsArgs),
    /// check the status of the file, returning encryption status
    Filestatus(FilestatusArgs),
    /// execute a command with decrypted values inserted into the environment
    ExecEnv(ExecEnvArgs),
    /// execute a command with the decrypted contents as a temporary file
    ExecFile(ExecFileArgs),
    /// publish sops file or directory to a configured destination
    Publish(PublishArgs),
    /// start a SOPS key service server
    Keyservice(KeyserviceArgs),
    /// generate shell completion scripts (bash, zsh, fish, powershell)
    #[command(long_about = COMPLETION_LONG_ABOUT)]
    Completion(CompletionArgs),
    /// write the manual pages: sops.1 to stdout, or one page per command into a directory (not a sops command)
    Man(ManArgs),
    /// explain whether (and why not) this machine can decrypt SOPS files (not a sops command)
    #[command(
        long_about = "For each file: its key groups and keys, the identities and credentials this machine offers and where they come from, the result of trying every key with its reason, whether the Shamir threshold is met, whether the MAC verifies (values are decrypted in memory and never printed), and whether the keys still match the .sops.yaml creation rule (else: run `sops updatekeys`).\n\nExit status: 0 when every file decrypts and its MAC verifies; otherwise the sops code of the first file that does not (128: no key could recover the data key, 51: MAC mismatch, 2: unreadable file, 1: not a SOPS file, ...). Key drift alone does not fail."
    )]
    Doctor(DoctorArgs),
    /// generate an age key pair (hybrid post-quantum with --pq) in age-keygen's format (not a sops command)
    AgeKeygen(AgeKeygenArgs),
    /// replace the plaintext of an encrypted file, keeping the ciphertext of unchanged values (not a sops 3.11 command)
    Replace(ReplaceArgs),
    /// git merge driver: three-way merge of encrypted files (not a sops command)
    MergeDriver(MergeDriverArgs),
}

impl Command {
    /// The key service flags of the command, if it has them.
    pub fn keyservice(&self) -> Option<&KeyServiceFlags> {
        match self {
            Command::Decrypt(a) => Some(&a.keyservice),
            Command::Encrypt(a) => Some(&a.keyservice),
            Command::Edit(a) => Some(&a.keyservice),
            Command::Set(a) => Some(&a.edit.keyservice),
            Command::Unset(a) => Some(&a.edit.keyservice),
            Command::Rotate(a) => Some(&a.keyservice),
            Command::Updatekeys(a) => Some(&a.keyservice),
            Command::Groups(g) => Some(match &g.command {
                GroupsCommand::Add(a) => &a.keyservice,
                GroupsCommand::Delete(d) => &d.keyservice,
            }),
            Command::ExecEnv(a) => Some(&a.common.keyservice),
            Command::ExecFile(a) => Some(&a.common.keyservice),
            Command::Publish(a) => Some(&a.keyservice),
            Command::Replace(a) => Some(&a.edit.keyservice),
            Command::Doctor(a) => Some(&a.keyservice),
            Command::MergeDriver(a) => Some(&a.keyservice),
            Command::Filestatus(_)
            | Command::Keyservice(_)
            | Command::Completion(_)
            | Command::Man(_)
            | Command::AgeKeygen(_) => None,
        }
    }
}

/// urfave/cli accepts long flags with one dash (`-extract`); clap does not.
/// Rewrite `-name` / `-name=value` to the two-dash form when `name` is a
/// long flag of the command line, before the first `--`.
pub fn normalize_single_dash_flags(args: Vec<String>, command: &clap::Command) -> Vec<String> {
    let mut longs = std::collections::HashSet::new();
    let mut collect = |cmd: &clap::Command| {
        for arg in cmd.get_arguments() {
            if let Some(l) = arg.get_long() {
                longs.insert(l.to_owned());
            }
        }
    };
    collect(command);
    for sub in command.get_subcommands() {
        collect(sub);
    }
    let mut seen_separator = false;
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            if i == 0 || seen_separator {
                return arg;
            }
            if arg == "--" {
                seen_separator = true;
                return arg;
            }
            if let Some(rest) = arg.strip_prefix('-')
                && !rest.starts_with('-')
                && rest.len() > 1
                && longs.contains(rest.split('=').next().unwrap_or(rest))
            {
                return format!("-{arg}");
            }
            arg
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let args = normalize_single_dash_flags(
            args.iter().map(|s| (*s).to_owned()).collect(),
            &Cli::command(),
        );
        Cli::try_parse_from(args).expect("parses")
    }

    #[test]
    fn single_dash_long_flags_are_accepted() {
        let cli = parse(&["sops", "decrypt", "-extract", r#"["a"]"#, "f.yaml"]);
        let Some(Command::Decrypt(d)) = cli.command else {
            panic!("decrypt expected")
        };
        assert_eq!(d.extract.as_deref(), Some(r#"["a"]"#));
        assert_eq!(d.file.as_deref(), Some(std::path::Path::new("f.yaml")));
    }

    #[test]
    fn flags_may_follow_the_file_in_subcommands() {
        let cli = parse(&[
            "sops",
            "decrypt",
            "f.yaml",
            "--extract",
            r#"["a"]"#,
            "--output-type",
            "json",
        ]);
        let Some(Command::Decrypt(d)) = cli.command else {
            panic!("decrypt expected")
        };
        assert_eq!(d.extract.as_deref(), Some(r#"["a"]"#));
        assert_eq!(d.io.types.output_type.as_deref(), Some("json"));
    }

    #[test]
    fn legacy_forms() {
        let cli = parse(&["sops", "-e", "-i", "--age", "age1x,age1y", "f.yaml"]);
        assert!(cli.command.is_none());
        assert!(cli.root.encrypt && cli.root.io.in_place);
        assert_eq!(cli.root.keys.ids(sops_core::keys::age::KIND), "age1x,age1y");
        let cli = parse(&["sops", "-d", "--indent", "2", "f.json", "extra"]);
        assert!(cli.root.decrypt);
        assert_eq!(cli.root.indent, Some(2));
        assert_eq!(cli.root.extra, vec!["extra".to_owned()]);
        let cli = parse(&[
            "sops",
            "--config",
            "c.yaml",
            "encrypt",
            "--encrypted-regex",
            "^data$",
            "f.yaml",
        ]);
        assert_eq!(
            cli.root.config.as_deref(),
            Some(std::path::Path::new("c.yaml"))
        );
        let Some(Command::Encrypt(e)) = cli.command else {
            panic!("encrypt expected")
        };
        assert_eq!(e.rules.encrypted_regex.as_deref(), Some("^data$"));
    }

    #[test]
    fn subcommands_reject_root_only_flags() {
        let args = normalize_single_dash_flags(
            ["sops", "decrypt", "--indent", "2", "f.yaml"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            &Cli::command(),
        );
        assert!(Cli::try_parse_from(args).is_err());
    }

    #[test]
    fn words_after_separator_are_not_rewritten() {
        let args = normalize_single_dash_flags(
            ["sops", "--", "-extract"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            &Cli::command(),
        );
        assert_eq!(args[2], "-extract");
    }
}
