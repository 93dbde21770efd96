//! Giving freed heap memory back to the system.
//!
//! glibc's malloc keeps what a burst freed (a catalog of 20 MB streamed to a page passes
//! through many short-lived buffers) in per-thread arenas, so the resident size stays at the
//! burst's high mark. Two measures (bench section 12, five real pages): at most
//! [`ARENAS`] arenas, set once at start ([`limit_arenas`]), and a trim of every arena a moment
//! after a burst ends ([`Trimmer`]). Both do nothing on other C libraries.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// malloc arenas for the whole process (glibc's default is 8 per core). Two keep the daemon's
/// threads from contending on one lock while bounding what freed memory can hide in.
pub const ARENAS: i32 = 2;

/// How long after the last request a trim runs: requests in between are folded into one, and
/// the burst's buffers (sent but not yet acknowledged) are freed by then.
pub const TRIM_DELAY: Duration = Duration::from_secs(1);

/// Caps the number of malloc arenas at [`ARENAS`]; call once, early in the process.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator setting; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Returns free memory of every arena to the system; true if some was returned.
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim walks the allocator's own arenas under their locks.
    unsafe {
        libc::malloc_trim(0) == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// Trims the heap [`TRIM_DELAY`] after the last [`Trimmer::request`]; idle otherwise (its task
/// waits on a notification, no timer runs at rest).
pub struct Trimmer {
    wake: Notify,
}

impl Trimmer {
    /// Starts the trimming task on the current tokio runtime; it ends when the last handle goes.
    pub fn spawn() -> Arc<Trimmer> {
        let me = Arc::new(Trimmer {
            wake: Notify::new(),
        });
        let weak = Arc::downgrade(&me);
        tokio::spawn(async move {
            loop {
                let Some(t) = weak.upgrade() else { return };
                t.wake.notified().await;
                // Fold in the requests that follow closely.
                while tokio::time::timeout(TRIM_DELAY, t.wake.notified())
                    .await
                    .is_ok()
                {}
                drop(t);
                let _ = tokio::task::spawn_blocking(trim).await;
            }
        });
        me
    }

    /// A burst of allocations just ended: trim soon.
    pub fn request(&self) {
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Freed memory above the top of the heap is returned: the process's resident size falls
    /// after a trim (glibc only; the threshold keeps the freed chunks from being unmapped alone).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_trim_returns_freed_heap_memory() {
        fn rss_kib() -> u64 {
            let s = std::fs::read_to_string("/proc/self/status").unwrap();
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap()
        }
        // Many small blocks (below the mmap threshold), touched, then all freed but one at the
        // end that pins the heap's top: only a trim gives the pages back.
        let mut blocks: Vec<Vec<u8>> = (0..4000).map(|_| vec![1u8; 16 << 10]).collect();
        let pin = vec![2u8; 64];
        let before = rss_kib();
        blocks.clear();
        blocks.shrink_to_fit();
        let freed = rss_kib();
        assert!(trim());
        let after = rss_kib();
        assert!(
            after + (32 << 10) < freed.max(before),
            "rss {before} KiB with the blocks, {freed} freed, {after} after the trim"
        );
        drop(pin);
    }
}
