//! Control messages of the transfer protocol: JSON text messages on the DataChannel.
//!
//! The same messages are used browser<->seeder and browser<->browser; see
//! `docs/protocol.md` (transfer protocol). Parsing is total: any text maps to a message or a typed error.

use serde::{Deserialize, Serialize};

/// The highest transfer-protocol version this side speaks (carried in `hello`). A peer that
/// speaks version N speaks every version 1..=N; a session speaks the lower of both sides'.
pub const PROTOCOL_VERSION: u32 = 3;
/// Longest control message accepted; a catalog part is built to stay below it.
pub const MAX_TEXT_BYTES: usize = 65536;
/// Longest string field (names, ids, messages) in bytes.
pub const MAX_FIELD_BYTES: usize = 4096;

/// Stable reason codes in `refuse`, `cancel` and `error`; never renamed, only added to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    TooLarge,
    NoSpace,
    Quota,
    RefusedType,
    BadName,
    Busy,
    NotFound,
    BadOffset,
    BadChunk,
    HashMismatch,
    ShortTransfer,
    Changed,
    Io,
    Canceled,
    UnknownTransfer,
    DuplicateTransfer,
    BadMessage,
    UnsupportedVersion,
    ProtocolViolation,
}

/// A file as announced in a catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInfo {
    pub id: String,
    /// Relative path with `/` separators, for display and the saved name.
    pub path: String,
    pub size: u64,
    pub mtime_ms: u64,
    pub mime: String,
    /// BLAKE3, 64 lowercase hex digits.
    pub hash: String,
}

impl From<&crate::watch::Entry> for FileInfo {
    fn from(e: &crate::watch::Entry) -> FileInfo {
        FileInfo {
            id: e.id.hex().as_str().to_owned(),
            path: e.path.to_string(),
            size: e.size(),
            mtime_ms: e.mtime_ms(),
            mime: e.mime.to_owned(),
            hash: e.hash.to_hex().to_string(),
        }
    }
}

impl FileInfo {
    /// Bytes of this file's JSON in a message (plus its separating comma).
    pub fn wire_len(&self) -> usize {
        struct Count(usize);
        impl std::io::Write for Count {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0 += b.len();
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut c = Count(1);
        let _ = serde_json::to_writer(&mut c, self);
        c.0
    }
}

/// Every control message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Message {
    /// First message of each side. `version` is the highest version the sender speaks; 0 (or
    /// anything that is not a whole number) is never supported.
    Hello {
        #[serde(deserialize_with = "lenient_version")]
        version: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
    },
    /// One part of a full catalog snapshot; a new `version` replaces the previous catalog once
    /// all `parts` of it have arrived.
    Catalog {
        version: u64,
        part: u32,
        parts: u32,
        files: Vec<FileInfo>,
    },
    /// Version 2: one part of a full catalog of `version` holding `total` files. Part 0 starts a
    /// new list (whatever the receiver had is replaced once the part with `last` arrived).
    CatalogPart {
        version: u64,
        part: u32,
        total: u64,
        last: bool,
        files: Vec<FileInfo>,
    },
    /// Version 2: the catalog changed from version `from` to `version`. A large change comes in
    /// several messages with the same `from` and `version`; the receiver is at `version` once
    /// the one with `last` arrived. A `from` other than the receiver's version is a gap: it asks
    /// for `catalog_resend`.
    CatalogDelta {
        from: u64,
        version: u64,
        added: Vec<FileInfo>,
        changed: Vec<FileInfo>,
        removed: Vec<String>,
        last: bool,
    },
    /// Version 2, receiver -> sender: send the full catalog again (`version` is what the
    /// receiver holds, 0 for nothing).
    CatalogResend { version: u64 },
    /// Version 2: of the `files` found in the shared folders, `hashed` are hashed and offered;
    /// sent while that differs (the first hashing of a large share) and once when they meet.
    CatalogProgress { hashed: u64, files: u64 },
    /// Ask the peer to send file `file_id` from byte `offset`.
    Download {
        transfer_id: u32,
        file_id: String,
        offset: u64,
    },
    /// Version 3: like `download`, for the `length` bytes from `offset`. `file_id` is a catalog
    /// id (32 hex digits), or the file's BLAKE3 (64 hex digits), how browsers, which share no
    /// catalog, name the files they re-seed.
    DownloadRange {
        transfer_id: u32,
        file_id: String,
        offset: u64,
        length: u64,
    },
    /// Version 3, downloader -> seeder: send the piece hashes of catalog file `file_id`.
    Pieces { file_id: String },
    /// Version 3, seeder -> downloader: piece hashes `first..` of the file with `hash` (pieces
    /// of `piece_size` bytes), as concatenated hex; the one with `last` ends the list.
    PieceHashes {
        file_id: String,
        hash: String,
        size: u64,
        piece_size: u64,
        first: u32,
        hashes: String,
        last: bool,
    },
    /// Version 3, peer -> seeder: the pieces of the file with `hash` this peer holds and serves
    /// (base64 bitfield, piece 0 the high bit of the first byte; empty: none any more).
    Have { hash: String, pieces: String },
    /// Version 3: asked by a downloader with `hash` only; the seeder answers with `peers`, the
    /// other room members that hold pieces of it.
    Sources {
        hash: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peers: Option<Vec<SourcePeer>>,
    },
    /// Version 3, peer -> seeder: bytes this peer served to other peers since its last report.
    Served { bytes: u64 },
    /// Propose to send a file; the receiver answers `accept` or `refuse`.
    Offer {
        transfer_id: u32,
        name: String,
        size: u64,
        hash: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        folder: Option<String>,
    },
    /// The receiver takes the offer and wants bytes from `offset` (0 for a new file).
    Accept { transfer_id: u32, offset: u64 },
    /// The receiver declines an offer or a download request.
    Refuse {
        transfer_id: u32,
        code: Code,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Receiver -> sender: bytes below `offset` are durable (fsynced) on the receiver.
    Progress { transfer_id: u32, offset: u64 },
    /// Sender -> receiver: all `size` bytes were sent; `hash` is the whole file's BLAKE3.
    End {
        transfer_id: u32,
        size: u64,
        hash: String,
    },
    /// Receiver -> sender: the file was verified and saved (uploads: under `name`).
    Done {
        transfer_id: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Either side stops a transfer.
    Cancel {
        transfer_id: u32,
        #[serde(default = "canceled")]
        code: Code,
    },
    /// A failure; with `transfer_id` it ends that transfer, without it concerns the session.
    Error {
        code: Code,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transfer_id: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

/// One peer in a `sources` answer: what it holds, and what it is fetching from the seeder now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcePeer {
    pub name: String,
    pub pieces: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fetching: String,
}

impl Message {
    /// The lowest protocol version in which this message (with these fields) exists.
    pub fn since(&self) -> u32 {
        match self {
            Message::CatalogPart { .. }
            | Message::CatalogDelta { .. }
            | Message::CatalogResend { .. }
            | Message::CatalogProgress { .. } => 2,
            Message::DownloadRange { .. }
            | Message::Pieces { .. }
            | Message::PieceHashes { .. }
            | Message::Have { .. }
            | Message::Sources { .. }
            | Message::Served { .. } => 3,
            _ => 1,
        }
    }
}

fn canceled() -> Code {
    Code::Canceled
}

/// `hello.version` as a number: a whole number (saturated to `u32::MAX`), else 0, which is
/// refused with `unsupported_version` rather than as a malformed message.
fn lenient_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.as_u64()
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)))
}

/// The version two sides speak once each has said its highest in `hello`; `None` when the
/// peer's is 0 (it speaks no version we know).
pub fn negotiate(peer: u32) -> Option<u32> {
    (peer > 0).then(|| peer.min(PROTOCOL_VERSION))
}

/// Why a text message was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("control message of {0} bytes exceeds the {MAX_TEXT_BYTES}-byte limit")]
    TooLong(usize),
    #[error("malformed control message: {0}")]
    Malformed(String),
    #[error("field `{0}` is too long or empty")]
    BadField(&'static str),
    #[error("field `{0}` is not a 64-digit BLAKE3 hex hash")]
    BadHash(&'static str),
}

impl Message {
    /// Parses one text message; never panics.
    pub fn parse(text: &str) -> Result<Message, ParseError> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(ParseError::TooLong(text.len()));
        }
        let msg: Message = serde_json::from_str(text)
            .map_err(|e| ParseError::Malformed(truncated(e.to_string(), 200)))?;
        msg.check()?;
        Ok(msg)
    }

    /// Serializes to the JSON text sent on the wire.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("messages always serialize")
    }

    fn check(&self) -> Result<(), ParseError> {
        match self {
            Message::Hello { agent, .. } => opt_field(agent, "agent"),
            Message::Catalog { files, .. } | Message::CatalogPart { files, .. } => {
                files.iter().try_for_each(check_file)
            }
            Message::CatalogDelta {
                added,
                changed,
                removed,
                ..
            } => {
                added.iter().chain(changed).try_for_each(check_file)?;
                removed.iter().try_for_each(|id| field(id, "removed"))
            }
            Message::Download { file_id, .. } | Message::DownloadRange { file_id, .. } => {
                field(file_id, "file_id")
            }
            Message::Pieces { file_id } => field(file_id, "file_id"),
            Message::PieceHashes { file_id, hash, .. } => {
                field(file_id, "file_id")?;
                hash_field(hash, "hash")
            }
            Message::Have { hash, pieces } => {
                hash_field(hash, "hash")?;
                (pieces.len() <= MAX_FIELD_BYTES)
                    .then_some(())
                    .ok_or(ParseError::BadField("pieces"))
            }
            Message::Sources { hash, peers } => {
                hash_field(hash, "hash")?;
                peers
                    .iter()
                    .flatten()
                    .try_for_each(|p| field(&p.name, "name"))
            }
            Message::Offer {
                name, hash, folder, ..
            } => {
                // Empty names and folders parse; the store refuses them with `bad_name`.
                max_len(name, "name")?;
                hash_field(hash, "hash")?;
                folder.as_deref().map_or(Ok(()), |f| max_len(f, "folder"))
            }
            Message::End { hash, .. } => hash_field(hash, "hash"),
            Message::Refuse { message, .. } | Message::Error { message, .. } => {
                opt_field(message, "message")
            }
            Message::Done { name, .. } => opt_field(name, "name"),
            _ => Ok(()),
        }
    }
}

/// The `transfer_id` of a text message that may not parse as a whole: a JSON object with a
/// whole-number `transfer_id` that fits a `u32`.
pub fn transfer_id_of(text: &str) -> Option<u32> {
    if text.len() > MAX_TEXT_BYTES {
        return None;
    }
    #[derive(Deserialize)]
    struct Id {
        transfer_id: u32,
    }
    serde_json::from_str::<Id>(text).ok().map(|i| i.transfer_id)
}

fn check_file(f: &FileInfo) -> Result<(), ParseError> {
    field(&f.id, "id")?;
    field(&f.path, "path")?;
    hash_field(&f.hash, "hash")
}

fn field(s: &str, name: &'static str) -> Result<(), ParseError> {
    if s.is_empty() || s.len() > MAX_FIELD_BYTES {
        return Err(ParseError::BadField(name));
    }
    Ok(())
}

fn max_len(s: &str, name: &'static str) -> Result<(), ParseError> {
    if s.len() > MAX_FIELD_BYTES {
        return Err(ParseError::BadField(name));
    }
    Ok(())
}

fn opt_field(s: &Option<String>, name: &'static str) -> Result<(), ParseError> {
    s.as_deref().map_or(Ok(()), |s| field(s, name))
}

fn hash_field(s: &str, name: &'static str) -> Result<(), ParseError> {
    parse_hash(s).map(|_| ()).ok_or(ParseError::BadHash(name))
}

/// A lowercase 64-digit hex BLAKE3 hash.
pub fn parse_hash(s: &str) -> Option<blake3::Hash> {
    if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    blake3::Hash::from_hex(s).ok()
}

/// Bytes of files one catalog message may carry: the limit less room for the other fields.
pub const PART_BUDGET: usize = MAX_TEXT_BYTES - 256;

/// A full catalog snapshot as `catalog` messages: at most `per_message` files each and every
/// message under [`MAX_TEXT_BYTES`]. An empty catalog is one empty part.
pub fn catalog_messages(version: u64, files: &[FileInfo], per_message: usize) -> Vec<Message> {
    let budget = PART_BUDGET;
    let mut parts: Vec<Vec<FileInfo>> = vec![Vec::new()];
    let mut bytes = 0;
    for f in files {
        let len = f.wire_len();
        let cur = parts.last_mut().expect("never empty");
        if !cur.is_empty() && (cur.len() >= per_message.max(1) || bytes + len > budget) {
            parts.push(Vec::new());
            bytes = 0;
        }
        parts.last_mut().expect("never empty").push(f.clone());
        bytes += len;
    }
    let n = parts.len() as u32;
    parts
        .into_iter()
        .enumerate()
        .map(|(i, files)| Message::Catalog {
            version,
            part: i as u32,
            parts: n,
            files,
        })
        .collect()
}

/// `s` cut to at most `max` bytes at a character boundary (for messages and logs).
pub fn truncated(mut s: String, max: usize) -> String {
    let mut i = max.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    s.truncate(i);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

    #[test]
    fn examples_roundtrip() {
        let msgs = [
            r#"{"type":"hello","version":1,"agent":"peerbox/0.1"}"#.to_string(),
            format!(
                r#"{{"type":"catalog","version":3,"part":0,"parts":1,"files":[{{"id":"f1","path":"a/b.txt","size":5,"mtime_ms":1,"mime":"text/plain","hash":"{H}"}}]}}"#
            ),
            format!(
                r#"{{"type":"catalog_part","version":3,"part":0,"total":1,"last":true,"files":[{{"id":"f1","path":"a/b.txt","size":5,"mtime_ms":1,"mime":"text/plain","hash":"{H}"}}]}}"#
            ),
            format!(
                r#"{{"type":"catalog_delta","from":3,"version":4,"added":[{{"id":"f2","path":"c.txt","size":5,"mtime_ms":1,"mime":"text/plain","hash":"{H}"}}],"changed":[],"removed":["f1"],"last":true}}"#
            ),
            r#"{"type":"catalog_resend","version":3}"#.into(),
            r#"{"type":"catalog_progress","hashed":5000,"files":100000}"#.into(),
            r#"{"type":"download","transfer_id":1,"file_id":"f1","offset":0}"#.into(),
            format!(
                r#"{{"type":"offer","transfer_id":2,"name":"x.bin","size":9,"hash":"{H}","folder":"pics"}}"#
            ),
            r#"{"type":"accept","transfer_id":2,"offset":0}"#.into(),
            r#"{"type":"refuse","transfer_id":2,"code":"no_space"}"#.into(),
            r#"{"type":"progress","transfer_id":2,"offset":4194304}"#.into(),
            format!(r#"{{"type":"end","transfer_id":2,"size":9,"hash":"{H}"}}"#),
            r#"{"type":"done","transfer_id":2,"name":"x (1).bin"}"#.into(),
            r#"{"type":"cancel","transfer_id":2,"code":"canceled"}"#.into(),
            r#"{"type":"error","code":"bad_message","message":"x"}"#.into(),
        ];
        for m in msgs {
            let parsed = Message::parse(&m).unwrap_or_else(|e| panic!("{m}: {e}"));
            assert_eq!(parsed.to_text(), m);
        }
    }

    #[test]
    fn malformed_inputs_are_typed_errors() {
        let bad = [
            "",
            "null",
            "{",
            "[]",
            r#"{"type":"nope"}"#,
            r#"{"type":"hello"}"#,
            r#"{"type":"hello","version":1,"extra":1}"#,
            r#"{"type":"accept","transfer_id":-1,"offset":0}"#,
            r#"{"type":"accept","transfer_id":1,"offset":-5}"#,
            r#"{"type":"accept","transfer_id":1,"offset":18446744073709551616}"#,
            r#"{"type":"offer","transfer_id":1,"name":"a","size":1,"hash":"zz"}"#,
            r#"{"type":"offer","transfer_id":1,"name":"","size":1,"hash":"00"}"#,
            r#"{"type":"cancel","transfer_id":1,"code":"whatever"}"#,
            "\u{0}\u{ffff}",
        ];
        for b in bad {
            assert!(Message::parse(b).is_err(), "{b}");
        }
        let huge = format!(
            r#"{{"type":"hello","version":1,"agent":"{}"}}"#,
            "é".repeat(40000)
        );
        assert!(matches!(Message::parse(&huge), Err(ParseError::TooLong(_))));
        let long = format!(
            r#"{{"type":"hello","version":1,"agent":"{}"}}"#,
            "x".repeat(5000)
        );
        assert_eq!(Message::parse(&long), Err(ParseError::BadField("agent")));
        let upper = format!(
            r#"{{"type":"end","transfer_id":1,"size":1,"hash":"{}"}}"#,
            H.to_uppercase()
        );
        assert_eq!(Message::parse(&upper), Err(ParseError::BadHash("hash")));
    }
}
