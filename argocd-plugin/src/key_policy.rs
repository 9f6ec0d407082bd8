//! The operator's master-key allow-list (`SOPS_CMP_KEY_POLICY`, spec
//! §3.7): which keys each project may use.
//!
//! The policy is an operator setting, read from the sidecar environment
//! only (`settings.rs`); nothing a tenant writes (parameters,
//! `ARGOCD_ENV_*`, repository files) can loosen it.
//!
//! The `sops` block of a file is written by whoever pushes to the
//! repository and is not covered by the MAC, so its key groups can name
//! any KMS key, Vault server or Azure vault. With a policy, the key context
//! gets a filter ([`KeyContext::with_key_filter`]) and sops-core never asks
//! a disallowed master key to decrypt: no identity is tried for it, no
//! cloud call is made, no Vault token is sent. It is listed as
//! `<identifier>: skipped by policy` in the no-usable-key error.
//!
//! The entries are matched against the identifiers sops-core prints
//! ([`KeyEntry::identifier`]) up to their first optional qualifier: the age
//! recipient, the PGP fingerprint (compared without spaces,
//! case-insensitively), the AWS KMS ARN (without sops' `+<role>`,
//! `|<context>` and `|<profile>`: the ARN is the key that is called, the
//! rest is free text of the tenant's `sops` block that a glob must not
//! stretch over), the GCP
//! key resource ID, `<vault_url>/keys/<name>/<version>` for Azure Key Vault
//! (also without `/<version>`, to allow every version) and sops' Vault URI
//! `<address>/v1/<engine>/keys/<name>`. What each keystore's section is
//! called (its `.sops.yaml` key-group field), how its identifiers compare
//! and which identifier parts pin a version are data on the keystore's
//! spec in sops-core ([`sops_core::keys::KeystoreSpec::allow_list`],
//! [`sops_core::keys::KeystoreSpec::version_parts`]), so this module has no per-keystore
//! code and a new keystore brings its own form. The plugin binds X25519 age
//! identities to their recipients (`keys.rs`), so an age entry cannot be
//! relabelled to pass the list; SSH and plugin identities are bound by
//! kind only, and gpg picks its secret key from the PGP packet, so
//! isolating *those* keys between projects is the job of
//! `SOPS_CMP_PROJECT_KEYS_DIR`. For cloud keystores the identifier is what
//! gets called, so the allow-list is what stops a tenant from pointing the
//! sidecar at a foreign key or server.

use std::path::Path;

use sops_core::Value;
use sops_core::keys::keystore::{IdCompare, IdPart};
use sops_core::keys::{KeyContext, keystores_by};
use sops_core::metadata::{KeyEntry, KeyKind};
use sops_core::stores::{Format, StoreError};

use crate::error::Failure;

/// The keystores a project entry can name: those whose spec has an
/// allow-list form (a keystore without one would never be used with a
/// policy), each under its `.sops.yaml` key-group field, in the order sops
/// lists keys in a creation rule.
fn sections() -> impl Iterator<Item = (&'static str, KeyKind, IdCompare)> {
    keystores_by(|s| s.order.creation_rule)
        .into_iter()
        .filter_map(|k| {
            let spec = k.spec();
            Some((spec.config.group_field, k.kind, spec.allow_list?))
        })
}

/// The section names for messages: `a, b or c` (`sep` = ", ", `last` =
/// " or ") or `a|b|c`.
fn section_names(sep: &str, last: &str) -> String {
    let names: Vec<&str> = sections().map(|(name, _, _)| name).collect();
    match names.split_last() {
        Some((tail, head)) if !head.is_empty() => format!("{}{last}{tail}", head.join(sep)),
        _ => names.join(sep),
    }
}

/// The project entry that applies to every project.
const ALL_PROJECTS: &str = "*";

/// The parsed `SOPS_CMP_KEY_POLICY` file.
///
/// ```yaml
/// projects:
///   team-a:
///     age: [age1...]
///     kms: ["arn:aws:kms:eu-west-1:111122223333:key/*"]
///   "*":
///     age: [age1shared...]
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPolicy {
    projects: Vec<(String, Allowed)>,
}

/// The master keys one project may use: (kind, exact string or `*` glob).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowed {
    patterns: Vec<(KeyKind, String)>,
}

impl KeyPolicy {
    /// Reads and parses the policy file; any problem is a configuration
    /// error naming the file (and the field), so the plugin fails closed.
    pub fn load(path: &Path) -> Result<Self, Failure> {
        let shown = crate::walk::shown_path(path);
        let bytes = std::fs::read(path)
            .map_err(|e| policy_error(&shown, format!("cannot read the file ({})", e.kind())))?;
        Self::parse(&shown, &bytes)
    }

    /// Parses the policy text; `file` is only used in messages.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Self, Failure> {
        let bad = |field: &str, why: &str| policy_error(file, format!("{field}: {why}"));
        let store = Format::Yaml
            .store()
            .map_err(|e| policy_error(file, e.to_string()))?;
        let docs = match store.load(bytes) {
            Ok(docs) => docs,
            Err(StoreError::Empty) => Vec::new(),
            Err(e) => {
                let why = e
                    .to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                return Err(policy_error(file, format!("not valid YAML: {why}")));
            }
        };
        let [doc] = docs.as_slice() else {
            return Err(policy_error(
                file,
                "must hold exactly one YAML document (a mapping with `projects`)".to_owned(),
            ));
        };
        let mut projects_map = None;
        for (k, v) in doc.entries() {
            match (k, v) {
                ("projects", Value::Map(m)) if projects_map.is_none() => projects_map = Some(m),
                ("projects", Value::Map(_)) => return Err(bad("projects", "duplicate field")),
                ("projects", _) => return Err(bad("projects", "must be a mapping")),
                (other, _) => {
                    return Err(bad(
                        &quote(other),
                        "unknown field (the only top-level field is `projects`)",
                    ));
                }
            }
        }
        let Some(projects_map) = projects_map else {
            return Err(bad("projects", "missing"));
        };
        let mut projects: Vec<(String, Allowed)> = Vec::new();
        for (name, entry) in projects_map.entries() {
            let at = format!("projects.{}", quote(name));
            if projects.iter().any(|(n, _)| n == name) {
                return Err(bad(&at, "duplicate project"));
            }
            let Value::Map(stores) = entry else {
                return Err(bad(
                    &at,
                    &format!(
                        "must be a mapping of keystore ({}) to a list of keys",
                        section_names(", ", ", ")
                    ),
                ));
            };
            let mut allowed = Allowed::default();
            let mut seen: Vec<&str> = Vec::new();
            for (store_name, list) in stores.entries() {
                let at = format!("{at}.{}", quote(store_name));
                let Some((_, kind, compare)) = sections().find(|(n, _, _)| *n == store_name) else {
                    return Err(bad(
                        &at,
                        &format!(
                            "unknown keystore (expected {})",
                            section_names(", ", " or ")
                        ),
                    ));
                };
                if seen.contains(&store_name) {
                    return Err(bad(&at, "duplicate field"));
                }
                seen.push(store_name);
                let Value::Seq(items) = list else {
                    return Err(bad(&at, "must be a list of strings"));
                };
                for (i, item) in items
                    .iter()
                    .filter(|v| !matches!(v, Value::Comment(_)))
                    .enumerate()
                {
                    let at = format!("{at}[{i}]");
                    let Some(s) = item.as_str() else {
                        return Err(bad(
                            &at,
                            &format!("must be a string, not a {} (quote it)", item.kind_name()),
                        ));
                    };
                    let s = compare.apply(s);
                    if s.is_empty() {
                        return Err(bad(&at, "must not be empty"));
                    }
                    allowed.patterns.push((kind, s));
                }
            }
            projects.push((name.to_owned(), allowed));
        }
        Ok(Self { projects })
    }

    /// The keys `project` may use: its own entry plus the `"*"` entry. An
    /// unknown (or missing) project gets only the `"*"` entry.
    pub fn for_project(&self, project: Option<&str>) -> Allowed {
        let mut out = Allowed::default();
        for (name, allowed) in &self.projects {
            if name == ALL_PROJECTS || Some(name.as_str()) == project {
                out.patterns.extend(allowed.patterns.iter().cloned());
            }
        }
        out
    }

    /// `ctx` restricted to the keys of `project`.
    pub fn apply(&self, ctx: KeyContext, project: Option<&str>) -> KeyContext {
        let allowed = self.for_project(project);
        ctx.with_key_filter(move |entry| allowed.allows(entry))
    }
}

impl Allowed {
    /// True if some entry of the policy matches the master key `entry`.
    pub fn allows(&self, entry: &KeyEntry) -> bool {
        let candidates = candidates(entry);
        self.patterns.iter().any(|(kind, pattern)| {
            *kind == entry.kind && candidates.iter().any(|c| glob_matches(pattern, c))
        })
    }
}

/// The strings a policy entry may match for a metadata key entry (see the
/// module docs): the key's address — sops-core's identifier up to its
/// first optional qualifier — and, for keystores whose identifier pins a
/// version, its unversioned form, both in the keystore's compared form.
/// Empty when the entry lacks its identifying field, or its keystore has no
/// allow-list form.
///
/// The qualifiers (AWS KMS' `+<role>`, `|<context>|<profile>`) are left
/// out: they name no other key, and they are free text of the tenant's
/// `sops` block, so a glob's `*` could otherwise stretch over them and let
/// a foreign ARN pass (`arn:aws:kms:*:111122223333:key/*` matched
/// `arn:aws:kms:…:999999999999:key/x|a::111122223333:key/y`).
fn candidates(entry: &KeyEntry) -> Vec<String> {
    let spec = entry.kind.spec();
    let Some(compare) = spec.allow_list else {
        return Vec::new();
    };
    let has_id = entry
        .field(entry.kind.id_field())
        .is_some_and(|s| !compare.apply(s).is_empty());
    if !has_id {
        return Vec::new();
    }
    let address: Vec<&IdPart> = spec
        .identifier
        .iter()
        .take_while(|p| matches!(p, IdPart::Id | IdPart::Field(_) | IdPart::Text(_)))
        .collect();
    let mut out = vec![render(entry, &address)];
    // An entry without the version allows every version of the key.
    if spec.version_parts > 0 && address.len() == spec.identifier.len() {
        let kept = address.len().saturating_sub(spec.version_parts);
        out.insert(0, render(entry, &address[..kept]));
    }
    out.iter().map(|id| compare.apply(id)).collect()
}

/// The address parts of an identifier, rendered as sops-core renders them.
fn render(entry: &KeyEntry, parts: &[&IdPart]) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            IdPart::Id => out.push_str(entry.field(entry.kind.id_field()).unwrap_or("")),
            IdPart::Field(name) => out.push_str(entry.field(name).unwrap_or("")),
            IdPart::Text(text) => out.push_str(text),
            // Qualifiers end the address (see `candidates`).
            _ => break,
        }
    }
    out
}

/// `*` matches any run of characters (including none, and including `/`);
/// every other character matches itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen and the text position it currently stands for.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if p.get(pi) == Some(&b'*') {
            star = Some((pi, ti));
            pi += 1;
        } else if p.get(pi) == Some(&t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the star swallow one more character and retry.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

fn policy_error(file: &str, what: String) -> Failure {
    Failure::config(format!("key policy {file} (SOPS_CMP_KEY_POLICY): {what}")).with_hint(&format!(
        "format: `projects: {{<project or \"*\">: {{{}: [<key or glob>, ...]}}}}` (see the \
         plugin's README)",
        section_names("|", "|")
    ))
}

/// A field name of the operator's file, printable in one line.
fn quote(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).take(64).collect();
    if clean
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        && !clean.is_empty()
    {
        clean
    } else {
        format!("{clean:?}")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sops_core::Branch;
    use sops_core::keys;

    use super::*;

    const AGE_A: &str = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq";

    fn entry(kind: KeyKind, fields: &[(&str, &str)]) -> KeyEntry {
        let mut b = Branch::new();
        for (k, v) in fields {
            b.push(*k, Value::Str((*v).to_owned()));
        }
        KeyEntry { kind, fields: b }
    }

    fn policy(text: &str) -> KeyPolicy {
        KeyPolicy::parse("policy.yaml", text.as_bytes()).unwrap()
    }

    fn err(text: &str) -> String {
        KeyPolicy::parse("/etc/sops/policy.yaml", text.as_bytes())
            .unwrap_err()
            .message
    }

    #[test]
    fn globs() {
        for (p, t) in [
            ("*", ""),
            ("*", "anything/at:all"),
            ("abc", "abc"),
            ("a*c", "ac"),
            ("a*c", "abbbc"),
            (
                "arn:aws:kms:*:111122223333:key/*",
                "arn:aws:kms:eu-west-1:111122223333:key/k1",
            ),
            ("*/keys/team-a", "https://v:8200/v1/transit/keys/team-a"),
            ("a*b*c", "aXbYbZc"),
            ("**", "x"),
        ] {
            assert!(glob_matches(p, t), "{p} ~ {t}");
        }
        for (p, t) in [
            ("abc", "abcd"),
            ("abc", "ab"),
            ("a*c", "ab"),
            (
                "arn:aws:kms:*:111122223333:key/*",
                "arn:aws:kms:eu-west-1:444455556666:key/k1",
            ),
            ("?", "x"),
            ("[a]", "a"),
            ("", "x"),
        ] {
            assert!(!glob_matches(p, t), "{p} !~ {t}");
        }
    }

    #[test]
    fn project_entries_and_the_star_entry_combine() {
        let p = policy(&format!(
            "# comment\nprojects:\n  team-a:\n    age: [{AGE_A}]\n    kms: [\"arn:aws:kms:eu-west-1:111122223333:key/*\"]\n  \"*\":\n    pgp: [\"85d7 7543 b3d6 24b6 3cea  9e6d bc17 301b 491b 3f21\"]\n  team-b:\n    age: []\n"
        ));
        let age = entry(keys::age::KIND, &[("recipient", AGE_A)]);
        let kms = entry(
            keys::aws_kms::KIND,
            &[("arn", "arn:aws:kms:eu-west-1:111122223333:key/abc")],
        );
        let foreign_kms = entry(
            keys::aws_kms::KIND,
            &[("arn", "arn:aws:kms:eu-west-1:999999999999:key/abc")],
        );
        let pgp = entry(
            keys::pgp::KIND,
            &[("fp", "85D77543B3D624B63CEA9E6DBC17301B491B3F21")],
        );
        let a = p.for_project(Some("team-a"));
        assert!(a.allows(&age) && a.allows(&kms) && a.allows(&pgp));
        assert!(!a.allows(&foreign_kms));
        let b = p.for_project(Some("team-b"));
        assert!(!b.allows(&age) && !b.allows(&kms) && b.allows(&pgp));
        let none = p.for_project(None);
        assert!(!none.allows(&age) && none.allows(&pgp));
        // The kind must match too: an age recipient string under kms is not age.
        let kms_named_like_age = entry(keys::aws_kms::KIND, &[("arn", AGE_A)]);
        assert!(!a.allows(&kms_named_like_age));
        // An entry without its identifying field never matches, even "*".
        let p = policy("projects:\n  \"*\":\n    kms: [\"*\"]\n");
        assert!(!p.for_project(None).allows(&entry(keys::aws_kms::KIND, &[])));
        assert!(p.for_project(None).allows(&kms));
    }

    #[test]
    fn kms_entries_match_on_their_arn_only() {
        const ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/k1";
        const FOREIGN: &str = "arn:aws:kms:eu-west-1:999999999999:key/k9";
        let kms = |arn: &str, role: &str, ctx: (&str, &str), profile: &str| {
            let mut e = entry(
                keys::aws_kms::KIND,
                &[("arn", arn), ("role", role), ("aws_profile", profile)],
            );
            let mut c = Branch::new();
            c.push(ctx.0, Value::Str(ctx.1.to_owned()));
            e.fields.push("context", Value::Map(c));
            e
        };
        let with_role = kms(
            ARN,
            "arn:aws:iam::111122223333:role/r",
            ("env", "prod"),
            "dev",
        );
        assert!(
            with_role
                .identifier()
                .starts_with(&format!("{ARN}+arn:aws:iam"))
        );
        let exact = policy(&format!("projects:\n  a:\n    kms: [\"{ARN}\"]\n"));
        assert!(exact.for_project(Some("a")).allows(&with_role));
        // A glob does not stretch over the role, context or profile: each
        // of these calls the foreign key.
        let glob = policy("projects:\n  a:\n    kms: [\"arn:aws:kms:*:111122223333:key/*\"]\n");
        let a = glob.for_project(Some("a"));
        assert!(a.allows(&with_role));
        for forged in [
            kms(FOREIGN, "arn:aws:iam::111122223333:key/x", ("e", "p"), ""),
            kms(FOREIGN, "", ("a", ":111122223333:key/y"), ""),
            kms(FOREIGN, "", ("a", "b"), ":111122223333:key/y"),
        ] {
            assert!(!a.allows(&forged), "{}", forged.identifier());
        }
        // Nor does a suffix glob.
        let suffix = policy("projects:\n  a:\n    kms: [\"*:key/k1\"]\n");
        let a = suffix.for_project(Some("a"));
        assert!(a.allows(&with_role));
        assert!(!a.allows(&kms(FOREIGN, "", ("x", "y"), "p:key/k1")));
        // Every partition alike (sops 3.12 splits any `+arn:` role): the
        // role of another partition is a qualifier too, and a pattern of
        // one partition allows no key of another.
        let gov = "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/k1";
        let gov_key = kms(
            gov,
            "arn:aws-us-gov:iam::111122223333:role/r",
            ("e", "p"),
            "",
        );
        assert!(
            gov_key
                .identifier()
                .starts_with(&format!("{gov}+arn:aws-us-gov:iam"))
        );
        let gov_glob =
            policy("projects:\n  a:\n    kms: [\"arn:aws-us-gov:kms:*:111122223333:key/*\"]\n");
        assert!(gov_glob.for_project(Some("a")).allows(&gov_key));
        assert!(!glob.for_project(Some("a")).allows(&gov_key));
        let cn_foreign = kms(
            "arn:aws-cn:kms:cn-north-1:999999999999:key/k9",
            "arn:aws-us-gov:iam::111122223333:key/x",
            ("e", "p"),
            "",
        );
        assert!(!gov_glob.for_project(Some("a")).allows(&cn_foreign));
    }

    #[test]
    fn cloud_identifiers_match_sops_forms() {
        let p = policy(
            "projects:\n  team-a:\n    gcp_kms: [\"projects/p/locations/global/keyRings/r/cryptoKeys/*\"]\n    azure_keyvault: [\"https://team-a.vault.azure.net/keys/*\", \"https://pinned.vault.azure.net/keys/k/v1\"]\n    hc_vault: [\"https://vault.example:8200/v1/transit/keys/team-a\"]\n",
        );
        let a = p.for_project(Some("team-a"));
        let gcp = |id: &str| entry(keys::gcp_kms::KIND, &[("resource_id", id)]);
        assert!(a.allows(&gcp("projects/p/locations/global/keyRings/r/cryptoKeys/k")));
        assert!(!a.allows(&gcp("projects/q/locations/global/keyRings/r/cryptoKeys/k")));
        let az = |url: &str, name: &str, version: &str| {
            entry(
                keys::azure_kv::KIND,
                &[("vault_url", url), ("name", name), ("version", version)],
            )
        };
        assert!(a.allows(&az("https://team-a.vault.azure.net", "k", "abc")));
        assert!(!a.allows(&az("https://team-b.vault.azure.net", "k", "abc")));
        assert!(a.allows(&az("https://pinned.vault.azure.net", "k", "v1")));
        assert!(!a.allows(&az("https://pinned.vault.azure.net", "k", "v2")));
        let vault = |addr: &str, engine: &str, name: &str| {
            entry(
                keys::hc_vault::KIND,
                &[
                    ("vault_address", addr),
                    ("engine_path", engine),
                    ("key_name", name),
                ],
            )
        };
        assert!(a.allows(&vault("https://vault.example:8200", "transit", "team-a")));
        assert!(!a.allows(&vault("https://evil.example:8200", "transit", "team-a")));
        assert!(!a.allows(&vault("https://vault.example:8200", "transit", "team-b")));
        // hckms: nothing listed for team-a, so none of its keys.
        let hckms = |id: &str| entry(keys::hckms::KIND, &[("key_id", id)]);
        assert!(!a.allows(&hckms("tr-west-1:k")));
        let p = policy(
            "projects:\n  team-a:\n    hckms: [\"tr-west-1:11111111-*\", \" cn-north-4:k2 \"]\n",
        );
        let a = p.for_project(Some("team-a"));
        assert!(a.allows(&hckms("tr-west-1:11111111-2222-3333-4444-555555555555")));
        assert!(a.allows(&hckms("cn-north-4:k2")));
        assert!(!a.allows(&hckms("tr-west-1:22222222-2222-3333-4444-555555555555")));
        assert!(!a.allows(&hckms("cn-north-4:k3")));
    }

    #[test]
    fn malformed_policies_name_the_file_and_field() {
        for (text, needle) in [
            (
                "projects:\n  a:\n    agee: [x]\n",
                "projects.a.agee: unknown keystore",
            ),
            (
                "projects:\n  a:\n    age: [x]\nextra: 1\n",
                "extra: unknown field",
            ),
            ("project:\n  a: {}\n", "project: unknown field"),
            (
                "projects:\n  a:\n    age: [1]\n",
                "projects.a.age[0]: must be a string",
            ),
            (
                "projects:\n  a:\n    age: [x, {k: v}]\n",
                "projects.a.age[1]: must be a string",
            ),
            (
                "projects:\n  a:\n    age: x\n",
                "projects.a.age: must be a list",
            ),
            ("projects:\n  a: [x]\n", "projects.a: must be a mapping"),
            ("projects: []\n", "projects: must be a mapping"),
            ("projects:\n  a:\n    age: [\"\"]\n", "must not be empty"),
            (
                "projects:\n  a: {}\n  a: {}\n",
                "mapping key \"a\" already defined",
            ),
            ("", "exactly one YAML document"),
            ("other: 1\n", "other: unknown field"),
            ("{}\n", "projects: missing"),
            ("projects: {}\n---\nprojects: {}\n", "exactly one"),
            ("projects: [\n", "not valid YAML"),
        ] {
            let e = err(text);
            assert!(e.contains("key policy /etc/sops/policy.yaml"), "{e}");
            assert!(e.contains(needle), "{text:?}: {e}");
        }
        let e = KeyPolicy::load(Path::new("/nonexistent/policy.yaml")).unwrap_err();
        assert!(
            e.message.contains("/nonexistent/policy.yaml"),
            "{}",
            e.message
        );
        assert_eq!(e.code, 1);
        // An empty project entry is valid (it allows nothing of its own).
        policy("projects:\n  a: {}\n");
        // The keystore names come from sops-core's registry.
        let e = KeyPolicy::parse("p", b"projects:\n  a:\n    hc_kms: [x]\n").unwrap_err();
        assert!(
            e.message.ends_with(
                "projects.a.hc_kms: unknown keystore (expected age, pgp, kms, gcp_kms, hckms, \
                 azure_keyvault or hc_vault)"
            ),
            "{}",
            e.message
        );
        assert_eq!(
            e.hint.as_deref(),
            Some(
                "format: `projects: {<project or \"*\">: {age|pgp|kms|gcp_kms|hckms|\
                 azure_keyvault|hc_vault: [<key or glob>, ...]}}` (see the plugin's README)"
            )
        );
        let e = KeyPolicy::parse("p", b"projects:\n  a: [x]\n").unwrap_err();
        assert!(
            e.message.ends_with(
                "must be a mapping of keystore (age, pgp, kms, gcp_kms, hckms, \
                 azure_keyvault, hc_vault) to a list of keys"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn apply_filters_the_key_context() {
        let p = Arc::new(policy(&format!(
            "projects:\n  team-a:\n    age: [{AGE_A}]\n"
        )));
        let ctx = p.apply(KeyContext::builder().build(), Some("team-a"));
        assert!(ctx.allows(&entry(keys::age::KIND, &[("recipient", AGE_A)])));
        assert!(!ctx.allows(&entry(keys::age::KIND, &[("recipient", "age1other")])));
        let ctx = p.apply(KeyContext::builder().build(), Some("team-b"));
        assert!(!ctx.allows(&entry(keys::age::KIND, &[("recipient", AGE_A)])));
    }
}
