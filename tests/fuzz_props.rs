//! The fuzz targets' properties (fuzz/src/invariants.rs) under proptest, bounded so that the
//! normal `cargo test` (and so CI, which has no nightly sanitizers) checks them on every run.
//! Generators are shaped like the real inputs; the fuzzer covers the unshaped byte soup.

#[allow(dead_code)]
#[path = "../fuzz/src/invariants.rs"]
mod invariants;

use proptest::prelude::*;

const H: &str = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

fn config() -> ProptestConfig {
    ProptestConfig {
        // PROPTEST_CASES raises it for a longer local run; the default keeps CI under seconds.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings drawn from the characters that matter to the rules: separators, dots, drive
/// letters, controls, bidi marks, wide UTF-8, and plain letters.
fn hostile_string() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "a",
        "Z",
        "0",
        ".",
        "..",
        "./",
        "/",
        "\\",
        ":",
        "C:",
        " ",
        "-",
        "_",
        "\0",
        "\n",
        "\t",
        "\u{1b}",
        "\u{7f}",
        "\u{85}",
        "\u{61C}",
        "\u{200E}",
        "\u{202E}",
        "\u{2066}",
        "\u{2069}",
        "é",
        "🎉",
        "(",
        ")",
        "\"",
        "{",
        "}",
        ".peerbox-partial",
        "?",
    ]);
    prop_oneof![
        prop::collection::vec(pieces, 0..12).prop_map(|v| v.concat()),
        any::<String>(),
        // Around the 255-byte component limit.
        (250usize..260, prop::sample::select(vec!["a", "é", "🎉"]))
            .prop_map(|(n, c)| c.repeat(n / c.len())),
    ]
}

/// A JSON string literal (escaped) holding a hostile string.
fn json_str() -> impl Strategy<Value = String> {
    hostile_string().prop_map(|s| serde_json::to_string(&s).unwrap())
}

fn signal_text() -> impl Strategy<Value = String> {
    let id = prop_oneof![
        Just(String::new()),
        Just(r#","id":7"#.to_owned()),
        (0usize..80).prop_map(|n| format!(r#","id":"{}""#, "i".repeat(n))),
        Just(r#","id":[1]"#.to_owned()),
    ];
    let body = prop_oneof![
        json_str().prop_map(|r| format!(r#"{{"type":"join","room":{r}"#)),
        json_str().prop_map(|r| format!(r#"{{"type":"leave","room":{r}"#)),
        (json_str(), json_str())
            .prop_map(|(r, t)| format!(r#"{{"type":"chat","room":{r},"text":{t}"#)),
        (json_str(), json_str()).prop_map(|(to, k)| format!(
            r#"{{"type":"signal","to":{to},"signal":{{"kind":{k},"sdp":"v=0"}}"#
        )),
        (json_str(), any::<i64>()).prop_map(|(c, i)| format!(
            r#"{{"type":"signal","to":"x","signal":{{"kind":"candidate","candidate":{c},"sdpMLineIndex":{i}}}"#
        )),
        json_str().prop_map(|t| format!(r#"{{"type":{t}"#)),
        Just(r#"{"type":"ping""#.to_owned()),
    ];
    (body, id).prop_map(|(b, id)| format!("{b}{id}}}"))
}

fn transfer_text() -> impl Strategy<Value = String> {
    let hash = prop_oneof![
        Just(H.to_owned()),
        Just(H.to_uppercase()),
        Just("00".into())
    ];
    prop_oneof![
        json_str().prop_map(|a| format!(r#"{{"type":"hello","version":1,"agent":{a}}}"#)),
        (any::<u32>(), json_str(), any::<u64>(), hash.clone(), json_str()).prop_map(
            |(t, n, s, h, f)| format!(
                r#"{{"type":"offer","transfer_id":{t},"name":{n},"size":{s},"hash":"{h}","folder":{f}}}"#
            )
        ),
        (json_str(), json_str(), hash).prop_map(|(i, p, h)| format!(
            r#"{{"type":"catalog","version":1,"part":0,"parts":1,"files":[{{"id":{i},"path":{p},"size":1,"mtime_ms":2,"mime":"x","hash":"{h}"}}]}}"#
        )),
        (any::<u32>(), json_str())
            .prop_map(|(t, n)| format!(r#"{{"type":"done","transfer_id":{t},"name":{n}}}"#)),
        (any::<i64>(), json_str()).prop_map(|(t, c)| format!(
            r#"{{"type":"cancel","transfer_id":{t},"code":{c}}}"#
        )),
        json_str().prop_map(|m| format!(r#"{{"type":"error","code":"io","message":{m}}}"#)),
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn signal_parse(text in signal_text()) {
        invariants::signal_parse(&text);
    }

    #[test]
    fn transfer_message(text in transfer_text()) {
        invariants::transfer_message(&text);
    }

    #[test]
    fn frame_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64), kind_ok in any::<bool>()) {
        let mut bytes = bytes;
        if kind_ok && !bytes.is_empty() {
            bytes[0] = 1;
        }
        invariants::frame_decode(&bytes);
    }

    #[test]
    fn frame_roundtrip(
        id in any::<u32>(),
        offset in prop_oneof![any::<u64>(), (0u64..70_000).prop_map(|d| u64::MAX - d)],
        data in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        invariants::frame_roundtrip(id, offset, &data);
        invariants::frame_decode(&peerbox::seeder::frame::encode(id, offset, &data));
    }

    #[test]
    fn incoming_name(raw in hostile_string()) {
        invariants::incoming_name(&raw);
    }
}

/// Sizes at the limits, too large for generated cases to hit by chance.
#[test]
fn limits_at_the_edges() {
    use peerbox::seeder::frame::{HEADER_BYTES, MAX_FRAME_BYTES};
    for len in [
        HEADER_BYTES,
        MAX_FRAME_BYTES - 1,
        MAX_FRAME_BYTES,
        MAX_FRAME_BYTES + 1,
    ] {
        let mut b = vec![0x01; len];
        invariants::frame_decode(&b);
        b[5..13].fill(0xff);
        invariants::frame_decode(&b);
    }
    let max = peerbox::seeder::protocol::MAX_TEXT_BYTES;
    for pad in [max - 60, max - 40, max - 20] {
        let text = format!(r#"{{"type":"cancel","transfer_id":1{}}}"#, " ".repeat(pad));
        invariants::transfer_message(&text);
    }
    let long = format!(
        r#"{{"type":"hello","version":1,"agent":"{}"}}"#,
        "é".repeat(40000)
    );
    invariants::transfer_message(&long);
}

/// Every input a fuzzer ever crashed on, kept as a plain test (see docs/hardening.md).
mod regressions {
    use super::invariants;

    /// proptest: an unknown `signal.kind` came back whole inside the `bad_message` text.
    #[test]
    fn signal_error_does_not_echo_a_long_kind() {
        let kind = "a".repeat(300);
        let text =
            format!(r#"{{"type":"signal","to":"","signal":{{"kind":"{kind}","sdp":"v=0"}}}}"#);
        invariants::signal_parse(&text);
    }

    /// proptest: U+061C (Arabic letter mark) was refused in file names but allowed in chat.
    #[test]
    fn chat_refuses_arabic_letter_mark() {
        invariants::incoming_name("\u{61c}");
        assert!(!peerbox::signal::names::valid_text("a\u{61c}b"));
    }

    /// proptest: `./` was stripped after the drive-letter check, so `./C:` was saved as `C:`.
    #[test]
    fn drive_letter_behind_dot_slash() {
        for raw in ["./C:", "./C:x", "././c:/x"] {
            invariants::incoming_name(raw);
            assert!(peerbox::seeder::names::file_name(raw).is_err(), "{raw}");
            assert!(peerbox::seeder::names::folder(raw).is_err(), "{raw}");
        }
    }
}
