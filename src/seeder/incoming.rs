//! Saving what browsers send into the incoming directory, safely.
//!
//! Bytes go to an exclusively created temp file with an unpredictable name in
//! `<incoming>/.peerbox-partial/` (same filesystem, so the final step is a link, not a copy).
//! Every path step uses `*at` calls with `O_NOFOLLOW`, so a symlink anywhere is refused rather
//! than followed. On completion the BLAKE3 hash is checked, the file fsynced, hard-linked to a
//! free final name (`link` never replaces an existing name, which makes `name (1).ext`
//! selection atomic), the temp name removed and both directories fsynced.
//!
//! Quota: a peer identity may have at most `per_peer_quota_bytes` declared bytes in accepted,
//! unfinished uploads. Free space: an offer must fit in free space minus the reserve minus the
//! bytes still owed to other accepted uploads. Nothing is preallocated.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::Mode;

#[path = "incoming_keyed.rs"]
mod keyed;
pub use keyed::UploadStatus;

use super::names;
use super::partial::{self, Sidecar, PARTIAL_DIR};
use super::protocol::{parse_hash, Code};
use super::space;
use super::SeederConfig;

/// Why the store refused or failed; `code()` is what the peer is told.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{1}")]
    Refused(Code, String),
    #[error("disk error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<rustix::io::Errno> for StoreError {
    fn from(e: rustix::io::Errno) -> Self {
        StoreError::Io(e.into())
    }
}

impl StoreError {
    pub fn code(&self) -> Code {
        match self {
            StoreError::Refused(c, _) => *c,
            StoreError::Io(e) if is_no_space(e) => Code::NoSpace,
            StoreError::Io(_) => Code::Io,
        }
    }
}

fn is_no_space(e: &std::io::Error) -> bool {
    let code = e.raw_os_error();
    code == Some(rustix::io::Errno::NOSPC.raw_os_error())
        || code == Some(rustix::io::Errno::DQUOT.raw_os_error())
}

fn refused(code: Code, why: impl Into<String>) -> StoreError {
    StoreError::Refused(code, why.into())
}

/// Identifies one accepted upload in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UploadHandle(u64);

struct Active {
    key: String,
    file: std::fs::File,
    meta: Sidecar,
    hasher: blake3::Hasher,
    received: u64,
    unsynced: u64,
}

/// The incoming directory with its partial uploads; one per daemon, shared by all sessions.
pub struct IncomingStore {
    root: OwnedFd,
    partial: OwnedFd,
    cfg: SeederConfig,
    /// Suspended partials by key, resumable by their owner.
    parked: HashMap<String, Sidecar>,
    active: HashMap<UploadHandle, Active>,
    next: u64,
}

impl IncomingStore {
    /// Opens (creating) `incoming` and its partial dir, loads resumable partials and removes
    /// stale ones.
    pub fn open(incoming: &Path, cfg: &SeederConfig) -> Result<Self, StoreError> {
        let root = partial::open_root(incoming)?;
        let partial = partial::open_child_dir(&root, PARTIAL_DIR, 0o700)?;
        let mut store = Self {
            root,
            partial,
            cfg: cfg.clone(),
            parked: HashMap::new(),
            active: HashMap::new(),
            next: 1,
        };
        store.cleanup(SystemTime::now())?;
        for (key, _) in partial::list(&store.partial)? {
            match partial::read_sidecar(&store.partial, &key) {
                Some(sc) if sc.hash.is_empty() || parse_hash(&sc.hash).is_some() => {
                    store.parked.insert(key, sc);
                }
                _ => partial::remove_all(&store.partial, &key),
            }
        }
        Ok(store)
    }

    /// Checks an offer and returns a handle plus the offset to resume from (0 for new).
    /// `hash` is the declared BLAKE3 (hex); `None` only for HTTP uploads from standard tus
    /// clients, which cannot declare one: their content is then not checked against a hash,
    /// and they resume by upload key only.
    pub fn begin(
        &mut self,
        owner: &str,
        name: &str,
        folder: Option<&str>,
        size: u64,
        hash: Option<&str>,
    ) -> Result<(UploadHandle, u64), StoreError> {
        let bad_name = |e: names::NameError| refused(Code::BadName, e.to_string());
        let name = names::file_name(name).map_err(bad_name)?;
        let folder = folder.map(names::folder).transpose().map_err(bad_name)?;
        if let Some(f) = &folder {
            self.check_folder(f)?;
        }
        if hash.is_some_and(|h| parse_hash(h).is_none()) {
            return Err(refused(Code::BadMessage, "hash is not BLAKE3 hex"));
        }
        let hash = hash.unwrap_or_default();
        if size > self.cfg.max_upload_bytes {
            return Err(refused(
                Code::TooLarge,
                format!("{size} bytes is over the limit"),
            ));
        }
        if self.active.len() >= self.cfg.max_transfers_total {
            return Err(refused(Code::Busy, "too many uploads in progress"));
        }
        let owed: u64 = self.active.values().map(|a| a.meta.size - a.received).sum();
        let parked = self
            .parked
            .iter()
            .find(|(_, p)| !hash.is_empty() && p.owner == owner && p.size == size && p.hash == hash)
            .map(|(k, _)| k.clone());
        // Accepted, unfinished uploads of this owner: active ones and parked partials (the one
        // being resumed aside), so parking cannot be used to get around the quota.
        let mine: u64 = self
            .active
            .values()
            .map(|a| &a.meta)
            .chain(
                self.parked
                    .iter()
                    .filter(|(k, _)| Some(*k) != parked.as_ref())
                    .map(|(_, p)| p),
            )
            .filter(|m| m.owner == owner)
            .map(|m| m.size)
            .fold(0u64, u64::saturating_add);
        if mine.saturating_add(size) > self.cfg.per_peer_quota_bytes {
            return Err(refused(
                Code::Quota,
                "per-peer quota of bytes in flight exceeded",
            ));
        }
        let meta = Sidecar {
            name,
            folder: folder.unwrap_or_default(),
            size,
            hash: hash.to_owned(),
            owner: owner.to_owned(),
            durable: 0,
        };
        let (key, file, hasher, offset) = match parked {
            Some(key) => {
                let old = self.parked.remove(&key).expect("found above");
                match self.reopen(&key, old.durable.min(size)) {
                    Ok((file, hasher, off)) => (key, file, hasher, off),
                    Err(_) => {
                        partial::remove_all(&self.partial, &key);
                        self.create()?
                    }
                }
            }
            None => self.create()?,
        };
        self.activate(key, file, hasher, offset, meta, owed)
    }

    /// Makes an opened partial the active upload `key`: checks free space for what is still
    /// owed, records the durable offset in the sidecar, and hands out a handle.
    fn activate(
        &mut self,
        key: String,
        file: std::fs::File,
        hasher: blake3::Hasher,
        offset: u64,
        meta: Sidecar,
        owed: u64,
    ) -> Result<(UploadHandle, u64), StoreError> {
        let size = meta.size;
        let avail = space::available_bytes(&self.partial)?;
        if !space::fits(
            avail,
            self.cfg.free_space_reserve_bytes,
            owed,
            size - offset,
        ) {
            drop(file);
            // Keep a resumable partial for later; a fresh one is useless.
            if offset > 0 {
                self.parked.insert(
                    key,
                    Sidecar {
                        durable: offset,
                        ..meta
                    },
                );
            } else {
                partial::remove_all(&self.partial, &key);
            }
            return Err(refused(Code::NoSpace, "not enough free space"));
        }
        let meta = Sidecar {
            durable: offset,
            ..meta
        };
        if let Err(e) = partial::write_sidecar(&self.partial, &key, &meta) {
            partial::remove_all(&self.partial, &key);
            return Err(e.into());
        }
        let h = UploadHandle(self.next);
        self.next += 1;
        let active = Active {
            key,
            file,
            meta,
            hasher,
            received: offset,
            unsynced: 0,
        };
        self.active.insert(h, active);
        Ok((h, offset))
    }

    /// Refuses early when an existing folder component is a symlink or not a directory, so a
    /// peer learns before sending bytes; `publish` checks again when creating the folders.
    fn check_folder(&self, folder: &[String]) -> Result<(), StoreError> {
        let mut dir: Option<OwnedFd> = None;
        for comp in folder {
            let parent = dir.as_ref().unwrap_or(&self.root);
            match partial::open_existing_dir(parent, comp) {
                Ok(Some(d)) => dir = Some(d),
                Ok(None) => return Ok(()),
                Err(e) => {
                    let why = format!("folder `{comp}` cannot be used: {e}");
                    return Err(refused(Code::BadName, why));
                }
            }
        }
        Ok(())
    }

    fn create(&self) -> Result<(String, std::fs::File, blake3::Hasher, u64), StoreError> {
        let key = partial::new_key();
        let file = partial::create_part(&self.partial, &key)?;
        Ok((key, file, blake3::Hasher::new(), 0))
    }

    /// Reopens a parked partial, drops any bytes past the durable offset and re-hashes the rest.
    fn reopen(
        &self,
        key: &str,
        durable: u64,
    ) -> std::io::Result<(std::fs::File, blake3::Hasher, u64)> {
        let file = partial::open_part(&self.partial, key)?;
        let len = file.metadata()?.len();
        let durable = if len < durable { 0 } else { durable };
        file.set_len(durable)?;
        let hasher = partial::hash_prefix(&file, durable)?;
        Ok((file, hasher, durable))
    }

    /// Writes the next contiguous chunk. Returns the new durable offset when this write
    /// crossed a `progress_ack_bytes` boundary (data fsynced, sidecar updated).
    pub fn write(
        &mut self,
        h: UploadHandle,
        offset: u64,
        data: &[u8],
    ) -> Result<Option<u64>, StoreError> {
        let ack = self.cfg.progress_ack_bytes;
        let a = self
            .active
            .get_mut(&h)
            .ok_or_else(|| refused(Code::UnknownTransfer, "no such upload"))?;
        if offset != a.received {
            return Err(refused(
                Code::BadOffset,
                format!("expected offset {}, got {offset}", a.received),
            ));
        }
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|e| *e <= a.meta.size);
        let Some(end) = end else {
            return Err(refused(Code::BadChunk, "chunk goes past the declared size"));
        };
        a.file.write_all_at(data, offset)?;
        a.hasher.update(data);
        a.received = end;
        a.unsynced += data.len() as u64;
        if a.unsynced >= ack {
            a.file.sync_data()?;
            a.unsynced = 0;
            a.meta.durable = end;
            partial::write_sidecar(&self.partial, &a.key, &a.meta)?;
            return Ok(Some(end));
        }
        Ok(None)
    }

    /// Verifies, fsyncs and publishes a complete upload; returns its path relative to incoming.
    /// On any error the temp file is removed.
    /// `declared_hash` is the hash the sender names at the end (`None`: the one it offered).
    pub fn finish(
        &mut self,
        h: UploadHandle,
        declared_hash: Option<&str>,
    ) -> Result<String, StoreError> {
        let a = self
            .active
            .remove(&h)
            .ok_or_else(|| refused(Code::UnknownTransfer, "no such upload"))?;
        let r = self.publish(&a, declared_hash);
        partial::remove_all(&self.partial, &a.key);
        let _ = rustix::fs::fsync(&self.partial);
        r
    }

    fn publish(&self, a: &Active, declared_hash: Option<&str>) -> Result<String, StoreError> {
        if a.received != a.meta.size {
            return Err(refused(
                Code::ShortTransfer,
                format!("{} of {} bytes received", a.received, a.meta.size),
            ));
        }
        let got = a.hasher.finalize().to_hex();
        let declared = declared_hash.unwrap_or(&a.meta.hash);
        // An empty hash: an HTTP upload whose client declared none; nothing to check against.
        let unchecked = a.meta.hash.is_empty() && declared.is_empty();
        if !unchecked && (declared != a.meta.hash || got.as_str() != a.meta.hash) {
            return Err(refused(
                Code::HashMismatch,
                "content does not match the offered BLAKE3 hash",
            ));
        }
        a.file.sync_all()?;
        rustix::fs::fchmod(&a.file, Mode::from_raw_mode(self.cfg.file_mode))?;
        let mut dir = rustix::fs::openat(
            &self.root,
            ".",
            rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut used = Vec::with_capacity(a.meta.folder.len());
        for comp in &a.meta.folder {
            // A folder on disk whose name differs only in normalization is this folder.
            let twins = names::nfc_twins(&dir)?;
            let comp = twins.get(comp).unwrap_or(comp);
            used.push(comp.clone());
            dir = partial::open_child_dir(&dir, comp, 0o755).map_err(|e| {
                refused(
                    Code::BadName,
                    format!("folder `{comp}` cannot be used: {e}"),
                )
            })?;
        }
        let saved = partial::link_free_name(&self.partial, &a.key, &dir, &a.meta.name)?;
        rustix::fs::fsync(&dir)?;
        let mut rel = used.join("/");
        if !rel.is_empty() {
            rel.push('/');
        }
        Ok(rel + &saved)
    }

    /// Keeps the partial for a later resume by the same owner (peer gone, not canceled).
    pub fn suspend(&mut self, h: UploadHandle) {
        if let Some(mut a) = self.active.remove(&h) {
            if a.file.sync_data().is_ok() {
                a.meta.durable = a.received;
                if partial::write_sidecar(&self.partial, &a.key, &a.meta).is_ok() {
                    self.parked.insert(a.key, a.meta);
                    return;
                }
            }
            partial::remove_all(&self.partial, &a.key);
        }
    }

    /// Drops an upload and its temp file (canceled or failed).
    pub fn discard(&mut self, h: UploadHandle) {
        if let Some(a) = self.active.remove(&h) {
            partial::remove_all(&self.partial, &a.key);
        }
    }

    /// Bytes received so far for an active upload.
    pub fn received(&self, h: UploadHandle) -> Option<u64> {
        self.active.get(&h).map(|a| a.received)
    }

    /// Removes partials not touched for `partial_timeout_secs` (and not in use); returns how many.
    pub fn cleanup(&mut self, now: SystemTime) -> std::io::Result<usize> {
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
        let limit = now.saturating_sub(self.cfg.partial_timeout_secs.min(i64::MAX as u64) as i64);
        let mut removed = 0;
        for (key, mtime) in partial::list(&self.partial)? {
            if mtime < limit && !self.active.values().any(|a| a.key == key) {
                partial::remove_all(&self.partial, &key);
                self.parked.remove(&key);
                removed += 1;
            }
        }
        Ok(removed)
    }
}
