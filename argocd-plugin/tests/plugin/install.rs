//! The install artefacts: `plugin.yaml`, `plugin-discover.yaml`, the
//! kustomize overlay `deploy/kustomize/` and the Helm values
//! `deploy/helm/values.yaml`. Offline: the overlay's remote Argo CD manifest
//! is replaced by a local stub Deployment and rendered with the real
//! `kubectl kustomize`; the Helm values are rendered by the real helm 3 and
//! helm 4 through a stub chart that does what the argo-cd chart does with
//! them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sops_core::stores::Format;
use sops_core::{Branch, Item, Value};

use crate::harness::{get, get_str, kubectl, tool};

const CMP_SERVER: &str = "/var/run/argocd/argocd-cmp-server";
const PLUGIN_CONFIG_PATH: &str = "/home/argocd/cmp-server/config/plugin.yaml";
const IMAGE: &str = "registry.example/argocd-sops-plugin:0.1.0";
const UPSTREAM_PREFIX: &str = "https://raw.githubusercontent.com/argoproj/argo-cd/";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let p = crate_dir().join(rel);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn yaml(text: &str) -> Vec<Branch> {
    Format::Yaml
        .store()
        .unwrap()
        .load(text.as_bytes())
        .expect("parses as YAML")
}

fn yaml_doc(text: &str) -> Branch {
    let mut docs = yaml(text);
    assert_eq!(docs.len(), 1, "expected one YAML document");
    docs.remove(0)
}

/// The value without comments and with mapping keys sorted, so that two
/// files that differ only in layout compare equal.
fn norm(v: &Value) -> Value {
    match v {
        Value::Map(b) => Value::Map(norm_branch(b)),
        Value::Seq(items) => Value::Seq(
            items
                .iter()
                .filter(|i| !matches!(i, Value::Comment(_)))
                .map(norm)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn norm_branch(b: &Branch) -> Branch {
    let mut entries: Vec<(String, Value)> =
        b.entries().map(|(k, v)| (k.to_owned(), norm(v))).collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Branch(
        entries
            .into_iter()
            .map(|(k, v)| Item::Entry(k, v))
            .collect(),
    )
}

#[track_caller]
fn map<'d>(doc: &'d Branch, path: &[&str]) -> &'d Branch {
    match get(doc, path) {
        Some(Value::Map(b)) => b,
        _ => panic!("no mapping at {path:?}"),
    }
}

#[track_caller]
fn seq<'d>(doc: &'d Branch, path: &[&str]) -> Vec<&'d Branch> {
    match get(doc, path) {
        Some(Value::Seq(items)) => items
            .iter()
            .filter_map(|i| match i {
                Value::Map(b) => Some(b),
                _ => None,
            })
            .collect(),
        _ => panic!("no sequence at {path:?}"),
    }
}

fn strings(doc: &Branch, path: &[&str]) -> Vec<String> {
    match get(doc, path) {
        Some(Value::Seq(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

#[track_caller]
fn named<'d>(items: &[&'d Branch], name: &str) -> &'d Branch {
    items
        .iter()
        .find(|b| get(b, &["name"]).and_then(Value::as_str) == Some(name))
        .copied()
        .unwrap_or_else(|| panic!("nothing named {name:?}"))
}

fn find_kind<'d>(docs: &'d [Branch], kind: &str) -> Vec<&'d Branch> {
    docs.iter()
        .filter(|d| get(d, &["kind"]).and_then(Value::as_str) == Some(kind))
        .collect()
}

/// What the checks need to know about where the plugin config comes from.
struct ConfigSource<'a> {
    configmap: &'a str,
    sub_path: &'a str,
}

/// The sidecar as spec §1.10 describes it, in a rendered pod spec; returns
/// the sops container.
#[track_caller]
fn check_sidecar<'d>(pod: &'d Branch, config: &ConfigSource<'_>) -> &'d Branch {
    let containers = seq(pod, &["containers"]);
    let sops = named(&containers, "sops");
    assert_eq!(get_str(sops, &["image"]), IMAGE);
    assert_eq!(strings(sops, &["command"]), [CMP_SERVER]);
    let args = strings(sops, &["args"]);
    assert_eq!(args, ["--loglevel", "info"], "log level must stay info");

    let sc = map(sops, &["securityContext"]);
    assert_eq!(get(sc, &["runAsUser"]), Some(&Value::Int(999)));
    assert_eq!(get(sc, &["runAsNonRoot"]), Some(&Value::Bool(true)));
    assert_eq!(
        get(sc, &["readOnlyRootFilesystem"]),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        get(sc, &["allowPrivilegeEscalation"]),
        Some(&Value::Bool(false))
    );
    assert_eq!(strings(sc, &["capabilities", "drop"]), ["ALL"]);
    assert_eq!(get_str(sc, &["seccompProfile", "type"]), "RuntimeDefault");

    for k in ["requests", "limits"] {
        for r in ["cpu", "memory"] {
            assert!(
                get(sops, &["resources", k, r]).is_some(),
                "resources.{k}.{r} missing"
            );
        }
    }

    let volumes = seq(pod, &["volumes"]);
    let mounts = seq(sops, &["volumeMounts"]);
    let mount_at = |path: &str| -> &Branch {
        mounts
            .iter()
            .find(|m| get_str(m, &["mountPath"]) == path)
            .copied()
            .unwrap_or_else(|| panic!("sidecar has no mount at {path}"))
    };
    let volume_of = |m: &Branch| -> &Branch { named(&volumes, get_str(m, &["name"])) };

    // The shared emptyDirs of the stock repo-server pod.
    assert_eq!(get_str(mount_at("/var/run/argocd"), &["name"]), "var-files");
    assert_eq!(
        get_str(mount_at("/home/argocd/cmp-server/plugins"), &["name"]),
        "plugins"
    );

    // The plugin config, one key of a ConfigMap.
    let cfg = mount_at(PLUGIN_CONFIG_PATH);
    assert_eq!(get_str(cfg, &["subPath"]), config.sub_path);
    assert_eq!(
        get_str(volume_of(cfg), &["configMap", "name"]),
        config.configmap
    );

    // A memory-backed /tmp of its own, never the repo-server's.
    let tmp = volume_of(mount_at("/tmp"));
    assert_ne!(get_str(tmp, &["name"]), "tmp", "repo-server's /tmp volume");
    assert_eq!(get_str(tmp, &["emptyDir", "medium"]), "Memory");
    assert!(get(tmp, &["emptyDir", "sizeLimit"]).is_some());
    let env = seq(sops, &["env"]);
    for var in ["HOME", "TMPDIR"] {
        assert_eq!(get_str(named(&env, var), &["value"]), "/tmp", "{var}");
    }

    // The age key: a Secret, read-only, named by SOPS_AGE_KEY_FILE.
    let keys = mount_at("/keys");
    assert_eq!(get(keys, &["readOnly"]), Some(&Value::Bool(true)));
    let key_volume = volume_of(keys);
    assert_eq!(
        get_str(key_volume, &["secret", "secretName"]),
        "argocd-sops-age"
    );
    assert_eq!(
        get_str(named(&env, "SOPS_AGE_KEY_FILE"), &["value"]),
        "/keys/age.txt"
    );

    // Key material and the sidecar's scratch are in no other container.
    let private = [
        get_str(key_volume, &["name"]),
        get_str(tmp, &["name"]),
        get_str(volume_of(cfg), &["name"]),
    ];
    let mut others = containers.clone();
    if get(pod, &["initContainers"]).is_some() {
        others.extend(seq(pod, &["initContainers"]));
    }
    for c in others {
        if get_str(c, &["name"]) == "sops" {
            continue;
        }
        for m in seq(c, &["volumeMounts"]) {
            assert!(
                !private.contains(&get_str(m, &["name"])),
                "container {} mounts {}",
                get_str(c, &["name"]),
                get_str(m, &["name"])
            );
        }
    }
    sops
}

/// The `defaultMode` of the key volume, as the renderer resolved it.
fn key_mode(pod: &Branch) -> &Value {
    let volumes = seq(pod, &["volumes"]);
    let v = volumes
        .iter()
        .find(|v| {
            get(v, &["secret", "secretName"]).and_then(Value::as_str) == Some("argocd-sops-age")
        })
        .expect("key volume");
    get(v, &["secret", "defaultMode"]).expect("defaultMode")
}

// ---------------------------------------------------------------- plugin.yaml

/// Spec §3.10: every tenant parameter the plugin takes, in this order.
const PARAMETERS: &[&str] = &[
    "mode",
    "directory-recurse",
    "directory-include",
    "directory-exclude",
    "helm-values-files",
    "helm-values",
    "helm-parameters",
    "helm-release-name",
    "helm-skip-crds",
    "helm-skip-tests",
    "allow-empty",
];

#[test]
fn plugin_configs_announce_every_parameter() {
    for file in ["plugin.yaml", "plugin-discover.yaml"] {
        let doc = yaml_doc(&read(file));
        assert_eq!(get_str(&doc, &["apiVersion"]), "argoproj.io/v1alpha1");
        assert_eq!(get_str(&doc, &["kind"]), "ConfigManagementPlugin");
        assert_eq!(
            strings(&doc, &["spec", "generate", "command"]),
            ["/usr/local/bin/argocd-sops-plugin", "generate"],
            "{file}"
        );
        for flag in ["preserveFileMode", "provideGitCreds"] {
            assert_eq!(get(&doc, &["spec", flag]), Some(&Value::Bool(false)));
        }
        let params = seq(&doc, &["spec", "parameters", "static"]);
        let names: Vec<&str> = params.iter().map(|p| get_str(p, &["name"])).collect();
        assert_eq!(names, PARAMETERS, "{file}");
        let mode_title = get_str(named(&params, "mode"), &["title"]);
        for m in ["auto", "directory", "kustomize", "helm"] {
            assert!(mode_title.contains(m), "{file}: mode title lacks {m}");
        }
        assert!(!mode_title.contains("not supported"), "{file}");
        for p in &params {
            let name = get_str(p, &["name"]);
            assert!(get(p, &["title"]).is_some(), "{file}: {name} has no title");
            let collection = get(p, &["collectionType"]).and_then(Value::as_str);
            let expected = match name {
                "helm-values-files" => Some("array"),
                "helm-parameters" => Some("map"),
                _ => None,
            };
            assert_eq!(collection, expected, "{file}: collectionType of {name}");
            // Booleans are announced with the default the plugin applies.
            if name.ends_with("-recurse") || name.starts_with("helm-skip") || name == "allow-empty"
            {
                assert_eq!(get_str(p, &["string"]), "false", "{file}: {name}");
            }
        }
    }
    let plain = yaml_doc(&read("plugin.yaml"));
    assert_eq!(get_str(&plain, &["metadata", "name"]), "sops");
    assert_eq!(get_str(&plain, &["spec", "version"]), "v1");
    assert!(get(&plain, &["spec", "discover"]).is_none());
    let disc = yaml_doc(&read("plugin-discover.yaml"));
    assert_eq!(
        strings(&disc, &["spec", "discover", "find", "command"]),
        ["/usr/local/bin/argocd-sops-plugin", "discover"]
    );
    assert_eq!(
        norm(get(&plain, &["spec", "parameters"]).unwrap()),
        norm(get(&disc, &["spec", "parameters"]).unwrap()),
        "both configs announce the same parameters"
    );
}

// ------------------------------------------------------------------ kustomize

/// The remote resource of the overlay: exactly one, a pinned v3 release.
fn upstream_url(kustomization: &Branch) -> String {
    let remote: Vec<String> = strings(kustomization, &["resources"])
        .into_iter()
        .filter(|r| r.contains("://"))
        .collect();
    assert_eq!(remote.len(), 1, "one remote resource: {remote:?}");
    remote[0].clone()
}

#[test]
fn overlay_pins_an_argo_cd_release_and_generates_no_secret() {
    let k = yaml_doc(&read("deploy/kustomize/kustomization.yaml"));
    assert_eq!(get_str(&k, &["namespace"]), "argocd");
    let url = upstream_url(&k);
    let version = url
        .strip_prefix(UPSTREAM_PREFIX)
        .and_then(|r| r.strip_suffix("/manifests/install.yaml"))
        .unwrap_or_else(|| panic!("not the upstream install manifest: {url}"));
    let parts: Vec<&str> = version.trim_start_matches('v').split('.').collect();
    assert!(
        version.starts_with("v3.")
            && parts.len() == 3
            && parts.iter().all(|p| p.parse::<u32>().is_ok()),
        "pin a v3.x.y release, not {version:?}"
    );
    // Keys never come from a file in git.
    assert!(get(&k, &["secretGenerator"]).is_none());
    let generators = seq(&k, &["configMapGenerator"]);
    assert_eq!(generators.len(), 1);
    assert_eq!(get_str(generators[0], &["name"]), "argocd-sops-plugin");
    assert_eq!(strings(generators[0], &["files"]), ["plugin.yaml"]);
    // One copy of the patch.
    assert!(
        !crate_dir()
            .join("deploy/repo-server-sidecar.patch.yaml")
            .exists()
    );
}

#[test]
fn overlay_plugin_yaml_is_a_copy_of_the_crate_plugin_yaml() {
    assert!(
        read("deploy/kustomize/plugin.yaml") == read("plugin.yaml"),
        "deploy/kustomize/plugin.yaml differs: run \
         cp argocd-plugin/plugin.yaml argocd-plugin/deploy/kustomize/plugin.yaml"
    );
}

/// The parts of the upstream argocd-repo-server Deployment the patch relies
/// on (names as in argo-cd's manifests/base/repo-server).
const STUB_REPO_SERVER: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: argocd-repo-server
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: argocd-repo-server
  template:
    metadata:
      labels:
        app.kubernetes.io/name: argocd-repo-server
    spec:
      initContainers:
        - name: copyutil
          image: quay.io/argoproj/argocd:v3.2.12
          command: [/bin/cp, -n, /usr/local/bin/argocd, /var/run/argocd/argocd-cmp-server]
          volumeMounts:
            - name: var-files
              mountPath: /var/run/argocd
      containers:
        - name: argocd-repo-server
          image: quay.io/argoproj/argocd:v3.2.12
          volumeMounts:
            - name: plugins
              mountPath: /home/argocd/cmp-server/plugins
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: var-files
          emptyDir: {}
        - name: plugins
          emptyDir: {}
        - name: tmp
          emptyDir: {}
";

/// Renders a copy of the overlay with the stub instead of the remote base.
fn render_overlay() -> Vec<Branch> {
    let dir = tempfile::tempdir().unwrap();
    let src = crate_dir().join("deploy/kustomize");
    for e in fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    let kpath = dir.path().join("kustomization.yaml");
    let text = fs::read_to_string(&kpath).unwrap();
    let url = upstream_url(&yaml_doc(&text));
    assert_eq!(text.matches(&url).count(), 1);
    fs::write(&kpath, text.replace(&url, "argocd-install-stub.yaml")).unwrap();
    fs::write(
        dir.path().join("argocd-install-stub.yaml"),
        STUB_REPO_SERVER,
    )
    .unwrap();
    let out = Command::new(kubectl())
        .arg("kustomize")
        .arg(dir.path())
        .env("HOME", dir.path())
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    yaml(std::str::from_utf8(&out.stdout).unwrap())
}

#[test]
fn overlay_renders_the_sidecar_with_the_plugin_config() {
    let docs = render_overlay();
    assert!(
        find_kind(&docs, "Secret").is_empty(),
        "no key in the overlay"
    );
    for d in &docs {
        assert_eq!(get_str(d, &["metadata", "namespace"]), "argocd");
    }

    let cms = find_kind(&docs, "ConfigMap");
    assert_eq!(cms.len(), 1);
    let cm_name = get_str(cms[0], &["metadata", "name"]);
    assert!(cm_name.starts_with("argocd-sops-plugin"), "{cm_name}");
    assert_eq!(
        get_str(cms[0], &["data", "plugin.yaml"]),
        read("plugin.yaml"),
        "the ConfigMap carries plugin.yaml byte for byte"
    );

    let deployments = find_kind(&docs, "Deployment");
    assert_eq!(deployments.len(), 1);
    let pod = map(deployments[0], &["spec", "template", "spec"]);
    check_sidecar(
        pod,
        &ConfigSource {
            configmap: cm_name,
            sub_path: "plugin.yaml",
        },
    );
    // 0440, readable by uid 999 through the pod's fsGroup.
    assert_eq!(key_mode(pod), &Value::Int(0o440));
    assert_eq!(
        get(pod, &["securityContext", "fsGroup"]),
        Some(&Value::Int(999))
    );
    // The stock containers are still there, unchanged.
    let containers = seq(pod, &["containers"]);
    assert_eq!(containers.len(), 2);
    let repo = named(&containers, "argocd-repo-server");
    assert_eq!(seq(repo, &["volumeMounts"]).len(), 2);
    assert_eq!(seq(pod, &["initContainers"]).len(), 1);
}

// ----------------------------------------------------------------------- helm

fn values() -> Branch {
    yaml_doc(&read("deploy/helm/values.yaml"))
}

#[test]
fn helm_values_embed_plugin_yaml() {
    let v = values();
    assert_eq!(
        get(&v, &["configs", "cmp", "create"]),
        Some(&Value::Bool(true))
    );
    let plugins = map(&v, &["configs", "cmp", "plugins"]);
    let names: Vec<&str> = plugins.entries().map(|(k, _)| k).collect();
    let plugin = yaml_doc(&read("plugin.yaml"));
    // The chart uses the key as metadata.name.
    assert_eq!(names, [get_str(&plugin, &["metadata", "name"])]);
    assert_eq!(
        norm(plugins.get("sops").unwrap()),
        norm(get(&plugin, &["spec"]).unwrap()),
        "configs.cmp.plugins.sops must equal the spec of plugin.yaml"
    );
}

#[test]
fn helm_values_add_the_sidecar_to_the_repo_server() {
    let v = values();
    let extra = seq(&v, &["repoServer", "extraContainers"]);
    assert_eq!(extra.len(), 1);
    // The chart passes extraContainers through `tpl`.
    assert!(!read("deploy/helm/values.yaml").contains("{{"));
    // The pod as the chart builds it: its own container and volumes plus ours.
    let stock = yaml_doc(STUB_REPO_SERVER);
    let stock_pod = map(&stock, &["spec", "template", "spec"]);
    let mut pod = Branch::new();
    let mut containers: Vec<Value> = extra.iter().map(|c| Value::Map((*c).clone())).collect();
    containers.extend(
        seq(stock_pod, &["containers"])
            .iter()
            .map(|c| Value::Map((*c).clone())),
    );
    pod.push("containers", Value::Seq(containers));
    pod.push(
        "initContainers",
        get(stock_pod, &["initContainers"]).unwrap().clone(),
    );
    let mut volumes: Vec<Value> = seq(&v, &["repoServer", "volumes"])
        .iter()
        .map(|c| Value::Map((*c).clone()))
        .collect();
    volumes.extend(
        seq(stock_pod, &["volumes"])
            .iter()
            .map(|c| Value::Map((*c).clone())),
    );
    pod.push("volumes", Value::Seq(volumes));
    check_sidecar(
        &pod,
        &ConfigSource {
            configmap: "argocd-cmp-cm",
            sub_path: "sops.yaml",
        },
    );
}

/// The sops container of the overlay and of the Helm values are the same
/// apart from where the plugin config comes from.
#[test]
fn helm_and_kustomize_sidecars_agree() {
    let docs = render_overlay();
    let dep = find_kind(&docs, "Deployment")[0];
    let k = named(
        &seq(dep, &["spec", "template", "spec", "containers"]),
        "sops",
    )
    .clone();
    let v = values();
    let h = named(&seq(&v, &["repoServer", "extraContainers"]), "sops").clone();
    let strip = |c: &Branch| {
        let mut c = norm_branch(c);
        let mounts = c.remove("volumeMounts").unwrap();
        let Value::Seq(mounts) = mounts else { panic!() };
        let mut paths: Vec<String> = mounts
            .iter()
            .map(|m| match m {
                Value::Map(b) => get_str(b, &["mountPath"]).to_owned(),
                _ => panic!(),
            })
            .collect();
        paths.sort();
        (c, paths)
    };
    assert_eq!(strip(&k), strip(&h));
}

/// A chart standing in for argo/argo-cd: it renders `configs.cmp.plugins` as
/// the ConfigMap argocd-cmp-cm (key `<name>.yaml`, `metadata.name: <name>`)
/// and adds `repoServer.extraContainers` (through `tpl`) and
/// `repoServer.volumes` to the repo-server pod, as the chart documents.
fn stub_chart(dir: &Path) {
    let t = dir.join("templates");
    fs::create_dir_all(&t).unwrap();
    fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: argo-cd-stub\nversion: 0.0.1\n",
    )
    .unwrap();
    fs::write(
        t.join("cmp-cm.yaml"),
        r#"{{- if .Values.configs.cmp.create }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cmp-cm
data:
{{- range $name, $spec := .Values.configs.cmp.plugins }}
  {{ $name }}.yaml: |
    apiVersion: argoproj.io/v1alpha1
    kind: ConfigManagementPlugin
    metadata:
      name: {{ $name }}
    spec:
{{ toYaml $spec | indent 6 }}
{{- end }}
{{- end }}
"#,
    )
    .unwrap();
    let stock = STUB_REPO_SERVER
        .replace(
            "      initContainers:",
            "{{- with .Values.repoServer.extraContainers }}\n      extraContainers:\n{{ tpl (toYaml .) $ | indent 8 }}\n{{- end }}\n      initContainers:",
        )
        .replace(
            "      volumes:\n",
            "      volumes:\n{{- with .Values.repoServer.volumes }}\n{{ toYaml . | indent 8 }}\n{{- end }}\n",
        );
    fs::write(t.join("repo-server.yaml"), stock).unwrap();
}

fn helm_render(helm: &Path) -> Vec<Branch> {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("chart");
    stub_chart(&chart);
    let out = Command::new(helm)
        .arg("template")
        .arg("argocd")
        .arg(&chart)
        .arg("--namespace")
        .arg("argocd")
        .arg("-f")
        .arg(crate_dir().join("deploy/helm/values.yaml"))
        .env("HOME", dir.path())
        .env("HELM_CACHE_HOME", dir.path().join("cache"))
        .env("HELM_CONFIG_HOME", dir.path().join("config"))
        .env("HELM_DATA_HOME", dir.path().join("data"))
        .output()
        .expect("run helm template");
    assert!(
        out.status.success(),
        "{} template failed:\n{}",
        helm.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    yaml(std::str::from_utf8(&out.stdout).unwrap())
}

fn check_helm_render(helm: &Path) {
    let docs = helm_render(helm);
    let cm = find_kind(&docs, "ConfigMap");
    assert_eq!(cm.len(), 1);
    assert_eq!(get_str(cm[0], &["metadata", "name"]), "argocd-cmp-cm");
    let rendered = yaml_doc(get_str(cm[0], &["data", "sops.yaml"]));
    assert_eq!(
        norm(&Value::Map(rendered)),
        norm(&Value::Map(yaml_doc(&read("plugin.yaml")))),
        "argocd-cmp-cm sops.yaml must equal plugin.yaml"
    );

    let dep = find_kind(&docs, "Deployment")[0];
    let mut pod = map(dep, &["spec", "template", "spec"]).clone();
    // The stub keeps the extra containers apart; the chart appends them.
    let Some(Value::Seq(extra)) = pod.remove("extraContainers") else {
        panic!("no extraContainers rendered");
    };
    let Some(Value::Seq(mut containers)) = pod.remove("containers") else {
        panic!()
    };
    containers.extend(extra);
    pod.push("containers", Value::Seq(containers));
    check_sidecar(
        &pod,
        &ConfigSource {
            configmap: "argocd-cmp-cm",
            sub_path: "sops.yaml",
        },
    );
    // 0444 as Helm reads it (no fsGroup in the chart's repo-server pod).
    assert_eq!(key_mode(&pod), &Value::Int(0o444));
}

#[test]
fn helm3_renders_the_values() {
    check_helm_render(&tool("HELM3_REFERENCE_BIN", "helm3"));
}

#[test]
fn helm4_renders_the_values() {
    check_helm_render(&tool("HELM4_REFERENCE_BIN", "helm4"));
}

// --------------------------------------------------------------------- README

/// Every `deploy/…` path the README names exists.
#[test]
fn readme_paths_exist() {
    let readme = read("README.md");
    let mut checked = 0;
    for (at, _) in readme.match_indices("deploy/") {
        if at > 0 && !matches!(readme.as_bytes()[at - 1], b'/' | b' ' | b'`' | b'(') {
            continue;
        }
        let path: String = readme[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
            .collect();
        let path = path.trim_end_matches('.');
        assert!(
            crate_dir().join(path).exists(),
            "README names {path}, which does not exist"
        );
        checked += 1;
    }
    assert!(
        checked >= 3,
        "README names the install artefacts ({checked} found)"
    );
}

/// `--help` names both commands, where the settings come from and the exit
/// codes; the usage error stays one line on stderr.
#[test]
fn help_is_complete() {
    let out = Command::new(crate::harness::BIN)
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for part in [
        "usage: argocd-sops-plugin <generate|discover>",
        "\n  generate ",
        "\n  discover ",
        "-h, --help",
        "SOPS_CMP_PROJECT_KEYS_DIR",
        "ARGOCD_ENV_",
        "argocd-plugin/README.md",
        "Exit status: 0 success",
    ] {
        assert!(help.contains(part), "{part:?} not in --help:\n{help}");
    }
    let out = Command::new(crate::harness::BIN)
        .arg("bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "argocd-sops-plugin: usage: argocd-sops-plugin <generate|discover>\n"
    );
}
