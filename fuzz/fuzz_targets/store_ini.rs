//! The ini store: load -> emit -> load gives the same documents, emit is a
//! fixed point, and load_encrypted (with the `sops` metadata reading) never
//! panics. See `sops_fuzz::store_round_trip`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sops_core::stores::Format;

fuzz_target!(|data: &[u8]| sops_fuzz::store_round_trip(Format::Ini, data));
