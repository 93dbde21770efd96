use serde::{Deserialize, Serialize};

/// Settings of the seeding peer: transfer limits and how uploads land on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeederConfig {
    /// Run the always-on seeding peer (off: the daemon only signals and serves the web app).
    pub enabled: bool,
    /// Display name in rosters (kind `seeder`); 1-32 of `A-Z a-z 0-9 - _ .`.
    pub name: String,
    /// Rooms the seeder joins and offers its files in.
    pub rooms: Vec<String>,
    /// Offer completed uploads from the incoming folder to the rooms (under `incoming/`).
    pub drop_box: bool,
    /// A transfer with no progress for this long is failed and reported to both sides.
    pub stall_timeout_secs: u64,
    /// The WebRTC transport (`[seeder.webrtc]`).
    pub webrtc: super::peer::WebrtcConfig,
    /// Largest file a browser may upload; larger offers are refused with `too_large`.
    pub max_upload_bytes: u64,
    /// Uploads are refused (`no_space`) unless this much stays free after all accepted uploads.
    pub free_space_reserve_bytes: u64,
    /// Declared bytes one peer identity may have in flight (accepted, unfinished) at once.
    pub per_peer_quota_bytes: u64,
    /// Concurrent transfers (both directions) per remote peer; more are refused with `busy`.
    pub max_transfers_per_peer: usize,
    /// Concurrent uploads across all peers; more are refused with `busy`.
    pub max_transfers_total: usize,
    /// Partial uploads untouched for this long are deleted by the cleanup pass.
    pub partial_timeout_secs: u64,
    /// Permission bits of saved files (the sender's bits are ignored); octal in TOML: 0o640.
    pub file_mode: u32,
    /// The receiver makes data durable (fsync) and acks progress every this many bytes.
    pub progress_ack_bytes: u64,
    /// Chunk frames read ahead per download (each under 64 KiB).
    pub read_ahead_chunks: usize,
    /// Files per catalog message; large catalogs are split into several parts.
    pub catalog_files_per_message: usize,
    /// Cap on the bytes per second the seeder sends to all downloaders together (0 = no cap).
    pub max_upload_bytes_per_sec: u64,
    /// Files one peer may announce pieces of (`have`) at once; more are refused.
    pub swarm_files_per_peer: usize,
}

impl Default for SeederConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            name: "peerbox".into(),
            rooms: vec!["home".into()],
            drop_box: true,
            stall_timeout_secs: 30,
            webrtc: Default::default(),
            max_upload_bytes: 64 * 1024 * 1024 * 1024,
            free_space_reserve_bytes: 512 * 1024 * 1024,
            per_peer_quota_bytes: 64 * 1024 * 1024 * 1024,
            max_transfers_per_peer: 4,
            max_transfers_total: 16,
            partial_timeout_secs: 7 * 24 * 3600,
            file_mode: 0o640,
            progress_ack_bytes: 4 * 1024 * 1024,
            read_ahead_chunks: 8,
            catalog_files_per_message: 200,
            max_upload_bytes_per_sec: 0,
            swarm_files_per_peer: 64,
        }
    }
}

impl SeederConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.webrtc.validate()?;
        use crate::signal::names::{valid_peer_name, valid_room};
        if !valid_peer_name(&self.name) {
            return Err("key `seeder.name`: 1-32 characters of A-Z a-z 0-9 - _ .".into());
        }
        if self.enabled && self.rooms.is_empty() {
            return Err("key `seeder.rooms`: an enabled seeder needs at least one room".into());
        }
        if let Some(bad) = self.rooms.iter().find(|r| !valid_room(r, 64)) {
            return Err(format!(
                "key `seeder.rooms`: `{bad}` is not a room name (1-64 of A-Z a-z 0-9 - _ .)"
            ));
        }
        if self.stall_timeout_secs == 0 {
            return Err("key `seeder.stall_timeout_secs`: must be at least 1".into());
        }
        let nonzero = [
            ("max_upload_bytes", self.max_upload_bytes),
            ("per_peer_quota_bytes", self.per_peer_quota_bytes),
            ("max_transfers_per_peer", self.max_transfers_per_peer as u64),
            ("max_transfers_total", self.max_transfers_total as u64),
            ("partial_timeout_secs", self.partial_timeout_secs),
            ("read_ahead_chunks", self.read_ahead_chunks as u64),
        ];
        for (key, v) in nonzero {
            if v == 0 {
                return Err(format!("key `seeder.{key}`: must be at least 1"));
            }
        }
        if self.file_mode & !0o777 != 0 || self.file_mode & 0o600 != 0o600 {
            return Err(format!(
                "key `seeder.file_mode`: {:#o} must be permission bits (at most 0o777) that let the owner read and write",
                self.file_mode
            ));
        }
        if self.file_mode & 0o002 != 0 {
            return Err("key `seeder.file_mode`: world-writable files are not allowed".into());
        }
        if !(64 * 1024..=1024 * 1024 * 1024).contains(&self.progress_ack_bytes) {
            return Err("key `seeder.progress_ack_bytes`: must be between 65536 and 1 GiB".into());
        }
        if !(1..=1000).contains(&self.catalog_files_per_message) {
            return Err(
                "key `seeder.catalog_files_per_message`: must be between 1 and 1000".into(),
            );
        }
        if !(1..=10_000).contains(&self.swarm_files_per_peer) {
            return Err("key `seeder.swarm_files_per_peer`: must be between 1 and 10000".into());
        }
        if self.max_transfers_per_peer > self.max_transfers_total {
            return Err(
                "key `seeder.max_transfers_per_peer`: must not exceed seeder.max_transfers_total"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_errors_name_the_key() {
        SeederConfig::default().validate().unwrap();
        let c = SeederConfig {
            file_mode: 0o4777,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("`seeder.file_mode`"));
        let c = SeederConfig {
            max_transfers_total: 0,
            ..Default::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .contains("`seeder.max_transfers_total`"));
        let c = SeederConfig {
            progress_ack_bytes: 1,
            ..Default::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .contains("`seeder.progress_ack_bytes`"));
    }
}
