//! The ferrofs metadata server: an openraft voter whose log and state machine live in
//! RocksDB, serving the namespace to clients and data servers over QUIC.
//!
//! `run(config, shutdown)` is the whole server; `MetaNode` gives tests a handle on a
//! running node (its Raft, its state machine, its bound address).

pub mod http;
mod join_guard;
pub mod metrics;
pub mod namespace;
pub mod network;
mod node;
pub mod reconcile;
pub mod server;
pub mod store;
pub mod types;

pub use node::{bind, raft_config, run, MetaError, MetaNode};
