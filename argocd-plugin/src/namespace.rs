//! Namespace binding (`SOPS_CMP_BIND_NAMESPACE`, spec §3.7): where
//! decrypted objects may go.
//!
//! With sops' default MAC (over every value, plain or encrypted),
//! `metadata.namespace` of an encrypted manifest cannot be changed without
//! breaking the MAC. Requiring every decrypted namespaced object to declare
//! the app's destination namespace therefore stops a tenant from replaying
//! another team's encrypted Secret into their own namespace. Files
//! encrypted with `mac_only_encrypted` are refused, since their MAC does not
//! cover plain values such as the namespace.

use sops_core::{Branch, Value};

use crate::error::Failure;
use crate::manifest::describe;
use crate::settings::{Env, Settings};

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
    op: &Settings,
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
    // The binding reads the first of duplicate keys, while what applies
    // the output may take the last: a second `namespace` (or `kind`, or
    // `items`) would slip past. Refuse duplicates anywhere in the file.
    for doc in docs {
        if let Some(path) = duplicate_key(doc) {
            return Err(Failure::policy(format!(
                "{shown}: duplicate key {path} in {}; refused because namespace binding is on",
                describe(doc)
            ))
            .with_hint("remove the duplicate key and re-encrypt the file with sops"));
        }
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

/// The key path of the first key that occurs twice in one mapping of `doc`
/// (at any depth), shown with control characters escaped.
fn duplicate_key(doc: &Branch) -> Option<String> {
    fn in_value(v: &Value, path: &str) -> Option<String> {
        match v {
            Value::Map(b) => in_branch(b, path),
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| in_value(v, &format!("{path}[{i}]"))),
            _ => None,
        }
    }
    fn in_branch(b: &Branch, path: &str) -> Option<String> {
        let mut seen = std::collections::HashSet::new();
        for (k, v) in b.entries() {
            let here = if path.is_empty() {
                format!("{k:?}")
            } else {
                format!("{path}.{k:?}")
            };
            if !seen.insert(k) {
                return Some(here);
            }
            if let Some(found) = in_value(v, &here) {
                return Some(found);
            }
        }
        None
    }
    in_branch(doc, "")
}

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
    use sops_core::stores::Format;

    use super::*;

    fn docs(yaml: &str) -> Vec<Branch> {
        Format::Yaml.store().unwrap().load(yaml.as_bytes()).unwrap()
    }

    fn bound() -> Settings {
        Settings {
            bind_namespace: true,
            ..Settings::default()
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
        // Duplicate keys at any depth are refused. The YAML store refuses
        // them while parsing (as go-yaml); the JSON store keeps them, as
        // sops' own JSON decoder does.
        let dup_yaml = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: team-a\n  namespace: team-b\n";
        assert!(
            Format::Yaml
                .store()
                .unwrap()
                .load(dup_yaml.as_bytes())
                .is_err()
        );
        let json = |text: &str| Format::Json.store().unwrap().load(text.as_bytes()).unwrap();
        let check_json = |text: &str| {
            check_namespace_binding("s.json", &json(text), false, &bound(), &env)
                .map_err(|f| f.message)
        };
        check_json(
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"team-a"}}"#,
        )
        .unwrap();
        let e = check_json(
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"team-a","namespace":"team-b"}}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "s.json: duplicate key \"metadata\".\"namespace\" in Secret team-a/db; refused because \
             namespace binding is on"
        );
        let e = check_json(
            r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x","namespace":"team-a"}}],"items":[]}"#,
        )
        .unwrap_err();
        assert!(e.contains("duplicate key \"items\""), "{e}");
        let e = check_json(
            r#"{"apiVersion":"v1","kind":"Namespace","kind":"Secret","metadata":{"name":"x"}}"#,
        )
        .unwrap_err();
        assert!(e.contains("duplicate key \"kind\""), "{e}");
        let e = check_json(r#"{"kind":"ConfigMap","metadata":{"name":"x","namespace":"team-a"},"data":{"a":[{"k":1,"k":2}]}}"#)
            .unwrap_err();
        assert!(e.contains("duplicate key \"data\".\"a\"[0].\"k\""), "{e}");
        // No destination namespace: namespaced objects cannot be bound.
        let e = check(&secret("team-a"), false, &Env::default()).unwrap_err();
        assert!(e.contains("ARGOCD_APP_NAMESPACE"), "{e}");
        check("a: 1\n", false, &Env::default()).unwrap();
        // Binding off: nothing is checked.
        check_namespace_binding(
            "s.yaml",
            &docs(&secret("team-b")),
            true,
            &Settings::default(),
            &env,
        )
        .unwrap();
    }
}
