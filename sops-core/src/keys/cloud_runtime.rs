//! The runtime the cloud keystores' async clients run on (AWS KMS, GCP
//! KMS). The keystore API is synchronous (as every other keystore and the
//! library's callers are), while the cloud SDKs are async only. One runtime,
//! created on first use (so only a process that uses a cloud key starts
//! it) and kept for the process, lets the clients keep their connection
//! pools between calls. It has two worker threads of its own, which drive
//! the I/O of every call, so that callers on several threads (the Argo CD
//! plugin decrypts files concurrently) have their calls in flight at once
//! rather than taking turns on one thread.

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
