//! The seeder's upload cap (`seeder.max_upload_bytes_per_sec`): a token bucket shared by every
//! link, kept as the time the bucket is next full (GCRA), so it costs nothing between sends. A
//! sender takes what it sent out of the bucket and sleeps once for the debt, if any: no timer
//! runs and nothing polls while a link waits.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bytes that may go out back to back before the cap applies (four 64 KiB frames).
const BURST: u64 = 256 << 10;

pub struct Throttle {
    /// Bytes per second; 0 = unlimited.
    rate: u64,
    /// When the bucket will have refilled everything taken so far (the "theoretical arrival
    /// time" of the next byte).
    full_at: Mutex<Option<Instant>>,
}

impl Throttle {
    pub fn new(bytes_per_sec: u64) -> Throttle {
        Throttle {
            rate: bytes_per_sec,
            full_at: Mutex::new(None),
        }
    }

    /// Takes `bytes` out of the bucket at `now`; how long the sender must wait before it sends
    /// more (zero while within the burst, always zero when unlimited).
    pub fn take(&self, now: Instant, bytes: u64) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        let per = |n: u64| Duration::from_secs_f64(n as f64 / self.rate as f64);
        let mut full_at = self.full_at.lock().unwrap_or_else(|p| p.into_inner());
        let start = full_at.filter(|t| *t > now).unwrap_or(now);
        let next = start + per(bytes);
        *full_at = Some(next);
        next.saturating_duration_since(now + per(BURST.min(self.rate)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_holds_over_time_after_one_burst() {
        let t = Throttle::new(1 << 20);
        let t0 = Instant::now();
        let mut now = t0;
        let mut sent = 0u64;
        // A sender that always sleeps exactly what it is told sends 1 MiB/s plus one burst.
        while sent < 4 << 20 {
            let wait = t.take(now, 64 << 10);
            sent += 64 << 10;
            now += wait;
        }
        let secs = (now - t0).as_secs_f64();
        let expect = ((4 << 20) - BURST) as f64 / (1 << 20) as f64;
        assert!(
            (secs - expect).abs() < 0.07,
            "{secs} s for 4 MiB, want about {expect}"
        );
        assert_eq!(Throttle::new(0).take(now, u64::MAX), Duration::ZERO);
    }

    #[test]
    fn an_idle_bucket_refills_but_not_beyond_the_burst() {
        let t = Throttle::new(1 << 20);
        let now = Instant::now();
        assert_eq!(t.take(now, 128 << 10), Duration::ZERO);
        let later = now + Duration::from_secs(10);
        assert_eq!(t.take(later, 256 << 10), Duration::ZERO);
        assert!(t.take(later, 64 << 10) > Duration::from_millis(50));
    }
}
