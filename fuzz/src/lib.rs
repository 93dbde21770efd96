//! Shared by the fuzz targets; the properties themselves live in `invariants.rs`, which
//! `tests/fuzz_props.rs` also includes so that `cargo test` checks the same rules.

pub mod invariants;
