//! Persistent storage of a metadata server: the Raft log store and the state
//! machine, each in its own RocksDB under the node's data folder.

mod apply;
pub mod codec;
mod dedup;
#[cfg(test)]
mod dedup_tests;
pub mod digest;
pub mod format;
mod log_store;
pub mod sm_db;
mod snapshot_dir;
pub mod snapshot_file;
mod state_machine;
mod wal_sync;

pub use dedup::stale_clients;

pub use log_store::LogStore;
pub use sm_db::{SmDb, SmView};
pub use snapshot_dir::{SnapshotData, SnapshotDir};
pub use state_machine::{MetaSnapshot, StateMachine};

use std::io;
use std::path::Path;

/// Open the log store and the state machine of the node whose data folder is `dir`.
pub fn open(dir: &Path) -> Result<(LogStore, StateMachine), io::Error> {
    std::fs::create_dir_all(dir)?;
    format::check_or_init(dir)?;
    let log = LogStore::open(&dir.join("raft-log"))?;
    let sm = StateMachine::open(&dir.join("sm"), &dir.join("snapshots"))?;
    Ok((log, sm))
}

pub(crate) fn io_err(e: rocksdb::Error) -> io::Error {
    io::Error::other(e.to_string())
}

pub(crate) fn join_err(e: tokio::task::JoinError) -> io::Error {
    io::Error::other(format!("storage task failed: {e}"))
}
