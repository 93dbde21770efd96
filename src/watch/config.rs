use serde::{Deserialize, Serialize};

/// Settings of the share-directory watcher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct WatchConfig {}

impl WatchConfig {
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}
