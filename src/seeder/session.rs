//! The sans-IO transfer state machine for one remote peer, in the seeder's role: it receives
//! uploads and serves downloads. Text and binary messages go in, [`Action`]s come out; the
//! caller ([`super::edge`]) does the disk work and reports back through the `upload_*` and
//! `download_*` methods. Catalog messages are pulled with [`Session::next_catalog`] whenever
//! the channel has room ([`super::catalog`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::catalog::Announcer;
use super::frame;
use super::protocol::{negotiate, truncated, Code, FileInfo, Message};
use super::swarm::Swarm;
use crate::watch::{pieces, Entry, Snapshot};

/// What the caller must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this text message on the DataChannel.
    SendText(String),
    /// Check an offer with the store; answer with `upload_accepted` or `upload_refused`.
    BeginUpload {
        transfer_id: u32,
        name: String,
        folder: Option<String>,
        size: u64,
        hash: String,
    },
    /// Write this contiguous, in-bounds chunk (already validated); report durable offsets with
    /// `upload_progress` and failures with `transfer_failed`.
    WriteChunk {
        transfer_id: u32,
        offset: u64,
        data: Vec<u8>,
    },
    /// All bytes arrived and the sender's hash matches the offer: verify and publish, then
    /// call `upload_finished`.
    FinishUpload { transfer_id: u32, hash: String },
    /// Stop an upload; keep the partial for resume only when `keep_partial`.
    AbortUpload {
        transfer_id: u32,
        keep_partial: bool,
    },
    /// Start streaming `file` from `offset` up to byte `end`; call `download_complete` or
    /// `transfer_failed`.
    StartDownload {
        transfer_id: u32,
        file: FileInfo,
        offset: u64,
        end: u64,
    },
    /// Stop streaming a download.
    StopDownload { transfer_id: u32 },
}

#[derive(Debug)]
enum Upload {
    Offered { size: u64, hash: String },
    Receiving { next: u64, size: u64, hash: String },
    Finishing,
}

/// Chunks for this many recently ended transfers are dropped silently (they were in flight).
const RECENT_ENDED: usize = 64;

/// Per-peer protocol state.
pub struct Session {
    max_transfers: usize,
    /// The version agreed on once the peer's `hello` arrived; nothing is sent before it.
    version: Option<u32>,
    catalog: Announcer,
    uploads: HashMap<u32, Upload>,
    downloads: HashMap<u32, FileInfo>,
    ended: VecDeque<u32>,
    /// The peer's name and the seeder's tracker (version 3); without it, swarm messages get
    /// empty answers.
    swarm: Option<(String, Arc<Swarm>)>,
}

/// Piece hashes per `piece_hashes` message: 512 x 64 hex digits = 32 KiB.
pub const PIECES_PER_MESSAGE: usize = 512;

fn text(m: Message) -> Action {
    Action::SendText(m.to_text())
}

/// Declines an offer or a download request.
fn refuse(transfer_id: u32, code: Code) -> Action {
    text(Message::Refuse {
        transfer_id,
        code,
        message: None,
    })
}

fn error(code: Code, transfer_id: Option<u32>, message: impl Into<String>) -> Action {
    text(Message::Error {
        code,
        transfer_id,
        message: Some(truncated(message.into(), 512)),
    })
}

impl Session {
    pub fn new(max_transfers_per_peer: usize, catalog_files_per_message: usize) -> Self {
        Self {
            max_transfers: max_transfers_per_peer,
            version: None,
            catalog: Announcer::new(catalog_files_per_message, Arc::default()),
            uploads: HashMap::new(),
            downloads: HashMap::new(),
            ended: VecDeque::new(),
            swarm: None,
        }
    }

    /// Makes this the session of peer `name` in `swarm` (version 3 tracking).
    pub fn with_swarm(mut self, name: impl Into<String>, swarm: Arc<Swarm>) -> Self {
        self.swarm = Some((name.into(), swarm));
        self
    }

    /// The version this session speaks, once the peer said `hello`.
    pub fn version(&self) -> Option<u32> {
        self.version
    }

    /// The newest catalog: downloads are looked up in it, and it is announced (in parts, each
    /// under the message-size limit and at most `catalog_files_per_message` files) through
    /// [`Session::next_catalog`] once the peer said `hello`.
    pub fn set_catalog(&mut self, snapshot: Arc<Snapshot>) {
        self.catalog.update(snapshot);
    }

    /// The next catalog message to send, built now; call it whenever the channel has room.
    pub fn next_catalog(&mut self) -> Option<String> {
        self.catalog.next_message().map(|m| m.to_text())
    }

    fn active(&self) -> usize {
        self.uploads.len() + self.downloads.len()
    }

    fn ended(&mut self, id: u32) {
        self.ended.push_back(id);
        if self.ended.len() > RECENT_ENDED {
            self.ended.pop_front();
        }
    }

    fn in_use(&self, id: u32) -> bool {
        self.uploads.contains_key(&id) || self.downloads.contains_key(&id)
    }

    /// One text message from the peer.
    pub fn on_text(&mut self, raw: &str) -> Vec<Action> {
        let msg = match Message::parse(raw) {
            Ok(m) => m,
            // A malformed message that names a transfer ends that transfer (the sender would
            // otherwise wait for an answer that never comes); otherwise it concerns the session.
            Err(e) => return self.malformed(super::protocol::transfer_id_of(raw), e.to_string()),
        };
        if self.version.is_none() && !matches!(msg, Message::Hello { .. }) {
            return vec![error(
                Code::ProtocolViolation,
                None,
                "hello must come first",
            )];
        }
        if let Some(v) = self.version.filter(|v| msg.since() > *v) {
            let why = format!(
                "this message needs protocol version {}; the session speaks {v}",
                msg.since()
            );
            return vec![error(Code::ProtocolViolation, None, why)];
        }
        match msg {
            Message::Hello { version, .. } => {
                if self.version.is_some() {
                    return vec![]; // a repeated hello changes nothing
                }
                let Some(agreed) = negotiate(version) else {
                    return vec![error(
                        Code::UnsupportedVersion,
                        None,
                        format!(
                            "this peer speaks versions 1 to {}",
                            super::protocol::PROTOCOL_VERSION
                        ),
                    )];
                };
                self.version = Some(agreed);
                self.catalog.start(agreed);
                vec![text(Message::Hello {
                    version: agreed,
                    agent: Some(concat!("peerbox/", env!("CARGO_PKG_VERSION")).into()),
                })]
            }
            Message::CatalogResend { .. } => {
                self.catalog.resend();
                vec![]
            }
            Message::Offer {
                transfer_id,
                name,
                size,
                hash,
                folder,
            } => {
                if let Some(code) = self.admit(transfer_id) {
                    return vec![refuse(transfer_id, code)];
                }
                self.uploads.insert(
                    transfer_id,
                    Upload::Offered {
                        size,
                        hash: hash.clone(),
                    },
                );
                vec![Action::BeginUpload {
                    transfer_id,
                    name,
                    folder,
                    size,
                    hash,
                }]
            }
            Message::Download {
                transfer_id,
                file_id,
                offset,
            } => {
                if let Some(code) = self.admit(transfer_id) {
                    return vec![refuse(transfer_id, code)];
                }
                let Some(file) = self
                    .catalog
                    .latest()
                    .get(&file_id)
                    .map(|e| FileInfo::from(&**e))
                else {
                    return vec![refuse(transfer_id, Code::NotFound)];
                };
                if offset > file.size {
                    return vec![refuse(transfer_id, Code::BadOffset)];
                }
                self.downloads.insert(transfer_id, file.clone());
                vec![Action::StartDownload {
                    transfer_id,
                    end: file.size,
                    file,
                    offset,
                }]
            }
            Message::DownloadRange {
                transfer_id,
                file_id,
                offset,
                length,
            } => self.download_range(transfer_id, &file_id, offset, length),
            Message::Pieces { file_id } => self.piece_hashes(&file_id),
            Message::Have { hash, pieces } => match &self.swarm {
                Some((me, swarm)) => match swarm.have(me, &hash, &pieces) {
                    Ok(()) => vec![],
                    Err(e) => vec![error(Code::BadMessage, None, e.to_string())],
                },
                None => vec![],
            },
            Message::Sources { hash, peers: None } => {
                let peers = match &self.swarm {
                    Some((me, swarm)) => swarm.sources(&hash, me),
                    None => Vec::new(),
                };
                vec![text(Message::Sources {
                    hash,
                    peers: Some(peers),
                })]
            }
            Message::Served { bytes } => {
                if let Some((_, swarm)) = &self.swarm {
                    swarm.peer_served(bytes);
                }
                vec![]
            }
            Message::End {
                transfer_id,
                size,
                hash,
            } => self.on_end(transfer_id, size, hash),
            Message::Cancel { transfer_id, .. }
            | Message::Error {
                transfer_id: Some(transfer_id),
                ..
            } => self.stop(transfer_id, false),
            // Informational for the seeder, never answered: a downloader's `done` (the seeder
            // forgot the download at `end`) and `progress`, errors without a transfer, and
            // catalogs/answers a browser uses only towards other browsers.
            Message::Done { .. }
            | Message::Progress { .. }
            | Message::Error { .. }
            | Message::Catalog { .. }
            | Message::CatalogPart { .. }
            | Message::CatalogDelta { .. }
            | Message::CatalogProgress { .. }
            | Message::Accept { .. }
            | Message::Sources { .. }
            | Message::PieceHashes { .. }
            | Message::Refuse { .. } => vec![],
        }
    }

    /// A catalog entry by id (32 hex digits) or by content hash (64, a scan of the catalog).
    fn entry(&self, file_id: &str) -> Option<Arc<Entry>> {
        let snap = self.catalog.latest();
        if file_id.len() == 64 {
            let want = super::protocol::parse_hash(file_id)?;
            return snap.entries.values().find(|e| e.hash == want).cloned();
        }
        snap.get(file_id).cloned()
    }

    fn download_range(&mut self, id: u32, file_id: &str, offset: u64, length: u64) -> Vec<Action> {
        if let Some(code) = self.admit(id) {
            return vec![refuse(id, code)];
        }
        let Some(entry) = self.entry(file_id) else {
            return vec![refuse(id, Code::NotFound)];
        };
        let file = FileInfo::from(&*entry);
        let end = offset.checked_add(length).filter(|e| *e <= file.size);
        let Some(end) = end.filter(|_| length > 0) else {
            return vec![refuse(id, Code::BadOffset)];
        };
        if let Some((me, swarm)) = &self.swarm {
            let p = pieces::piece_size(file.size);
            swarm.fetching(
                me,
                id,
                &file.hash,
                (offset / p) as u32,
                ((end - 1) / p) as u32,
            );
        }
        self.downloads.insert(id, file.clone());
        vec![Action::StartDownload {
            transfer_id: id,
            file,
            offset,
            end,
        }]
    }

    /// The piece hashes of a catalog file, in `piece_hashes` messages.
    fn piece_hashes(&self, file_id: &str) -> Vec<Action> {
        let list = self
            .entry(file_id)
            .and_then(|e| Some((e.piece_hashes()?, e)));
        let Some((list, entry)) = list else {
            let why = format!("no file {file_id} with piece hashes");
            return vec![error(Code::NotFound, None, why)];
        };
        let chunks: Vec<&[[u8; 32]]> = list.chunks(PIECES_PER_MESSAGE).collect();
        let n = chunks.len();
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, part)| {
                let hashes = part
                    .iter()
                    .map(|h| blake3::Hash::from_bytes(*h).to_hex().to_string())
                    .collect();
                text(Message::PieceHashes {
                    file_id: entry.id.hex().as_str().to_owned(),
                    hash: entry.hash.to_hex().to_string(),
                    size: entry.size(),
                    piece_size: pieces::piece_size(entry.size()),
                    first: (i * PIECES_PER_MESSAGE) as u32,
                    hashes,
                    last: i + 1 == n,
                })
            })
            .collect()
    }

    /// Answer to a message that did not parse; `id` is its `transfer_id` if one could be read.
    fn malformed(&mut self, id: Option<u32>, why: String) -> Vec<Action> {
        match id {
            Some(id) if self.version.is_some() => self.fail(id, Code::BadMessage, why),
            _ => vec![error(Code::BadMessage, None, why)],
        }
    }

    fn admit(&self, id: u32) -> Option<Code> {
        if self.in_use(id) {
            Some(Code::DuplicateTransfer)
        } else if self.active() >= self.max_transfers {
            Some(Code::Busy)
        } else {
            None
        }
    }

    fn on_end(&mut self, id: u32, size: u64, hash: String) -> Vec<Action> {
        let Some(up) = self.uploads.get(&id) else {
            return vec![error(Code::UnknownTransfer, Some(id), "no such upload")];
        };
        let failure = match up {
            Upload::Receiving {
                next,
                size: want,
                hash: h,
            } => {
                if size != *want || hash != *h {
                    Some((Code::HashMismatch, "end does not match the offer"))
                } else if *next != *want {
                    Some((Code::ShortTransfer, "fewer bytes than declared"))
                } else {
                    None
                }
            }
            _ => Some((Code::ProtocolViolation, "end before accept or twice")),
        };
        if let Some((code, why)) = failure {
            return self.fail(id, code, why);
        }
        self.uploads.insert(id, Upload::Finishing);
        vec![Action::FinishUpload {
            transfer_id: id,
            hash,
        }]
    }

    /// One binary message (a chunk frame) from the peer.
    pub fn on_binary(&mut self, raw: &[u8]) -> Vec<Action> {
        let chunk = match frame::decode(raw) {
            Ok(c) => c,
            // The header names the transfer even when the frame is invalid: end that upload
            // (its partial goes) instead of leaving it waiting for the partial timeout.
            Err(e) => {
                return match frame::transfer_id(raw) {
                    Some(id) if self.uploads.contains_key(&id) => {
                        self.fail(id, Code::BadChunk, e.to_string())
                    }
                    Some(id) if self.ended.contains(&id) => vec![],
                    _ => vec![error(Code::BadChunk, None, e.to_string())],
                };
            }
        };
        let id = chunk.transfer_id;
        let Some(up) = self.uploads.get_mut(&id) else {
            if self.ended.contains(&id) {
                return vec![];
            }
            return vec![error(
                Code::UnknownTransfer,
                Some(id),
                "chunk for no upload",
            )];
        };
        let Upload::Receiving { next, size, .. } = up else {
            return self.fail(
                id,
                Code::ProtocolViolation,
                "chunk before accept or after end",
            );
        };
        let len = chunk.data.len() as u64;
        if chunk.offset != *next {
            let why = format!("expected offset {next}, got {}", chunk.offset);
            return self.fail(id, Code::BadOffset, why);
        }
        if chunk.offset + len > *size {
            return self.fail(id, Code::BadChunk, "more bytes than declared");
        }
        *next += len;
        vec![Action::WriteChunk {
            transfer_id: id,
            offset: chunk.offset,
            data: chunk.data.to_vec(),
        }]
    }

    /// The store accepted an offer; bytes are wanted from `offset`.
    pub fn upload_accepted(&mut self, id: u32, offset: u64) -> Vec<Action> {
        match self.uploads.get(&id) {
            Some(Upload::Offered { size, hash }) => {
                let (size, hash) = (*size, hash.clone());
                self.uploads.insert(
                    id,
                    Upload::Receiving {
                        next: offset,
                        size,
                        hash,
                    },
                );
                vec![text(Message::Accept {
                    transfer_id: id,
                    offset,
                })]
            }
            _ => vec![Action::AbortUpload {
                transfer_id: id,
                keep_partial: true,
            }],
        }
    }

    /// The store refused an offer.
    pub fn upload_refused(&mut self, id: u32, code: Code, why: String) -> Vec<Action> {
        self.uploads.remove(&id);
        self.ended(id);
        vec![text(Message::Refuse {
            transfer_id: id,
            code,
            message: Some(why),
        })]
    }

    /// Bytes below `offset` are durable: tell the sender (honest progress on both sides).
    pub fn upload_progress(&mut self, id: u32, offset: u64) -> Vec<Action> {
        vec![text(Message::Progress {
            transfer_id: id,
            offset,
        })]
    }

    /// The upload was verified and saved as `name` (relative to the incoming directory).
    pub fn upload_finished(&mut self, id: u32, name: String) -> Vec<Action> {
        self.uploads.remove(&id);
        self.ended(id);
        vec![text(Message::Done {
            transfer_id: id,
            name: Some(name),
        })]
    }

    /// The last chunk of a download was handed to the channel: send `end` with the catalog hash.
    pub fn download_complete(&mut self, id: u32) -> Vec<Action> {
        self.fetched(id);
        match self.downloads.remove(&id) {
            Some(f) => vec![text(Message::End {
                transfer_id: id,
                size: f.size,
                hash: f.hash,
            })],
            None => vec![],
        }
    }

    /// A transfer failed on this side (disk error, changed file, failed verification).
    pub fn transfer_failed(&mut self, id: u32, code: Code, why: String) -> Vec<Action> {
        self.fail(id, code, why)
    }

    fn fail(&mut self, id: u32, code: Code, why: impl Into<String>) -> Vec<Action> {
        let mut out = self.stop(id, false);
        out.push(error(code, Some(id), why));
        out
    }

    fn fetched(&self, id: u32) {
        if let Some((me, swarm)) = &self.swarm {
            swarm.fetched(me, id);
        }
    }

    fn stop(&mut self, id: u32, keep_partial: bool) -> Vec<Action> {
        self.ended(id);
        self.fetched(id);
        if self.uploads.remove(&id).is_some() {
            vec![Action::AbortUpload {
                transfer_id: id,
                keep_partial,
            }]
        } else if self.downloads.remove(&id).is_some() {
            vec![Action::StopDownload { transfer_id: id }]
        } else {
            vec![]
        }
    }

    /// The channel closed: downloads stop, uploads keep their partials for a resume.
    pub fn closed(&mut self) -> Vec<Action> {
        if let Some((me, swarm)) = &self.swarm {
            swarm.left(me);
        }
        let ups: Vec<u32> = self.uploads.keys().copied().collect();
        let downs: Vec<u32> = self.downloads.keys().copied().collect();
        let mut out: Vec<Action> = ups.into_iter().flat_map(|id| self.stop(id, true)).collect();
        out.extend(downs.into_iter().flat_map(|id| self.stop(id, true)));
        out
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod silent_cases;

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

    fn codes(acts: &[Action]) -> Vec<String> {
        acts.iter()
            .filter_map(|a| match a {
                Action::SendText(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    fn session() -> Session {
        let mut s = Session::new(2, 10);
        assert_eq!(s.on_text(r#"{"type":"hello","version":1}"#).len(), 1);
        s
    }

    #[test]
    fn hello_negotiates_the_lower_version_and_only_then_sends() {
        for (peer, agreed) in [(1, 1), (2, 2), (3, 3), (7, 3), (u32::MAX, 3)] {
            let mut s = Session::new(2, 10);
            s.set_catalog(Arc::default());
            assert_eq!(s.next_catalog(), None, "nothing before hello");
            let out = s.on_text(&format!(r#"{{"type":"hello","version":{peer}}}"#));
            let first = Message::parse(&codes(&out)[0]).unwrap();
            assert!(
                matches!(first, Message::Hello { version, .. } if version == agreed),
                "{peer}: {first:?}"
            );
            assert_eq!(s.version(), Some(agreed));
        }
    }

    #[test]
    fn chunks_and_end_out_of_order_are_violations() {
        let mut s = session();
        let offer =
            format!(r#"{{"type":"offer","transfer_id":1,"name":"a","size":3,"hash":"{H}"}}"#);
        assert!(matches!(
            s.on_text(&offer).as_slice(),
            [Action::BeginUpload { .. }]
        ));
        // A chunk before the store accepted the offer.
        let acts = s.on_binary(&frame::encode(1, 0, b"abc"));
        assert!(matches!(
            acts[0],
            Action::AbortUpload {
                transfer_id: 1,
                keep_partial: false
            }
        ));
        assert!(codes(&acts)[0].contains("protocol_violation"));
        // End for an unknown transfer, and a late accept after the abort.
        let end = format!(r#"{{"type":"end","transfer_id":1,"size":3,"hash":"{H}"}}"#);
        assert!(codes(&s.on_text(&end))[0].contains("unknown_transfer"));
        assert!(matches!(
            s.upload_accepted(1, 0).as_slice(),
            [Action::AbortUpload { .. }]
        ));
    }

    #[test]
    fn close_keeps_partials_and_cancel_does_not() {
        let mut s = session();
        for id in [1, 2] {
            let offer = format!(
                r#"{{"type":"offer","transfer_id":{id},"name":"a","size":3,"hash":"{H}"}}"#
            );
            s.on_text(&offer);
            s.upload_accepted(id, 0);
        }
        let acts = s.on_text(r#"{"type":"cancel","transfer_id":1}"#);
        assert_eq!(
            acts,
            vec![Action::AbortUpload {
                transfer_id: 1,
                keep_partial: false
            }]
        );
        assert_eq!(
            s.closed(),
            vec![Action::AbortUpload {
                transfer_id: 2,
                keep_partial: true
            }]
        );
    }
}
