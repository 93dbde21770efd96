//! Conformance suite: the seeder driven only through what `docs/protocol.md` says, as a third
//! party would, over a real DataChannel (a webrtc-rs peer through real signaling). Messages are
//! raw JSON text and frames are raw bytes built here, never the crate's protocol types; every
//! text message either side sends is checked against `docs/protocol.schema.json`.
//!
//! One module per section of the document; each test quotes the sentence it proves.

#[path = "../common/mod.rs"]
mod common;

mod names;
mod schema;
mod signaling;
mod silent;
mod swarm;
mod versions;
mod wire;
