//! Announcing the catalog to one peer, one message at a time, as its channel drains (sans-IO).
//!
//! The announcer holds the newest [`Snapshot`] (shared with the catalog and every other
//! connection, never copied) and where the peer is: streaming a full list, in step, or being
//! sent a delta. [`Announcer::next`] builds the next message only when the link has room for it,
//! so a page costs one message of memory, whatever the catalog's size.
//!
//! - Version 1: a full snapshot (`catalog` parts) on connect and after every change. A list is
//!   always finished before the next starts, so a catalog that changes faster than it streams
//!   still reaches the peer whole.
//! - Version 2: the full list (`catalog_part`) on connect or on `catalog_resend`, then
//!   `catalog_delta` from the version the peer holds to the newest one, found with the
//!   persistent map's diff (which skips what both versions share), and `catalog_progress` while
//!   the first hashing runs.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

use super::protocol::{FileInfo, Message, PART_BUDGET};
use crate::watch::{FileId, Progress, Snapshot};

/// One change between two versions.
enum Change {
    Added(FileInfo),
    Changed(FileInfo),
    Removed(FileId),
}

enum State {
    /// Before the peer's `hello`: nothing is sent.
    Waiting,
    /// Streaming the full list of `snap`: parts sent so far, the last id sent; for version 1
    /// the number of files in each part, worked out before the first (`parts` is in every one).
    Full {
        snap: Arc<Snapshot>,
        part: u32,
        after: Option<FileId>,
        counts: Vec<usize>,
    },
    /// The peer holds `snap`.
    InStep(Arc<Snapshot>),
    /// Sending the changes from the version the peer holds to `to`.
    Delta {
        from: u64,
        to: Arc<Snapshot>,
        changes: VecDeque<Change>,
    },
}

pub struct Announcer {
    version: u32,
    per_message: usize,
    latest: Arc<Snapshot>,
    state: State,
    progress: Option<Progress>,
}

impl Announcer {
    pub fn new(per_message: usize, latest: Arc<Snapshot>) -> Self {
        Announcer {
            version: 0,
            per_message: per_message.max(1),
            latest,
            state: State::Waiting,
            progress: None,
        }
    }

    /// The newest catalog; announced when the current message sequence allows.
    pub fn update(&mut self, snap: Arc<Snapshot>) {
        self.latest = snap;
    }

    pub fn latest(&self) -> &Arc<Snapshot> {
        &self.latest
    }

    /// The peer said `hello`; the session speaks `version`.
    pub fn start(&mut self, version: u32) {
        self.version = version;
        self.full();
    }

    /// The peer asked for the whole list again (version 2).
    pub fn resend(&mut self) {
        if self.version >= 2 {
            self.full();
        }
    }

    fn full(&mut self) {
        let snap = self.latest.clone();
        let counts = if self.version == 1 {
            part_counts(&snap, self.per_message)
        } else {
            Vec::new()
        };
        self.state = State::Full {
            snap,
            part: 0,
            after: None,
            counts,
        };
    }

    /// The next catalog message for the peer, if any is due.
    pub fn next_message(&mut self) -> Option<Message> {
        if self.version >= 2 && self.progress != Some(self.latest.progress) {
            let p = self.latest.progress;
            let was = self.progress.replace(p);
            // Only while hashing runs, and once more when it is done.
            if p.offered < p.seen || was.is_some_and(|w| w.offered < w.seen) {
                return Some(Message::CatalogProgress {
                    hashed: p.offered,
                    files: p.seen,
                });
            }
        }
        loop {
            match &mut self.state {
                State::Waiting => return None,
                State::Full { .. } => return Some(self.next_part()),
                State::InStep(snap) => {
                    if snap.version == self.latest.version {
                        return None;
                    }
                    if self.version == 1 {
                        self.full();
                        continue;
                    }
                    let changes = diff(snap, &self.latest);
                    self.state = State::Delta {
                        from: snap.version,
                        to: self.latest.clone(),
                        changes,
                    };
                }
                State::Delta { .. } => return Some(self.next_delta()),
            }
        }
    }

    fn next_part(&mut self) -> Message {
        let State::Full {
            snap,
            part,
            after,
            counts,
        } = &mut self.state
        else {
            unreachable!("called in State::Full");
        };
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut files = Vec::new();
        let mut bytes = 0;
        let limit = counts.get(*part as usize).copied();
        for (id, e) in snap.entries.range((from, Bound::Unbounded)) {
            let f = FileInfo::from(&**e);
            let full = match limit {
                Some(n) => files.len() >= n,
                None => {
                    !files.is_empty()
                        && (files.len() >= self.per_message || bytes + f.wire_len() > PART_BUDGET)
                }
            };
            if full {
                break;
            }
            bytes += f.wire_len();
            files.push(f);
            *after = Some(*id);
        }
        let done = after.is_none_or(|a| {
            snap.entries
                .range((Bound::Excluded(a), Bound::Unbounded))
                .next()
                .is_none()
        });
        let msg = if self.version == 1 {
            Message::Catalog {
                version: snap.version,
                part: *part,
                parts: counts.len() as u32,
                files,
            }
        } else {
            Message::CatalogPart {
                version: snap.version,
                part: *part,
                total: snap.entries.len() as u64,
                last: done,
                files,
            }
        };
        *part += 1;
        if done {
            self.state = State::InStep(snap.clone());
        }
        msg
    }

    fn next_delta(&mut self) -> Message {
        let State::Delta { from, to, changes } = &mut self.state else {
            unreachable!("called in State::Delta");
        };
        let (mut added, mut changed, mut removed) = (Vec::new(), Vec::new(), Vec::new());
        let (mut n, mut bytes) = (0, 0);
        while let Some(c) = changes.front() {
            let len = match c {
                Change::Added(f) | Change::Changed(f) => f.wire_len(),
                Change::Removed(_) => 35,
            };
            if n > 0 && (n >= self.per_message || bytes + len > PART_BUDGET) {
                break;
            }
            n += 1;
            bytes += len;
            match changes.pop_front().expect("peeked") {
                Change::Added(f) => added.push(f),
                Change::Changed(f) => changed.push(f),
                Change::Removed(id) => removed.push(id.hex().as_str().to_owned()),
            }
        }
        let last = changes.is_empty();
        let msg = Message::CatalogDelta {
            from: *from,
            version: to.version,
            added,
            changed,
            removed,
            last,
        };
        if last {
            self.state = State::InStep(to.clone());
        }
        msg
    }
}

/// What changed from `old` to `new`; shared parts of the two maps are skipped, not compared.
fn diff(old: &Snapshot, new: &Snapshot) -> VecDeque<Change> {
    use imbl::ordmap::DiffItem;
    old.entries
        .diff(&new.entries)
        .map(|d| match d {
            DiffItem::Add(_, e) => Change::Added(FileInfo::from(&**e)),
            DiffItem::Update { new: (_, e), .. } => Change::Changed(FileInfo::from(&**e)),
            DiffItem::Remove(id, _) => Change::Removed(*id),
        })
        .collect()
}

/// Files per `catalog` part for version 1, whose parts carry their count: each part at most
/// `per_message` files and under the message limit. An empty catalog is one empty part.
fn part_counts(snap: &Snapshot, per_message: usize) -> Vec<usize> {
    let mut counts = vec![0];
    let mut bytes = 0;
    for e in snap.entries.values() {
        let len = FileInfo::from(&**e).wire_len();
        let cur = counts.last_mut().expect("never empty");
        if *cur > 0 && (*cur >= per_message || bytes + len > PART_BUDGET) {
            counts.push(0);
            bytes = 0;
        }
        *counts.last_mut().expect("never empty") += 1;
        bytes += len;
    }
    counts
}
