//! Bounded concurrency for the per-file work of one run over many files
//! (the Argo CD plugin's decryption, `sops updatekeys`): that work is mostly
//! waiting on keystores (KMS calls, gpg), so it runs on more threads than
//! there are cores. Results come back in input order, so the output and
//! the error a run reports are the ones a sequential run would give.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Stack of each worker, as the main thread's: a file may nest as deep as
/// the limits allow, and parsing it recurses.
const WORKER_STACK: usize = 8 * 1024 * 1024;

/// Runs `job(0)`, …, `job(count - 1)` with at most `limit` running at a
/// time, and returns their results in index order. Once a result for which
/// `stops` is true is known, no job with a higher index starts, and the
/// results end at the lowest such index (every job below it has run, as in
/// a sequential run that stops at the first failure).
pub fn map_ordered<T, J, S>(count: usize, limit: usize, job: J, stops: S) -> Vec<T>
where
    T: Send,
    J: Fn(usize) -> T + Sync,
    S: Fn(&T) -> bool + Sync,
{
    let workers = limit.min(count);
    if workers <= 1 {
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let result = job(i);
            let stop = stops(&result);
            out.push(result);
            if stop {
                break;
            }
        }
        return out;
    }
    let next = AtomicUsize::new(0);
    let first_stop = AtomicUsize::new(usize::MAX);
    let slots: Vec<Mutex<Option<T>>> = (0..count).map(|_| Mutex::new(None)).collect();
    let work = || {
        loop {
            // Indices are handed out in order, so every index below the
            // first stop has been taken by some worker before any worker
            // sees an index past it.
            let i = next.fetch_add(1, Ordering::SeqCst);
            if i >= count || i > first_stop.load(Ordering::SeqCst) {
                break;
            }
            let result = job(i);
            if stops(&result) {
                first_stop.fetch_min(i, Ordering::SeqCst);
            }
            *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        }
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                std::thread::Builder::new()
                    .name("sops-worker".to_owned())
                    .stack_size(WORKER_STACK)
                    .spawn_scoped(scope, work)
            })
            .collect();
        // A worker that cannot be started leaves its share to the others;
        // if none started, this thread does the work.
        if handles.iter().all(Result::is_err) {
            work();
        }
    });
    let end = first_stop
        .load(Ordering::SeqCst)
        .min(count.saturating_sub(1));
    slots
        .into_iter()
        .take(end.saturating_add(1))
        .map(|slot| slot.into_inner().unwrap_or_else(|e| e.into_inner()))
        .map_while(|result| result)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn results_keep_index_order_and_run_concurrently() {
        for limit in [1, 2, 16, 100] {
            let started = Instant::now();
            let out = map_ordered(
                40,
                limit,
                |i| {
                    std::thread::sleep(Duration::from_millis(((i * 7) % 5) as u64 * 5));
                    i
                },
                |_| false,
            );
            assert_eq!(out, (0..40).collect::<Vec<_>>(), "limit {limit}");
            if limit >= 16 {
                // 40 jobs of up to 20 ms: sequentially about 400 ms.
                assert!(
                    started.elapsed() < Duration::from_millis(300),
                    "limit {limit}"
                );
            }
        }
        assert!(map_ordered(0, 4, |i| i, |_| false).is_empty());
    }

    #[test]
    fn at_most_limit_jobs_run_at_once() {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        map_ordered(
            30,
            3,
            |_| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
            },
            |()| false,
        );
        let most = most.load(Ordering::SeqCst);
        assert!((2..=3).contains(&most), "{most}");
    }

    #[test]
    fn the_lowest_stopping_index_wins() {
        for limit in [1, 4, 16] {
            // 9 fails at once, 5 fails late: a sequential run stops at 5.
            let out = map_ordered(
                20,
                limit,
                |i| {
                    if i == 5 {
                        std::thread::sleep(Duration::from_millis(30));
                    }
                    if i == 5 || i == 9 { Err(i) } else { Ok(i) }
                },
                Result::is_err,
            );
            let expected: Vec<Result<usize, usize>> = (0..5).map(Ok).chain([Err(5)]).collect();
            assert_eq!(out, expected, "limit {limit}");
        }
    }
}
