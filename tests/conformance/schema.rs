//! `docs/protocol.schema.json`: every example validates, and parses in the Rust types (the web
//! client parses them too: tests/web/suites/contract.mjs); what the Rust types emit validates.

use serde_json::Value;

use super::wire::validator;

fn schema() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/protocol.schema.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Examples of every definition whose name starts with `prefix`.
fn examples(prefix: &str) -> Vec<Value> {
    let s = schema();
    let defs = s["$defs"].as_object().unwrap();
    let mut out = Vec::new();
    for (name, def) in defs.iter().filter(|(n, _)| n.starts_with(prefix)) {
        let ex = def["examples"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no examples"));
        assert!(!ex.is_empty(), "{name} has no examples");
        out.extend(ex.iter().cloned());
    }
    out
}

fn valid(v: &jsonschema::Validator, m: &Value) {
    let errs: Vec<String> = v.iter_errors(m).map(|e| e.to_string()).collect();
    assert!(errs.is_empty(), "{m}: {errs:?}");
}

#[test]
fn transfer_examples_validate_parse_and_serialize_back() {
    use peerbox::seeder::protocol::Message;
    let v = validator("transfer");
    let ex = examples("transfer_");
    assert_eq!(ex.len(), 25, "every transfer message has examples");
    for m in ex {
        valid(&v, &m);
        let parsed = Message::parse(&m.to_string()).unwrap_or_else(|e| panic!("{m}: {e}"));
        let back: Value = serde_json::from_str(&parsed.to_text()).unwrap();
        assert_eq!(back, m, "the Rust type writes the example back as it is");
        valid(&v, &back);
    }
}

#[test]
fn signaling_examples_validate_and_parse() {
    use peerbox::signal::protocol::{parse, ServerMsg};
    let client = validator("signal_client");
    for m in examples("signal_client_") {
        valid(&client, &m);
        let (msg, _id) = parse(&m.to_string()).unwrap_or_else(|e| panic!("{m}: {e:?}"));
        // What the Rust client types write validates too (the seeder sends these).
        valid(&client, &serde_json::to_value(&msg).unwrap());
    }
    let server = validator("signal_server");
    for m in examples("signal_server_") {
        valid(&server, &m);
        let msg: ServerMsg =
            serde_json::from_value(m.clone()).unwrap_or_else(|e| panic!("{m}: {e}"));
        valid(&server, &serde_json::to_value(&msg).unwrap());
    }
}

/// The schema refuses what the document refuses (so a passing check means something).
#[test]
fn the_schema_refuses_malformed_messages() {
    let v = validator("transfer");
    for bad in [
        r#"{"type":"hello"}"#,
        r#"{"type":"hello","version":1,"extra":1}"#,
        r#"{"type":"accept","transfer_id":-1,"offset":0}"#,
        r#"{"type":"accept","transfer_id":4294967296,"offset":0}"#,
        r#"{"type":"end","transfer_id":1,"size":1,"hash":"AF13"}"#,
        r#"{"type":"cancel","transfer_id":1,"code":"whatever"}"#,
        r#"{"type":"nope"}"#,
    ] {
        let m: Value = serde_json::from_str(bad).unwrap();
        assert!(!v.is_valid(&m), "{bad}");
    }
    let s = validator("signal_client");
    let m: Value = serde_json::from_str(
        r#"{"type":"signal","to":"x","signal":{"kind":"bye","reason":"r","x":1}}"#,
    )
    .unwrap();
    assert!(!s.is_valid(&m));
}
