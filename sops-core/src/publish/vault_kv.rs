//! Vault KV: the decrypted top-level values written as one secret,
//! `PUT /v1/MOUNT[data/]PATHNAME` (KV v2 wraps them in `{"data": …}`), with
//! `X-Vault-Token`. As sops 3.11 does, the secret is read first and left
//! alone when it already holds the same values (KV v2: no new version); a
//! failed read only means the write goes ahead.

use super::{PublishError, Publisher, decrypted_map};
use crate::config::Destination;
use crate::keys::KeyContext;
use crate::keys::cloud::block_on;
use crate::keys::hc_vault as vault;
use crate::tree::Branch;

/// A Vault KV secrets engine, path and version.
pub struct VaultKv<'a> {
    address: String,
    path: String,
    mount: String,
    version: u8,
    ctx: &'a KeyContext,
}

impl<'a> VaultKv<'a> {
    /// `path` and `mount` end with `/` (see [`Destination::VaultKv`]).
    pub fn new(address: &str, path: &str, mount: &str, version: u8, ctx: &'a KeyContext) -> Self {
        Self {
            address: address.trim_end_matches('/').to_owned(),
            path: path.to_owned(),
            mount: mount.to_owned(),
            version,
            ctx,
        }
    }
}

impl Publisher for VaultKv<'_> {
    fn upload(&self, _bytes: &[u8], _name: &str) -> Result<(), PublishError> {
        Err(PublishError::Unsupported(
            "Vault does not support uploading encrypted sops files directly.",
        ))
    }

    fn upload_decrypted(&self, docs: &[Branch], name: &str) -> Result<(), PublishError> {
        let secret = Destination::vault_secret_path(&self.mount, &self.path, self.version, name);
        let url = format!("{}/v1/{secret}", self.address);
        let failed = |message: String| PublishError::Upload {
            target: url.clone(),
            message,
        };
        let data = decrypted_map(docs).map_err(|message| PublishError::Content {
            target: url.clone(),
            message,
        })?;
        let data = serde_json::Value::Object(data);
        let body = if self.version == 1 {
            data.clone()
        } else {
            serde_json::json!({ "data": data })
        };
        // The transit keys' client and token (`VAULT_CACERT`, client
        // certificates, no redirects; `VAULT_TOKEN`, else `~/.vault-token`).
        // Without a token the request goes without one, as sops' does.
        let http = vault::client(self.ctx).map_err(failed)?;
        let token = match vault::context_token(self.ctx.vault_inputs()) {
            Ok(token) => Some(token),
            Err(vault::TokenProblem::Missing(_)) => None,
            Err(vault::TokenProblem::Unreadable(why)) => return Err(failed(why)),
        };
        let namespace = self.ctx.vault_namespace().map(str::to_owned);
        let version = self.version;
        let request = |method: reqwest::Method| {
            let mut r = http.request(method, &url);
            if let Some(token) = &token {
                r = r.header("X-Vault-Token", token.as_str());
            }
            if let Some(ns) = &namespace {
                r = r.header("X-Vault-Namespace", ns);
            }
            r
        };
        let outcome = block_on(async {
            // KV v2 keeps versions: an unchanged secret is not written again.
            // (sops 3.11 also reads a KV v1 secret first, but compares the
            // wrong field, so it always writes; so does this.)
            if version == 2 {
                match request(reqwest::Method::GET).send().await {
                    Ok(existing) if existing.status().is_success() => {
                        if let Ok(existing) = existing.json::<serde_json::Value>().await
                            && existing.pointer("/data/data") == Some(&data)
                        {
                            return Ok(());
                        }
                    }
                    // Vault's client reads a missing secret as none.
                    Ok(existing) if existing.status() == reqwest::StatusCode::NOT_FOUND => {}
                    _ => eprintln!(
                        "Cannot check if destination secret already exists in {secret}. New \
                         version will be created even if the data has not been changed."
                    ),
                }
            }
            let response = request(reqwest::Method::PUT)
                .json(&body)
                .send()
                .await
                .map_err(|e| format!("Put \"{url}\": {}", super::causes(&e)))?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let text = response.text().await.unwrap_or_default();
            // The Vault client's (so sops') wording.
            Err(format!(
                "Error making API request.\n\nURL: PUT {url}\nCode: {}. Errors:\n\n{}",
                status.as_u16(),
                vault_errors(&text)
            ))
        })
        .map_err(failed)?;
        outcome.map_err(PublishError::Vault)
    }
}

/// Vault's `{"errors": [...]}` as `* a` lines, else the body's first line.
fn vault_errors(body: &str) -> String {
    let listed = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("errors")?.as_array().map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e.as_str())
                    .map(|e| format!("* {e}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        });
    listed.unwrap_or_else(|| {
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
    fn vault_errors_are_listed() {
        assert_eq!(
            vault_errors(r#"{"errors":["permission denied"]}"#),
            "* permission denied"
        );
        assert_eq!(vault_errors("oops"), "oops");
    }
}
