//! Bounded polling: wait for a condition instead of sleeping.

use std::future::Future;
use std::time::{Duration, Instant};

const POLL_EVERY: Duration = Duration::from_millis(50);

/// Polls `f` every 50 ms until it returns true; panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_some(what, timeout, || {
        let fut = f();
        async move { fut.await.then_some(()) }
    })
    .await
}

/// Polls `f` every 50 ms until it returns `Some`, and returns the value; panics with `what`
/// after `timeout`.
pub async fn eventually_some<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = f().await {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Blocking variant for start-up checks outside async code: true once `f` returns true,
/// false after `timeout`.
pub(crate) fn poll_blocking(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL_EVERY);
    }
}
