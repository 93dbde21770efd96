//! The thin glue between a [`Session`]'s actions and the disk: the store for uploads and
//! [`DownloadReader`]s for downloads. The WebRTC peer owns one `Edge` per remote peer; the
//! store is shared (lock it around `apply`/`pump`, never across an `.await`; the calls block
//! on disk I/O, so run them on a blocking thread).
//!
//! Flow control (sender side): call [`Edge::pump`] while the DataChannel's buffered amount is
//! below the high-water mark (1 MiB) and again on the `bufferedamountlow` event (threshold
//! 256 KiB); never wait for a per-chunk reply.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::download::DownloadReader;
use super::incoming::{IncomingStore, UploadHandle};
use super::protocol::FileInfo;
use super::session::{Action, Session};

/// A message to put on the DataChannel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Text(String),
    Binary(Vec<u8>),
}

/// Maps a catalog entry to the file to read (the seeder asks its live catalog, which knows
/// each entry's root and real path).
pub type Resolver = Arc<dyn Fn(&FileInfo) -> Option<PathBuf> + Send + Sync>;

pub struct Edge {
    owner: String,
    resolve: Resolver,
    read_ahead: usize,
    /// Frame size of downloads: the link's largest message.
    frame_bytes: usize,
    uploads: HashMap<u32, UploadHandle>,
    downloads: HashMap<u32, DownloadReader>,
}

impl Edge {
    /// `owner` is the peer's resume identity (its signaling name or resume token).
    pub fn new(owner: impl Into<String>, share_dir: &Path, read_ahead: usize) -> Self {
        let dir = share_dir.to_owned();
        Self::with_resolver(
            owner,
            Arc::new(move |f: &FileInfo| Some(dir.join(&f.path))),
            read_ahead,
        )
    }

    /// Like [`Edge::new`], with files located by `resolve`.
    pub fn with_resolver(owner: impl Into<String>, resolve: Resolver, read_ahead: usize) -> Self {
        Self {
            owner: owner.into(),
            resolve,
            read_ahead,
            frame_bytes: super::frame::BASE_FRAME_BYTES,
            uploads: HashMap::new(),
            downloads: HashMap::new(),
        }
    }

    /// Downloads from now on use frames of `bytes` (header included): the largest message the
    /// link carries. The default is the 64 KiB every peer accepts.
    pub fn set_frame_bytes(&mut self, bytes: usize) {
        self.frame_bytes = bytes;
    }

    /// Carries out actions (and those they lead to); returns the messages to send.
    pub fn apply(
        &mut self,
        session: &mut Session,
        store: &mut IncomingStore,
        actions: Vec<Action>,
    ) -> Vec<Outgoing> {
        let mut out = Vec::new();
        let mut queue: std::collections::VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let more = match action {
                Action::SendText(t) => {
                    out.push(Outgoing::Text(t));
                    continue;
                }
                Action::BeginUpload {
                    transfer_id,
                    name,
                    folder,
                    size,
                    hash,
                } => match store.begin(&self.owner, &name, folder.as_deref(), size, Some(&hash)) {
                    Ok((h, offset)) => {
                        self.uploads.insert(transfer_id, h);
                        session.upload_accepted(transfer_id, offset)
                    }
                    Err(e) => session.upload_refused(transfer_id, e.code(), e.to_string()),
                },
                Action::WriteChunk {
                    transfer_id,
                    offset,
                    data,
                } => {
                    let Some(&h) = self.uploads.get(&transfer_id) else {
                        continue;
                    };
                    match store.write(h, offset, &data) {
                        Ok(Some(durable)) => session.upload_progress(transfer_id, durable),
                        Ok(None) => continue,
                        Err(e) => {
                            store.discard(h);
                            self.uploads.remove(&transfer_id);
                            session.transfer_failed(transfer_id, e.code(), e.to_string())
                        }
                    }
                }
                Action::FinishUpload { transfer_id, hash } => {
                    let Some(h) = self.uploads.remove(&transfer_id) else {
                        continue;
                    };
                    match store.finish(h, Some(&hash)) {
                        Ok(name) => session.upload_finished(transfer_id, name),
                        Err(e) => session.transfer_failed(transfer_id, e.code(), e.to_string()),
                    }
                }
                Action::AbortUpload {
                    transfer_id,
                    keep_partial,
                } => {
                    if let Some(h) = self.uploads.remove(&transfer_id) {
                        if keep_partial {
                            store.suspend(h);
                        } else {
                            store.discard(h);
                        }
                    }
                    continue;
                }
                Action::StartDownload {
                    transfer_id,
                    file,
                    offset,
                    end,
                } => {
                    let Some(path) = (self.resolve)(&file) else {
                        queue.extend(session.transfer_failed(
                            transfer_id,
                            super::protocol::Code::NotFound,
                            "the file is no longer shared".into(),
                        ));
                        continue;
                    };
                    match DownloadReader::open(
                        &path,
                        file.size,
                        offset,
                        transfer_id,
                        self.read_ahead,
                        self.frame_bytes,
                    ) {
                        Ok(r) => {
                            self.downloads.insert(transfer_id, r.until(end));
                            continue;
                        }
                        Err(e) => session.transfer_failed(transfer_id, e.code(), e.to_string()),
                    }
                }
                Action::StopDownload { transfer_id } => {
                    self.downloads.remove(&transfer_id);
                    continue;
                }
            };
            queue.extend(more);
        }
        out
    }

    /// Produces up to `max_frames` chunk frames across active downloads (round robin), plus
    /// `end` or error messages for downloads that finished or failed.
    pub fn pump(&mut self, session: &mut Session, max_frames: usize) -> Vec<Outgoing> {
        let mut out = Vec::new();
        let mut ids: Vec<u32> = self.downloads.keys().copied().collect();
        ids.sort_unstable();
        let mut budget = max_frames;
        while budget > 0 && !ids.is_empty() {
            ids.retain(|id| {
                if budget == 0 {
                    return true;
                }
                let Some(r) = self.downloads.get_mut(id) else {
                    return false;
                };
                match r.next_frame() {
                    Ok(Some(f)) => {
                        budget -= 1;
                        out.push(Outgoing::Binary(f));
                        true
                    }
                    Ok(None) => false,
                    Err(e) => {
                        self.downloads.remove(id);
                        let acts = session.transfer_failed(*id, e.code(), e.to_string());
                        out.extend(acts.into_iter().filter_map(|a| match a {
                            Action::SendText(t) => Some(Outgoing::Text(t)),
                            _ => None,
                        }));
                        false
                    }
                }
            });
        }
        let done: Vec<u32> = self
            .downloads
            .iter()
            .filter(|(_, r)| r.is_done())
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            let Some(r) = self.downloads.remove(&id) else {
                continue;
            };
            let acts = match r.check_unchanged() {
                Ok(()) => session.download_complete(id),
                Err(e) => session.transfer_failed(id, e.code(), e.to_string()),
            };
            out.extend(acts.into_iter().filter_map(|a| match a {
                Action::SendText(t) => Some(Outgoing::Text(t)),
                _ => None,
            }));
        }
        out
    }

    /// Whether an upload is in progress (bytes are expected from the peer).
    pub fn receiving(&self) -> bool {
        !self.uploads.is_empty()
    }

    /// Whether any download still has bytes to send.
    pub fn sending(&self) -> bool {
        !self.downloads.is_empty()
    }
}
