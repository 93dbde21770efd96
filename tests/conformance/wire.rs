//! A raw DataChannel to the seeder: JSON text and frames exactly as the document writes them,
//! each text message checked against the published JSON Schema.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;
use std::time::Duration;

use peerbox::client::{Client, Options};
use serde_json::{json, Value};

use super::common::TestServer;

/// The published schema, with `#/$defs/<def>` as the root.
pub fn validator(def: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/protocol.schema.json"
    ))
    .expect("docs/protocol.schema.json");
    let mut schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    schema["$ref"] = json!(format!("#/$defs/{def}"));
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn transfer_schema() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| validator("transfer"))
}

/// Panics with the schema's complaint unless `v` is a valid transfer-protocol control message.
pub fn check_transfer(v: &Value) {
    let errs: Vec<String> = transfer_schema()
        .iter_errors(v)
        .map(|e| e.to_string())
        .collect();
    assert!(errs.is_empty(), "{v} does not match the schema: {errs:?}");
}

/// A daemon with its seeder on loopback.
pub async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.seeder.enabled = true;
        c.seeder.webrtc.udp_bind = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        c.watch.settle_ms = 50;
    })
    .await
}

/// One message from the seeder as it arrived.
#[derive(Debug)]
pub enum Got {
    Text(Value),
    Frame(Vec<u8>),
}

pub struct Wire {
    pub c: Client,
}

impl Wire {
    /// Signaling, room `home`, an offer to the seeder and the open DataChannel; nothing sent on it.
    pub async fn open(srv: &TestServer) -> Wire {
        let opts = Options {
            timeout: Duration::from_secs(20),
            ..Options::default()
        };
        let c = Client::open(&srv.addr.to_string(), opts)
            .await
            .expect("DataChannel to the seeder");
        Wire { c }
    }

    /// Opens and says `hello` with `version`; returns the seeder's `hello`.
    pub async fn hello(srv: &TestServer, version: u32) -> (Wire, Value) {
        let mut w = Wire::open(srv).await;
        w.send(json!({"type": "hello", "version": version, "agent": "conformance"}))
            .await;
        let h = w.text().await;
        (w, h)
    }

    /// Sends a control message that must be valid by the schema.
    pub async fn send(&mut self, v: Value) {
        check_transfer(&v);
        self.send_text(&v.to_string()).await;
    }

    /// Sends any text, valid or not.
    pub async fn send_text(&mut self, text: &str) {
        self.c
            .send_raw(false, text.as_bytes().to_vec())
            .await
            .expect("send text");
    }

    pub async fn send_frame(&mut self, bytes: Vec<u8>) {
        self.c.send_raw(true, bytes).await.expect("send frame");
    }

    /// The next message; text is parsed as JSON and checked against the schema.
    pub async fn next(&mut self) -> Got {
        let (binary, data) = self.c.next_raw().await.expect("a message from the seeder");
        if binary {
            return Got::Frame(data);
        }
        let v: Value = serde_json::from_slice(&data).expect("text messages are JSON");
        check_transfer(&v);
        Got::Text(v)
    }

    /// The next text message that is not catalog traffic.
    pub async fn text(&mut self) -> Value {
        loop {
            match self.next().await {
                Got::Text(v) if v["type"].as_str().is_some_and(|t| t.starts_with("catalog")) => {}
                Got::Text(v) => return v,
                Got::Frame(f) => panic!("expected a text message, got a {}-byte frame", f.len()),
            }
        }
    }

    /// Waits for the catalog (version 2 form) to list `path`; returns its entry.
    pub async fn file(&mut self, path: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} never offered"
            );
            if let Got::Text(v) = self.next().await {
                let lists = [&v["files"], &v["added"], &v["changed"]];
                for f in lists.into_iter().filter_map(Value::as_array).flatten() {
                    if f["path"] == path {
                        return f.clone();
                    }
                }
            }
        }
    }

    /// Proves nothing was sent in answer to what went before: a `download` of an unknown file
    /// (transfer id `probe`) must be answered first by its `refuse not_found`.
    pub async fn nothing_before_probe(&mut self, probe: u32) {
        self.send(json!({"type": "download", "transfer_id": probe, "file_id": "no-such-file", "offset": 0}))
            .await;
        let v = self.text().await;
        assert_eq!(
            v,
            json!({"type": "refuse", "transfer_id": probe, "code": "not_found"}),
            "the first reply after the messages under test"
        );
    }
}

/// A chunk frame as the document draws it: kind 0x01, transfer id u32 BE, offset u64 BE, payload.
pub fn frame(kind: u8, transfer_id: u32, offset: u64, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![kind];
    f.extend_from_slice(&transfer_id.to_be_bytes());
    f.extend_from_slice(&offset.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub fn b3(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// Files in `dir`, names only, sorted (the partial directory aside).
pub fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n != ".peerbox-partial")
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Partial uploads (data files) in the incoming directory's partial folder.
pub fn partials(incoming: &std::path::Path) -> usize {
    std::fs::read_dir(incoming.join(".peerbox-partial"))
        .map(|rd| rd.count())
        .unwrap_or(0)
}
