//! sops' process exit codes (`cmd/sops/codes/codes.go`, sops 3.11).
//!
//! They live in the library, next to [`Error::exit_code`](crate::Error::exit_code),
//! because both binaries report them: the `sops` drop-in must exit exactly
//! as sops does, and the Argo CD plugin reuses them so operators can alert on
//! the same numbers. Codes sops defines for features we do not have yet are
//! listed too, so the table reads 1:1 against the Go source.

/// Anything without a more specific code.
pub const ERROR_GENERIC: u8 = 1;
/// The input file could not be read or parsed as plaintext.
pub const COULD_NOT_READ_INPUT_FILE: u8 = 2;
/// The output file could not be written.
pub const COULD_NOT_WRITE_OUTPUT_FILE: u8 = 3;
/// A tree could not be emitted in the output format.
pub const ERROR_DUMPING_TREE: u8 = 4;
/// The config file could not be read.
pub const ERROR_READING_CONFIG: u8 = 5;
/// `--encryption-context` is not `key:value,…`.
pub const ERROR_INVALID_KMS_ENCRYPTION_CONTEXT_FORMAT: u8 = 6;
/// `--set` / `set` got an invalid index or value.
pub const ERROR_INVALID_SET_FORMAT: u8 = 7;
/// Flags that cannot be combined.
pub const ERROR_CONFLICTING_PARAMETERS: u8 = 8;
/// The MAC could not be encrypted.
pub const ERROR_ENCRYPTING_MAC: u8 = 21;
/// A value could not be encrypted.
pub const ERROR_ENCRYPTING_TREE: u8 = 23;
/// The MAC could not be decrypted.
pub const ERROR_DECRYPTING_MAC: u8 = 24;
/// A value could not be decrypted.
pub const ERROR_DECRYPTING_TREE: u8 = 25;
/// `rotate`/`updatekeys` on a file that does not exist.
pub const CANNOT_CHANGE_KEYS_FROM_NON_EXISTENT_FILE: u8 = 49;
/// The MAC stored in the file does not match its content.
pub const MAC_MISMATCH: u8 = 51;
/// The file has no MAC.
pub const MAC_NOT_FOUND: u8 = 52;
/// `--config` names a file that does not exist.
pub const CONFIG_FILE_NOT_FOUND: u8 = 61;
/// Interrupted from the keyboard.
pub const KEYBOARD_INTERRUPT: u8 = 85;
/// An `--extract`/`set` path could not be parsed.
pub const INVALID_TREE_PATH_FORMAT: u8 = 91;
/// The input holds no document.
pub const NEED_AT_LEAST_ONE_DOCUMENT: u8 = 92;
/// No file was named on the command line.
pub const NO_FILE_SPECIFIED: u8 = 100;
/// No master key could recover the data key.
pub const COULD_NOT_RETRIEVE_KEY: u8 = 128;
/// No key to encrypt with was given.
pub const NO_ENCRYPTION_KEY_FOUND: u8 = 111;
/// `--decryption-order` names a key type twice.
pub const DUPLICATE_DECRYPTION_KEY_TYPE: u8 = 112;
/// `edit` left the file unchanged.
pub const FILE_HAS_NOT_BEEN_MODIFIED: u8 = 200;
/// No editor could be started.
pub const NO_EDITOR_FOUND: u8 = 201;
/// The version check failed.
pub const FAILED_TO_COMPARE_VERSIONS: u8 = 202;
/// `encrypt` on a file that already has a `sops` block.
pub const FILE_ALREADY_ENCRYPTED: u8 = 203;

/// Every code above, in the order of sops' `codes.go`; 0 (success) is not
/// in it. Tests use it to check that a process exits with one of sops'
/// codes (a Rust panic exits with 101, a signal with none).
pub const ALL: &[u8] = &[
    ERROR_GENERIC,
    COULD_NOT_READ_INPUT_FILE,
    COULD_NOT_WRITE_OUTPUT_FILE,
    ERROR_DUMPING_TREE,
    ERROR_READING_CONFIG,
    ERROR_INVALID_KMS_ENCRYPTION_CONTEXT_FORMAT,
    ERROR_INVALID_SET_FORMAT,
    ERROR_CONFLICTING_PARAMETERS,
    ERROR_ENCRYPTING_MAC,
    ERROR_ENCRYPTING_TREE,
    ERROR_DECRYPTING_MAC,
    ERROR_DECRYPTING_TREE,
    CANNOT_CHANGE_KEYS_FROM_NON_EXISTENT_FILE,
    MAC_MISMATCH,
    MAC_NOT_FOUND,
    CONFIG_FILE_NOT_FOUND,
    KEYBOARD_INTERRUPT,
    INVALID_TREE_PATH_FORMAT,
    NEED_AT_LEAST_ONE_DOCUMENT,
    NO_FILE_SPECIFIED,
    COULD_NOT_RETRIEVE_KEY,
    NO_ENCRYPTION_KEY_FOUND,
    DUPLICATE_DECRYPTION_KEY_TYPE,
    FILE_HAS_NOT_BEEN_MODIFIED,
    NO_EDITOR_FOUND,
    FAILED_TO_COMPARE_VERSIONS,
    FILE_ALREADY_ENCRYPTED,
];
