//! Group commit of Raft log appends: one thread syncs the log's RocksDB WAL for every
//! append waiting at that moment, then tells openraft they are durable.
//!
//! openraft asks `append` to return as soon as the entries are readable and to report
//! durability later through a callback. Syncing inside `append` blocked the Raft core
//! for the whole fsync, so a leader wrote its own log before it replicated to the
//! followers, one fsync after the other. Now `append` writes without sync (readable at
//! once) and queues its callback here; the leader's fsync and the followers' run side by
//! side, and appends that arrive during an fsync share the next one.

use crate::types::TypeConfig;
use openraft::storage::IOFlushed;
use rocksdb::DB;
use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Weak};

/// The sending half: queue a callback to be completed after the next WAL sync.
#[derive(Clone)]
pub struct WalSyncer {
    tx: Sender<IOFlushed<TypeConfig>>,
}

impl WalSyncer {
    /// Start the sync thread for `db`. It holds only a weak reference, so dropping the
    /// last `LogStore` closes the database at once; the thread ends with the last sender.
    pub fn start(db: &Arc<DB>) -> Result<WalSyncer, io::Error> {
        let (tx, rx) = mpsc::channel();
        let weak = Arc::downgrade(db);
        std::thread::Builder::new()
            .name("raft-wal-sync".into())
            .spawn(move || run(&weak, &rx))?;
        Ok(WalSyncer { tx })
    }

    /// Complete `callback` once everything written to the WAL so far is on disk.
    pub fn after_sync(&self, callback: IOFlushed<TypeConfig>) {
        if let Err(mpsc::SendError(callback)) = self.tx.send(callback) {
            callback.io_completed(Err(io::Error::other(
                "the raft log sync thread has stopped",
            )));
        }
    }
}

fn run(db: &Weak<DB>, rx: &Receiver<IOFlushed<TypeConfig>>) {
    while let Ok(first) = rx.recv() {
        // Everything queued now was written before this sync starts, so one fsync covers all.
        let mut waiting = vec![first];
        waiting.extend(rx.try_iter());
        let result = match db.upgrade() {
            Some(db) => db.flush_wal(true).map_err(|e| e.to_string()),
            None => Err("the raft log is closed".to_string()),
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "syncing the raft log failed");
        }
        for callback in waiting {
            callback.io_completed(result.clone().map_err(io::Error::other));
        }
    }
}
