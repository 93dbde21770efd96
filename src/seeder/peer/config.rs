use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The seeder's WebRTC transport (`[seeder.webrtc]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebrtcConfig {
    /// Addresses to bind UDP sockets to and offer as host candidates. Empty: every
    /// non-loopback interface address found at start.
    pub udp_bind: Vec<IpAddr>,
    /// UDP port for every bound address; 0 lets the OS pick.
    pub udp_port: u16,
    /// Bytes a peer connection may have sent but not yet acknowledged; caps data in flight.
    pub max_buffered_bytes: usize,
    /// A sender waits until a channel's buffered amount drops below this before writing more.
    pub low_water_bytes: usize,
    /// Received data a slow consumer may leave unprocessed per peer before packets from that
    /// peer are dropped (SCTP then retransmits them: back-pressure instead of memory growth).
    pub recv_backlog_bytes: usize,
    /// Simultaneous peer connections.
    pub max_peers: usize,
    /// A connection that has not connected after this long is given up.
    pub connect_timeout_secs: u64,
}

impl Default for WebrtcConfig {
    fn default() -> Self {
        Self {
            udp_bind: Vec::new(),
            udp_port: 0,
            // Measured into Chromium on 2 cores: 256 KiB 12.9 MB/s median, 1 MiB 11.3, 4 MiB 6.9;
            // str0m's SCTP scans its in-flight queue on every SACK, so more costs CPU.
            max_buffered_bytes: 256 << 10,
            low_water_bytes: 64 << 10,
            recv_backlog_bytes: 8 << 20,
            max_peers: 64,
            connect_timeout_secs: 30,
        }
    }
}

impl WebrtcConfig {
    pub fn validate(&self) -> Result<(), String> {
        let bad = |key: &str, why: &str| Err(format!("key `seeder.webrtc.{key}`: {why}"));
        if self.max_buffered_bytes < 128 << 10 {
            return bad("max_buffered_bytes", "must be at least 131072");
        }
        if self.low_water_bytes >= self.max_buffered_bytes {
            return bad("low_water_bytes", "must be below max_buffered_bytes");
        }
        if self.recv_backlog_bytes < 256 << 10 {
            return bad("recv_backlog_bytes", "must be at least 262144");
        }
        if self.max_peers == 0 {
            return bad("max_peers", "must be at least 1");
        }
        if self.connect_timeout_secs == 0 {
            return bad("connect_timeout_secs", "must be at least 1");
        }
        Ok(())
    }
}
