//! Properties of the parsers that face remote peers, stated once for two runners: the fuzz
//! targets (open-ended, `scripts/fuzz.sh`) and `tests/fuzz_props.rs` (bounded, in `cargo test`).
//! Each function panics when a property fails, which is what the fuzzer reports as a crash.
//!
//! The rules are restated here from docs/protocol.md rather than by calling the library's own
//! helpers, so that a bug in a helper cannot make its own check pass.

use peerbox::seeder::frame::{self, FrameError, HEADER_BYTES, MAX_FRAME_BYTES, MAX_PAYLOAD_BYTES};
use peerbox::seeder::names::{self, MAX_COMPONENT_BYTES, MAX_FOLDER_DEPTH, RESERVED};
use peerbox::seeder::protocol::{Message, ParseError, MAX_FIELD_BYTES, MAX_TEXT_BYTES};
use peerbox::signal::names::{valid_peer_name, valid_room, valid_text};
use peerbox::signal::protocol::{self as signal, ErrorCode, ServerMsg};
use serde_json::{Map, Value};

/// Error texts go back to the (possibly hostile) sender and into logs: they may quote a little
/// of the input, never all of it.
pub const MAX_ERROR_TEXT_BYTES: usize = 320;

const SIGNAL_TYPES: [&str; 5] = ["join", "leave", "signal", "chat", "ping"];

/// The `id` an error may echo: a number, or a string of at most 64 bytes.
fn echoable_id(obj: &Map<String, Value>) -> Option<Value> {
    obj.get("id")
        .filter(|v| v.is_number() || v.as_str().is_some_and(|s| s.len() <= 64))
        .cloned()
}

/// One signaling text frame: never panics, classifies every input, echoes only allowed ids,
/// and what it accepts survives a re-encode unchanged.
pub fn signal_parse(text: &str) {
    let input: Option<Value> = serde_json::from_str(text).ok();
    let obj = input.as_ref().and_then(Value::as_object);
    let ty = obj.and_then(|o| o.get("type")).and_then(Value::as_str);
    match signal::parse(text) {
        Ok((msg, id)) => {
            let obj = obj.expect("accepted input must be a JSON object");
            assert_eq!(ty, Some(msg.type_name()), "accepted under another type");
            assert_eq!(id, echoable_id(obj), "id not echoed by the rules");
            let again = serde_json::to_string(&msg).expect("client messages serialize");
            match signal::parse(&again) {
                Ok((m, None)) => assert_eq!(m, msg, "re-encoded message differs: {again}"),
                other => panic!("re-encoded message not accepted: {again} -> {other:?}"),
            }
        }
        Err(ServerMsg::Error {
            code,
            message,
            re,
            id,
        }) => {
            assert!(
                message.len() <= MAX_ERROR_TEXT_BYTES,
                "error text of {} bytes echoes too much input",
                message.len()
            );
            assert_eq!(id, obj.and_then(echoable_id), "id not echoed by the rules");
            match code {
                ErrorCode::BadJson => assert!(obj.is_none() && re.is_none()),
                ErrorCode::UnknownType => {
                    let t = ty.expect("unknown_type needs a string type");
                    assert!(!SIGNAL_TYPES.contains(&t) && re.is_none());
                }
                ErrorCode::BadMessage => match ty {
                    Some(t) => assert_eq!(re.as_deref(), Some(t)),
                    None => assert!(obj.is_some() && re.is_none()),
                },
                other => panic!("parse produced a routing error {other:?}"),
            }
        }
        Err(other) => panic!("parse failed with a non-error message {other:?}"),
    }
}

fn check_field(s: &str) {
    assert!(
        !s.is_empty() && s.len() <= MAX_FIELD_BYTES,
        "field of {} bytes",
        s.len()
    );
}

fn check_hash(s: &str) {
    assert!(
        s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "bad hash {s:?}"
    );
}

fn check_file(f: &peerbox::seeder::protocol::FileInfo) {
    check_field(&f.id);
    check_field(&f.path);
    check_hash(&f.hash);
}

/// String fields of an accepted message keep the documented limits.
fn check_limits(m: &Message) {
    let opt = |s: &Option<String>| s.as_deref().map_or((), check_field);
    match m {
        Message::Hello { agent, .. } => opt(agent),
        Message::Catalog { files, .. } | Message::CatalogPart { files, .. } => {
            files.iter().for_each(check_file)
        }
        Message::CatalogDelta {
            added,
            changed,
            removed,
            ..
        } => {
            added.iter().chain(changed).for_each(check_file);
            removed.iter().for_each(|id| check_field(id));
        }
        Message::CatalogResend { .. } | Message::CatalogProgress { .. } => {}
        Message::Download { file_id, .. }
        | Message::DownloadRange { file_id, .. }
        | Message::Pieces { file_id } => check_field(file_id),
        Message::PieceHashes { file_id, hash, .. } => {
            check_field(file_id);
            check_hash(hash);
        }
        Message::Have { hash, pieces } => {
            check_hash(hash);
            assert!(
                pieces.len() <= 4096,
                "have.pieces of {} bytes",
                pieces.len()
            );
        }
        Message::Sources { hash, peers } => {
            check_hash(hash);
            peers.iter().flatten().for_each(|p| check_field(&p.name));
        }
        Message::Served { .. } => {}
        Message::Offer {
            name, hash, folder, ..
        } => {
            // May be empty: the store refuses that with `refuse bad_name` (docs/protocol.md).
            for s in std::iter::once(name).chain(folder) {
                assert!(s.len() <= MAX_FIELD_BYTES, "field of {} bytes", s.len());
            }
            check_hash(hash);
        }
        Message::End { hash, .. } => check_hash(hash),
        Message::Refuse { message, .. } | Message::Error { message, .. } => opt(message),
        Message::Done { name, .. } => opt(name),
        Message::Accept { .. } | Message::Progress { .. } | Message::Cancel { .. } => {}
    }
}

/// One transfer control message: total, bounded, and parse -> to_text -> parse is stable.
pub fn transfer_message(text: &str) {
    match Message::parse(text) {
        Ok(m) => {
            assert!(text.len() <= MAX_TEXT_BYTES);
            check_limits(&m);
            let wire = m.to_text();
            let again = Message::parse(&wire)
                .unwrap_or_else(|e| panic!("own output refused: {wire} -> {e}"));
            assert_eq!(again, m, "changed by a round trip: {wire}");
            assert_eq!(again.to_text(), wire, "serialization is not canonical");
        }
        Err(e) => {
            match e {
                ParseError::TooLong(n) => assert!(n == text.len() && n > MAX_TEXT_BYTES),
                _ => assert!(text.len() <= MAX_TEXT_BYTES),
            }
            let shown = e.to_string();
            assert!(shown.len() <= MAX_ERROR_TEXT_BYTES, "error text {shown:?}");
        }
    }
}

/// The error `decode` must give for bytes it refuses, restated from docs/protocol.md.
fn expected_frame_error(b: &[u8]) -> Option<FrameError> {
    if b.len() > MAX_FRAME_BYTES {
        return Some(FrameError::TooLong(b.len()));
    }
    if b.len() < HEADER_BYTES {
        return Some(FrameError::Short(b.len()));
    }
    if b[0] != frame::KIND_CHUNK {
        return Some(FrameError::UnknownKind(b[0]));
    }
    let len = b.len() - HEADER_BYTES;
    if len == 0 {
        return Some(FrameError::Empty);
    }
    let offset = u64::from_be_bytes(b[5..13].try_into().expect("8 bytes"));
    offset
        .checked_add(len as u64)
        .is_none()
        .then_some(FrameError::Overflow)
}

/// One binary message: decode agrees with the spec, borrows exactly the payload bytes of the
/// input (nothing before or past it), and re-encodes to the same bytes.
pub fn frame_decode(bytes: &[u8]) {
    let got = frame::decode(bytes);
    assert_eq!(got.clone().err(), expected_frame_error(bytes));
    if let Ok(c) = got {
        let payload = &bytes[HEADER_BYTES..];
        assert_eq!(
            c.data.as_ptr(),
            payload.as_ptr(),
            "payload not borrowed in place"
        );
        assert_eq!(c.data.len(), payload.len());
        assert_eq!(frame::encode(c.transfer_id, c.offset, c.data), bytes);
    }
}

/// encode -> decode gives back what was encoded, unless the frame is one decode must refuse.
pub fn frame_roundtrip(transfer_id: u32, offset: u64, data: &[u8]) {
    let data = &data[..data.len().min(MAX_PAYLOAD_BYTES)];
    let wire = frame::encode(transfer_id, offset, data);
    assert_eq!(wire.len(), HEADER_BYTES + data.len());
    match frame::decode(&wire) {
        Ok(c) => assert_eq!(
            (c.transfer_id, c.offset, c.data),
            (transfer_id, offset, data)
        ),
        Err(FrameError::Empty) => assert!(data.is_empty()),
        Err(FrameError::Overflow) => assert!(offset.checked_add(data.len() as u64).is_none()),
        Err(e) => panic!("own frame refused: {e}"),
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// A path component that is safe to create inside the incoming directory.
fn check_safe_component(c: &str) {
    assert!(!c.is_empty(), "empty component");
    assert!(
        c.len() <= MAX_COMPONENT_BYTES,
        "component of {} bytes",
        c.len()
    );
    assert!(c != "." && c != "..", "traversal component {c:?}");
    assert!(!c.contains(['/', '\\', '\0']), "separator or NUL in {c:?}");
    assert!(!c.chars().any(char::is_control), "control char in {c:?}");
    assert!(!c.chars().any(is_bidi_control), "bidi control in {c:?}");
    assert!(!RESERVED.contains(&c), "reserved name {c:?}");
}

/// `X:` at the start reads as a drive letter on the peer's side; docs/protocol.md refuses it.
fn has_drive_prefix(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// What `raw` becomes under the permitted rewrites: Unicode NFC, then `./` prefixes dropped.
fn without_dot_slash(raw: &str) -> String {
    let nfc = names::nfc(raw);
    let mut s = nfc.as_str();
    while let Some(rest) = s.strip_prefix("./") {
        s = rest;
    }
    s.to_owned()
}

/// A name or folder from a peer: accepted ones are safe, kept byte for byte apart from NFC and
/// `./`, and accepted again unchanged; numbered alternatives stay valid. Also the signaling rules.
pub fn incoming_name(raw: &str) {
    if let Ok(name) = names::file_name(raw) {
        check_safe_component(&name);
        assert!(!has_drive_prefix(&name), "drive letter kept in {name:?}");
        assert_eq!(name, without_dot_slash(raw), "name rewritten");
        assert_eq!(
            names::file_name(&name).as_ref(),
            Ok(&name),
            "not idempotent"
        );
        for n in [1, 9, 10, u32::MAX] {
            let alt = names::numbered(&name, n);
            check_safe_component(&alt);
            assert_ne!(alt, name);
            assert_eq!(names::file_name(&alt).as_ref(), Ok(&alt), "bad alternative");
        }
    }
    if let Ok(parts) = names::folder(raw) {
        assert!(!parts.is_empty() && parts.len() <= MAX_FOLDER_DEPTH);
        parts.iter().for_each(|p| check_safe_component(p));
        assert!(
            !has_drive_prefix(&parts[0]),
            "drive letter kept in {parts:?}"
        );
        let joined = parts.join("/");
        let trimmed = without_dot_slash(raw);
        assert_eq!(joined, trimmed.strip_suffix('/').unwrap_or(&trimmed));
        assert_eq!(
            names::folder(&joined).as_ref(),
            Ok(&parts),
            "not idempotent"
        );
    }
    signal_names(raw);
}

fn signal_names(raw: &str) {
    let alphabet = raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    for max in [1, 32, 64] {
        let want = !raw.is_empty() && raw.len() <= max && alphabet;
        assert_eq!(valid_room(raw, max), want, "room rule, max {max}");
    }
    assert_eq!(valid_peer_name(raw), valid_room(raw, 32));
    if valid_text(raw) {
        assert!(!raw.trim().is_empty(), "blank chat text");
        assert!(
            raw.chars()
                .all(|c| !is_bidi_control(c) && (!c.is_control() || c == '\n' || c == '\t')),
            "control or bidi char in chat text"
        );
    }
}
