//! The seeder's catalog as a receiver keeps it (`docs/protocol.md`, "Catalog"): version 1
//! snapshots in parts, version 2 parts then deltas, a resend request on a gap, and the first
//! hashing's progress. Free of I/O: [`CatalogView::apply`] takes a message and says what to
//! send back.

use std::collections::BTreeMap;

use crate::seeder::protocol::{FileInfo, Message};

/// The files the seeder offers, by id.
#[derive(Debug, Default, Clone)]
pub struct CatalogView {
    /// The catalog version held (0: none yet).
    pub version: u64,
    pub files: BTreeMap<String, FileInfo>,
    /// A full list being received: its version, the next part expected, the files so far.
    collecting: Option<(u64, u32, BTreeMap<String, FileInfo>)>,
    /// Resend requests this view made (gaps seen).
    pub resends: usize,
    /// `(hashed, files)` of the last `catalog_progress`.
    pub progress: Option<(u64, u64)>,
    /// Whether a whole list has arrived (versions may start at 0).
    pub whole: bool,
}

impl CatalogView {
    /// Applies a catalog message and returns what to send back (`catalog_resend` on a gap or a
    /// part out of order); any other message comes back as `Err`, untouched.
    pub fn apply(&mut self, m: Message) -> Result<Option<Message>, Message> {
        match m {
            // Version 1: parts of a snapshot; the last part completes it.
            Message::Catalog {
                version,
                part,
                parts,
                files,
            } => {
                // Version 1 has no resend: a part out of order drops that list, the next
                // snapshot replaces it.
                if self.collect(version, part, files) && part + 1 >= parts {
                    self.complete();
                }
                Ok(None)
            }
            Message::CatalogPart {
                version,
                part,
                last,
                files,
                ..
            } => {
                // A part out of order: the list cannot be trusted; ask for it again.
                if !self.collect(version, part, files) {
                    return Ok(Some(self.resend()));
                }
                if last {
                    self.complete();
                }
                Ok(None)
            }
            Message::CatalogDelta {
                from,
                version,
                added,
                changed,
                removed,
                last,
            } => {
                if from != self.version {
                    // A delta while a full list is on its way is expected (it follows it).
                    if self.collecting.is_some() {
                        return Ok(None);
                    }
                    return Ok(Some(self.resend()));
                }
                for f in added.into_iter().chain(changed) {
                    self.files.insert(f.id.clone(), f);
                }
                for id in removed {
                    self.files.remove(&id);
                }
                if last {
                    self.version = version;
                }
                Ok(None)
            }
            Message::CatalogProgress { hashed, files } => {
                self.progress = Some((hashed, files));
                Ok(None)
            }
            other => Err(other),
        }
    }

    /// Adds part `part` of the full list of `version` (part 0 starts it); false, and the list
    /// being collected dropped, when the part does not follow the one before.
    fn collect(&mut self, version: u64, part: u32, files: Vec<FileInfo>) -> bool {
        if part == 0 {
            self.collecting = Some((version, 0, BTreeMap::new()));
        }
        match self.collecting.as_mut() {
            Some((v, next, got)) if *v == version && *next == part => {
                *next += 1;
                got.extend(files.into_iter().map(|f| (f.id.clone(), f)));
                true
            }
            _ => {
                self.collecting = None;
                false
            }
        }
    }

    /// The list being collected becomes the catalog.
    fn complete(&mut self) {
        if let Some((v, _, got)) = self.collecting.take() {
            (self.version, self.files, self.whole) = (v, got, true);
        }
    }

    fn resend(&mut self) -> Message {
        self.resends += 1;
        Message::CatalogResend {
            version: self.version,
        }
    }

    /// The file offered under `path`, if any.
    pub fn by_path(&self, path: &str) -> Option<&FileInfo> {
        self.files.values().find(|f| f.path == path)
    }

    /// Every offered path, sorted.
    pub fn paths(&self) -> Vec<String> {
        let mut v: Vec<String> = self.files.values().map(|f| f.path.clone()).collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str) -> FileInfo {
        FileInfo {
            id: id.into(),
            path: format!("{id}.txt"),
            size: 1,
            mtime_ms: 0,
            mime: "text/plain".into(),
            hash: "00".repeat(32),
        }
    }

    #[test]
    fn parts_out_of_order_and_gaps_ask_for_a_resend() {
        let mut c = CatalogView::default();
        let part = |part, last, files| Message::CatalogPart {
            version: 3,
            part,
            total: 2,
            last,
            files,
        };
        assert_eq!(c.apply(part(0, false, vec![f("a")])), Ok(None));
        assert!(!c.whole);
        assert_eq!(c.apply(part(1, true, vec![f("b")])), Ok(None));
        assert!(c.whole);
        assert_eq!((c.version, c.paths().len()), (3, 2));
        let gap = Message::CatalogDelta {
            from: 4,
            version: 5,
            added: vec![f("c")],
            changed: vec![],
            removed: vec![],
            last: true,
        };
        assert_eq!(
            c.apply(gap),
            Ok(Some(Message::CatalogResend { version: 3 }))
        );
        assert_eq!(
            c.apply(part(1, true, vec![])),
            Ok(Some(Message::CatalogResend { version: 3 }))
        );
        assert_eq!(c.resends, 2);
        let hello = Message::Hello {
            version: 2,
            agent: None,
        };
        assert_eq!(c.apply(hello.clone()), Err(hello));
    }
}
