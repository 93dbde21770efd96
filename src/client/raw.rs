//! The raw side of [`Client`]: what a test needs to speak the protocol byte for byte (the
//! conformance suite, `tests/conformance/`) and to send signaling payloads of its own.

use serde_json::Value;

use super::{Client, ClientError};
use crate::seeder::peer::PeerEvent;

impl Client {
    /// The `a=ice-ufrag` of this connection's offer: what a `bye` for it carries.
    pub fn ufrag(&self) -> &str {
        &self.ufrag
    }

    /// The seeder's name in signaling.
    pub fn seeder(&self) -> &str {
        &self.seeder
    }

    /// Sends a `signal` payload (`{"kind": ...}`) to the seeder through signaling.
    pub fn send_signal(&mut self, signal: Value) -> Result<(), ClientError> {
        self.signaling.signal(&self.seeder, signal)
    }

    /// The next message from the seeder exactly as it arrived: `(false, text bytes)` or
    /// `(true, frame)`; nothing is parsed or kept. When the connection ends, what the seeder
    /// sent before is still returned first ([`Client::next`] reads through this).
    pub async fn next_raw(&mut self) -> Result<(bool, Vec<u8>), ClientError> {
        loop {
            let ev = match self.held.pop_front() {
                Some(ev) => ev,
                None => tokio::time::timeout(self.timeout, self.events.recv())
                    .await
                    .map_err(|_| ClientError::Timeout("data from the seeder"))?
                    .ok_or_else(|| ClientError::Closed("the transport stopped".into()))?,
            };
            match ev {
                PeerEvent::Message { binary, data, .. } => {
                    return Ok((binary, std::mem::take(&mut { data }.data)))
                }
                // The channel's last messages may still be on their way: the channel's own close
                // comes after them.
                PeerEvent::Closed { reason, .. } => self.closed = Some(reason),
                PeerEvent::ChannelClosed { .. } => {
                    let why = self.closed.take();
                    return Err(ClientError::Closed(
                        why.unwrap_or_else(|| "the DataChannel closed".into()),
                    ));
                }
                _ => {}
            }
        }
    }
}
