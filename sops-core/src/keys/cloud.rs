//! What the cloud keystores (AWS KMS, GCP KMS) share: the runtime their
//! async clients run on, and the reading of their clients' errors. The keystore API is synchronous (as every other keystore and the
//! library's callers are), while the cloud SDKs are async only. One runtime,
//! created on first use (so only a process that uses a cloud key starts
//! it) and kept for the process, lets the clients keep their connection
//! pools between calls. It has two worker threads of its own, which drive
//! the I/O of every call, so that callers on several threads (the Argo CD
//! plugin decrypts files concurrently) have their calls in flight at once
//! rather than taking turns on one thread.

// A build with only some of the keystores leaves some helpers unused; the
// build with all of them (CI's) still checks for dead code.
#![cfg_attr(
    not(all(
        feature = "aws-kms",
        feature = "gcp-kms",
        feature = "azure-kv",
        feature = "hc-vault",
        feature = "hckms",
        feature = "keyservice"
    )),
    allow(dead_code)
)]

use std::future::Future;
use std::sync::OnceLock;

/// The process' cloud client runtime, created on first use.
pub(crate) fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("sops-cloud-kms")
                .enable_all()
                .build()
                .map_err(|e| format!("could not start the cloud KMS client runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Runs `future` to completion on [`runtime`]. A caller that is itself
/// inside a tokio runtime cannot block that runtime's thread, so the call
/// then runs on a thread of its own.
pub(crate) fn block_on<F>(future: F) -> Result<F::Output, String>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = runtime()?;
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(rt.block_on(future));
    }
    std::thread::scope(|s| {
        s.spawn(|| rt.block_on(future))
            .join()
            .map_err(|_| "the cloud KMS client thread failed".to_owned())
    })
}

/// The first error of type `T` in `err`'s source chain (`err` included):
/// the clients wrap the failure that classifies a call (no credentials, a
/// time-out) in layers of their own.
#[cfg_attr(not(any(feature = "aws-kms", feature = "gcp-kms")), allow(dead_code))]
pub(crate) fn find_source<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut source = Some(err);
    while let Some(e) = source {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        source = e.source();
    }
    None
}

/// An error and its sources, `: `-separated, each text once (the clients'
/// own Display is terse, e.g. "dispatch failure").
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}

/// `text` on one line, runs of white space as one blank.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The cloud clients (Google's crates, reqwest) are built without a TLS
/// crypto provider of their own (theirs would bring aws-lc's C build);
/// rustls then uses the process' default, which this installs (ring)
/// unless the application already did.
#[cfg(any(
    feature = "gcp-kms",
    feature = "azure-kv",
    feature = "hc-vault",
    feature = "hckms"
))]
pub(crate) fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race with another installer is fine: one is set.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}
