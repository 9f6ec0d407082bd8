//! AWS KMS in the plugin, against moto's KMS and STS
//! (`SOPS_TEST_MOTO_ENDPOINT`): files wrapped with a KMS key decrypt in all
//! three modes with the sidecar's credentials, and nothing a tenant controls
//! (`ARGOCD_ENV_*`, `PARAM_*`, repository files, the `sops` block) can choose
//! the credentials, the endpoint or a key outside the policy.
//!
//! Every plugin call to AWS goes through a [`Recorder`] in front of moto,
//! which notes the access key id each request was signed with and what it
//! asked for; moto itself ignores signatures, so this is how the tests see
//! *whose* credentials were used.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use test_support::{aws_test_env, moto_create_key, moto_endpoint};

use crate::harness::{Request, World, get_str, kubectl, tool};

const PASSWORD: &str = "kms-wrapped-password-1";
const SIDECAR_AKID: &str = "AKIASIDECAR0000000001";
const TENANT_AKID: &str = "AKIATENANT00000000002";
const ROLE: &str = "arn:aws:iam::123456789012:role/sops-plugin";

/// One request the plugin sent to "AWS".
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    /// The access key id of the request's signature.
    pub akid: String,
    /// `X-Amz-Target` (KMS) or the `Action` of a form body (STS).
    pub action: String,
    /// The request body (KMS: JSON naming the key).
    pub body: String,
}

/// A loopback HTTP endpoint that records each request and either forwards
/// it to moto or (a trap) answers 500.
pub(crate) struct Recorder {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    pub fn forwarding_to(upstream: &str) -> Self {
        Self::start(Some(upstream.trim_start_matches("http://").to_owned()))
    }

    /// An endpoint nobody should call.
    pub fn trap() -> Self {
        Self::start(None)
    }

    fn start(upstream: Option<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                let upstream = upstream.clone();
                std::thread::spawn(move || serve(conn, upstream.as_deref(), &log));
            }
        });
        Self { url, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The KMS requests (not STS).
    pub fn kms_calls(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.action.starts_with("TrentService."))
            .collect()
    }
}

/// Serves one request on a connection, then closes it (and tells the
/// client so).
fn serve(conn: TcpStream, upstream: Option<&str>, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    let mut head = Vec::new();
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut len = 0usize;
    let (mut akid, mut action) = (String::new(), String::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => len = value.parse().unwrap_or(0),
            "x-amz-target" => action = value.to_owned(),
            "authorization" => {
                akid = value
                    .split("Credential=")
                    .nth(1)
                    .and_then(|c| c.split('/').next())
                    .unwrap_or("")
                    .to_owned();
            }
            "connection" => continue,
            _ => {}
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body_text = String::from_utf8_lossy(&body).into_owned();
    if action.is_empty() {
        action = body_text
            .split('&')
            .find_map(|p| p.strip_prefix("Action="))
            .unwrap_or("")
            .to_owned();
    }
    log.lock().unwrap().push(Seen {
        akid,
        action,
        body: body_text,
    });
    let response = match upstream {
        Some(up) => {
            let mut m = TcpStream::connect(up).unwrap();
            m.write_all(request_line.as_bytes()).unwrap();
            m.write_all(&head).unwrap();
            m.write_all(b"Connection: close\r\n\r\n").unwrap();
            m.write_all(&body).unwrap();
            let mut r = Vec::new();
            m.read_to_end(&mut r).unwrap();
            r
        }
        None => b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".to_vec(),
    };
    // One request per connection: the client is told so and the
    // connection ends after the response.
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head_text = String::from_utf8_lossy(&response[..split]);
    let mut out = String::new();
    for line in head_text.split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let _ = conn.write_all(out.as_bytes());
    let _ = conn.write_all(response.get(split + 4..).unwrap_or_default());
    let _ = conn.flush();
    let _ = conn.shutdown(std::net::Shutdown::Both);
}

/// A moto key, with a recorder in front of moto for the plugin.
pub(crate) struct Kms {
    pub moto: String,
    pub arn: String,
    pub aws: Recorder,
}

impl Kms {
    pub fn new() -> Self {
        let moto = moto_endpoint();
        let arn = moto_create_key(&moto, "us-east-1");
        let aws = Recorder::forwarding_to(&moto);
        Self { moto, arn, aws }
    }

    /// A second key in the same (moto) account.
    pub fn another_key(&self) -> String {
        moto_create_key(&self.moto, "us-east-1")
    }

    /// The AWS part of the sidecar's environment: endpoints through the
    /// recorder, no instance metadata, no static credentials.
    pub fn sidecar_aws(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("AWS_ENDPOINT_URL_KMS".into(), self.aws.url.clone()),
            ("AWS_ENDPOINT_URL_STS".into(), self.aws.url.clone()),
        ]
    }

    /// The sidecar env of `w` with static credentials of the sidecar's own.
    pub fn sidecar(&self, w: &World) -> Vec<(String, String)> {
        let mut env = w.sidecar_env();
        env.extend(self.sidecar_aws());
        env.push(("AWS_ACCESS_KEY_ID".into(), SIDECAR_AKID.into()));
        env.push(("AWS_SECRET_ACCESS_KEY".into(), "sidecar-secret".into()));
        env
    }

    /// Encrypts `plain` into the repository file `rel` with the reference
    /// sops, straight against moto (not through the recorder).
    pub fn encrypt(&self, w: &World, rel: &str, plain: &str, args: &[&str]) {
        let path = w.repo.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, plain).unwrap();
        let mut all = vec!["encrypt", "--in-place"];
        all.extend_from_slice(args);
        all.push(path.to_str().unwrap());
        let out = Command::new(test_support::reference_sops())
            .current_dir(w.path())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", w.path())
            .envs(aws_test_env(&self.moto))
            .args(&all)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "reference sops {all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every KMS call went out signed with `akid`; there was at least one.
    #[track_caller]
    pub fn assert_kms_signed_by(&self, akid: &str) {
        let calls = self.aws.kms_calls();
        assert!(!calls.is_empty(), "no KMS call: {:?}", self.aws.seen());
        for c in &calls {
            assert_eq!(c.akid, akid, "{calls:?}");
        }
    }
}

pub(crate) fn secret(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: team-a\ntype: Opaque\nstringData:\n  password: {value}\n"
    )
}

const REGEX: [&str; 2] = ["--encrypted-regex", "^(data|stringData)$"];

/// `apps/web/db.yaml`, an encrypted Secret wrapped with `kms` only.
fn directory_app(w: &World, k: &Kms, kms: &str) {
    let mut args = vec!["--kms", kms];
    args.extend(REGEX);
    k.encrypt(w, "apps/web/db.yaml", &secret("db", PASSWORD), &args);
}

#[track_caller]
fn password_of(out: &crate::harness::Outcome, name: &str) -> String {
    let docs = out.docs();
    let doc = docs
        .iter()
        .find(|d| get_str(d, &["metadata", "name"]) == name)
        .unwrap_or_else(|| panic!("no {name} in {}", out.stdout));
    get_str(doc, &["stringData", "password"]).to_owned()
}

#[test]
fn kms_files_decrypt_in_directory_mode_with_sidecar_credentials() {
    let w = World::new();
    let k = Kms::new();
    directory_app(&w, &k, &k.arn);
    let out = Request::generate(&w, "apps/web")
        .sidecar(k.sidecar(&w))
        .run();
    out.success();
    assert_eq!(password_of(&out, "db"), PASSWORD);
    k.assert_kms_signed_by(SIDECAR_AKID);
}

#[test]
fn kms_files_decrypt_in_kustomize_mode() {
    let w = World::new();
    let k = Kms::new();
    let mut args = vec!["--kms", k.arn.as_str()];
    args.extend(REGEX);
    k.encrypt(&w, "base/db.yaml", &secret("db", PASSWORD), &args);
    k.encrypt(
        &w,
        "overlays/prod/creds.env",
        "TOKEN=kms-env-token\n",
        &["--kms", &k.arn],
    );
    w.write("base/kustomization.yaml", "resources:\n  - db.yaml\n");
    w.write(
        "overlays/prod/kustomization.yaml",
        "namePrefix: prod-\nresources:\n  - ../../base\nsecretGenerator:\n  - name: creds\n    envs:\n      - creds.env\ngeneratorOptions:\n  disableNameSuffixHash: true\n",
    );
    let mut env = k.sidecar(&w);
    env.push((
        "SOPS_CMP_KUSTOMIZE_BIN".into(),
        kubectl().display().to_string(),
    ));
    let out = Request::generate(&w, "overlays/prod").sidecar(env).run();
    out.success();
    assert_eq!(password_of(&out, "prod-db"), PASSWORD);
    let token = base64::engine::general_purpose::STANDARD.encode("kms-env-token");
    assert!(out.stdout.contains(&token), "{}", out.stdout);
    k.assert_kms_signed_by(SIDECAR_AKID);
}

/// charts/web: one template over `.Values.password`, the value in an
/// encrypted values file passed as `helm-values-files`.
fn chart_app(w: &World, k: &Kms) {
    w.write(
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    w.write(
        "charts/web/templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-db\n  namespace: {{ .Release.Namespace }}\nstringData:\n  password: {{ .Values.password | quote }}\n",
    );
    k.encrypt(
        w,
        "charts/web/secrets.yaml",
        &format!("password: {PASSWORD}\n"),
        &["--kms", &k.arn],
    );
}

const HELM_PARAMS: &str = r#"[{"name":"helm-values-files","array":["secrets.yaml"]}]"#;

#[test]
fn kms_values_files_decrypt_in_helm_mode() {
    let w = World::new();
    let k = Kms::new();
    chart_app(&w, &k);
    let mut env = k.sidecar(&w);
    env.push((
        "SOPS_CMP_HELM_BIN".into(),
        tool("HELM4_REFERENCE_BIN", "helm4").display().to_string(),
    ));
    let out = Request::generate(&w, "charts/web")
        .sidecar(env)
        .env("ARGOCD_APP_PARAMETERS", HELM_PARAMS)
        .run();
    out.success();
    assert_eq!(password_of(&out, "guestbook-db"), PASSWORD);
    k.assert_kms_signed_by(SIDECAR_AKID);
}

/// Tenant variables that name AWS settings, as Argo CD passes them (an
/// `env` entry of the Application or `.argocd-source.yaml`, a parameter).
fn tenant_aws_vars(prefix: &str, trap: &str) -> Vec<(String, String)> {
    let mut v = Vec::new();
    {
        for (k, val) in [
            ("AWS_ACCESS_KEY_ID", TENANT_AKID),
            ("AWS_SECRET_ACCESS_KEY", "tenant-secret"),
            ("AWS_PROFILE", "tenant"),
            ("AWS_DEFAULT_PROFILE", "tenant"),
            ("AWS_ENDPOINT_URL", trap),
            ("AWS_ENDPOINT_URL_KMS", trap),
            ("AWS_ENDPOINT_URL_STS", trap),
            ("AWS_CONFIG_FILE", "/repo/.aws/config"),
            ("AWS_ROLE_ARN", "arn:aws:iam::999999999999:role/tenant"),
        ] {
            v.push((format!("{prefix}{k}"), val.to_owned()));
        }
    }
    v
}

/// Repository files a tenant might hope the AWS SDK reads: `.aws/` at the
/// root and in the app dir, `~/.aws/` in the app dir (a relative `~`), and
/// a `.sops.yaml`. Their `credential_process` would create `marker`.
fn tenant_aws_files(w: &World, app: &str, trap: &str, marker: &Path) {
    let config = format!(
        "[default]\ncredential_process = /bin/sh -c 'touch {m}; echo {{\\\"Version\\\":1,\\\"AccessKeyId\\\":\\\"{TENANT_AKID}\\\",\\\"SecretAccessKey\\\":\\\"x\\\"}}'\nendpoint_url = {trap}\n[profile tenant]\ncredential_process = /bin/sh -c 'touch {m}'\n",
        m = marker.display()
    );
    let credentials =
        format!("[default]\naws_access_key_id = {TENANT_AKID}\naws_secret_access_key = x\n");
    for dir in [".aws", &format!("{app}/.aws"), &format!("{app}/~/.aws")] {
        w.write(&format!("{dir}/config"), &config);
        w.write(&format!("{dir}/credentials"), &credentials);
    }
    w.write(
        ".sops.yaml",
        "creation_rules:\n  - kms: arn:aws:kms:us-east-1:999999999999:key/tenant\n    aws_profile: tenant\n",
    );
}

#[test]
fn tenant_variables_and_files_do_not_choose_credentials_or_endpoints() {
    let w = World::new();
    let k = Kms::new();
    let trap = Recorder::trap();
    let marker = w.path().join("credential-process-ran");
    directory_app(&w, &k, &k.arn);
    tenant_aws_files(&w, "apps/web", &trap.url, &marker);
    let mut req = Request::generate(&w, "apps/web").sidecar(k.sidecar(&w));
    req.app_env
        .extend(tenant_aws_vars("ARGOCD_ENV_", &trap.url));
    let out = req.run();
    out.success();
    assert_eq!(password_of(&out, "db"), PASSWORD);
    k.assert_kms_signed_by(SIDECAR_AKID);
    assert!(trap.seen().is_empty(), "{:?}", trap.seen());
    assert!(!marker.exists(), "a repository credential_process ran");
}

#[test]
fn aws_parameters_are_refused_before_any_kms_call() {
    // Argo CD derives `PARAM_*` from the Application's parameters (also in
    // `ARGOCD_APP_PARAMETERS`): a parameter the plugin does not announce is
    // an error, so these fail closed before any key is used.
    let w = World::new();
    let k = Kms::new();
    let trap = Recorder::trap();
    directory_app(&w, &k, &k.arn);
    for (name, value) in tenant_aws_vars("PARAM_", &trap.url) {
        let out = Request::generate(&w, "apps/web")
            .sidecar(k.sidecar(&w))
            .env(&name, &value)
            .run();
        out.failure(Some(1))
            .stderr_contains(&format!("unknown parameter {name}"));
    }
    let json = format!(r#"[{{"name":"aws-endpoint-url","string":"{}"}}]"#, trap.url);
    Request::generate(&w, "apps/web")
        .sidecar(k.sidecar(&w))
        .env("ARGOCD_APP_PARAMETERS", &json)
        .run()
        .failure(Some(1))
        .stderr_contains("unknown parameter");
    assert!(k.aws.seen().is_empty() && trap.seen().is_empty());
}

#[test]
fn tenant_profile_does_not_select_a_sidecar_profile() {
    // The sidecar's credentials come from its own shared files (default
    // profile); a tenant naming another profile of those files changes
    // nothing.
    let w = World::new();
    let k = Kms::new();
    directory_app(&w, &k, &k.arn);
    let home = w.path().join("home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/credentials"),
        format!(
            "[default]\naws_access_key_id = {SIDECAR_AKID}\naws_secret_access_key = s\n\
             [tenant]\naws_access_key_id = {TENANT_AKID}\naws_secret_access_key = t\n"
        ),
    )
    .unwrap();
    let mut env = w.sidecar_env();
    env.extend(k.sidecar_aws());
    let mut req = Request::generate(&w, "apps/web").sidecar(env);
    req.app_env
        .extend(tenant_aws_vars("ARGOCD_ENV_", &Recorder::trap().url));
    let out = req.run();
    out.success();
    k.assert_kms_signed_by(SIDECAR_AKID);
}

#[test]
fn tenant_credentials_alone_give_no_credentials() {
    // The sidecar has none: the tenant's variables and repository files
    // must not fill the gap, also when the sidecar has no HOME (the SDK
    // would then look for `~/.aws/config` relative to the working
    // directory, the tenant's app dir).
    let w = World::new();
    let k = Kms::new();
    let trap = Recorder::trap();
    let marker = w.path().join("credential-process-ran");
    directory_app(&w, &k, &k.arn);
    tenant_aws_files(&w, "apps/web", &trap.url, &marker);
    for with_home in [true, false] {
        let mut env = w.sidecar_env();
        env.extend(k.sidecar_aws());
        if !with_home {
            env.retain(|(k, _)| k != "HOME");
        }
        let mut req = Request::generate(&w, "apps/web").sidecar(env);
        req.app_env
            .extend(tenant_aws_vars("ARGOCD_ENV_", &trap.url));
        let out = req.run();
        assert!(
            !marker.exists(),
            "a repository credential_process ran (sidecar HOME set: {with_home})"
        );
        out.failure(Some(128))
            .stderr_contains(&k.arn)
            .stderr_contains("no AWS credentials found");
        assert!(
            k.aws.kms_calls().iter().all(|c| c.akid != TENANT_AKID),
            "{:?}",
            k.aws.seen()
        );
        assert!(trap.seen().is_empty(), "{:?}", trap.seen());
    }
}

/// A fake renderer that writes its environment to `dump` and prints one
/// ConfigMap.
fn env_dumping_renderer(w: &World, name: &str, dump: &Path) -> PathBuf {
    let script = w.path().join(format!("fake-{name}"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nenv > {}\nprintf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: rendered\\n'\n",
            dump.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// Cloud credential variables an operator may give the sidecar.
fn sidecar_cloud_vars(w: &World) -> Vec<(String, String)> {
    let token = w.path().join("web-identity-token");
    std::fs::write(&token, "dummy-token").unwrap();
    [
        ("AWS_ROLE_ARN", ROLE.to_owned()),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()),
        ("AWS_ROLE_SESSION_NAME", "sidecar".into()),
        ("AWS_SESSION_TOKEN", "sidecar-session-token".into()),
        ("AWS_PROFILE", "sidecar".into()),
        ("AWS_CONFIG_FILE", "/keys/aws/config".into()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/keys/aws/credentials".into(),
        ),
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://169.254.170.23/v1/credentials".into(),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            "/var/run/secrets/pods.eks.amazonaws.com/token".into(),
        ),
        (
            "GOOGLE_APPLICATION_CREDENTIALS",
            "/keys/gcp/credentials.json".into(),
        ),
        (
            "GOOGLE_CREDENTIALS",
            "{\"type\":\"service_account\"}".into(),
        ),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.sidecar-token".into()),
        ("SOPS_GCP_KMS_ENDPOINT", "http://127.0.0.1:1".into()),
        ("AZURE_CLIENT_SECRET", "azure-secret".into()),
        ("VAULT_TOKEN", "vault-token".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[test]
fn renderers_never_see_the_sidecars_cloud_credentials() {
    for mode in ["kustomize", "helm"] {
        let w = World::new();
        let dump = w.path().join("renderer-env.txt");
        let fake = env_dumping_renderer(&w, mode, &dump);
        let app = if mode == "helm" {
            w.write(
                "app/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 0.1.0\n",
            );
            "SOPS_CMP_HELM_BIN"
        } else {
            w.write("app/kustomization.yaml", "resources: []\n");
            "SOPS_CMP_KUSTOMIZE_BIN"
        };
        let mut env = w.sidecar_env();
        env.extend(sidecar_cloud_vars(&w));
        env.push((app.into(), fake.display().to_string()));
        Request::generate(&w, "app").sidecar(env).run().success();
        let seen = std::fs::read_to_string(&dump).unwrap();
        for line in seen.lines() {
            let name = line.split_once('=').map_or(line, |(k, _)| k);
            assert!(
                [
                    "PATH",
                    "HOME",
                    "PWD",
                    "SHLVL",
                    "_",
                    "OLDPWD",
                    "HELM_CACHE_HOME",
                    "HELM_CONFIG_HOME",
                    "HELM_DATA_HOME"
                ]
                .contains(&name),
                "{mode} saw {name}"
            );
        }
        assert!(!seen.contains("sidecar"), "{mode}: {seen}");
    }
}

/// The sidecar env with a key policy for project team-a (the harness's).
fn with_policy(w: &World, k: &Kms, kms: &[&str]) -> Vec<(String, String)> {
    let file = w.path().join("policy.yaml");
    let list: Vec<String> = kms.iter().map(|a| format!("\"{a}\"")).collect();
    std::fs::write(
        &file,
        format!("projects:\n  team-a:\n    kms: [{}]\n", list.join(", ")),
    )
    .unwrap();
    let mut env = k.sidecar(w);
    env.push(("SOPS_CMP_KEY_POLICY".into(), file.display().to_string()));
    env
}

#[test]
fn policy_matches_a_kms_key_with_role_and_context_on_its_arn() {
    let w = World::new();
    let k = Kms::new();
    let key = format!("{}+{ROLE}", k.arn);
    let mut args = vec![
        "--kms",
        key.as_str(),
        "--encryption-context",
        "app:web,env:prod",
    ];
    args.extend(REGEX);
    k.encrypt(&w, "apps/web/db.yaml", &secret("db", PASSWORD), &args);
    let enc = std::fs::read_to_string(w.repo.join("apps/web/db.yaml")).unwrap();
    assert!(enc.contains(&format!("role: {ROLE}")), "{enc}");
    let out = Request::generate(&w, "apps/web")
        .sidecar(with_policy(&w, &k, &[&k.arn]))
        .run();
    out.success();
    assert_eq!(password_of(&out, "db"), PASSWORD);
    // The role was assumed with the sidecar's credentials, and KMS was
    // called with the role's.
    let seen = k.aws.seen();
    let assume: Vec<_> = seen.iter().filter(|s| s.action == "AssumeRole").collect();
    assert_eq!(assume.len(), 1, "{seen:?}");
    assert_eq!(assume[0].akid, SIDECAR_AKID);
    let kms = k.aws.kms_calls();
    assert!(
        !kms.is_empty() && kms.iter().all(|c| c.akid != SIDECAR_AKID),
        "{seen:?}"
    );
}

#[test]
fn disallowed_kms_keys_are_never_called() {
    let w = World::new();
    let k = Kms::new();
    let other = k.another_key();
    let other_id = other.rsplit('/').next().unwrap();
    // An operator's glob for one key id in any region, and a tenant's file
    // for another key whose encryption context (free text of the `sops`
    // block, shown after the ARN in sops' identifier) ends like the
    // allowed key.
    let allowed = format!("arn:aws:kms:*:123456789012:key/{other_id}-not-this");
    let forged_context = format!(":123456789012:key/{other_id}-not-this");
    let mut args = vec!["--kms", k.arn.as_str()];
    args.extend(REGEX);
    k.encrypt(&w, "apps/plain/db.yaml", &secret("db", PASSWORD), &args);
    // The tenant edits the context into the metadata (not covered by the
    // MAC); the reference sops refuses `:` in a context value on the
    // command line, but KMS takes any string.
    let enc = std::fs::read_to_string(w.repo.join("apps/plain/db.yaml")).unwrap();
    let line = enc
        .lines()
        .find(|l| l.trim_start().starts_with("aws_profile:"))
        .unwrap();
    let indent = &line[..line.len() - line.trim_start().len()];
    let forged = enc.replacen(
        line,
        &format!("{indent}context:\n{indent}    a: \"{forged_context}\"\n{line}"),
        1,
    );
    w.write("apps/forged/db.yaml", forged);
    for app in ["apps/plain", "apps/forged"] {
        let out = Request::generate(&w, app)
            .sidecar(with_policy(&w, &k, &[&other, &allowed]))
            .run();
        out.failure(Some(128))
            .stderr_contains(&k.arn)
            .stderr_contains("skipped by policy")
            .stderr_contains("SOPS_CMP_KEY_POLICY");
        assert!(k.aws.seen().is_empty(), "{app}: {:?}", k.aws.seen());
    }
}

#[test]
fn irsa_web_identity_of_the_sidecar_is_used() {
    // As EKS' webhook injects IRSA: a role ARN and a projected token file,
    // no static keys. moto's STS answers AssumeRoleWithWebIdentity.
    let w = World::new();
    let k = Kms::new();
    directory_app(&w, &k, &k.arn);
    let token = w.path().join("eks.amazonaws.com/serviceaccount/token");
    std::fs::create_dir_all(token.parent().unwrap()).unwrap();
    std::fs::write(&token, "dummy-web-identity-token").unwrap();
    let mut env = w.sidecar_env();
    env.extend(k.sidecar_aws());
    env.push(("AWS_ROLE_ARN".into(), ROLE.into()));
    env.push((
        "AWS_WEB_IDENTITY_TOKEN_FILE".into(),
        token.display().to_string(),
    ));
    let mut req = Request::generate(&w, "apps/web").sidecar(env);
    req.app_env
        .extend(tenant_aws_vars("ARGOCD_ENV_", &Recorder::trap().url));
    let out = req.run();
    out.success();
    assert_eq!(password_of(&out, "db"), PASSWORD);
    let seen = k.aws.seen();
    let web: Vec<_> = seen
        .iter()
        .filter(|s| s.action == "AssumeRoleWithWebIdentity")
        .collect();
    assert_eq!(web.len(), 1, "{seen:?}");
    assert!(web[0].body.contains("dummy-web-identity-token"), "{seen:?}");
    assert!(
        web[0].body.contains("sops-plugin"),
        "the sidecar's role: {seen:?}"
    );
    // KMS was called with the role's temporary credentials.
    let kms = k.aws.kms_calls();
    assert!(
        !kms.is_empty()
            && kms
                .iter()
                .all(|c| !c.akid.is_empty() && c.akid != TENANT_AKID),
        "{seen:?}"
    );
}

const TEAM_A_AKID: &str = "AKIATEAMA00000000003";
const TEAM_B_AKID: &str = "AKIATEAMB00000000004";

/// `<keys>/<project>/` with an age identity and, if given, the AWS files.
fn project_dir(w: &World, project: &str, config: Option<&str>, credentials: Option<&str>) {
    let dir = w.path().join("keys").join(project);
    std::fs::create_dir_all(dir.join("aws")).unwrap();
    crate::harness::Key::generate(&dir, "age.txt");
    if let Some(c) = config {
        std::fs::write(dir.join("aws/config"), c).unwrap();
    }
    if let Some(c) = credentials {
        std::fs::write(dir.join("aws/credentials"), c).unwrap();
    }
}

fn static_credentials(akid: &str) -> String {
    format!("[default]\naws_access_key_id = {akid}\naws_secret_access_key = s\n")
}

/// Project scoping on, and every kind of sidecar credential present: static
/// keys, IRSA, a shared config in HOME. None of them may be used.
fn scoped_sidecar(w: &World, k: &Kms) -> Vec<(String, String)> {
    let home = w.path().join("home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/credentials"),
        static_credentials(SIDECAR_AKID),
    )
    .unwrap();
    let token = w.path().join("irsa-token");
    std::fs::write(&token, "sidecar-irsa-token").unwrap();
    let mut env = k.sidecar(w);
    env.retain(|(k, _)| k != "SOPS_AGE_KEY_FILE");
    env.push((
        "SOPS_CMP_PROJECT_KEYS_DIR".into(),
        w.path().join("keys").display().to_string(),
    ));
    env.push(("AWS_ROLE_ARN".into(), ROLE.into()));
    env.push((
        "AWS_WEB_IDENTITY_TOKEN_FILE".into(),
        token.display().to_string(),
    ));
    env
}

#[test]
fn a_project_uses_only_its_own_aws_credentials() {
    let w = World::new();
    let k = Kms::new();
    directory_app(&w, &k, &k.arn);
    project_dir(
        &w,
        "team-a",
        Some("[default]\n"),
        Some(&static_credentials(TEAM_A_AKID)),
    );
    project_dir(
        &w,
        "team-b",
        Some("[default]\n"),
        Some(&static_credentials(TEAM_B_AKID)),
    );
    let out = Request::generate(&w, "apps/web")
        .sidecar(scoped_sidecar(&w, &k))
        .run();
    out.success();
    assert_eq!(password_of(&out, "db"), PASSWORD);
    k.assert_kms_signed_by(TEAM_A_AKID);
    assert!(
        k.aws
            .seen()
            .iter()
            .all(|s| s.action != "AssumeRoleWithWebIdentity"),
        "{:?}",
        k.aws.seen()
    );
    // The same file in an app of team-b is opened, if at all, with
    // team-b's credentials (moto does not check key policies; AWS would
    // refuse them for team-a's key).
    let before = k.aws.seen().len();
    let out = Request::generate(&w, "apps/web")
        .sidecar(scoped_sidecar(&w, &k))
        .env("ARGOCD_APP_PROJECT_NAME", "team-b")
        .run();
    out.success();
    let calls: Vec<_> = k.aws.seen().into_iter().skip(before).collect();
    assert!(
        !calls.is_empty() && calls.iter().all(|c| c.akid == TEAM_B_AKID),
        "{calls:?}"
    );
}

#[test]
fn a_project_without_aws_files_has_no_credentials() {
    let w = World::new();
    let k = Kms::new();
    directory_app(&w, &k, &k.arn);
    project_dir(
        &w,
        "team-a",
        Some("[default]\n"),
        Some(&static_credentials(TEAM_A_AKID)),
    );
    project_dir(&w, "team-b", None, None);
    project_dir(&w, "team-c", Some("[default]\n"), None);
    for (project, missing) in [
        ("team-b", "team-b/aws/config"),
        ("team-c", "team-c/aws/credentials"),
    ] {
        let out = Request::generate(&w, "apps/web")
            .sidecar(scoped_sidecar(&w, &k))
            .env("ARGOCD_APP_PROJECT_NAME", project)
            .run();
        out.failure(Some(128))
            .stderr_contains(&format!("{}: ", k.arn))
            .stderr_contains("no AWS credentials")
            .stderr_contains(missing);
    }
    assert!(k.aws.seen().is_empty(), "{:?}", k.aws.seen());
}

#[test]
fn a_projects_aws_config_can_assume_its_role_with_the_pods_token() {
    // Per-project roles on EKS: the project's config names its role and
    // the pod's IRSA token file; the sidecar's own AWS_ROLE_ARN is not used.
    let w = World::new();
    let k = Kms::new();
    directory_app(&w, &k, &k.arn);
    let token = w.path().join("pod-token");
    std::fs::write(&token, "pod-web-identity-token").unwrap();
    let role_a = "arn:aws:iam::123456789012:role/argocd-sops-team-a";
    project_dir(
        &w,
        "team-a",
        Some(&format!(
            "[default]\nrole_arn = {role_a}\nweb_identity_token_file = {}\n",
            token.display()
        )),
        Some(""),
    );
    let out = Request::generate(&w, "apps/web")
        .sidecar(scoped_sidecar(&w, &k))
        .run();
    out.success();
    let seen = k.aws.seen();
    let web: Vec<_> = seen
        .iter()
        .filter(|s| s.action == "AssumeRoleWithWebIdentity")
        .collect();
    assert_eq!(web.len(), 1, "{seen:?}");
    assert!(
        web[0].body.contains("argocd-sops-team-a")
            && web[0].body.contains("pod-web-identity-token"),
        "{seen:?}"
    );
    let kms = k.aws.kms_calls();
    assert!(
        !kms.is_empty() && kms.iter().all(|c| c.akid != SIDECAR_AKID),
        "{seen:?}"
    );
}
