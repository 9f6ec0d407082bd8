//! The runtime the cloud keystores' async clients run on (AWS KMS, GCP
//! KMS). The keystore API is synchronous (as every other keystore and the
//! library's callers are), while the cloud SDKs are async only; one small
//! current-thread runtime, created on first use and kept for the process,
//! drives each call to completion without starting worker threads, and
//! lets the clients keep their connection pools between calls.

use std::future::Future;
use std::sync::OnceLock;

/// The process' cloud client runtime, created on first use.
pub(crate) fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
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
#[cfg_attr(not(feature = "gcp-kms"), allow(dead_code))]
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
