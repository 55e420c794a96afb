//! The ferrofs metadata server: an openraft voter whose log and state machine live in
//! RocksDB, serving the namespace to clients and data servers over QUIC.

pub mod namespace;
pub mod network;
pub mod store;
pub mod types;
