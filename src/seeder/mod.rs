//! The always-on seeding peer.
//!
//! Transport-independent parts of transfers live here: the wire protocol ([`protocol`],
//! [`frame`]), the sans-IO per-peer state machine ([`session`]) with its catalog announcer
//! ([`catalog`]: parts, deltas, version negotiation's catalog side), and the disk edge: saving
//! uploads safely ([`incoming`], [`names`], [`space`]) and streaming downloads ([`download`]).
//! The WebRTC peer feeds DataChannel messages into a [`session::Session`] and carries out the
//! [`session::Action`]s it returns; [`edge`] is the thin glue between actions and the disk.
//! [`peer`] is that WebRTC transport (webrtc-rs); [`service`] wires signaling, transport, one
//! transfer link per browser, the live catalog and the incoming store together; [`stats`] has
//! the transfer figures for `/metrics`.

pub mod catalog;
mod config;
pub mod download;
pub mod edge;
pub mod frame;
pub mod incoming;
mod link;
pub mod names;
mod partial;
pub mod peer;
pub mod protocol;
pub mod service;
pub mod session;
mod signaling;
pub mod space;
pub mod stats;
pub mod swarm;
pub mod throttle;

pub use config::SeederConfig;
