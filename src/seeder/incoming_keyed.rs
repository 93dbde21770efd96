//! Uploads addressed by their partial's key, for HTTP (tus) uploads: a client creates an upload
//! once, then continues it by key across requests, pauses and daemon restarts. The key is the
//! partial's random name, so it is also the upload's unguessable id in `/uploads/<key>`.

use super::partial;
use super::{refused, IncomingStore, StoreError, UploadHandle};
use crate::seeder::protocol::Code;

/// An upload as [`IncomingStore::status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    pub size: u64,
    pub offset: u64,
    pub owner: String,
    pub active: bool,
}

impl IncomingStore {
    /// Takes up the parked partial `key` again (an HTTP upload continuing after a pause or a
    /// daemon restart): bytes past its durable offset are dropped, the rest re-hashed.
    pub fn resume(&mut self, key: &str) -> Result<(UploadHandle, u64), StoreError> {
        if self.active.values().any(|a| a.key == key) {
            return Err(refused(Code::Busy, "this upload is already being written"));
        }
        if self.active.len() >= self.cfg.max_transfers_total {
            return Err(refused(Code::Busy, "too many uploads in progress"));
        }
        let Some(meta) = self.parked.remove(key) else {
            return Err(refused(Code::UnknownTransfer, "no such upload"));
        };
        let (file, hasher, offset) = match self.reopen(key, meta.durable.min(meta.size)) {
            Ok(opened) => opened,
            Err(e) => {
                partial::remove_all(&self.partial, key);
                return Err(e.into());
            }
        };
        let owed: u64 = self.active.values().map(|a| a.meta.size - a.received).sum();
        self.activate(key.to_owned(), file, hasher, offset, meta, owed)
    }

    /// What is known about upload `key`: size, bytes held (durable ones when parked), owner,
    /// and whether a writer has it now. `None` when no such partial exists.
    pub fn status(&self, key: &str) -> Option<UploadStatus> {
        if let Some(a) = self.active.values().find(|a| a.key == key) {
            return Some(UploadStatus {
                size: a.meta.size,
                offset: a.received,
                owner: a.meta.owner.clone(),
                active: true,
            });
        }
        self.parked.get(key).map(|p| UploadStatus {
            size: p.size,
            offset: p.durable.min(p.size),
            owner: p.owner.clone(),
            active: false,
        })
    }

    /// The key of an active upload (the name of its partial, and its HTTP upload id).
    pub fn key(&self, h: UploadHandle) -> Option<&str> {
        self.active.get(&h).map(|a| a.key.as_str())
    }

    /// Removes the parked partial `key` (an HTTP upload terminated by its client). An upload
    /// that is being written is refused (`busy`).
    pub fn remove_parked(&mut self, key: &str) -> Result<(), StoreError> {
        if self.active.values().any(|a| a.key == key) {
            return Err(refused(Code::Busy, "this upload is being written"));
        }
        if self.parked.remove(key).is_none() {
            return Err(refused(Code::UnknownTransfer, "no such upload"));
        }
        partial::remove_all(&self.partial, key);
        let _ = rustix::fs::fsync(&self.partial);
        Ok(())
    }
}
