use serde::{Deserialize, Serialize};

/// Settings of the seeding peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SeederConfig {
    pub webrtc: super::peer::WebrtcConfig,
}

impl SeederConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.webrtc.validate()
    }
}
