//! peerbox: a self-hosted peer-to-peer file drop for the home network, in one daemon.
//!
//! Module map:
//! - [`cli`], [`config`]: command line and layered configuration (defaults < /etc file <
//!   `--config` < `PEERBOX_*` env < flags); `cli::remote` is the terminal client
//!   (`peerbox ls|get|send URL ...`) on [`client`].
//! - [`durable`]: crash-safe replacement of small state files.
//! - [`server`]: `run(listener, config, shutdown)`, the accept loop and graceful drain;
//!   [`app`] holds the state every connection shares.
//! - [`http`]: the one HTTP port: embedded web bundle ([`http::bundle`]), `/healthz`,
//!   `/metrics`, the `/ws` upgrade into signaling, files over HTTP ([`http::files`]), folders
//!   as streamed zips ([`http::archive`]), thumbnails ([`http::thumbs`]), tus uploads.
//! - [`signal`]: WebSocket rooms, names, and offer/answer/ICE forwarding. Files never pass here.
//! - [`watch`]: the live, hashed catalog of the share directory.
//! - [`seeder`]: the always-on WebRTC peer that offers the catalog and receives uploads.
//! - [`client`]: a Rust client of the transfer protocol on the seeder's WebRTC stack (tests,
//!   benchmarks, soak, and the terminal client build on it).
//! - [`metrics`]: the `/metrics` registry every module adds its figures to.
//! - [`turn`]: the TURN relay for browsers that cannot reach each other directly; signaling
//!   hands out its credentials through [`signal::IceIssuer`].
//! - [`thumbs`]: image thumbnails for the file list, made lazily, bounded and cached.
//! - [`logging`]: tracing to stderr, or to journald under systemd; [`addrs`]: the URLs to print.
//! - [`systemd`]: readiness/watchdog notifications; [`reload`]: what SIGHUP may change live.
//! - [`memory`]: bounded malloc arenas and heap trims after bursts (glibc).

pub mod addrs;
pub mod app;
pub mod cli;
pub mod client;
pub mod config;
pub mod durable;
pub mod http;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod reload;
pub mod seeder;
pub mod server;
pub mod signal;
pub mod systemd;
pub mod thumbs;
pub mod turn;
pub mod watch;

pub use config::Config;
pub use server::{run, StartupError};
