//! The JSON wire format (see docs/protocol.md). Client messages are parsed strictly so that
//! junk is refused here and never relayed; server messages are built only by the room logic.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::IceServer;

/// Version 2: `bye` may carry the `ufrag` of the offer it concerns (docs/protocol.md, versions).
pub const PROTOCOL_VERSION: u32 = 2;

/// Who is behind a connection: a phone/desktop browser or the daemon's own seeding peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Browser,
    Seeder,
}

/// The WebRTC negotiation payload; typed so only these shapes are ever forwarded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Signal {
    Offer {
        sdp: String,
    },
    Answer {
        sdp: String,
    },
    #[serde(rename_all = "camelCase")]
    Candidate {
        candidate: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_m_line_index: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username_fragment: Option<String>,
    },
    EndOfCandidates,
    /// The sender gave up on the connection (ICE or DTLS failed, or it timed out). `ufrag` is
    /// the `a=ice-ufrag` of the offer that began that connection attempt: a receiver whose
    /// current attempt began with another offer ignores it (it is late). Without it the bye
    /// concerns whatever connection the receiver has with the sender (version 1 senders).
    Bye {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ufrag: Option<String>,
    },
}

/// The `a=ice-ufrag` of an SDP (its first one): what ties `bye` to one connection attempt.
pub fn sdp_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
        .filter(|u| !u.is_empty())
}

/// Messages a client sends. `from` and timestamps are never taken from here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMsg {
    Join { room: String },
    Leave { room: String },
    Signal { to: String, signal: Signal },
    Chat { room: String, text: String },
    Ping,
}

impl ClientMsg {
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMsg::Join { .. } => "join",
            ClientMsg::Leave { .. } => "leave",
            ClientMsg::Signal { .. } => "signal",
            ClientMsg::Chat { .. } => "chat",
            ClientMsg::Ping => "ping",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    pub name: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_rooms_per_peer: usize,
    pub max_peers_per_room: usize,
    pub max_room_name_bytes: usize,
    pub rate_per_sec: u32,
    pub rate_burst: u32,
    pub ping_interval_secs: u64,
    pub idle_timeout_secs: u64,
    pub resume_grace_secs: u64,
}

/// Messages the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMsg {
    Welcome {
        v: u32,
        name: String,
        kind: Kind,
        resume_token: String,
        resumed: bool,
        ice_servers: Vec<IceServer>,
        limits: Limits,
    },
    Peers {
        room: String,
        peers: Vec<PeerInfo>,
    },
    Left {
        room: String,
    },
    Signal {
        from: String,
        signal: Signal,
    },
    Chat {
        room: String,
        from: String,
        text: String,
        ts: u64,
    },
    Error {
        code: ErrorCode,
        message: String,
        /// The `type` of the message this answers, when it could be read.
        #[serde(rename = "re")]
        re: Option<String>,
        /// The client's own `id` of that message, echoed when present.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
    },
    Pong,
}

/// Stable error codes; clients switch on these, so never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadJson,
    UnknownType,
    BadMessage,
    Unsupported,
    TooBig,
    RateLimited,
    BadRoomName,
    BadText,
    NotInRoom,
    RoomFull,
    TooManyRooms,
    ServerFull,
    UnknownPeer,
    SelfTarget,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::BadJson,
        ErrorCode::UnknownType,
        ErrorCode::BadMessage,
        ErrorCode::Unsupported,
        ErrorCode::TooBig,
        ErrorCode::RateLimited,
        ErrorCode::BadRoomName,
        ErrorCode::BadText,
        ErrorCode::NotInRoom,
        ErrorCode::RoomFull,
        ErrorCode::TooManyRooms,
        ErrorCode::ServerFull,
        ErrorCode::UnknownPeer,
        ErrorCode::SelfTarget,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::TooBig => "too_big",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::BadRoomName => "bad_room_name",
            ErrorCode::BadText => "bad_text",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::ServerFull => "server_full",
            ErrorCode::UnknownPeer => "unknown_peer",
            ErrorCode::SelfTarget => "self_target",
        }
    }

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

pub fn error(code: ErrorCode, message: impl Into<String>, re: Option<&str>) -> ServerMsg {
    ServerMsg::Error {
        code,
        message: message.into(),
        re: re.map(str::to_owned),
        id: None,
    }
}

/// Parses one text frame, telling malformed JSON, unknown types and missing fields apart.
/// On failure returns the error to send (with `re`/`id` filled from what could be read).
#[allow(clippy::result_large_err)] // the error is sent right away; boxing buys nothing
pub fn parse(text: &str) -> Result<(ClientMsg, Option<Value>), ServerMsg> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| error(ErrorCode::BadJson, format!("not valid JSON: {e}"), None))?;
    let Some(obj) = value.as_object() else {
        return Err(error(ErrorCode::BadJson, "expected a JSON object", None));
    };
    let id = obj
        .get("id")
        .filter(|v| v.is_number() || v.as_str().is_some_and(|s| s.len() <= 64))
        .cloned();
    let with_id = |mut m: ServerMsg| {
        if let ServerMsg::Error { id: slot, .. } = &mut m {
            *slot = id.clone();
        }
        m
    };
    let ty = match obj.get("type").and_then(Value::as_str) {
        Some(t) => t.to_owned(),
        None => {
            return Err(with_id(error(
                ErrorCode::BadMessage,
                "missing string field `type`",
                None,
            )))
        }
    };
    if !["join", "leave", "signal", "chat", "ping"].contains(&ty.as_str()) {
        let shown: String = ty.chars().take(32).collect();
        return Err(with_id(error(
            ErrorCode::UnknownType,
            format!("unknown message type `{}`", shown.escape_debug()),
            None,
        )));
    }
    match serde_json::from_value::<ClientMsg>(value) {
        Ok(msg) => Ok((msg, id)),
        Err(e) => Err(with_id(error(
            ErrorCode::BadMessage,
            format!("invalid `{ty}` message: {}", quoted_briefly(e.to_string())),
            Some(&ty),
        ))),
    }
}

/// serde quotes an unknown variant or a mistyped value in full; the error goes back to the
/// sender and may be logged, so only the start of it is kept (like the unknown `type` above).
fn quoted_briefly(mut s: String) -> String {
    let mut cut = s.len().min(200);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<(ClientMsg, Option<Value>), ServerMsg>) -> ErrorCode {
        match r {
            Err(ServerMsg::Error { code, .. }) => code,
            other => panic!("expected error, got {other:?}"),
        }
    }

    #[test]
    fn parses_and_classifies() {
        let (m, id) = parse(r#"{"type":"join","room":"a","id":7}"#).unwrap();
        assert_eq!(m, ClientMsg::Join { room: "a".into() });
        assert_eq!(id, Some(serde_json::json!(7)));
        assert_eq!(code(parse("{nope")), ErrorCode::BadJson);
        assert_eq!(code(parse("[1]")), ErrorCode::BadJson);
        assert_eq!(code(parse(r#"{"type":"dance"}"#)), ErrorCode::UnknownType);
        assert_eq!(code(parse(r#"{"type":"join"}"#)), ErrorCode::BadMessage);
        assert_eq!(code(parse(r#"{"room":"x"}"#)), ErrorCode::BadMessage);
        let bad = r#"{"type":"signal","to":"x","signal":{"kind":"offer"}}"#;
        assert_eq!(code(parse(bad)), ErrorCode::BadMessage);
        let ok = r#"{"type":"signal","to":"x","from":"forged","signal":{"kind":"candidate","candidate":"c","sdpMid":"0","sdpMLineIndex":0}}"#;
        assert!(parse(ok).is_ok());
        let eoc = r#"{"type":"signal","to":"x","signal":{"kind":"end-of-candidates"}}"#;
        assert!(parse(eoc).is_ok());
        let bye = r#"{"type":"signal","to":"x","signal":{"kind":"bye","reason":"ICE failed"}}"#;
        assert!(parse(bye).is_ok());
        let bye = r#"{"type":"signal","to":"x","signal":{"kind":"bye"}}"#;
        assert_eq!(code(parse(bye)), ErrorCode::BadMessage);
        let bye =
            r#"{"type":"signal","to":"x","signal":{"kind":"bye","reason":"r","ufrag":"Ab1+"}}"#;
        assert!(parse(bye).is_ok());
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\na=ice-ufrag:Ab1+\r\na=ice-pwd:x\r\n";
        assert_eq!(sdp_ufrag(sdp), Some("Ab1+"));
        assert_eq!(sdp_ufrag("v=0\r\n"), None);
    }

    #[test]
    fn error_serializes_with_stable_code() {
        let e = error(ErrorCode::SelfTarget, "no", Some("signal"));
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(
            s,
            r#"{"type":"error","code":"self_target","message":"no","re":"signal"}"#
        );
    }
}
