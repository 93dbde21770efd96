//! The always-on seeding peer.
//! (Placeholder until the seeder lands.)

mod config;
pub use config::SeederConfig;
