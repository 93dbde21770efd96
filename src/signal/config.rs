use serde::{Deserialize, Serialize};

/// Limits of the signaling server; every one has a Pi-sized default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SignalConfig {}

impl SignalConfig {
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}
