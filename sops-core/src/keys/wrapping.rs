//! The data key and the key groups, both ways: wrapping it for every master
//! key (one group: the key itself; several: one Shamir share per group) and
//! unwrapping it again (one share per group, combined once the threshold is
//! reached), with the one error that lists every group and key with its own
//! failure (sops' most-read message). The threshold rule itself is
//! [`Metadata::threshold_for`].

use std::fmt;

use zeroize::Zeroizing;

use crate::data_key::DataKey;
use crate::keys::key_service::first_success;
use crate::keys::{KeyContext, KeyError, MasterKey, age, pgp};
use crate::metadata::{KeyGroup, KeyKind, Metadata};

/// Why the data key could not be wrapped for a set of key groups.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WrapError {
    /// Master keys no key service could wrap the secret for: one failure
    /// per key and service, in the order they were tried (every key is
    /// tried, as sops does); the text is sops' own.
    #[error("{}", wrap_failures(.0))]
    Keys(Vec<KeyFailure>),
    /// The context has no key service at all (the local one disabled and
    /// no remote one given).
    #[error("no key services provided, cannot update master keys")]
    NoKeyServices,
    /// The data key could not be split into one share per group (e.g. a
    /// threshold above the number of groups); the text is sops' own.
    #[error("could not split data key into parts for Shamir: {0}")]
    ShamirSplit(String),
}

/// sops' list of wrapping failures (Go prints the `[]error` it collects).
pub(crate) fn wrap_failures(failures: &[KeyFailure]) -> String {
    failures
        .iter()
        .map(|f| {
            format!(
                "failed to encrypt new data key with master key {:?}: {}",
                f.identifier, f.error
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Wraps the data key with every master key of `groups`. One group: every
/// key wraps the data key itself. Several: the key is split into one Shamir
/// share per group, any `threshold` of which recover it (0 = every group),
/// and every key of a group wraps that group's share. Each key is tried
/// with each of the context's key services in order until one succeeds.
/// The groups of the result are in the order of `groups`.
pub fn wrap_data_key(
    key: &DataKey,
    groups: &[Vec<Box<dyn MasterKey>>],
    threshold: usize,
    ctx: &KeyContext,
) -> Result<Vec<KeyGroup>, WrapError> {
    let services = ctx.key_services();
    if services.is_empty() {
        return Err(WrapError::NoKeyServices);
    }
    let secrets: Vec<Zeroizing<Vec<u8>>> = if groups.len() > 1 {
        let threshold = Metadata::threshold_for(groups.len(), threshold);
        crate::shamir::split(key.expose(), groups.len(), threshold)
            .map_err(WrapError::ShamirSplit)?
    } else {
        vec![Zeroizing::new(key.expose().to_vec())]
    };
    let mut failures = Vec::new();
    let mut wrapped = Vec::new();
    for (group, secret) in groups.iter().zip(secrets.iter()) {
        let mut entries = Vec::new();
        for k in group {
            match first_success(services, |s| s.encrypt(k.as_ref(), secret, ctx)) {
                Ok(entry) => entries.push(entry),
                Err(errors) => failures.extend(errors.into_iter().map(|error| KeyFailure {
                    identifier: k.identifier(),
                    error,
                })),
            }
        }
        wrapped.push(KeyGroup(entries));
    }
    if failures.is_empty() {
        Ok(wrapped)
    } else {
        Err(WrapError::Keys(failures))
    }
}

/// One key that was tried and why it failed.
#[derive(Debug, Clone)]
pub struct KeyFailure {
    pub identifier: String,
    pub error: KeyError,
}

/// No group (or too few groups for the Shamir threshold) could be unwrapped.
#[derive(Debug, Clone)]
pub struct RecoveryError {
    /// Per group: `Ok(())` if it succeeded, else the failures of its keys.
    pub groups: Vec<Result<(), Vec<KeyFailure>>>,
    pub threshold: usize,
    pub recovered: usize,
    /// Set when enough parts were found but they could not be combined.
    pub combine_error: Option<String>,
}

impl std::error::Error for RecoveryError {}

/// Word-wraps `text` at `width` columns (Go `wordwrap` style).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

impl fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(e) = &self.combine_error {
            return write!(f, "could not get data key from shamir parts: {e}");
        }
        writeln!(
            f,
            "Failed to get the data key required to decrypt the SOPS file."
        )?;
        for (i, group) in self.groups.iter().enumerate() {
            writeln!(f)?;
            match group {
                Ok(()) => writeln!(f, "Group {i}: SUCCESS")?,
                Err(failures) => {
                    writeln!(f, "Group {i}: FAILED")?;
                    for (n, failure) in failures.iter().enumerate() {
                        if n > 0 {
                            writeln!(f, "  ")?;
                        }
                        writeln!(f, "  {}: FAILED", failure.identifier)?;
                        // One item per key service asked (sops lists
                        // them all; none asked leaves an empty line).
                        let errors = match &failure.error {
                            KeyError::Services(errors) => errors.iter().collect(),
                            one => vec![one],
                        };
                        if errors.is_empty() {
                            writeln!(f)?;
                        }
                        for (e, error) in errors.iter().enumerate() {
                            if e > 0 {
                                writeln!(f, "    ")?;
                            }
                            let text = error.to_string();
                            for (j, line) in wrap(&text, 60).iter().enumerate() {
                                let lead = if j == 0 { "    - | " } else { "      | " };
                                writeln!(f, "{lead}{line}")?;
                            }
                        }
                    }
                }
            }
        }
        writeln!(f)?;
        // sops words it by the threshold alone (0 only for a single group):
        // a stored threshold of 1 still gets the Shamir text.
        let trailer = if self.threshold > 0 {
            format!(
                "Recovery failed because the file was encrypted with a Shamir threshold of {}, but only {} part(s) were successfully recovered, one for each successful key group. In order for SOPS to recover the file, at least {} groups have to be successful. In order for a group to be successful, decryption has to succeed with any of the keys in that key group.",
                self.threshold, self.recovered, self.threshold
            )
        } else {
            "Recovery failed because no master key was able to decrypt the file. In order for SOPS to recover the file, at least one key has to be successful, but none were.".to_owned()
        };
        write!(f, "{}", wrap(&trailer, 75).join("\n"))
    }
}

/// The try order inside a group: `order` first (type ids, default age then
/// pgp), the other kinds after in stored order.
fn sort_for_decryption(kinds: &[KeyKind], order: &[String]) -> Vec<usize> {
    let rank = |k: KeyKind| {
        order
            .iter()
            .position(|o| o == k.metadata_name())
            .unwrap_or(order.len())
    };
    let mut idx: Vec<usize> = (0..kinds.len()).collect();
    idx.sort_by_key(|&i| rank(kinds[i]));
    idx
}

/// Unwraps one entry's secret (the data key or a Shamir share): refused
/// when the context's filter does not allow it, else asked of each key
/// service in turn (a secret unwrapped before through this context is
/// returned again without a call). Shared by [`recover_data_key`] and
/// `sops doctor`, which tries every key.
pub(crate) fn unwrap_entry(
    entry: &crate::metadata::KeyEntry,
    ctx: &KeyContext,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    // The filter first: a key seen before is still refused if the policy
    // refuses it now.
    if !ctx.allows(entry) {
        return Err(KeyError::SkippedByPolicy);
    }
    ctx.unwrap_once(entry, || {
        first_success(ctx.key_services(), |s| s.decrypt(entry, ctx)).map_err(|mut errors| {
            match errors.len() {
                1 => errors.remove(0),
                _ => KeyError::Services(errors),
            }
        })
    })
}

/// Recovers the data key. `decryption_order` is sops' `--decryption-order`
/// (empty = the default `age,pgp`).
pub fn recover_data_key(
    meta: &Metadata,
    ctx: &KeyContext,
    decryption_order: &[String],
) -> Result<DataKey, RecoveryError> {
    // sops 3.11's own default (`DefaultDecryptionOrder` in sops.go), not
    // something a keystore declares: keystores added later are tried after
    // these two, in the order the file stores them, as in sops.
    let default_order = [age::KIND, pgp::KIND].map(|k| k.metadata_name().to_owned());
    let order = if decryption_order.is_empty() {
        &default_order[..]
    } else {
        decryption_order
    };
    let mut parts = Vec::new();
    let mut groups = Vec::new();
    for group in &meta.key_groups {
        let kinds: Vec<KeyKind> = group.0.iter().map(|e| e.kind).collect();
        let mut failures = Vec::new();
        let mut found = None;
        for i in sort_for_decryption(&kinds, order) {
            let entry = &group.0[i];
            match unwrap_entry(entry, ctx) {
                Ok(secret) => {
                    found = Some(secret);
                    break;
                }
                Err(error) => failures.push(KeyFailure {
                    identifier: entry.identifier(),
                    error,
                }),
            }
        }
        match found {
            Some(secret) => {
                parts.push(secret);
                groups.push(Ok(()));
            }
            None => groups.push(Err(failures)),
        }
    }
    let failed = |recovered, threshold| RecoveryError {
        groups: groups.clone(),
        threshold,
        recovered,
        combine_error: None,
    };
    if meta.key_groups.len() <= 1 {
        return match parts.pop().and_then(|p| DataKey::from_slice(&p)) {
            Some(key) => Ok(key),
            None => Err(failed(0, 0)),
        };
    }
    // sops 3.11 checks the stored threshold as it is: without one (a
    // hand-edited file) it combines whatever parts it found, so fewer than
    // two fail in the combination ("less than two parts …", exit 128) and
    // too few give a wrong key that fails to decrypt the values (25).
    let threshold = meta.shamir_threshold;
    if parts.len() < threshold {
        return Err(failed(parts.len(), threshold));
    }
    crate::shamir::combine(&parts)
        .and_then(|k| DataKey::from_slice(&k).ok_or("combined secret is not 32 bytes".into()))
        .map_err(|e: String| RecoveryError {
            groups,
            threshold,
            recovered: parts.len(),
            combine_error: Some(e),
        })
}

#[cfg(all(test, feature = "age"))]
mod tests {
    use super::*;
    use crate::keys::KeystoreSpec;
    use crate::metadata::KeyEntry;
    use crate::ops::{EncryptOptions, new_metadata};
    use crate::test_vectors::{TestIdentity as Id, context_of as ctx};
    use crate::tree::{Branch, Value};

    fn id() -> Id {
        Id::generate()
    }

    fn key(id: &Id) -> Box<dyn crate::keys::MasterKey> {
        id.key()
    }

    fn only(allowed: &[&Id]) -> impl Fn(&KeyEntry) -> bool + Send + Sync + 'static {
        let allowed: Vec<String> = allowed.iter().map(|i| i.recipient.clone()).collect();
        move |e| allowed.iter().any(|r| *r == e.identifier())
    }

    fn failures(err: &RecoveryError, group: usize) -> Vec<(String, String)> {
        match &err.groups[group] {
            Ok(()) => Vec::new(),
            Err(f) => f
                .iter()
                .map(|f| (f.identifier.clone(), f.error.to_string()))
                .collect(),
        }
    }

    // Tests named m10_* were added for issue 10 so that each mutant
    // `cargo mutants` makes of this file fails one of sops-core's own tests.

    #[test]
    fn m10_words_wrap_at_the_width() {
        // Nine-letter words: five of them and a ten-letter one fill 60 columns.
        let sixty = format!("{} bbbbbbbbbb", ["aaaaaaaaa"; 5].join(" "));
        assert_eq!(sixty.len(), 60);
        assert_eq!(wrap(&format!("{sixty} c"), 60), [sixty.as_str(), "c"]);
        let sixty_one = format!("{sixty}b");
        assert_eq!(
            wrap(&sixty_one, 60),
            [["aaaaaaaaa"; 5].join(" ").as_str(), "bbbbbbbbbbb"]
        );
        assert_eq!(wrap("", 60), Vec::<String>::new());
        assert_eq!(wrap(&"x".repeat(70), 60), ["x".repeat(70)]);
    }

    #[test]
    fn m10_the_recovery_message_lists_every_group_and_key() {
        let failure = |identifier: &str, error| KeyFailure {
            identifier: identifier.into(),
            error,
        };
        let long = format!("{} bbbbbbbbbb c", ["aaaaaaaaa"; 5].join(" "));
        let err = RecoveryError {
            groups: vec![
                Ok(()),
                Err(vec![
                    failure("k1", KeyError::Rejected(long)),
                    failure("k2", KeyError::SkippedByPolicy),
                ]),
            ],
            threshold: 2,
            recovered: 1,
            combine_error: None,
        };
        let expected = "Failed to get the data key required to decrypt the SOPS file.

Group 0: SUCCESS

Group 1: FAILED
  k1: FAILED
    - | aaaaaaaaa aaaaaaaaa aaaaaaaaa aaaaaaaaa aaaaaaaaa bbbbbbbbbb
      | c
  
  k2: FAILED
    - | skipped by policy

Recovery failed because the file was encrypted with a Shamir threshold of
2, but only 1 part(s) were successfully recovered, one for each successful
key group. In order for SOPS to recover the file, at least 2 groups have to
be successful. In order for a group to be successful, decryption has to
succeed with any of the keys in that key group.";
        assert_eq!(err.to_string(), expected);
        let single = RecoveryError {
            groups: vec![Err(vec![failure("k", KeyError::SkippedByPolicy)])],
            threshold: 0,
            recovered: 0,
            combine_error: None,
        };
        assert!(single.to_string().ends_with(
            "\n\nRecovery failed because no master key was able to decrypt the file. In\norder for SOPS to recover the file, at least one key has to be successful,\nbut none were."
        ));
        // issue 10 (a mutant of `threshold > 1` survived): sops 3.11 gives
        // a file with two groups and `shamir_threshold: 1` the Shamir text.
        let one = RecoveryError {
            groups: vec![Err(Vec::new()), Err(Vec::new())],
            threshold: 1,
            recovered: 0,
            combine_error: None,
        };
        assert!(one.to_string().ends_with(
            "Recovery failed because the file was encrypted with a Shamir threshold of\n1, but only 0 part(s) were successfully recovered, one for each successful\nkey group. In order for SOPS to recover the file, at least 1 groups have to\nbe successful. In order for a group to be successful, decryption has to\nsucceed with any of the keys in that key group."
        ));
        let combine = RecoveryError {
            combine_error: Some("duplicate part detected".into()),
            ..single
        };
        assert_eq!(
            combine.to_string(),
            "could not get data key from shamir parts: duplicate part detected"
        );
    }

    #[test]
    fn m10_the_decryption_order_ranks_kinds_then_keeps_file_order() {
        use crate::keys::aws_kms;
        let kinds = [aws_kms::KIND, pgp::KIND, age::KIND, aws_kms::KIND];
        let order =
            |names: &[&str]| -> Vec<String> { names.iter().map(|n| (*n).to_owned()).collect() };
        assert_eq!(
            sort_for_decryption(&kinds, &order(&["age", "pgp"])),
            [2, 1, 0, 3]
        );
        assert_eq!(
            sort_for_decryption(&kinds, &order(&["pgp", "age"])),
            [1, 2, 0, 3]
        );
        assert_eq!(sort_for_decryption(&kinds, &order(&["kms"])), [0, 3, 1, 2]);
        assert_eq!(sort_for_decryption(&kinds, &[]), [0, 1, 2, 3]);
    }

    /// A keystore no build has: Vault's spec under another name, listed
    /// nowhere, so its entries have no constructor whatever the features
    /// (every keystore sops knows is built in with the binaries' features).
    static NOT_BUILT_IN: KeystoreSpec = KeystoreSpec {
        name: "test_not_built_in",
        display_name: "test_not_built_in",
        ..crate::keys::hc_vault::SPEC
    };

    /// An entry of a keystore that is not built in, so that recovering it
    /// fails without reaching any network.
    const UNSUPPORTED_ID: &str = "http://127.0.0.1:9/v1/transit/keys/k";

    fn unsupported_entry() -> KeyEntry {
        let mut fields = Branch::new();
        fields.push("vault_address", Value::Str("http://127.0.0.1:9".into()));
        fields.push("engine_path", Value::Str("transit".into()));
        fields.push("key_name", Value::Str("k".into()));
        fields.push("enc", Value::Str("vault:v1:AAAA".into()));
        KeyEntry {
            kind: KeyKind::new(&NOT_BUILT_IN),
            fields,
        }
    }

    #[test]
    fn m10_recovery_tries_keys_in_the_given_order_else_age_first() {
        let a = id();
        let (_, mut meta) =
            new_metadata(&[vec![key(&a)]], &ctx(&[]), &EncryptOptions::default()).unwrap();
        meta.key_groups[0].0.insert(0, unsupported_entry());
        let tried = |order: &[String]| -> Vec<String> {
            let err = recover_data_key(&meta, &ctx(&[]), order).unwrap_err();
            failures(&err, 0).into_iter().map(|(id, _)| id).collect()
        };
        // A keystore that is not built in, so nothing is called over the
        // network.
        let other = UNSUPPORTED_ID.to_owned();
        assert_eq!(tried(&[]), [a.recipient.clone(), other.clone()]);
        assert_eq!(
            tried(&["test_not_built_in".to_owned()]),
            [other, a.recipient.clone()]
        );
    }

    #[test]
    fn m10_fewer_groups_than_the_threshold_never_reach_combine() {
        let (a, b, c) = (id(), id(), id());
        let groups = [vec![key(&a)], vec![key(&b)], vec![key(&c)]];
        // No threshold given: every group is needed.
        let (data_key, meta) =
            new_metadata(&groups, &ctx(&[]), &EncryptOptions::default()).unwrap();
        let err = recover_data_key(&meta, &ctx(&[&a, &c]), &[]).unwrap_err();
        assert_eq!((err.recovered, err.threshold), (2, 3));
        assert!(err.combine_error.is_none());
        assert!(err.groups[0].is_ok() && err.groups[1].is_err() && err.groups[2].is_ok());
        let got = recover_data_key(&meta, &ctx(&[&a, &b, &c]), &[]).unwrap();
        assert_eq!(got.expose(), data_key.expose());
    }

    /// Several groups and no stored `shamir_threshold` (hand-edited): the
    /// parts found are combined as they are, as sops 3.11 does.
    #[test]
    fn without_a_stored_threshold_the_parts_found_are_combined() {
        let (a, b, c) = (id(), id(), id());
        let groups = [vec![key(&a)], vec![key(&b)], vec![key(&c)]];
        let (data_key, mut meta) =
            new_metadata(&groups, &ctx(&[]), &EncryptOptions::default()).unwrap();
        meta.shamir_threshold = 0;
        for found in [&[][..], &[&a]] {
            let err = recover_data_key(&meta, &ctx(found), &[]).unwrap_err();
            assert_eq!(
                err.to_string(),
                "could not get data key from shamir parts: less than two parts cannot be used to reconstruct the secret"
            );
        }
        // Two of three shares of a 3-of-3 split combine to a wrong key.
        let wrong = recover_data_key(&meta, &ctx(&[&a, &c]), &[]).unwrap();
        assert_ne!(wrong.expose(), data_key.expose());
        let got = recover_data_key(&meta, &ctx(&[&a, &b, &c]), &[]).unwrap();
        assert_eq!(got.expose(), data_key.expose());
    }

    #[test]
    fn m10_shares_that_do_not_combine_are_reported() {
        let (a, b) = (id(), id());
        let groups = [vec![key(&a)], vec![key(&b)]];
        let (_, mut meta) = new_metadata(&groups, &ctx(&[]), &EncryptOptions::default()).unwrap();
        // The second group now holds the first group's share.
        meta.key_groups[1] = meta.key_groups[0].clone();
        let err = recover_data_key(&meta, &ctx(&[&a]), &[]).unwrap_err();
        assert_eq!(
            err.combine_error.as_deref(),
            Some("duplicate part detected")
        );
        assert_eq!((err.recovered, err.threshold), (2, 2));
    }

    #[test]
    fn without_a_filter_every_key_is_tried() {
        let (a, b) = (id(), id());
        let (data_key, meta) = new_metadata(
            &[vec![key(&a), key(&b)]],
            &ctx(&[]),
            &EncryptOptions::default(),
        )
        .unwrap();
        let got = recover_data_key(&meta, &ctx(&[&b]), &[]).unwrap();
        assert_eq!(got.expose(), data_key.expose());
    }

    #[test]
    fn a_disallowed_key_is_never_tried_and_reported_as_skipped() {
        let (a, b) = (id(), id());
        let (data_key, meta) = new_metadata(
            &[vec![key(&a), key(&b)]],
            &ctx(&[]),
            &EncryptOptions::default(),
        )
        .unwrap();
        // We hold b's identity, but only a is allowed.
        let err =
            recover_data_key(&meta, &ctx(&[&b]).with_key_filter(only(&[&a])), &[]).unwrap_err();
        let f = failures(&err, 0);
        assert_eq!(f.len(), 2);
        assert_eq!(f[1], (b.recipient.clone(), "skipped by policy".to_owned()));
        assert_ne!(f[0].1, "skipped by policy");
        assert!(err.to_string().contains("skipped by policy"));
        // Allowing b makes it work again.
        let got = recover_data_key(&meta, &ctx(&[&b]).with_key_filter(only(&[&b])), &[]).unwrap();
        assert_eq!(got.expose(), data_key.expose());
    }

    /// issue 11: unwrapped keys are remembered per context, but the filter
    /// is asked first every time, so a refused key stays refused.
    #[test]
    fn the_filter_applies_before_remembered_keys() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let a = id();
        let (data_key, meta) =
            new_metadata(&[vec![key(&a)]], &ctx(&[]), &EncryptOptions::default()).unwrap();
        let (allow, asked) = (
            Arc::new(AtomicBool::new(true)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (allow2, asked2) = (Arc::clone(&allow), Arc::clone(&asked));
        let ctx = ctx(&[&a]).with_key_filter(move |_| {
            asked2.fetch_add(1, Ordering::SeqCst);
            allow2.load(Ordering::SeqCst)
        });
        for _ in 0..2 {
            let got = recover_data_key(&meta, &ctx, &[]).unwrap();
            assert_eq!(got.expose(), data_key.expose());
        }
        allow.store(false, Ordering::SeqCst);
        let err = recover_data_key(&meta, &ctx, &[]).unwrap_err();
        assert_eq!(failures(&err, 0)[0].1, "skipped by policy");
        assert_eq!(asked.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn unsupported_keystores_are_classified_before_they_are_built() {
        let a = id();
        let (_, mut meta) =
            new_metadata(&[vec![key(&a)]], &ctx(&[]), &EncryptOptions::default()).unwrap();
        meta.key_groups[0].0.insert(0, unsupported_entry());
        let err = recover_data_key(&meta, &ctx(&[]), &[]).unwrap_err();
        assert!(
            failures(&err, 0)
                .iter()
                .any(|f| f.1.contains("not supported"))
        );
        let err = recover_data_key(&meta, &ctx(&[]).with_key_filter(|_| false), &[]).unwrap_err();
        for (_, why) in failures(&err, 0) {
            assert_eq!(why, "skipped by policy");
        }
    }

    #[test]
    fn shamir_thresholds_apply_to_the_allowed_keys() {
        let (a, b, c) = (id(), id(), id());
        let groups = [vec![key(&a)], vec![key(&b)], vec![key(&c)]];
        let opts = EncryptOptions {
            shamir_threshold: 2,
            ..EncryptOptions::default()
        };
        let (data_key, meta) = new_metadata(&groups, &ctx(&[]), &opts).unwrap();
        let all = ctx(&[&a, &b, &c]);
        // Two of three groups allowed: enough.
        let got = recover_data_key(
            &meta,
            &ctx(&[&a, &b, &c]).with_key_filter(only(&[&a, &c])),
            &[],
        )
        .unwrap();
        assert_eq!(got.expose(), data_key.expose());
        // One of three: below the threshold, the others say why.
        let err = recover_data_key(&meta, &all.with_key_filter(only(&[&b])), &[]).unwrap_err();
        assert_eq!((err.recovered, err.threshold), (1, 2));
        assert_eq!(failures(&err, 0)[0].1, "skipped by policy");
        assert!(err.groups[1].is_ok());
        assert_eq!(failures(&err, 2)[0].1, "skipped by policy");
    }
}
