//! ferrofs data server: keeps immutable, blake3-verified chunks in RocksDB, serves
//! them over QUIC, copies them between servers, scrubs them in the background and
//! reports to the metadata leader.

pub mod heartbeat;
mod http;
pub mod integrity;
pub mod meta_link;
pub mod metrics;
pub mod orphan_sweep;
pub mod scrub;
pub mod scrub_control;
mod server;
mod service;
pub mod store;
pub mod test_hooks;
mod token_bucket;

pub use server::{run, DataServer, Tuning};
pub use store::error::StoreError;
pub use store::{ChunkStore, PutOutcome, StoreStat};
