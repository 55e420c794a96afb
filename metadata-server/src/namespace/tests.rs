//! Scenario tests of the namespace over `MemStore`. Every mutation goes through `apply`
//! exactly as the state machine calls it; after each scenario the stored counters and
//! link counts are checked against a recomputation from the raw tables.

mod fixture;
mod invariants;

mod admin_ops;
mod chunk_ops;
mod create_ops;
mod determinism;
mod gc_race;
mod lock_ops;
mod orphan_ops;
mod remove_ops;
mod rename_ops;
mod server_ops;
mod setattr_ops;
mod xattr_ops;
