//! Gives the heap that closed sockets freed back to the system. glibc's malloc keeps freed
//! memory in its arenas: after 10,000 sockets came and went, a node stayed at 14× the RSS it
//! started with although almost nothing was live (docs/PERFORMANCE.md, "Silent clients").
//! When the node's sessions have fallen by a tenth (and at least [`MIN_FALL`]) since the
//! last trim, `malloc_trim(0)` hands every free page back, and once more a tick later (a
//! closed session's task frees its buffers after it has left the count). A trim walks the
//! arenas (a few milliseconds for a large heap), so it runs at most every [`EVERY`]. The
//! allocator's own account ([`heap`]) is read on the same tick, off the workers too (it walks
//! the free lists under each arena's lock), and exported as `gateway_heap_bytes`.

use crate::node::Node;
use std::{sync::Arc, time::Duration};

const EVERY: Duration = Duration::from_secs(5);
const MIN_FALL: usize = 500;

pub async fn run(node: Arc<Node>) {
    let mut tick = tokio::time::interval(EVERY);
    let mut peak = 0;
    let mut again = false;
    loop {
        tokio::select! {
            _ = node.stopped.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = node.hub.session_count();
        peak = peak.max(now);
        let fall = peak - now;
        let fell = fall >= MIN_FALL && fall * 10 >= peak;
        if fell || again {
            let started = std::time::Instant::now();
            // Off the runtime's workers: a trim of a large heap takes milliseconds, and the
            // sockets on this worker would wait for it.
            if let Err(error) = tokio::task::spawn_blocking(release_free_heap).await {
                tracing::warn!(%error, "the heap trim did not run");
            }
            node.metrics.heap_trims.inc();
            tracing::debug!(peak, now, took = ?started.elapsed(), "gave free heap back");
            peak = now;
        }
        again = fell;
        if let Ok(Some(heap)) = tokio::task::spawn_blocking(heap).await {
            node.metrics.set_heap(&heap);
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_heap() {
    // SAFETY: malloc_trim only returns free memory to the system; it is safe to call at any
    // time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_heap() {}

/// What the allocator holds, in bytes.
pub struct Heap {
    /// Handed out to the program and not freed (arenas and large mapped blocks).
    pub in_use: u64,
    /// Free chunks in the allocator's arenas, including those whose pages a trim already
    /// gave back to the system.
    pub held_free: u64,
}

/// The allocator's own account (glibc's `mallinfo2`); None where there is none.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn heap() -> Option<Heap> {
    // SAFETY: mallinfo2 only reads the allocator's statistics (under its own locks).
    let info = unsafe { libc::mallinfo2() };
    Some(Heap {
        in_use: (info.uordblks + info.hblkhd) as u64,
        held_free: info.fordblks as u64,
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap() -> Option<Heap> {
    None
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    #[test]
    fn the_heap_account_sees_what_the_program_holds() {
        let before = heap().expect("glibc keeps an account").in_use;
        // Far more than other tests of this process could free meanwhile.
        let held = std::hint::black_box(vec![7u8; 64 << 20]);
        let during = heap().unwrap().in_use;
        assert!(
            during >= before + (48 << 20),
            "64 MiB held: {before} -> {during}"
        );
        drop(held);
    }
}
