use serde::{Deserialize, Serialize};

/// Settings of the share-directory watcher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchConfig {
    /// A file is offered only after its size and modification time stayed the same this long.
    pub settle_ms: u64,
    /// File-system events are coalesced over this window before the catalog looks at them.
    pub debounce_ms: u64,
    /// Names (any path component) matching these globs are never offered.
    pub ignore: Vec<String>,
    /// Files hashed at the same time.
    pub hash_concurrency: usize,
    /// A full rescan reconciles missed events this often; 0 disables it while events work.
    pub rescan_secs: u64,
    /// Poll instead of inotify (network file systems such as NFS deliver no events).
    pub poll: bool,
    /// Interval of polling, and of rescans when the inotify watch limit is exhausted.
    pub poll_interval_secs: u64,
    /// Files beyond this count are not offered (and logged), so a huge tree cannot exhaust memory.
    pub max_files: usize,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            settle_ms: 1000,
            debounce_ms: 200,
            ignore: [
                ".*",
                "*.part",
                "*.partial",
                "*.tmp",
                "*.crdownload",
                "*.swp",
                "*~",
                "~$*",
                "peerbox-*.partial",
            ]
            .map(String::from)
            .to_vec(),
            hash_concurrency: 2,
            rescan_secs: 600,
            poll: false,
            poll_interval_secs: 10,
            max_files: 250_000,
        }
    }
}

impl WatchConfig {
    pub fn validate(&self) -> Result<(), String> {
        let bad = |key: &str, why: &str| Err(format!("key `watch.{key}`: {why}"));
        if self.hash_concurrency == 0 || self.hash_concurrency > 64 {
            return bad("hash_concurrency", "must be between 1 and 64");
        }
        if self.debounce_ms == 0 || self.debounce_ms > 60_000 {
            return bad("debounce_ms", "must be between 1 and 60000");
        }
        if self.settle_ms > 3_600_000 {
            return bad("settle_ms", "must be at most 3600000 (one hour)");
        }
        if self.poll_interval_secs == 0 {
            return bad("poll_interval_secs", "must be at least 1");
        }
        if self.max_files == 0 {
            return bad("max_files", "must be at least 1");
        }
        if let Err(e) = super::ignore::Ignore::new(&self.ignore) {
            return bad("ignore", &e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonsense_is_rejected_with_the_key() {
        let c = WatchConfig {
            hash_concurrency: 0,
            ..Default::default()
        };
        assert_eq!(
            c.validate().unwrap_err(),
            "key `watch.hash_concurrency`: must be between 1 and 64"
        );
        let c = WatchConfig {
            ignore: vec!["a[".into()],
            ..Default::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .starts_with("key `watch.ignore`: bad pattern `a[`"));
    }
}
