//! Pacing of DATA transmissions.
//!
//! Without pacing, every SACK that opens the congestion window releases the whole opening at
//! once: in slow start that is a burst of up to `cwnd` bytes back to back. A receiver whose
//! socket buffer is smaller than the burst (a browser's UDP socket, a few hundred KB) drops the
//! tail of it, and the sender then spends its time in loss recovery. The pacer spreads the
//! window over a round trip instead: DATA may leave at `gain * cwnd / srtt` bytes per second,
//! with a short burst allowance, the way TCP stacks pace (Linux: `sk_pacing_rate` with 200 % in
//! slow start and 120 % in congestion avoidance).
//!
//! It is sans-IO like the rest of the association: when it holds data back it reports a
//! deadline through [`Association::poll_timeout`](super::Association::poll_timeout), and the
//! next transmit poll after that deadline sends more.

use std::time::{Duration, Instant};

/// Pacing rate relative to `cwnd / srtt` in slow start, where the window doubles per round trip.
const SLOW_START_GAIN: f64 = 2.0;
/// Pacing rate relative to `cwnd / srtt` in congestion avoidance.
const AVOIDANCE_GAIN: f64 = 1.25;
/// Sending may run this far ahead of the rate (timers have millisecond resolution).
const BURST_TIME: Duration = Duration::from_millis(2);
/// ... and at least this many full packets.
const BURST_PACKETS: u32 = 4;

#[derive(Debug, Default)]
pub(crate) struct Pacer {
    /// Smoothed RTT with sub-millisecond resolution (`RtoManager` keeps whole milliseconds).
    srtt: Option<Duration>,
    /// Bytes that may be sent now; negative after a packet overdraws the budget.
    tokens: f64,
    /// When `tokens` was last refilled.
    refilled: Option<Instant>,
    /// Bytes per second for the current window, or `None` without an RTT sample yet.
    rate: Option<f64>,
    /// The burst allowance for the current rate.
    burst: f64,
    /// When data held back by the pacer may go; `None` while nothing waits on it.
    pub(crate) wake: Option<Instant>,
}

impl Pacer {
    /// Folds a new RTT measurement into the smoothed RTT (RFC 9260 6.3.1, alpha = 1/8).
    pub(crate) fn on_rtt(&mut self, rtt: Duration) {
        self.srtt = Some(match self.srtt {
            None => rtt,
            Some(s) => (s * 7 + rtt) / 8,
        });
    }

    /// The smoothed RTT, once measured.
    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Refills the budget up to `now` for a window of `cwnd` bytes; call before sending.
    pub(crate) fn refill(&mut self, now: Instant, cwnd: u32, slow_start: bool, mtu: u32) {
        let Some(srtt) = self.srtt else {
            self.rate = None;
            return;
        };
        let gain = if slow_start {
            SLOW_START_GAIN
        } else {
            AVOIDANCE_GAIN
        };
        // A sub-100 µs RTT (loopback) would make the rate meaningless: it then only caps bursts.
        let srtt = srtt.max(Duration::from_micros(100)).as_secs_f64();
        let rate = gain * cwnd as f64 / srtt;
        self.burst = (rate * BURST_TIME.as_secs_f64()).max((BURST_PACKETS * mtu) as f64);
        self.tokens = match self.refilled {
            Some(t) => {
                let elapsed = now.saturating_duration_since(t).as_secs_f64();
                (self.tokens + rate * elapsed).min(self.burst)
            }
            None => self.burst,
        };
        self.refilled = Some(now);
        self.rate = Some(rate);
        if self.wake.is_some_and(|w| w <= now) {
            self.wake = None;
        }
    }

    /// Takes `bytes` from the budget if any is left (the last packet may overdraw it); false
    /// when the data must wait, and then [`Pacer::wake`] says until when.
    pub(crate) fn take(&mut self, now: Instant, bytes: usize) -> bool {
        let Some(rate) = self.rate else {
            return true; // no RTT sample yet: the initial window goes out as it is
        };
        if self.tokens > 0.0 {
            self.tokens -= bytes as f64;
            return true;
        }
        let wait = Duration::from_secs_f64((bytes as f64 - self.tokens) / rate);
        self.wake = Some(now + wait.max(Duration::from_micros(200)));
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_a_window_over_the_round_trip() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        // Before any RTT sample everything goes.
        p.refill(t0, 1_000_000, true, 1200);
        assert!((0..1000).all(|_| p.take(t0, 1200)));

        p.on_rtt(Duration::from_millis(10));
        let mut p2 = Pacer {
            srtt: p.srtt,
            ..Default::default()
        };
        // 1 MB window, 10 ms RTT, congestion avoidance: 125 MB/s, a 250 KB burst allowance.
        p2.refill(t0, 1_000_000, false, 1200);
        let mut sent = 0;
        while p2.take(t0, 1200) {
            sent += 1200;
        }
        assert!((250_000..=251_200).contains(&sent), "{sent}");
        let wake = p2.wake.expect("a deadline");
        assert!(
            wake > t0 && wake <= t0 + Duration::from_millis(1),
            "{wake:?}"
        );
        // 4 ms later, 4 ms worth (500 KB) is due, capped at the burst allowance.
        let t1 = t0 + Duration::from_millis(4);
        p2.refill(t1, 1_000_000, false, 1200);
        assert!(p2.wake.is_none());
        let mut more = 0;
        while p2.take(t1, 1200) {
            more += 1200;
        }
        assert!((250_000..=252_400).contains(&more), "{more}");
    }

    #[test]
    fn a_small_window_still_gets_a_few_packets_per_burst() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        p.on_rtt(Duration::from_millis(100));
        p.refill(t0, 4800, true, 1200);
        let mut n = 0;
        while p.take(t0, 1200) {
            n += 1;
        }
        assert_eq!(n, 4);
    }
}
