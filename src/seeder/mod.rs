//! The always-on seeding peer.
//! (Placeholder until the seeder lands.)

mod config;
pub mod peer;
pub use config::SeederConfig;
