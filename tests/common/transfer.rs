//! Drives a real Session + Edge + IncomingStore over real files in temp dirs.
#![allow(dead_code)]

use std::path::Path;

use peerbox::seeder::edge::{Edge, Outgoing};
use peerbox::seeder::frame;
use peerbox::seeder::incoming::IncomingStore;
use peerbox::seeder::protocol::{Code, Message};
use peerbox::seeder::session::Session;
use peerbox::seeder::SeederConfig;

pub fn cfg() -> SeederConfig {
    SeederConfig {
        free_space_reserve_bytes: 0,
        progress_ack_bytes: 256 * 1024,
        ..Default::default()
    }
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::fill(&mut v[..]);
    v
}

pub fn hash(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// A catalog entry for the real file `share/path`.
pub fn entry(share: &Path, path: &str) -> peerbox::watch::Entry {
    let real = share.join(path);
    let data = std::fs::read(&real).unwrap();
    let stat = peerbox::watch::Stat::of(&std::fs::metadata(&real).unwrap());
    peerbox::watch::Entry::new(path, stat, blake3::hash(&data), &real)
}

/// A snapshot of `entries` as the catalog would publish it.
pub fn snapshot(
    version: u64,
    entries: impl IntoIterator<Item = peerbox::watch::Entry>,
) -> std::sync::Arc<peerbox::watch::Snapshot> {
    std::sync::Arc::new(peerbox::watch::Snapshot::of(version, entries))
}

pub struct Peer {
    pub session: Session,
    pub edge: Edge,
}

impl Peer {
    /// A peer that already said hello (version 1) and got the (empty) catalog.
    pub fn new(owner: &str, share: &Path, cfg: &SeederConfig, store: &mut IncomingStore) -> Self {
        let mut p = Self::speaking(1, owner, share, cfg, store);
        match p.catalog().as_slice() {
            [Message::Catalog { parts: 1, .. }] => {}
            other => panic!("expected the empty catalog, got {other:?}"),
        }
        p
    }

    /// A peer that said hello with `version` and was answered with the same.
    pub fn speaking(
        version: u32,
        owner: &str,
        share: &Path,
        cfg: &SeederConfig,
        store: &mut IncomingStore,
    ) -> Self {
        let mut p = Self {
            session: Session::new(cfg.max_transfers_per_peer, cfg.catalog_files_per_message),
            edge: Edge::new(owner, share, cfg.read_ahead_chunks),
        };
        let hello = Message::Hello {
            version,
            agent: None,
        }
        .to_text();
        match p.text(store, &hello).as_slice() {
            [Message::Hello { version: v, .. }] if *v == version => {}
            other => panic!("expected hello {version}, got {other:?}"),
        }
        p
    }

    /// Every catalog message the session has to send now.
    pub fn catalog(&mut self) -> Vec<Message> {
        std::iter::from_fn(|| self.session.next_catalog())
            .map(|t| {
                assert!(t.len() <= peerbox::seeder::protocol::MAX_TEXT_BYTES);
                Message::parse(&t).expect("we send valid messages")
            })
            .collect()
    }

    pub fn text(&mut self, store: &mut IncomingStore, raw: &str) -> Vec<Message> {
        let acts = self.session.on_text(raw);
        texts(self.edge.apply(&mut self.session, store, acts))
    }

    pub fn msg(&mut self, store: &mut IncomingStore, m: Message) -> Vec<Message> {
        self.text(store, &m.to_text())
    }

    pub fn binary(&mut self, store: &mut IncomingStore, raw: &[u8]) -> Vec<Message> {
        let acts = self.session.on_binary(raw);
        texts(self.edge.apply(&mut self.session, store, acts))
    }

    pub fn close(&mut self, store: &mut IncomingStore) {
        let acts = self.session.closed();
        self.edge.apply(&mut self.session, store, acts);
    }

    pub fn offer(
        &mut self,
        store: &mut IncomingStore,
        id: u32,
        name: &str,
        data: &[u8],
    ) -> Vec<Message> {
        self.msg(
            store,
            Message::Offer {
                transfer_id: id,
                name: name.into(),
                size: data.len() as u64,
                hash: hash(data),
                folder: None,
            },
        )
    }

    /// Sends `data[from..to]` in full-size frames; returns every reply.
    pub fn chunks(
        &mut self,
        store: &mut IncomingStore,
        id: u32,
        data: &[u8],
        from: usize,
        to: usize,
    ) -> Vec<Message> {
        let mut replies = Vec::new();
        let mut off = from;
        while off < to {
            let end = (off + frame::BASE_PAYLOAD_BYTES).min(to);
            replies.extend(self.binary(store, &frame::encode(id, off as u64, &data[off..end])));
            off = end;
        }
        replies
    }

    pub fn end(&mut self, store: &mut IncomingStore, id: u32, data: &[u8]) -> Vec<Message> {
        self.msg(
            store,
            Message::End {
                transfer_id: id,
                size: data.len() as u64,
                hash: hash(data),
            },
        )
    }

    /// Offer, send everything, end; returns the saved name.
    pub fn upload(
        &mut self,
        store: &mut IncomingStore,
        id: u32,
        name: &str,
        data: &[u8],
    ) -> String {
        assert_eq!(
            self.offer(store, id, name, data),
            vec![Message::Accept {
                transfer_id: id,
                offset: 0
            }]
        );
        let progress = self.chunks(store, id, data, 0, data.len());
        assert!(
            progress
                .iter()
                .all(|m| matches!(m, Message::Progress { .. })),
            "{progress:?}"
        );
        match self.end(store, id, data).as_slice() {
            [Message::Done { name: Some(n), .. }] => n.clone(),
            other => panic!("expected done, got {other:?}"),
        }
    }
}

pub fn texts(out: Vec<Outgoing>) -> Vec<Message> {
    out.into_iter()
        .map(|o| match o {
            Outgoing::Text(t) => Message::parse(&t).expect("we send valid messages"),
            Outgoing::Binary(_) => panic!("unexpected binary"),
        })
        .collect()
}

/// The error or refuse code in a reply list.
pub fn code_of(replies: &[Message]) -> Option<Code> {
    replies.iter().find_map(|m| match m {
        Message::Error { code, .. } | Message::Refuse { code, .. } => Some(*code),
        _ => None,
    })
}

/// Entries of a directory, partial dir excluded, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".peerbox-partial")
        .collect();
    v.sort();
    v
}

pub fn partial_count(incoming: &Path) -> usize {
    std::fs::read_dir(incoming.join(".peerbox-partial"))
        .unwrap()
        .count()
}
