//! Serving other members of the room, as a page re-seeding does (docs/protocol.md, "Swarm"):
//! the client announces pieces to the seeder (`have`), answers the offers of browsers that
//! connect to it (the browser-to-browser link of the web client: signaling `offer`, the
//! `peerbox` channel), says `hello` and answers their `download_range` with chunk frames and
//! `end`. What bytes a range gets is the caller's: tests use it for a peer that lies.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{Client, ClientError, CHANNEL_LABEL, PROTOCOL_VERSION};
use crate::seeder::frame;
use crate::seeder::peer::{ChannelId, PeerEvent, Sent};
use crate::seeder::protocol::{Code, Message};

/// What a range is answered with.
pub struct RangeReply {
    /// The bytes sent for the range (the honest ones, or not).
    pub bytes: Vec<u8>,
    /// The whole file's size and BLAKE3 hex, for `end`.
    pub size: u64,
    pub hash: String,
}

/// A browser connected to this client: its channel and the largest message it takes.
struct Link {
    channel: ChannelId,
    max_message: usize,
}

impl Client {
    /// Tells the seeder this client holds `pieces` (base64 bitfield) of the file with `hash`.
    pub async fn have(&mut self, hash: &str, pieces: &str) -> Result<(), ClientError> {
        self.send(Message::Have {
            hash: hash.to_owned(),
            pieces: pieces.to_owned(),
        })
        .await
    }

    /// Serves the browsers that connect to this client until the seeder's link ends: each
    /// `download_range(file_id, offset, length)` is answered with `range`'s reply (frames, then
    /// `end`), or `refuse not_found` when it gives none. Messages from the seeder are dropped.
    pub async fn serve_peers(
        &mut self,
        mut range: impl FnMut(&str, u64, u64) -> Option<RangeReply>,
    ) -> Result<(), ClientError> {
        let mut links: HashMap<String, Link> = HashMap::new();
        loop {
            let ev = match self.held.pop_front() {
                Some(ev) => ev,
                None => tokio::select! {
                    m = self.signaling.recv() => {
                        self.on_signal(m?).await?;
                        continue;
                    }
                    ev = self.events.recv() => ev.ok_or_else(|| ClientError::Closed("the transport stopped".into()))?,
                },
            };
            match ev {
                PeerEvent::Candidate { remote, candidate } if remote != self.seeder => {
                    let signal = match candidate {
                        Some(c) => json!({"kind": "candidate", "candidate": c.candidate,
                            "sdpMid": c.sdp_mid, "sdpMLineIndex": c.sdp_m_line_index}),
                        None => json!({"kind": "end-of-candidates"}),
                    };
                    self.signaling.signal(&remote, signal)?;
                }
                PeerEvent::ChannelOpen {
                    remote,
                    channel,
                    label,
                    max_message,
                } if label == CHANNEL_LABEL && remote != self.seeder => {
                    links.insert(
                        remote,
                        Link {
                            channel,
                            max_message,
                        },
                    );
                }
                PeerEvent::Message {
                    remote,
                    binary: false,
                    data,
                    ..
                } if remote != self.seeder => {
                    let Some(link) = links.get(&remote) else {
                        continue;
                    };
                    let Ok(m) = Message::parse(&String::from_utf8_lossy(&data.data)) else {
                        continue;
                    };
                    let (channel, max) = (link.channel, link.max_message);
                    self.answer_peer(&remote, channel, max, m, &mut range)
                        .await?;
                }
                PeerEvent::Closed { remote, .. } if remote != self.seeder => {
                    links.remove(&remote);
                }
                PeerEvent::Closed { reason, .. } => return Err(ClientError::Closed(reason)),
                _ => {}
            }
        }
    }

    /// A browser's offer is answered; its candidates are added. Signals from the seeder and
    /// anything else are left alone.
    async fn on_signal(&mut self, m: Value) -> Result<(), ClientError> {
        let from = m["from"].as_str().unwrap_or_default().to_owned();
        if m["type"] != "signal" || from == self.seeder {
            return Ok(());
        }
        let s = &m["signal"];
        match s["kind"].as_str() {
            Some("offer") => {
                let sdp = s["sdp"].as_str().unwrap_or_default();
                let answer = self.peers.accept_offer(&from, sdp).await?;
                self.signaling
                    .signal(&from, json!({"kind": "answer", "sdp": answer}))?;
            }
            Some("candidate") => {
                let c = s["candidate"].as_str().unwrap_or_default();
                // A candidate the transport cannot use (an mDNS name) is not fatal.
                let _ = self.peers.add_candidate(&from, c).await;
            }
            _ => {}
        }
        Ok(())
    }

    async fn answer_peer(
        &mut self,
        remote: &str,
        channel: ChannelId,
        max_message: usize,
        m: Message,
        range: &mut impl FnMut(&str, u64, u64) -> Option<RangeReply>,
    ) -> Result<(), ClientError> {
        match m {
            Message::Hello { .. } => {
                let hello = Message::Hello {
                    version: PROTOCOL_VERSION,
                    agent: Some("peerbox-client (serving)".into()),
                };
                self.send_to(remote, channel, false, hello.to_text().into_bytes())
                    .await
            }
            Message::DownloadRange {
                transfer_id,
                file_id,
                offset,
                length,
            } => {
                let Some(reply) = range(&file_id, offset, length) else {
                    let refuse = Message::Refuse {
                        transfer_id,
                        code: Code::NotFound,
                        message: None,
                    };
                    return self
                        .send_to(remote, channel, false, refuse.to_text().into_bytes())
                        .await;
                };
                let step = max_message.min(frame::BASE_FRAME_BYTES) - frame::HEADER_BYTES;
                let mut at = offset;
                for part in reply.bytes.chunks(step) {
                    let f = frame::encode(transfer_id, at, part);
                    self.send_to(remote, channel, true, f).await?;
                    at += part.len() as u64;
                }
                let end = Message::End {
                    transfer_id,
                    size: reply.size,
                    hash: reply.hash,
                };
                self.send_to(remote, channel, false, end.to_text().into_bytes())
                    .await
            }
            _ => Ok(()),
        }
    }

    /// Sends on a browser's channel, waiting for room as [`Client::send_raw`] does.
    async fn send_to(
        &mut self,
        remote: &str,
        channel: ChannelId,
        binary: bool,
        data: Vec<u8>,
    ) -> Result<(), ClientError> {
        let Sent::Queued { buffered } = self.peers.send(remote, channel, binary, data).await?;
        if self.peers.should_wait(buffered) {
            self.wait_low().await?;
        }
        Ok(())
    }
}
