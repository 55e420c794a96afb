//! The Raft log, vote, committed index and last-purged id in their own RocksDB.
//! Every vote, truncation and purge is synced (`WriteOptions::set_sync(true)`) before
//! openraft hears that it is stored; appended entries are written at once and reported
//! durable only after the WAL sync that covers them (`wal_sync`), so an acknowledged
//! vote or entry survives a crash. Only the committed id, a hint, is never synced.

use super::codec;
use super::io_err;
use super::wal_sync::WalSyncer;
use crate::types::{Entry, LogId, TypeConfig, Vote};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::OptionalSend;
use rocksdb::{ColumnFamilyDescriptor, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

const CF_LOG: &str = "log";
const CF_VOTE: &str = "vote";
const CF_COMMITTED: &str = "committed";
const CF_PURGED: &str = "purged";
const ALL_CFS: [&str; 4] = [CF_LOG, CF_VOTE, CF_COMMITTED, CF_PURGED];

/// The single key of the one-value column families.
const KEY: &[u8] = b"v";

/// Sorts after every 8-byte index key: the exclusive end of "everything".
const KEY_END: [u8; 9] = [0xff; 9];

/// The RocksDB-backed Raft log. Cheap to clone (one shared DB).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    wal: WalSyncer,
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn key_index(key: &[u8]) -> Result<u64, io::Error> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("log key of {} bytes", key.len()),
        )
    })?;
    Ok(u64::from_be_bytes(bytes))
}

fn synced() -> WriteOptions {
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    opts
}

impl LogStore {
    /// Open (or create) the log database in `dir`.
    pub fn open(dir: &Path) -> Result<LogStore, io::Error> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let cfs = ALL_CFS
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
        let db = DB::open_cf_descriptors(&opts, dir, cfs)
            .map_err(|e| io::Error::other(format!("opening raft log at {}: {e}", dir.display())))?;
        let db = Arc::new(db);
        let wal = WalSyncer::start(&db)?;
        Ok(LogStore { db, wal })
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, io::Error> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| io::Error::other(format!("raft log column family {name} is missing")))
    }

    fn get_value<T: serde::de::DeserializeOwned>(
        &self,
        cf: &str,
        what: &str,
    ) -> Result<Option<T>, io::Error> {
        match self.db.get_cf(self.cf(cf)?, KEY).map_err(io_err)? {
            Some(bytes) => Ok(Some(codec::decode(&bytes, what)?)),
            None => Ok(None),
        }
    }

    /// Write a batch with fsync, off the async threads.
    async fn write_synced(&self, batch: WriteBatch) -> Result<(), io::Error> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.write_opt(batch, &synced()).map_err(io_err))
            .await
            .map_err(|e| io::Error::other(format!("log write task failed: {e}")))?
    }

    /// Write a batch without fsync (it reaches the disk with the next synced write).
    fn write_unsynced(&self, batch: WriteBatch) -> Result<(), io::Error> {
        self.db.write(batch).map_err(io_err)
    }

    fn last_entry_log_id(&self) -> Result<Option<LogId>, io::Error> {
        let mut iter = self.db.iterator_cf(self.cf(CF_LOG)?, IteratorMode::End);
        match iter.next() {
            None => Ok(None),
            Some(item) => {
                let (_, value) = item.map_err(io_err)?;
                let entry: Entry = codec::decode(&value, "log entry")?;
                Ok(Some(entry.log_id()))
            }
        }
    }
}

fn start_index<RB: RangeBounds<u64>>(range: &RB) -> u64 {
    match range.start_bound() {
        Bound::Included(x) => *x,
        Bound::Excluded(x) => x.saturating_add(1),
        Bound::Unbounded => 0,
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let start = index_key(start_index(&range));
        let mode = IteratorMode::From(&start, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_LOG)?, mode) {
            let (key, value) = item.map_err(io_err)?;
            let index = key_index(&key)?;
            if !range.contains(&index) {
                break;
            }
            let entry: Entry = codec::decode(&value, "log entry")?;
            if entry.index() != index {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("log key {index} holds entry {}", entry.index()),
                ));
            }
            out.push(entry);
        }
        Ok(out)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.get_value(CF_VOTE, "vote")
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged_log_id: Option<LogId> = self.get_value(CF_PURGED, "last purged log id")?;
        let last_log_id = self.last_entry_log_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_VOTE)?, KEY, codec::encode(vote)?);
        self.write_synced(batch).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        let mut batch = WriteBatch::default();
        match committed {
            Some(id) => batch.put_cf(self.cf(CF_COMMITTED)?, KEY, codec::encode(&id)?),
            None => batch.delete_cf(self.cf(CF_COMMITTED)?, KEY),
        }
        // Not synced: the committed id is a hint for re-applying after a restart (openraft
        // does not require it to be durable); a stale one only means waiting for the leader.
        self.write_unsynced(batch)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        self.get_value(CF_COMMITTED, "committed log id")
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::default();
        let cf = self.cf(CF_LOG)?;
        for entry in entries {
            batch.put_cf(cf, index_key(entry.index()), codec::encode(&entry)?);
        }
        // Readable when this returns; openraft hears they are durable after the next sync.
        self.write_unsynced(batch)?;
        self.wal.after_sync(callback);
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = match &last_log_id {
            Some(id) => id.index().saturating_add(1),
            None => 0,
        };
        tracing::debug!(from, "truncating the raft log");
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.cf(CF_LOG)?, &index_key(from)[..], &KEY_END[..]);
        self.write_synced(batch).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        tracing::debug!(upto = log_id.index(), "purging the raft log");
        let mut batch = WriteBatch::default();
        // The purge mark and the deletion go in one batch: no hole is ever visible.
        batch.put_cf(self.cf(CF_PURGED)?, KEY, codec::encode(&log_id)?);
        batch.delete_range_cf(
            self.cf(CF_LOG)?,
            &index_key(0)[..],
            &index_key_after(log_id.index())[..],
        );
        self.write_synced(batch).await
    }
}

/// The exclusive end key of a range that ends at `index` inclusive.
fn index_key_after(index: u64) -> Vec<u8> {
    match index.checked_add(1) {
        Some(next) => index_key(next).to_vec(),
        None => KEY_END.to_vec(),
    }
}
