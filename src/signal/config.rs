use serde::{Deserialize, Serialize};

/// One ICE server handed to browsers in `welcome`; on a LAN host candidates suffice, so the
/// default list is empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Limits of the signaling server; every one has a Pi-sized default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignalConfig {
    /// Largest WebSocket message (and frame) a client may send; 13 KB SDP offers exist.
    pub max_message_bytes: usize,
    /// Open signaling WebSockets in total.
    pub max_connections: usize,
    /// Open signaling WebSockets from one client address.
    pub max_connections_per_address: usize,
    /// Rooms that may exist at once.
    pub max_rooms: usize,
    /// Rooms one client may be in at once.
    pub max_rooms_per_peer: usize,
    /// Members of one room.
    pub max_peers_per_room: usize,
    /// Longest room name in bytes (names use `A-Z a-z 0-9 - _ .`).
    pub max_room_name_bytes: usize,
    /// Sustained messages per second per connection (WebSocket pings included).
    pub rate_per_sec: u32,
    /// Messages a connection may send in a burst above the sustained rate.
    pub rate_burst: u32,
    /// Protocol errors per minute a connection may cause before it is closed with 1008.
    pub max_errors_per_min: u32,
    /// The upgrade must complete and the client must join a room within this many seconds.
    pub handshake_timeout_secs: u64,
    /// The server pings every this many seconds.
    pub ping_interval_secs: u64,
    /// A connection that sends nothing (not even a pong) for this long is closed.
    pub idle_timeout_secs: u64,
    /// Messages waiting for one client; a client that lets it fill is closed.
    pub outbound_queue_len: usize,
    /// A client that reconnects within this many seconds can take its name back.
    pub resume_grace_secs: u64,
    /// Origins allowed besides the daemon's own host (`https://box.example:8443`).
    pub allowed_origins: Vec<String>,
    /// Use the last `X-Forwarded-For` address as the client address (only behind a proxy).
    pub trust_forwarded_for: bool,
    /// ICE servers for browsers; empty means host candidates only.
    pub ice_servers: Vec<IceServer>,
}

impl Default for SignalConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            max_connections: 256,
            max_connections_per_address: 16,
            max_rooms: 64,
            max_rooms_per_peer: 4,
            max_peers_per_room: 32,
            max_room_name_bytes: 64,
            rate_per_sec: 20,
            rate_burst: 60,
            max_errors_per_min: 30,
            handshake_timeout_secs: 10,
            ping_interval_secs: 20,
            idle_timeout_secs: 60,
            outbound_queue_len: 64,
            resume_grace_secs: 30,
            allowed_origins: Vec::new(),
            trust_forwarded_for: false,
            ice_servers: Vec::new(),
        }
    }
}

impl SignalConfig {
    /// Rejects values that would make the server useless or unsafe, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |key: &str, why: &str| Err(format!("key `signal.{key}`: {why}"));
        let at_least = |key: &str, v: u64, min: u64| {
            if v < min {
                bad(key, &format!("must be at least {min}"))
            } else {
                Ok(())
            }
        };
        let at_most = |key: &str, v: u64, max: u64| {
            if v > max {
                bad(key, &format!("must be at most {max}"))
            } else {
                Ok(())
            }
        };
        at_least("max_message_bytes", self.max_message_bytes as u64, 1024)?;
        at_most("max_message_bytes", self.max_message_bytes as u64, 16 << 20)?;
        at_least("max_connections", self.max_connections as u64, 1)?;
        at_least(
            "max_connections_per_address",
            self.max_connections_per_address as u64,
            1,
        )?;
        if self.max_connections_per_address > self.max_connections {
            return bad(
                "max_connections_per_address",
                "must not exceed `signal.max_connections`",
            );
        }
        at_least("max_rooms", self.max_rooms as u64, 1)?;
        at_least("max_rooms_per_peer", self.max_rooms_per_peer as u64, 1)?;
        at_least("max_peers_per_room", self.max_peers_per_room as u64, 2)?;
        at_least("max_room_name_bytes", self.max_room_name_bytes as u64, 1)?;
        at_most("max_room_name_bytes", self.max_room_name_bytes as u64, 256)?;
        at_least("rate_per_sec", self.rate_per_sec.into(), 1)?;
        at_least("rate_burst", self.rate_burst.into(), 1)?;
        at_least("max_errors_per_min", self.max_errors_per_min.into(), 1)?;
        at_least("handshake_timeout_secs", self.handshake_timeout_secs, 1)?;
        at_least("ping_interval_secs", self.ping_interval_secs, 1)?;
        if self.idle_timeout_secs <= self.ping_interval_secs {
            return bad(
                "idle_timeout_secs",
                "must be greater than `signal.ping_interval_secs`",
            );
        }
        at_least("outbound_queue_len", self.outbound_queue_len as u64, 4)?;
        at_most("resume_grace_secs", self.resume_grace_secs, 24 * 3600)?;
        for o in &self.allowed_origins {
            if !(o.starts_with("http://") || o.starts_with("https://")) || o.len() < 9 {
                return bad(
                    "allowed_origins",
                    &format!("`{o}` is not an origin like `https://host:port`"),
                );
            }
        }
        for s in &self.ice_servers {
            if s.urls.is_empty() {
                return bad(
                    "ice_servers",
                    "every entry needs at least one URL in `urls`",
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        SignalConfig::default().validate().unwrap();
    }

    #[test]
    fn nonsense_is_rejected_with_the_key() {
        let c = SignalConfig {
            max_peers_per_room: 1,
            ..Default::default()
        };
        assert_eq!(
            c.validate().unwrap_err(),
            "key `signal.max_peers_per_room`: must be at least 2"
        );
        let c = SignalConfig {
            idle_timeout_secs: 5,
            ping_interval_secs: 5,
            ..Default::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .contains("signal.idle_timeout_secs"));
        let c = SignalConfig {
            max_message_bytes: 10,
            ..Default::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .contains("signal.max_message_bytes"));
        let c = SignalConfig {
            allowed_origins: vec!["evil".into()],
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("signal.allowed_origins"));
    }
}
