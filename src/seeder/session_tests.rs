//! The cases `docs/protocol.md` once left open, as the seeder's session decides them
//! ("Silent cases, decided" in the document). The conformance suite checks the same over a
//! real DataChannel.

use super::*;

const H: &str = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

fn texts(acts: &[Action]) -> Vec<Message> {
    acts.iter()
        .filter_map(|a| match a {
            Action::SendText(t) => Some(Message::parse(t).unwrap()),
            _ => None,
        })
        .collect()
}

/// A session after `hello` with upload 1 accepted from offset 0 (3 bytes declared).
fn receiving() -> Session {
    let mut s = Session::new(4, 10);
    s.on_text(r#"{"type":"hello","version":2}"#);
    let offer = format!(r#"{{"type":"offer","transfer_id":1,"name":"a","size":3,"hash":"{H}"}}"#);
    assert!(matches!(
        s.on_text(&offer).as_slice(),
        [Action::BeginUpload { .. }]
    ));
    s.upload_accepted(1, 0);
    s
}

fn ends_upload_1(acts: &[Action], code: Code) {
    assert_eq!(
        acts[0],
        Action::AbortUpload {
            transfer_id: 1,
            keep_partial: false
        },
        "{acts:?}"
    );
    assert!(
        matches!(texts(acts).as_slice(), [Message::Error { code: c, transfer_id: Some(1), .. }] if *c == code),
        "{acts:?}"
    );
}

#[test]
fn an_empty_payload_or_unknown_kind_ends_the_named_upload() {
    let mut s = receiving();
    ends_upload_1(&s.on_binary(&frame::encode(1, 0, b"")), Code::BadChunk);
    // Later frames of it were in flight: ignored.
    assert_eq!(s.on_binary(&frame::encode(1, 0, b"abc")), vec![]);

    let mut s = receiving();
    let mut unknown = frame::encode(1, 0, b"abc");
    unknown[0] = 0x02;
    ends_upload_1(&s.on_binary(&unknown), Code::BadChunk);
}

#[test]
fn an_invalid_frame_naming_no_transfer_is_a_session_error() {
    let mut s = receiving();
    for raw in [vec![1u8, 0, 0], frame::encode(7, 0, b"")] {
        let acts = s.on_binary(&raw);
        assert!(
            matches!(
                texts(&acts).as_slice(),
                [Message::Error {
                    code: Code::BadChunk,
                    transfer_id: None,
                    ..
                }]
            ),
            "{acts:?}"
        );
    }
    // Upload 1 still runs.
    assert!(matches!(
        s.on_binary(&frame::encode(1, 0, b"abc")).as_slice(),
        [Action::WriteChunk { .. }]
    ));
}

#[test]
fn progress_done_and_cancel_for_unknown_transfers_are_ignored() {
    let mut s = receiving();
    for m in [
        r#"{"type":"progress","transfer_id":9,"offset":5}"#,
        r#"{"type":"done","transfer_id":9}"#,
        r#"{"type":"cancel","transfer_id":9,"code":"canceled"}"#,
        r#"{"type":"error","code":"io","transfer_id":9}"#,
    ] {
        assert_eq!(s.on_text(m), vec![], "{m}");
    }
}

#[test]
fn a_second_hello_is_ignored_and_keeps_the_version() {
    let mut s = Session::new(4, 10);
    assert_eq!(s.on_text(r#"{"type":"hello","version":1}"#).len(), 1);
    assert_eq!(s.on_text(r#"{"type":"hello","version":2}"#), vec![]);
    assert_eq!(s.version(), Some(1));
}

#[test]
fn a_downloaders_done_or_progress_does_not_stop_its_end() {
    let mut s = Session::new(4, 10);
    s.on_text(r#"{"type":"hello","version":2}"#);
    s.downloads.insert(
        5,
        FileInfo {
            id: "f".into(),
            path: "f".into(),
            size: 3,
            mtime_ms: 0,
            mime: "text/plain".into(),
            hash: H.into(),
        },
    );
    assert_eq!(s.on_text(r#"{"type":"done","transfer_id":5}"#), vec![]);
    assert_eq!(
        s.on_text(r#"{"type":"progress","transfer_id":5,"offset":3}"#),
        vec![]
    );
    assert!(matches!(
        texts(&s.download_complete(5)).as_slice(),
        [Message::End { transfer_id: 5, .. }]
    ));
}

#[test]
fn a_malformed_message_naming_a_transfer_ends_it() {
    let mut s = receiving();
    // `offset` missing: the upload it names ends with `bad_message`.
    let acts = s.on_text(r#"{"type":"progress","transfer_id":1}"#);
    ends_upload_1(&acts, Code::BadMessage);
    // A new offer that does not parse (bad hash) is answered for its transfer id.
    let acts = s.on_text(r#"{"type":"offer","transfer_id":3,"name":"a","size":1,"hash":"00"}"#);
    assert!(
        matches!(
            texts(&acts).as_slice(),
            [Message::Error {
                code: Code::BadMessage,
                transfer_id: Some(3),
                ..
            }]
        ),
        "{acts:?}"
    );
    // Without a readable transfer id it concerns the session.
    let acts = s.on_text(r#"{"type":"offer","transfer_id":-1}"#);
    assert!(matches!(
        texts(&acts).as_slice(),
        [Message::Error {
            code: Code::BadMessage,
            transfer_id: None,
            ..
        }]
    ));
}

#[test]
fn an_empty_name_or_folder_reaches_the_store_which_refuses_it() {
    let mut s = receiving();
    for (name, folder) in [("", None), ("a", Some(""))] {
        let offer = serde_json::json!({"type":"offer","transfer_id":2,"name":name,"size":1,"hash":H,"folder":folder});
        let mut offer = offer.as_object().unwrap().clone();
        if folder.is_none() {
            offer.remove("folder");
        }
        let acts = s.on_text(&serde_json::Value::Object(offer).to_string());
        assert!(
            matches!(
                acts.as_slice(),
                [Action::BeginUpload { transfer_id: 2, .. }]
            ),
            "{acts:?}"
        );
        s.upload_refused(2, Code::BadName, "empty name".into());
    }
}
