//! GCS: the JSON API's simple upload
//! (`POST /upload/storage/v1/b/BUCKET/o?uploadType=media&name=OBJECT`) of
//! the file as `gcs://BUCKET/PREFIXNAME`. Credentials as GCP KMS keys get
//! them (`GOOGLE_CREDENTIALS`, `GOOGLE_OAUTH_ACCESS_TOKEN`, Application
//! Default Credentials); `STORAGE_EMULATOR_HOST` replaces Google's endpoint
//! and drops the credentials, as Google's Go client (sops') does.

use super::{PublishEnv, PublishError, Publisher};
use crate::keys::KeyContext;
use crate::keys::cloud::{block_on, install_crypto_provider};
use crate::keys::gcp_kms::{CredentialsFailure, credentials};
use crate::keys::http::{TlsTrust, client};
use crate::tree::Branch;

const GOOGLE_ENDPOINT: &str = "https://storage.googleapis.com";

/// A GCS bucket and object name prefix.
pub struct Gcs<'a> {
    bucket: String,
    prefix: String,
    /// `None`: Google's endpoint, with credentials.
    emulator: Option<String>,
    ctx: &'a KeyContext,
}

impl<'a> Gcs<'a> {
    pub fn new(bucket: &str, prefix: &str, env: &PublishEnv, ctx: &'a KeyContext) -> Self {
        Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            emulator: env.storage_emulator_host.as_deref().map(emulator_endpoint),
            ctx,
        }
    }
}

/// `STORAGE_EMULATOR_HOST` as Google's Go client reads it: `host:port`
/// means `http://host:port`; a URL is used as it is.
fn emulator_endpoint(host: &str) -> String {
    let host = host.trim_end_matches('/');
    if host.contains("://") {
        host.to_owned()
    } else {
        format!("http://{host}")
    }
}

/// `text/plain; charset=utf-8` for text, else `application/octet-stream`:
/// what Go's content sniffing (sops' writer) says for sops files.
fn content_type(bytes: &[u8]) -> &'static str {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

impl Publisher for Gcs<'_> {
    fn upload(&self, bytes: &[u8], name: &str) -> Result<(), PublishError> {
        let object = format!("{}{name}", self.prefix);
        let target = format!("gcs://{}/{object}", self.bucket);
        let failed = |message: String| PublishError::Upload {
            target: target.clone(),
            message,
        };
        let endpoint = self.emulator.as_deref().unwrap_or(GOOGLE_ENDPOINT);
        let mut url = reqwest::Url::parse(endpoint)
            .map_err(|e| failed(format!("invalid GCS endpoint {endpoint:?}: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| failed(format!("invalid GCS endpoint {endpoint:?}")))?
            .pop_if_empty()
            .extend(["upload", "storage", "v1", "b", &self.bucket, "o"]);
        url.query_pairs_mut()
            .append_pair("uploadType", "media")
            .append_pair("name", &object);
        // Before any credentials are built: some build HTTP clients.
        install_crypto_provider();
        let http = client(self.ctx, &TlsTrust::default()).map_err(failed)?;
        let body = bytes.to_vec();
        let kind = content_type(bytes);
        let emulated = self.emulator.is_some();
        let ctx = self.ctx;
        let outcome = block_on(async move {
            let mut request = http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, kind)
                .body(body);
            if !emulated {
                let creds = credentials(ctx).map_err(|e| match e {
                    CredentialsFailure::Missing(m) | CredentialsFailure::Bad(m) => m,
                })?;
                let headers = match creds.into_credentials().headers(Default::default()).await {
                    Ok(google_cloud_auth::credentials::CacheableResource::New { data, .. }) => data,
                    Ok(google_cloud_auth::credentials::CacheableResource::NotModified) => {
                        return Err("the GCP credentials gave no headers".to_owned());
                    }
                    Err(e) => return Err(super::causes(&e)),
                };
                request = request.headers(headers);
            }
            let response = request.send().await.map_err(|e| super::causes(&e))?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let text = response.text().await.unwrap_or_default();
            Err(format!("{status}: {}", google_error(&text)))
        })
        .map_err(failed)?;
        outcome.map_err(failed)
    }

    fn upload_decrypted(&self, _docs: &[Branch], _name: &str) -> Result<(), PublishError> {
        Err(PublishError::Unsupported(
            "GCS does not support uploading the unencrypted file contents.",
        ))
    }
}

/// The `error.message` of a Google JSON error body, else the body's first
/// line (bounded).
fn google_error(body: &str) -> String {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/error/message")?.as_str().map(str::to_owned));
    message.unwrap_or_else(|| {
        body.lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_host_takes_go_forms() {
        assert_eq!(emulator_endpoint("127.0.0.1:9"), "http://127.0.0.1:9");
        assert_eq!(emulator_endpoint("https://h:9/"), "https://h:9");
    }

    #[test]
    fn sops_files_are_text() {
        assert_eq!(content_type(b"a: 1\n"), "text/plain; charset=utf-8");
        assert_eq!(content_type(&[0xff, 0]), "application/octet-stream");
    }

    #[test]
    fn google_errors_are_short() {
        assert_eq!(
            google_error(r#"{"error":{"code":404,"message":"bucket not found"}}"#),
            "bucket not found"
        );
        assert_eq!(google_error("plain\nmore"), "plain");
    }
}
