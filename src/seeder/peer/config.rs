use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Which DTLS cipher suite the seeder prefers (`seeder.webrtc.cipher`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CipherChoice {
    /// ChaCha20-Poly1305 first on a CPU without AES instructions (Raspberry Pi 4, Pi Zero 2 W),
    /// AES-128-GCM first otherwise; the other one stays offered as the fallback.
    #[default]
    Auto,
    /// Only AES-128-GCM.
    AesGcm,
    /// Only ChaCha20-Poly1305.
    Chacha20,
}

/// The seeder's WebRTC transport (`[seeder.webrtc]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebrtcConfig {
    /// Addresses to bind UDP sockets to and offer as host candidates. Empty: every
    /// non-loopback interface address found at start.
    pub udp_bind: Vec<IpAddr>,
    /// First UDP port of the range connections bind (`udp_port` .. `udp_port + max_peers - 1`,
    /// one port per connection, for firewalls); 0 lets the OS pick a port per connection.
    pub udp_port: u16,
    /// Bytes a DataChannel may have queued but not yet acknowledged before a sender waits.
    pub max_buffered_bytes: usize,
    /// A sender waits until a channel's buffered amount drops below this before writing more.
    pub low_water_bytes: usize,
    /// Received data a slow consumer may leave unprocessed per peer before the transport stops
    /// reading from that peer (SCTP's window then throttles the sender instead of memory
    /// growing).
    pub recv_backlog_bytes: usize,
    /// Simultaneous peer connections.
    pub max_peers: usize,
    /// A connection that has not connected after this long is given up.
    pub connect_timeout_secs: u64,
    /// DTLS cipher suite preference: `auto`, `aes-gcm` or `chacha20`.
    pub cipher: CipherChoice,
    /// Largest DataChannel message accepted and sent: the `a=max-message-size` of the seeder's
    /// SDP. A link uses the smaller of this and what the other side's SDP says.
    pub max_message_bytes: usize,
    /// Kernel receive and send buffer asked for each UDP socket (0: the kernel's default);
    /// capped by `net.core.rmem_max` / `wmem_max`.
    pub udp_buffer_bytes: usize,
}

impl Default for WebrtcConfig {
    fn default() -> Self {
        Self {
            udp_bind: Vec::new(),
            udp_port: 0,
            max_buffered_bytes: 1 << 20,
            low_water_bytes: 256 << 10,
            recv_backlog_bytes: 8 << 20,
            max_peers: 64,
            connect_timeout_secs: 30,
            cipher: CipherChoice::Auto,
            // Measured into Chromium (100 MiB, 6 runs alternated): 64 KiB messages 22.9 MB/s
            // median, 256 KiB 18.4 MB/s with longer pauses (a lost packet holds up a whole
            // message, and more data sits behind it).
            max_message_bytes: super::MIN_MESSAGE_BYTES,
            // Measured on loopback (bench section 4): the Rust client's 208 KiB default
            // overflowed while its process was busy, and each drop cost a loss recovery.
            udp_buffer_bytes: 4 << 20,
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
        if self.udp_port != 0 && self.udp_port as usize + self.max_peers > 65536 {
            return bad(
                "udp_port",
                "the range udp_port + max_peers must end below 65536",
            );
        }
        if !(super::MIN_MESSAGE_BYTES..=super::MAX_MESSAGE_CEILING)
            .contains(&self.max_message_bytes)
        {
            return bad("max_message_bytes", "must be between 65536 and 262144");
        }
        if self.connect_timeout_secs == 0 {
            return bad("connect_timeout_secs", "must be at least 1");
        }
        Ok(())
    }
}
