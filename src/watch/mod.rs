//! The watched share directory: a live, hashed catalog.
//! (Placeholder until the watcher lands.)

mod config;
pub use config::WatchConfig;
