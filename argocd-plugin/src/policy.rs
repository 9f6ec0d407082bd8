//! Operator policy about *which* keys and *where* decrypted objects may go
//! (spec §3.7): the master-key allow-list (`SOPS_CMP_KEY_POLICY`) and
//! namespace binding (`SOPS_CMP_BIND_NAMESPACE`).
//!
//! Both are operator settings, read from the sidecar environment only
//! ([`crate::env::Operator`]); nothing a tenant writes (parameters,
//! `ARGOCD_ENV_*`, repository files) can loosen them.
//!
//! **Allow-list.** The `sops` block of a file is written by whoever pushes
//! to the repository and is not covered by the MAC, so its key groups can
//! name any KMS key, Vault server or Azure vault. With a policy, the key
//! context gets a filter ([`KeyContext::with_key_filter`]) and sops-core
//! never asks a disallowed master key to decrypt: no identity is tried for
//! it, no cloud call is made, no Vault token is sent. It is listed as
//! `<identifier>: skipped by policy` in the no-usable-key error.
//!
//! The entries are matched against the identifiers sops-core prints
//! (`KeyEntry::identifier`): the age recipient, the PGP fingerprint
//! (compared without spaces, case-insensitively), the AWS KMS ARN, the GCP
//! key resource ID, `<vault_url>/keys/<name>` for Azure Key Vault (also
//! `<vault_url>/keys/<name>/<version>`, to pin a version) and sops' Vault
//! URI `<address>/v1/<engine>/keys/<name>`. The plugin binds X25519 age
//! identities to their recipients ([`crate::env::key_context`]), so an age
//! entry cannot be relabelled to pass the list; SSH and plugin identities
//! are bound by kind only, and gpg picks its secret key from the PGP packet,
//! so isolating *those* keys between projects is the job of
//! `SOPS_CMP_PROJECT_KEYS_DIR`. For cloud keystores the identifier is what
//! gets called, so the allow-list is what stops a tenant from pointing the
//! sidecar at a foreign key or server.
//!
//! **Namespace binding.** With sops' default MAC (over every value, plain
//! or encrypted), `metadata.namespace` of an encrypted manifest cannot be
//! changed without breaking the MAC. Requiring every decrypted namespaced
//! object to declare the app's destination namespace therefore stops a
//! tenant from replaying another team's encrypted Secret into their own
//! namespace. Files encrypted with `mac_only_encrypted` are refused, since
//! their MAC does not cover plain values such as the namespace.

use std::path::Path;

use sops_core::keys::KeyContext;
use sops_core::metadata::{KeyEntry, KeyKind};
use sops_core::stores::{Format, StoreError};
use sops_core::{Branch, Value};

use crate::env::{Env, Operator};
use crate::error::Failure;
use crate::manifest::describe;

// --- master-key allow-list --------------------------------------------------

/// The keystore fields of a project entry, and the key kind each covers.
/// `hckms` has no field: with a policy, HuaweiCloud KMS keys are never used.
const KEYSTORES: [(&str, KeyKind); 6] = [
    ("age", KeyKind::Age),
    ("pgp", KeyKind::Pgp),
    ("kms", KeyKind::Kms),
    ("gcp_kms", KeyKind::GcpKms),
    ("azure_keyvault", KeyKind::AzureKv),
    ("hc_vault", KeyKind::HcVault),
];

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
        let shown = path.display().to_string();
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
                    "must be a mapping of keystore (age, pgp, kms, gcp_kms, azure_keyvault, \
                     hc_vault) to a list of keys",
                ));
            };
            let mut allowed = Allowed::default();
            let mut seen: Vec<&str> = Vec::new();
            for (store_name, list) in stores.entries() {
                let at = format!("{at}.{}", quote(store_name));
                let Some((_, kind)) = KEYSTORES.iter().find(|(n, _)| *n == store_name) else {
                    return Err(bad(
                        &at,
                        "unknown keystore (expected age, pgp, kms, gcp_kms, azure_keyvault or \
                         hc_vault)",
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
                    let s = normalize(*kind, s);
                    if s.is_empty() {
                        return Err(bad(&at, "must not be empty"));
                    }
                    allowed.patterns.push((*kind, s));
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
/// module docs); empty when the entry lacks its identifying field.
fn candidates(entry: &KeyEntry) -> Vec<String> {
    let field = |name: &str| entry.field(name).map(str::to_owned);
    let id = entry
        .field(entry.kind.id_field())
        .map(|s| normalize(entry.kind, s));
    let Some(id) = id.filter(|s| !s.is_empty()) else {
        return Vec::new();
    };
    match entry.kind {
        KeyKind::AzureKv => {
            let name = field("name").unwrap_or_default();
            let version = field("version").unwrap_or_default();
            vec![
                format!("{id}/keys/{name}"),
                format!("{id}/keys/{name}/{version}"),
            ]
        }
        // sops' Vault URI form, as KeyEntry::identifier prints it.
        KeyKind::HcVault => vec![entry.identifier()],
        _ => vec![id],
    }
}

/// PGP fingerprints without spaces and in upper case (gpg does not care);
/// everything else trimmed only.
fn normalize(kind: KeyKind, s: &str) -> String {
    match kind {
        KeyKind::Pgp => s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase(),
        _ => s.trim().to_owned(),
    }
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
    Failure::config(format!("key policy {file} (SOPS_CMP_KEY_POLICY): {what}")).with_hint(
        "format: `projects: {<project or \"*\">: {age|pgp|kms|gcp_kms|azure_keyvault|hc_vault: \
         [<key or glob>, ...]}}` (see the plugin's README)",
    )
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

/// A boolean operator setting: `true` or `false`, nothing else.
pub fn parse_bool_setting(name: &str, v: &str) -> Result<bool, Failure> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Failure::config(format!("{name} must be true or false"))),
    }
}

// --- namespace binding ------------------------------------------------------

/// Cluster-scoped kinds (API group, kind), exempt from namespace binding:
/// the built-in ones of Kubernetes 1.33 and a few widespread CRDs. Any
/// other kind counts as namespaced, so an unknown cluster-scoped custom
/// resource in an encrypted file is refused rather than let through.
pub const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "ResourceSlice"),
    ("cert-manager.io", "ClusterIssuer"),
    ("external-secrets.io", "ClusterSecretStore"),
    ("external-secrets.io", "ClusterExternalSecret"),
];

/// True unless (`apiVersion`'s group, `kind`) is in [`CLUSTER_SCOPED`].
fn is_namespaced(api_version: &str, kind: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    !CLUSTER_SCOPED.contains(&(group, kind))
}

/// The namespace-binding check for the documents of one decrypted file
/// (`shown` names it in messages). Does nothing unless the operator set
/// `SOPS_CMP_BIND_NAMESPACE=true`. Then:
///
/// - a file encrypted with `mac_only_encrypted` is refused;
/// - every document that is a Kubernetes object (has `kind`; the `items` of
///   a `…List` are checked one by one) of a namespaced kind must declare
///   `metadata.namespace` equal to `ARGOCD_APP_NAMESPACE`;
/// - documents without `kind` (helm values, dotenv-like data) pass.
///
/// Call it for every file the plugin decrypts, in addition to the usual
/// output checks. Messages name the file, kind, namespace and name, never a
/// value.
pub fn check_namespace_binding(
    shown: &str,
    docs: &[Branch],
    mac_only_encrypted: bool,
    op: &Operator,
    env: &Env,
) -> Result<(), Failure> {
    if !op.bind_namespace {
        return Ok(());
    }
    if mac_only_encrypted {
        return Err(Failure::policy(format!(
            "{shown}: encrypted with mac_only_encrypted, so its MAC does not cover \
             metadata.namespace; refused because namespace binding is on"
        ))
        .with_hint(
            "re-encrypt the file without mac_only_encrypted (SOPS_CMP_BIND_NAMESPACE=true)",
        ));
    }
    let mut objects = Vec::new();
    for doc in docs {
        collect_objects(doc, &mut objects);
    }
    for obj in objects {
        let s = |k: &str| obj.get(k).and_then(Value::as_str);
        let kind = s("kind").unwrap_or("");
        if !is_namespaced(s("apiVersion").unwrap_or(""), kind) {
            continue;
        }
        let dest = env.get("ARGOCD_APP_NAMESPACE").ok_or_else(|| {
            Failure::policy(format!(
                "{shown}: namespace binding is on (SOPS_CMP_BIND_NAMESPACE) but the app has no \
                 destination namespace (ARGOCD_APP_NAMESPACE is not set)"
            ))
            .with_hint("set spec.destination.namespace of the Application")
        })?;
        let namespace = match obj.get("metadata") {
            Some(Value::Map(m)) => m.get("namespace").and_then(Value::as_str),
            _ => None,
        };
        let what = describe(obj);
        match namespace {
            Some(ns) if ns == dest => {}
            Some(_) => {
                return Err(Failure::policy(format!(
                    "{shown}: {what} namespace does not match destination {dest}"
                ))
                .with_hint(BINDING_HINT));
            }
            None => {
                return Err(Failure::policy(format!(
                    "{shown}: {what} has no metadata.namespace; namespace binding requires \
                     destination {dest}"
                ))
                .with_hint(BINDING_HINT));
            }
        }
    }
    Ok(())
}

const BINDING_HINT: &str = "with SOPS_CMP_BIND_NAMESPACE=true every encrypted namespaced object \
                            must be encrypted with metadata.namespace set to the app's \
                            destination namespace";

/// The Kubernetes objects of a document: the document itself when it has
/// `kind`, or the items of a `…List`.
fn collect_objects<'d>(doc: &'d Branch, out: &mut Vec<&'d Branch>) {
    if doc.get("kind").is_none() {
        return;
    }
    let is_list = doc
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"));
    if is_list && let Some(Value::Seq(items)) = doc.get("items") {
        for item in items {
            if let Value::Map(m) = item {
                collect_objects(m, out);
            }
        }
        return;
    }
    out.push(doc);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

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
        let age = entry(KeyKind::Age, &[("recipient", AGE_A)]);
        let kms = entry(
            KeyKind::Kms,
            &[("arn", "arn:aws:kms:eu-west-1:111122223333:key/abc")],
        );
        let foreign_kms = entry(
            KeyKind::Kms,
            &[("arn", "arn:aws:kms:eu-west-1:999999999999:key/abc")],
        );
        let pgp = entry(
            KeyKind::Pgp,
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
        let kms_named_like_age = entry(KeyKind::Kms, &[("arn", AGE_A)]);
        assert!(!a.allows(&kms_named_like_age));
        // An entry without its identifying field never matches, even "*".
        let p = policy("projects:\n  \"*\":\n    kms: [\"*\"]\n");
        assert!(!p.for_project(None).allows(&entry(KeyKind::Kms, &[])));
        assert!(p.for_project(None).allows(&kms));
    }

    #[test]
    fn cloud_identifiers_match_sops_forms() {
        let p = policy(
            "projects:\n  team-a:\n    gcp_kms: [\"projects/p/locations/global/keyRings/r/cryptoKeys/*\"]\n    azure_keyvault: [\"https://team-a.vault.azure.net/keys/*\", \"https://pinned.vault.azure.net/keys/k/v1\"]\n    hc_vault: [\"https://vault.example:8200/v1/transit/keys/team-a\"]\n",
        );
        let a = p.for_project(Some("team-a"));
        let gcp = |id: &str| entry(KeyKind::GcpKms, &[("resource_id", id)]);
        assert!(a.allows(&gcp("projects/p/locations/global/keyRings/r/cryptoKeys/k")));
        assert!(!a.allows(&gcp("projects/q/locations/global/keyRings/r/cryptoKeys/k")));
        let az = |url: &str, name: &str, version: &str| {
            entry(
                KeyKind::AzureKv,
                &[("vault_url", url), ("name", name), ("version", version)],
            )
        };
        assert!(a.allows(&az("https://team-a.vault.azure.net", "k", "abc")));
        assert!(!a.allows(&az("https://team-b.vault.azure.net", "k", "abc")));
        assert!(a.allows(&az("https://pinned.vault.azure.net", "k", "v1")));
        assert!(!a.allows(&az("https://pinned.vault.azure.net", "k", "v2")));
        let vault = |addr: &str, engine: &str, name: &str| {
            entry(
                KeyKind::HcVault,
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
        // hckms has no field in the policy: never allowed.
        assert!(!a.allows(&entry(KeyKind::Hckms, &[("key_id", "x")])));
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
    }

    #[test]
    fn bool_settings() {
        assert!(parse_bool_setting("X", "true").unwrap());
        assert!(!parse_bool_setting("X", "false").unwrap());
        for bad in ["1", "yes", "True", "on", " true"] {
            assert!(parse_bool_setting("X", bad).is_err(), "{bad}");
        }
        let op = |v: &str| Operator::from_env(&Env::from_pairs(&[("SOPS_CMP_BIND_NAMESPACE", v)]));
        assert!(op("true").unwrap().bind_namespace);
        assert!(!op("false").unwrap().bind_namespace);
        assert!(op("yes").is_err());
        assert!(!Operator::from_env(&Env::default()).unwrap().bind_namespace);
    }

    #[test]
    fn tenant_variables_cannot_set_policy() {
        let env = Env::from_pairs(&[
            ("ARGOCD_ENV_SOPS_CMP_BIND_NAMESPACE", "true"),
            ("ARGOCD_ENV_SOPS_CMP_KEY_POLICY", "/nonexistent"),
        ]);
        let op = Operator::from_env(&env).unwrap();
        assert!(!op.bind_namespace && op.key_policy.is_none());
        let op = Operator::from_env(&Env::from_pairs(&[(
            "SOPS_CMP_KEY_POLICY",
            "/nonexistent/policy.yaml",
        )]));
        assert!(op.is_err());
    }

    fn docs(yaml: &str) -> Vec<Branch> {
        Format::Yaml.store().unwrap().load(yaml.as_bytes()).unwrap()
    }

    fn bound() -> Operator {
        Operator {
            bind_namespace: true,
            ..Operator::default()
        }
    }

    fn check(yaml: &str, mac_only: bool, env: &Env) -> Result<(), String> {
        check_namespace_binding("s.yaml", &docs(yaml), mac_only, &bound(), env)
            .map_err(|f| f.message)
    }

    #[test]
    fn namespace_binding() {
        let env = Env::from_pairs(&[("ARGOCD_APP_NAMESPACE", "team-a")]);
        let secret = |ns: &str| {
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: {ns}\nstringData:\n  k: v\n"
            )
        };
        check(&secret("team-a"), false, &env).unwrap();
        assert_eq!(
            check(&secret("team-b"), false, &env).unwrap_err(),
            "s.yaml: Secret team-b/db namespace does not match destination team-a"
        );
        let e = check(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n",
            false,
            &env,
        )
        .unwrap_err();
        assert!(e.contains("Secret db has no metadata.namespace"), "{e}");
        let e = check(&secret("team-a"), true, &env).unwrap_err();
        assert!(e.contains("mac_only_encrypted"), "{e}");
        // Cluster-scoped kinds and documents without kind are exempt.
        check(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: r\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-b\n---\nimage:\n  tag: x\n",
            false,
            &env,
        )
        .unwrap();
        // Same kind name in another group: namespaced.
        assert!(
            check(
                "apiVersion: example.com/v1\nkind: ClusterRole\nmetadata:\n  name: r\n",
                false,
                &env
            )
            .is_err()
        );
        // List items are checked one by one.
        let e = check(
            "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Secret\n    metadata:\n      name: x\n      namespace: team-a\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: y\n      namespace: team-b\n",
            false,
            &env,
        )
        .unwrap_err();
        assert!(
            e.contains("ConfigMap team-b/y namespace does not match"),
            "{e}"
        );
        // No destination namespace: namespaced objects cannot be bound.
        let e = check(&secret("team-a"), false, &Env::default()).unwrap_err();
        assert!(e.contains("ARGOCD_APP_NAMESPACE"), "{e}");
        check("a: 1\n", false, &Env::default()).unwrap();
        // Binding off: nothing is checked.
        check_namespace_binding(
            "s.yaml",
            &docs(&secret("team-b")),
            true,
            &Operator::default(),
            &env,
        )
        .unwrap();
    }

    #[test]
    fn apply_filters_the_key_context() {
        let p = Arc::new(policy(&format!(
            "projects:\n  team-a:\n    age: [{AGE_A}]\n"
        )));
        let ctx = p.apply(KeyContext::from_lookup(|_| None), Some("team-a"));
        assert!(ctx.allows(&entry(KeyKind::Age, &[("recipient", AGE_A)])));
        assert!(!ctx.allows(&entry(KeyKind::Age, &[("recipient", "age1other")])));
        let ctx = p.apply(KeyContext::from_lookup(|_| None), Some("team-b"));
        assert!(!ctx.allows(&entry(KeyKind::Age, &[("recipient", AGE_A)])));
    }
}
