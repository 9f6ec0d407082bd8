//! A remote key service: a gRPC client of `sops keyservice` (plaintext
//! HTTP/2 over TCP or a unix socket). The connection is made on first use
//! and kept by the context; the context's KMS time-outs bound the dial and
//! each call. Errors read as sops' (Go gRPC's `rpc error: code = … desc = …`).

use std::sync::OnceLock;

use http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use zeroize::Zeroizing;

use super::KeyServiceAddr;
use super::proto::{
    DECRYPT_PATH, DecryptRequest, DecryptResponse, ENCRYPT_PATH, EncryptRequest, EncryptResponse,
    Key, to_key,
};
use crate::keys::cloud::{block_on, find_source};
use crate::keys::{KeyContext, KeyError};
use crate::metadata::KeyEntry;

pub(crate) struct RemoteKeyService {
    addr: KeyServiceAddr,
    channel: OnceLock<Result<Channel, String>>,
}

impl RemoteKeyService {
    pub(crate) fn new(addr: KeyServiceAddr) -> Self {
        Self {
            addr,
            channel: OnceLock::new(),
        }
    }

    /// Wraps `plaintext` for the key `template` names; the result is the
    /// `enc` text.
    pub(crate) fn encrypt(
        &self,
        template: &KeyEntry,
        plaintext: &[u8],
        ctx: &KeyContext,
    ) -> Result<String, KeyError> {
        let request = EncryptRequest {
            key: Some(self.key(template)?),
            plaintext: plaintext.to_vec(),
        };
        let response: EncryptResponse = self.call(ENCRYPT_PATH, request, ctx)?;
        String::from_utf8(response.ciphertext.clone()).map_err(|_| {
            KeyError::Rejected("the key service returned a ciphertext that is not text".into())
        })
    }

    /// Unwraps the secret stored in `entry`.
    pub(crate) fn decrypt(
        &self,
        entry: &KeyEntry,
        ctx: &KeyContext,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let request = DecryptRequest {
            key: Some(self.key(entry)?),
            ciphertext: entry.enc().unwrap_or_default().as_bytes().to_vec(),
        };
        let mut response: DecryptResponse = self.call(DECRYPT_PATH, request, ctx)?;
        Ok(Zeroizing::new(std::mem::take(&mut response.plaintext)))
    }

    fn key(&self, entry: &KeyEntry) -> Result<Key, KeyError> {
        to_key(entry).ok_or_else(|| {
            KeyError::Rejected(format!(
                "{} keys cannot be sent to a key service",
                entry.kind.display_name()
            ))
        })
    }

    fn call<Req, Resp>(
        &self,
        path: &'static str,
        request: Req,
        ctx: &KeyContext,
    ) -> Result<Resp, KeyError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let (connect_timeout, timeout) = (ctx.kms_connect_timeout(), ctx.kms_timeout());
        let result = block_on(async move {
            let channel = self
                .channel
                .get_or_init(|| {
                    self.endpoint(connect_timeout, timeout)
                        .map(|e| e.connect_lazy())
                })
                .clone()
                .map_err(KeyError::Rejected)?;
            let mut grpc = tonic::client::Grpc::new(channel);
            grpc.ready().await.map_err(|e| {
                KeyError::Rejected(self.status_text(&tonic::Status::from_error(e.into())))
            })?;
            let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
            grpc.unary(
                tonic::Request::new(request),
                PathAndQuery::from_static(path),
                codec,
            )
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| KeyError::Rejected(self.status_text(&status)))
        });
        result.map_err(KeyError::Rejected)?
    }

    fn endpoint(
        &self,
        connect_timeout: std::time::Duration,
        timeout: std::time::Duration,
    ) -> Result<Endpoint, String> {
        let uri = match &self.addr {
            KeyServiceAddr::Unix(path) => format!("unix:{}", path.display()),
            KeyServiceAddr::Net { network, address } => match network.as_str() {
                "tcp" | "tcp4" | "tcp6" => format!("http://{address}"),
                other => {
                    return Err(self.dial_error(&format!("unknown network {other}")));
                }
            },
        };
        Endpoint::from_shared(uri)
            .map(|e| e.connect_timeout(connect_timeout).timeout(timeout))
            .map_err(|e| self.dial_error(&format!("address {}: {e}", self.addr.address())))
    }

    /// Go gRPC's text for a failed dial.
    fn dial_error(&self, reason: &str) -> String {
        format!(
            "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial {} {}: {reason}\"",
            self.addr.network(),
            self.addr.address()
        )
    }

    /// A call's failure as Go's gRPC prints it; a connection that could not
    /// be made reads as sops' dial error (`connect: connection refused`).
    fn status_text(&self, status: &tonic::Status) -> String {
        if status.code() == tonic::Code::Unavailable
            && let Some(io) = find_source::<std::io::Error>(status)
        {
            let reason = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
                std::io::ErrorKind::TimedOut => "i/o timeout".to_owned(),
                _ => io.to_string(),
            };
            return self.dial_error(&format!("connect: {reason}"));
        }
        let timed_out = status.code() == tonic::Code::Cancelled
            && find_source::<tonic::TimeoutExpired>(status).is_some();
        if timed_out || status.message().contains("Timeout expired") {
            return "rpc error: code = DeadlineExceeded desc = context deadline exceeded"
                .to_owned();
        }
        format!(
            "rpc error: code = {:?} desc = {}",
            status.code(),
            status.message()
        )
    }
}
