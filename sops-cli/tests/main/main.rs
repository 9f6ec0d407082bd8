//! Integration tests of the `sops` binary, gathered in one test binary
//! (STYLE.md §6). They need the reference sops 3.11.0 (`SOPS_REFERENCE_BIN`
//! or `<workspace>/.tools/bin/sops-reference`) and `age-keygen`; run
//! `scripts/install-test-tools.sh` first (or just `scripts/test.sh`).
//!
//! The files live in `tests/main/` so that Cargo builds only this one test
//! target (it would make every `tests/*.rs` file a binary of its own).
//! Run one module with e.g. `cargo test -p sops-cli --test main -- tamper::`.

mod age_pq;
mod age_sources;
mod azure_kv;
mod bad_inputs;
mod cloud_support;
mod completion;
mod config;
mod decryption_order;
mod doctor;
mod edit;
mod errors;
mod exec;
mod flags;
mod gcp_kms;
mod hckms;
mod hints;
mod inplace;
mod interop;
mod keys;
mod keyservice;
mod kms;
mod many_files;
mod merge_driver;
mod pgp;
mod progress;
mod publish;
mod replace;
mod set;
mod sops_3_13;
mod support;
mod tamper;
mod vault;
