//! The seeder's transfer figures for `/metrics`: transfers by direction and outcome, and the
//! pauses its links saw. A [`Tracker`] per link reads the control messages going both ways
//! (the session stays free of bookkeeping); the transport's own figures are in
//! [`super::peer::PeerStats`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::protocol::Message;
use crate::metrics::{Exposition, Source};

/// A send that waited longer than this for the browser to acknowledge data counts as a pause.
pub const PAUSE: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Direction {
    /// The seeder sends (a browser's download).
    Download,
    /// The seeder receives (a browser's upload).
    Upload,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Direction::Download => "download",
            Direction::Upload => "upload",
        }
    }
}

#[derive(Default)]
pub struct SeederStats {
    /// (direction, outcome) -> transfers.
    transfers: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    pauses: AtomicU64,
    pause_micros: AtomicU64,
    stalls: AtomicU64,
}

impl SeederStats {
    fn count(&self, dir: Direction, outcome: &'static str) {
        let mut t = self.transfers.lock().unwrap_or_else(|e| e.into_inner());
        *t.entry((dir.label(), outcome)).or_default() += 1;
    }

    /// A send waited `waited` for room; counted when it is a pause.
    pub fn waited(&self, waited: Duration) {
        if waited > PAUSE {
            self.pauses.fetch_add(1, Ordering::Relaxed);
            let micros = waited.as_micros().min(u64::MAX as u128) as u64;
            self.pause_micros.fetch_add(micros, Ordering::Relaxed);
        }
    }

    /// A link was closed for making no progress (`seeder.stall_timeout_secs`).
    pub fn stalled(&self) {
        self.stalls.fetch_add(1, Ordering::Relaxed);
    }

    /// Transfers so far with this direction (`download`, `upload`) and outcome.
    pub fn transfers(&self, dir: &str, outcome: &str) -> u64 {
        let t = self.transfers.lock().unwrap_or_else(|e| e.into_inner());
        t.iter()
            .find(|((d, o), _)| *d == dir && *o == outcome)
            .map_or(0, |(_, n)| *n)
    }
}

impl Source for SeederStats {
    fn render(&self, out: &mut Exposition) {
        out.header(
            "peerbox_seeder_transfers_total",
            "Transfers of the seeder that ended, by direction (download: the seeder sent) and \
             outcome (completed, refused, canceled, failed, interrupted).",
            "counter",
        );
        let t = self
            .transfers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for ((dir, outcome), n) in t {
            let labels = [("direction", dir), ("outcome", outcome)];
            out.sample("peerbox_seeder_transfers_total", &labels, n as f64);
        }
        out.counter(
            "peerbox_seeder_send_pauses_total",
            "Times a sending link waited over 200 ms for the browser to acknowledge data.",
            self.pauses.load(Ordering::Relaxed),
        );
        out.header(
            "peerbox_seeder_send_pause_seconds_total",
            "Time sending links spent in those pauses.",
            "counter",
        );
        let secs = self.pause_micros.load(Ordering::Relaxed) as f64 / 1e6;
        out.sample("peerbox_seeder_send_pause_seconds_total", &[], secs);
        out.counter(
            "peerbox_seeder_stalls_total",
            "Links closed because a transfer made no progress for seeder.stall_timeout_secs.",
            self.stalls.load(Ordering::Relaxed),
        );
    }
}

/// One link's transfers, followed through the control messages.
pub struct Tracker {
    stats: Arc<SeederStats>,
    active: HashMap<u32, Direction>,
}

impl Tracker {
    pub fn new(stats: Arc<SeederStats>) -> Tracker {
        Tracker {
            stats,
            active: HashMap::new(),
        }
    }

    fn end(&mut self, id: u32, outcome: &'static str) {
        if let Some(dir) = self.active.remove(&id) {
            self.stats.count(dir, outcome);
        }
    }

    /// A control message from the browser.
    pub fn incoming(&mut self, text: &str) {
        match Message::parse(text) {
            Ok(Message::Download { transfer_id, .. }) => {
                self.active.insert(transfer_id, Direction::Download);
            }
            Ok(Message::Offer { transfer_id, .. }) => {
                self.active.insert(transfer_id, Direction::Upload);
            }
            Ok(Message::Cancel { transfer_id, .. }) => self.end(transfer_id, "canceled"),
            Ok(Message::Error {
                transfer_id: Some(id),
                ..
            }) => self.end(id, "failed"),
            _ => {}
        }
    }

    /// A control message from the seeder.
    pub fn outgoing(&mut self, text: &str) {
        match Message::parse(text) {
            Ok(Message::End { transfer_id, .. }) => self.end(transfer_id, "completed"),
            Ok(Message::Done { transfer_id, .. }) => self.end(transfer_id, "completed"),
            Ok(Message::Refuse { transfer_id, .. }) => self.end(transfer_id, "refused"),
            Ok(Message::Cancel { transfer_id, .. }) => self.end(transfer_id, "canceled"),
            Ok(Message::Error {
                transfer_id: Some(id),
                ..
            }) => self.end(id, "failed"),
            _ => {}
        }
    }

    /// The link is gone: what was still running was interrupted (a resume may follow).
    pub fn closed(&mut self) {
        for (_, dir) in self.active.drain() {
            self.stats.count(dir, "interrupted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_messages() {
        let stats = Arc::new(SeederStats::default());
        let mut t = Tracker::new(stats.clone());
        let h = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";
        t.incoming(r#"{"type":"download","transfer_id":1,"file_id":"f","offset":0}"#);
        t.outgoing(&format!(
            r#"{{"type":"end","transfer_id":1,"size":3,"hash":"{h}"}}"#
        ));
        t.incoming(&format!(
            r#"{{"type":"offer","transfer_id":2,"name":"a","size":1,"hash":"{h}"}}"#
        ));
        t.outgoing(r#"{"type":"refuse","transfer_id":2,"code":"no_space"}"#);
        t.incoming(r#"{"type":"download","transfer_id":3,"file_id":"f","offset":0}"#);
        t.incoming(&format!(
            r#"{{"type":"offer","transfer_id":4,"name":"b","size":1,"hash":"{h}"}}"#
        ));
        t.closed();
        assert_eq!(stats.transfers("download", "completed"), 1);
        assert_eq!(stats.transfers("upload", "refused"), 1);
        assert_eq!(stats.transfers("download", "interrupted"), 1);
        assert_eq!(stats.transfers("upload", "interrupted"), 1);
        stats.waited(Duration::from_millis(100));
        stats.waited(Duration::from_millis(300));
        let mut out = String::new();
        let reg = crate::metrics::Registry::default();
        reg.register(stats);
        reg.render(&mut out);
        assert!(
            out.contains("peerbox_seeder_send_pauses_total 1\n"),
            "{out}"
        );
        assert!(out.contains(
            "peerbox_seeder_transfers_total{direction=\"download\",outcome=\"completed\"} 1\n"
        ));
    }
}
