use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The relay (TURN server) for browsers that cannot reach each other directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TurnConfig {
    /// Run the relay and hand browsers credentials for it.
    pub enabled: bool,
    /// Addresses to listen on (and relay from); empty = every non-loopback interface address
    /// found at start.
    pub bind: Vec<IpAddr>,
    /// UDP port of the TURN listener on each address; 0 lets the OS pick one.
    pub port: u16,
    /// Relayed transport addresses are taken from this port range (inclusive).
    pub relay_port_min: u16,
    pub relay_port_max: u16,
    /// Networks relayed peers (and TURN clients) must be on; anything else is refused.
    pub allowed_networks: Vec<ipnet::IpNet>,
    /// Lifetime of the credentials handed out in `welcome`.
    pub credential_ttl_secs: u64,
    /// Allocations one signaling connection may hold at once.
    pub max_allocations_per_connection: usize,
    /// Allocations in total.
    pub max_allocations: usize,
    /// Bytes per second one signaling connection may relay (both directions together); over
    /// it, packets are dropped. 0 = no cap.
    pub max_bytes_per_sec_per_connection: u64,
    /// Unauthenticated requests (the ones that make the server issue a nonce) per minute from
    /// one address.
    pub max_unauthenticated_per_min: u32,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: Vec::new(),
            port: 3478,
            relay_port_min: 49152,
            relay_port_max: 65535,
            allowed_networks: [
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "169.254.0.0/16",
                "fc00::/7",
                "fe80::/10",
            ]
            .iter()
            .map(|n| n.parse().expect("valid network"))
            .collect(),
            credential_ttl_secs: 3600,
            max_allocations_per_connection: 8,
            max_allocations: 128,
            max_bytes_per_sec_per_connection: 32 * 1024 * 1024,
            max_unauthenticated_per_min: 60,
        }
    }
}

impl TurnConfig {
    pub fn validate(&self) -> Result<(), String> {
        let bad = |key: &str, why: &str| Err(format!("key `turn.{key}`: {why}"));
        if self.relay_port_min == 0 || self.relay_port_min > self.relay_port_max {
            return bad(
                "relay_port_min",
                "must be at least 1 and not above turn.relay_port_max",
            );
        }
        if self.credential_ttl_secs == 0 {
            return bad("credential_ttl_secs", "must be at least 1");
        }
        if self.max_allocations_per_connection == 0 || self.max_allocations == 0 {
            return bad("max_allocations", "allocation limits must be at least 1");
        }
        if self.max_unauthenticated_per_min == 0 {
            return bad("max_unauthenticated_per_min", "must be at least 1");
        }
        Ok(())
    }

    /// Whether `ip` is on one of the allowed networks (IPv4-mapped IPv6 counts as IPv4).
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allowed_networks.iter().any(|n| n.contains(&ip))
    }
}
