//! The key service server (`sops keyservice`): answers `Encrypt` and
//! `Decrypt` with this process' [`KeyContext`] (its credentials, never the
//! caller's), optionally asking an operator to confirm each request.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tonic::Status;
use tonic::server::{Grpc, UnaryService};
use tonic_prost::ProstCodec;

use super::KeyServiceAddr;
use super::proto::{
    DECRYPT_PATH, DecryptRequest, DecryptResponse, ENCRYPT_PATH, EncryptRequest, EncryptResponse,
    Key, describe, to_entry,
};
use crate::keys::{KeyContext, KeyError, master_key_for};
use crate::metadata::KeyEntry;

/// Asks whether to answer a request: given `"encrypt"` or `"decrypt"` and
/// sops' description of the key (`AWS KMS key with ARN …`), returns
/// `Ok(true)` to answer, `Ok(false)` to refuse (the client gets
/// `PermissionDenied`, `Request rejected by user`), or an error text (the
/// client gets it with code `Unknown`). Calls are made one at a time.
pub type Prompt = dyn FnMut(&str, &str) -> Result<bool, String> + Send;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be listened on (Go's `listen tcp …: bind: …`).
    #[error("listen {network} {address}: {reason}")]
    Listen {
        network: String,
        address: String,
        reason: String,
    },
    #[error("could not start the key service runtime")]
    Runtime(#[source] std::io::Error),
    #[error("key service transport failed: {0}")]
    Transport(String),
}

/// A key service: a [`KeyContext`] and an optional prompt.
pub struct KeyServiceServer {
    ctx: KeyContext,
    prompt: Option<Box<Prompt>>,
}

struct Inner {
    ctx: KeyContext,
    prompt: Option<Mutex<Box<Prompt>>>,
}

impl KeyServiceServer {
    /// A server that wraps and unwraps with `ctx`'s key material.
    pub fn new(ctx: KeyContext) -> Self {
        Self { ctx, prompt: None }
    }

    /// Asks `prompt` after each operation whether to send its result.
    pub fn with_prompt(
        mut self,
        prompt: impl FnMut(&str, &str) -> Result<bool, String> + Send + 'static,
    ) -> Self {
        self.prompt = Some(Box::new(prompt));
        self
    }

    /// Listens on `addr` (a unix socket file is created at its path), calls
    /// `listening` once it does, and serves until `shutdown` completes;
    /// then the listener is closed and a socket file it created removed.
    pub fn serve(
        self,
        addr: &KeyServiceAddr,
        listening: impl FnOnce(),
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sops-keyservice")
            .enable_all()
            .build()
            .map_err(ServeError::Runtime)?;
        let listen_error = |e: std::io::Error| ServeError::Listen {
            network: addr.network().to_owned(),
            address: addr.address(),
            reason: bind_reason(&e),
        };
        let service = Service(Arc::new(Inner {
            ctx: self.ctx,
            prompt: self.prompt.map(Mutex::new),
        }));
        let builder = tonic::transport::Server::builder();
        match addr {
            #[cfg(not(unix))]
            KeyServiceAddr::Unix(_) => Err(ServeError::Listen {
                network: "unix".to_owned(),
                address: addr.address(),
                reason: "unix sockets are not supported on this platform".to_owned(),
            }),
            #[cfg(unix)]
            KeyServiceAddr::Unix(path) => {
                let listener =
                    std::os::unix::net::UnixListener::bind(path).map_err(listen_error)?;
                let _socket = SocketFile(path.clone());
                listener.set_nonblocking(true).map_err(listen_error)?;
                let _guard = rt.enter();
                let listener =
                    tokio::net::UnixListener::from_std(listener).map_err(listen_error)?;
                let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
                listening();
                rt.block_on(builder.serve_with_incoming_shutdown(service, incoming, shutdown))
                    .map_err(|e| ServeError::Transport(e.to_string()))
            }
            KeyServiceAddr::Net { network, address } => {
                if !matches!(network.as_str(), "tcp" | "tcp4" | "tcp6") {
                    return Err(ServeError::Listen {
                        network: network.clone(),
                        address: address.clone(),
                        reason: format!("unknown network {network}"),
                    });
                }
                let listener =
                    std::net::TcpListener::bind(address.as_str()).map_err(listen_error)?;
                listener.set_nonblocking(true).map_err(listen_error)?;
                let _guard = rt.enter();
                let listener = tokio::net::TcpListener::from_std(listener).map_err(listen_error)?;
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                listening();
                rt.block_on(builder.serve_with_incoming_shutdown(service, incoming, shutdown))
                    .map_err(|e| ServeError::Transport(e.to_string()))
            }
        }
    }
}

/// A unix socket file this server created, removed when it stops.
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Go's words for the usual bind failures.
fn bind_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => "bind: address already in use".to_owned(),
        std::io::ErrorKind::PermissionDenied => "bind: permission denied".to_owned(),
        std::io::ErrorKind::NotFound => "bind: no such file or directory".to_owned(),
        _ => e.to_string(),
    }
}

impl Inner {
    /// The entry a request names, or sops' `NotFound` statuses.
    fn entry_of(key: Option<&Key>) -> Result<KeyEntry, Status> {
        let key = key.ok_or_else(|| Status::not_found("Must provide a key"))?;
        to_entry(key).ok_or_else(|| Status::not_found("Unknown key type"))
    }

    fn encrypt(&self, request: &EncryptRequest) -> Result<EncryptResponse, Status> {
        let template = Self::entry_of(request.key.as_ref())?;
        let entry = master_key_for(&template)
            .and_then(|k| k.encrypt(&request.plaintext, &self.ctx))
            .map_err(failed)?;
        let ciphertext = entry.enc().unwrap_or_default().as_bytes().to_vec();
        self.confirm("encrypt", request.key.as_ref())?;
        Ok(EncryptResponse { ciphertext })
    }

    fn decrypt(&self, request: &DecryptRequest) -> Result<DecryptResponse, Status> {
        let mut entry = Self::entry_of(request.key.as_ref())?;
        let enc = String::from_utf8(request.ciphertext.clone())
            .map_err(|_| Status::unknown("the ciphertext is not text"))?;
        entry.fields.push("enc", crate::tree::Value::Str(enc));
        let mut plaintext = master_key_for(&entry)
            .and_then(|k| k.decrypt(&entry, &self.ctx))
            .map_err(failed)?;
        self.confirm("decrypt", request.key.as_ref())?;
        Ok(DecryptResponse {
            plaintext: std::mem::take(&mut *plaintext),
        })
    }

    fn confirm(&self, request: &str, key: Option<&Key>) -> Result<(), Status> {
        let Some(prompt) = &self.prompt else {
            return Ok(());
        };
        let description = key.map(describe).unwrap_or_default();
        let mut prompt = prompt.lock().unwrap_or_else(PoisonError::into_inner);
        match prompt(request, &description) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Status::permission_denied("Request rejected by user")),
            Err(e) => Err(Status::unknown(e)),
        }
    }
}

/// A keystore's failure goes back as Go's server sends a plain error:
/// code `Unknown` with the error's text.
fn failed(e: KeyError) -> Status {
    Status::unknown(e.to_string())
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The HTTP/2 service: routes the two methods, refuses the rest.
#[derive(Clone)]
struct Service(Arc<Inner>);

impl tower_service::Service<http::Request<tonic::body::Body>> for Service {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let inner = Arc::clone(&self.0);
        Box::pin(async move {
            Ok(match request.uri().path() {
                ENCRYPT_PATH => {
                    let codec = ProstCodec::<EncryptResponse, EncryptRequest>::default();
                    Grpc::new(codec)
                        .unary(Method(inner, Inner::encrypt), request)
                        .await
                }
                DECRYPT_PATH => {
                    let codec = ProstCodec::<DecryptResponse, DecryptRequest>::default();
                    Grpc::new(codec)
                        .unary(Method(inner, Inner::decrypt), request)
                        .await
                }
                _ => Status::unimplemented("unknown method").into_http(),
            })
        })
    }
}

/// One method: its synchronous handler runs on a blocking thread (the
/// keystores block, and a prompt waits for the operator).
struct Method<Req, Resp>(Arc<Inner>, fn(&Inner, &Req) -> Result<Resp, Status>);

impl<Req, Resp> UnaryService<Req> for Method<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    type Response = Resp;
    type Future = BoxFuture<Result<tonic::Response<Resp>, Status>>;

    fn call(&mut self, request: tonic::Request<Req>) -> Self::Future {
        let (inner, handler) = (Arc::clone(&self.0), self.1);
        Box::pin(async move {
            let request = request.into_inner();
            tokio::task::spawn_blocking(move || handler(&inner, &request))
                .await
                .map_err(|_| Status::internal("the key service handler failed"))?
                .map(tonic::Response::new)
        })
    }
}

#[cfg(all(test, feature = "age"))]
mod tests {
    use super::*;
    use crate::keys::recover_data_key;
    use crate::ops::{EncryptOptions, new_metadata};
    use crate::test_vectors::{TestIdentity, context_of};

    /// A server holding `id` on a fresh unix socket; it lives as long as
    /// the test process.
    fn serve(id: &TestIdentity, prompt: Option<bool>) -> (tempfile::TempDir, KeyServiceAddr) {
        let dir = tempfile::tempdir().unwrap();
        let addr = KeyServiceAddr::Unix(dir.path().join("ks.sock"));
        let mut server = KeyServiceServer::new(context_of(&[id]));
        if let Some(answer) = prompt {
            server = server.with_prompt(move |request, key| {
                assert_eq!((request, key), ("decrypt", "Unknown key type"));
                Ok(answer)
            });
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let served = addr.clone();
        std::thread::spawn(move || {
            let ready = tx.clone();
            let result = server.serve(
                &served,
                move || ready.send(()).unwrap(),
                std::future::pending(),
            );
            drop(result);
        });
        rx.recv().unwrap();
        (dir, addr)
    }

    fn remote_only(addr: &KeyServiceAddr) -> KeyContext {
        KeyContext::builder()
            .local_key_service(false)
            .key_service(addr.clone())
            .build()
    }

    #[test]
    fn a_client_without_keys_wraps_and_unwraps_through_the_server() {
        let id = TestIdentity::generate();
        let (_dir, addr) = serve(&id, None);
        let ctx = remote_only(&addr);
        let (key, meta) =
            new_metadata(&[vec![id.key()]], &ctx, &EncryptOptions::default()).unwrap();
        let entry = &meta.key_groups[0].0[0];
        assert_eq!(entry.field("recipient"), Some(id.recipient.as_str()));
        let got = recover_data_key(&meta, &ctx, &[]).unwrap();
        assert_eq!(got.expose(), key.expose());
        // The local service alone has no identity.
        assert!(recover_data_key(&meta, &context_of(&[]), &[]).is_err());
    }

    #[test]
    fn a_declined_prompt_is_permission_denied() {
        let id = TestIdentity::generate();
        let (_, meta) = new_metadata(
            &[vec![id.key()]],
            &context_of(&[]),
            &EncryptOptions::default(),
        )
        .unwrap();
        let (_dir, addr) = serve(&id, Some(false));
        let err = recover_data_key(&meta, &remote_only(&addr), &[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("rpc error: code = PermissionDenied desc = Request rejected"),
            "{err}"
        );
        let (_dir, addr) = serve(&id, Some(true));
        assert!(recover_data_key(&meta, &remote_only(&addr), &[]).is_ok());
    }

    #[test]
    fn requests_without_a_known_key_are_not_found() {
        let id = TestIdentity::generate();
        let inner = Inner {
            ctx: context_of(&[&id]),
            prompt: None,
        };
        let request = DecryptRequest {
            key: None,
            ciphertext: Vec::new(),
        };
        let status = inner.decrypt(&request).unwrap_err();
        assert_eq!(
            (status.code(), status.message()),
            (tonic::Code::NotFound, "Must provide a key")
        );
        let request = EncryptRequest {
            key: Some(Key { key_type: None }),
            plaintext: vec![1],
        };
        let status = inner.encrypt(&request).unwrap_err();
        assert_eq!(
            (status.code(), status.message()),
            (tonic::Code::NotFound, "Unknown key type")
        );
    }
}
