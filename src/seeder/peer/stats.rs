//! The transport's figures for `/metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::metrics::{Exposition, Source};

/// Counters of the seeder's WebRTC transport; shared with every connection.
#[derive(Default)]
pub struct PeerStats {
    open: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    /// Connections that came up, by negotiated cipher suite.
    ciphers: Mutex<BTreeMap<&'static str, u64>>,
}

impl PeerStats {
    pub(super) fn sent(&self, n: usize) {
        self.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn received(&self, n: usize) {
        self.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn link_opened(&self, cipher: &'static str) {
        self.open.fetch_add(1, Ordering::Relaxed);
        let mut c = self.ciphers.lock().unwrap_or_else(|e| e.into_inner());
        *c.entry(cipher).or_default() += 1;
    }

    pub(super) fn link_closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Connections up now.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections that came up with each cipher suite (short names, e.g. `aes-128-gcm`).
    pub fn ciphers(&self) -> BTreeMap<&'static str, u64> {
        self.ciphers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Source for PeerStats {
    fn render(&self, out: &mut Exposition) {
        out.gauge(
            "peerbox_seeder_links",
            "WebRTC connections of the seeder that are up.",
            self.open() as f64,
        );
        out.counter(
            "peerbox_seeder_sent_bytes_total",
            "DataChannel message bytes the seeder queued to send.",
            self.bytes_sent.load(Ordering::Relaxed),
        );
        out.counter(
            "peerbox_seeder_received_bytes_total",
            "DataChannel message bytes the seeder received.",
            self.bytes_received.load(Ordering::Relaxed),
        );
        out.header(
            "peerbox_seeder_links_total",
            "WebRTC connections of the seeder that came up, by negotiated DTLS cipher suite.",
            "counter",
        );
        for (cipher, n) in self.ciphers() {
            out.sample(
                "peerbox_seeder_links_total",
                &[("cipher", cipher)],
                n as f64,
            );
        }
    }
}
