//! Tail loss probe.
//!
//! Fast retransmit needs SACKs that report a loss, and an SCTP receiver sends those when DATA
//! arrives. When the last packets of a flight are lost (the end of a transfer, the last burst
//! before the application paused, a flight cut short by cwnd or rwnd), nothing arrives after
//! them: no SACK reports the hole, and the only recovery left is the T3-rtx timer, RTO.min = 1 s
//! (doubled if it strikes again). TCP answers this with a tail loss probe (RFC 8985, section 7):
//! when no acknowledgment of new data came for two smoothed round trips while data is
//! outstanding, it retransmits the last segment it sent. An SCTP receiver answers such a probe at
//! once (a duplicate TSN, or a TSN after a gap, is acknowledged immediately, RFC 9260 6.2 and
//! 6.7), and that SACK covers the last TSN sent, so the association's tail-loss rule marks every
//! first transmission it reports missing for fast retransmission.
//!
//! One probe per flight: a new probe is allowed only after an acknowledgment of new data, so an
//! unanswered probe (a dead path) leaves recovery to T3-rtx as before. Sans-IO like the pacer: the
//! deadline is reported through `poll_timeout`.

use std::time::{Duration, Instant};

/// A floor under the probe timeout: a LAN's sub-millisecond RTT would otherwise probe on every
/// scheduling hiccup of the peer. A spurious probe costs one duplicate packet and an immediate
/// SACK. (Linux uses the same floor for TCP.)
const PTO_MIN: Duration = Duration::from_millis(10);

#[derive(Debug, Default)]
pub(crate) struct TailProbe {
    /// When to probe, while data is outstanding and this flight has not been probed yet.
    pub(crate) deadline: Option<Instant>,
    /// This flight was probed; no other probe until new data is acknowledged.
    fired: bool,
    /// A probe is due at the next transmit poll.
    pub(crate) due: bool,
}

impl TailProbe {
    /// Two smoothed round trips, at least [`PTO_MIN`]; none before the first RTT sample (the
    /// handshake's first flight is T3-rtx's, as RFC 8985 has it with its one-second default).
    pub(crate) fn timeout(srtt: Option<Duration>) -> Option<Duration> {
        srtt.map(|s| (s * 2).max(PTO_MIN))
    }

    /// New DATA was sent: the probe waits for it as well.
    pub(crate) fn on_sent(&mut self, now: Instant, srtt: Option<Duration>) {
        if !self.fired {
            self.deadline = Self::timeout(srtt).map(|pto| now + pto);
        }
    }

    /// A SACK acknowledged new data: a new flight may be probed while data remains outstanding.
    ///
    /// A deadline already running stays where the last transmission put it. RFC 8985 restarts it
    /// on every acknowledgment of new data, but an SCTP receiver delays the SACK of an odd last
    /// packet by up to 200 ms: restarting then would put the probe for a lost last packet after
    /// that delay every time. A probe that turns out spurious costs a duplicate packet.
    pub(crate) fn on_acked(&mut self, now: Instant, srtt: Option<Duration>, outstanding: bool) {
        self.fired = false;
        self.due = false;
        if !outstanding {
            self.deadline = None;
        } else if self.deadline.is_none() {
            self.deadline = Self::timeout(srtt).map(|pto| now + pto);
        }
    }

    /// T3-rtx fired or nothing is outstanding: no probe until new data is acknowledged.
    pub(crate) fn stand_down(&mut self) {
        self.deadline = None;
        self.due = false;
        self.fired = true;
    }

    /// At a timer poll: true when the probe is due now (then [`TailProbe::due`] is set).
    pub(crate) fn on_timeout(&mut self, now: Instant) -> bool {
        if self.deadline.is_none_or(|d| d > now) {
            return false;
        }
        self.deadline = None;
        if self.fired {
            return false;
        }
        self.fired = true;
        self.due = true;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_probe_per_flight() {
        let t0 = Instant::now();
        let srtt = Some(Duration::from_millis(20));
        let mut p = TailProbe::default();
        p.on_sent(t0, srtt);
        assert_eq!(p.deadline, Some(t0 + Duration::from_millis(40)));
        assert!(!p.on_timeout(t0 + Duration::from_millis(39)));
        assert!(p.on_timeout(t0 + Duration::from_millis(40)));
        assert!(p.due);
        // More data sent while the probe is unanswered does not arm a second one.
        p.due = false;
        p.on_sent(t0 + Duration::from_millis(41), srtt);
        assert_eq!(p.deadline, None);
        assert!(!p.on_timeout(t0 + Duration::from_secs(1)));
        // An acknowledgment of new data starts the next flight's probe.
        p.on_acked(t0 + Duration::from_millis(50), srtt, true);
        assert_eq!(p.deadline, Some(t0 + Duration::from_millis(90)));
        // Later acknowledgments leave it where it is; new data moves it.
        p.on_acked(t0 + Duration::from_millis(60), srtt, true);
        assert_eq!(p.deadline, Some(t0 + Duration::from_millis(90)));
        p.on_sent(t0 + Duration::from_millis(70), srtt);
        assert_eq!(p.deadline, Some(t0 + Duration::from_millis(110)));
        p.on_acked(t0 + Duration::from_millis(80), srtt, false);
        assert_eq!(p.deadline, None);
    }

    #[test]
    fn the_timeout_has_a_floor_and_needs_an_rtt_sample() {
        assert_eq!(
            TailProbe::timeout(Some(Duration::from_micros(300))),
            Some(PTO_MIN)
        );
        assert_eq!(TailProbe::timeout(None), None);
    }

    #[test]
    fn t3_rtx_owns_recovery_after_it_fired() {
        let t0 = Instant::now();
        let srtt = Some(Duration::from_millis(20));
        let mut p = TailProbe::default();
        p.on_sent(t0, srtt);
        p.stand_down();
        assert!(!p.on_timeout(t0 + Duration::from_secs(1)));
        p.on_sent(t0, srtt);
        assert_eq!(
            p.deadline, None,
            "T3-rtx owns recovery until new data is acknowledged"
        );
    }
}
