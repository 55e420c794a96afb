//! The state machine's RocksDB: one column family per namespace table, one for
//! request-id dedup records and one for the state machine's own metadata
//! (last applied log id, last membership). `SmView` reads it as a `KvRead`.

use super::io_err;
use crate::namespace::{KvRead, StoreError, Table};
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, Direction, IteratorMode, Options, ReadOptions, DB,
};
use std::io;
use std::path::{Path, PathBuf};

/// Request-id dedup records: (client BE u64, seq BE u64) -> response.
pub const CF_DEDUP: &str = "dedup";
/// State-machine metadata: `last_applied`, `last_membership`.
pub const CF_SM_META: &str = "sm_meta";

pub const KEY_LAST_APPLIED: &[u8] = b"last_applied";
pub const KEY_LAST_MEMBERSHIP: &[u8] = b"last_membership";

/// Column families whose contents a snapshot carries (the metadata travels in the
/// snapshot's header instead).
pub fn snapshot_cfs() -> Vec<&'static str> {
    let mut cfs: Vec<&'static str> = Table::ALL.iter().map(|t| t.name()).collect();
    cfs.push(CF_DEDUP);
    cfs
}

/// One opened state-machine database.
pub struct SmDb {
    db: DB,
    dir: PathBuf,
}

impl SmDb {
    pub fn open(dir: &Path) -> Result<SmDb, io::Error> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let mut names = snapshot_cfs();
        names.push(CF_SM_META);
        let cfs = names
            .into_iter()
            .map(|n| ColumnFamilyDescriptor::new(n, Options::default()));
        let db = DB::open_cf_descriptors(&opts, dir, cfs).map_err(|e| {
            io::Error::other(format!("opening state machine at {}: {e}", dir.display()))
        })?;
        Ok(SmDb {
            db,
            dir: dir.to_path_buf(),
        })
    }

    pub fn db(&self) -> &DB {
        &self.db
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn cf(&self, name: &str) -> Result<&ColumnFamily, io::Error> {
        self.db.cf_handle(name).ok_or_else(|| {
            io::Error::other(format!("state machine column family {name} is missing"))
        })
    }

    /// Make everything written so far durable (WAL fsync).
    pub fn sync(&self) -> Result<(), io::Error> {
        self.db.flush_wal(true).map_err(io_err)
    }

    /// Flush every memtable to SST files (after a bulk load that skipped the WAL).
    pub fn flush_all(&self) -> Result<(), io::Error> {
        let mut names = snapshot_cfs();
        names.push(CF_SM_META);
        for name in names {
            self.db.flush_cf(self.cf(name)?).map_err(io_err)?;
        }
        Ok(())
    }
}

/// A read view of the state machine: the latest state (used while applying, so a
/// command sees the commands before it) or a point-in-time RocksDB snapshot (used by
/// queries and snapshot building, so a multi-key read is consistent).
pub struct SmView<'a> {
    sm: &'a SmDb,
    snap: Option<rocksdb::Snapshot<'a>>,
}

impl<'a> SmView<'a> {
    pub fn live(sm: &'a SmDb) -> SmView<'a> {
        SmView { sm, snap: None }
    }

    pub fn snapshot(sm: &'a SmDb) -> SmView<'a> {
        SmView {
            sm,
            snap: Some(sm.db.snapshot()),
        }
    }

    fn read_opts(&self) -> ReadOptions {
        let mut opts = ReadOptions::default();
        if let Some(snap) = &self.snap {
            opts.set_snapshot(snap);
        }
        opts
    }

    /// Get from any column family (tables, dedup, metadata).
    pub fn get_cf(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, io::Error> {
        self.sm
            .db
            .get_cf_opt(self.sm.cf(cf)?, key, &self.read_opts())
            .map_err(io_err)
    }

    /// The first key of a column family at or after `from`.
    pub fn first_key_from(&self, cf: &str, from: &[u8]) -> Result<Option<Vec<u8>>, io::Error> {
        let mut iter = self.sm.db.iterator_cf_opt(
            self.sm.cf(cf)?,
            self.read_opts(),
            IteratorMode::From(from, Direction::Forward),
        );
        match iter.next() {
            Some(item) => Ok(Some(item.map_err(io_err)?.0.to_vec())),
            None => Ok(None),
        }
    }

    /// Visit every pair of a column family in key order.
    pub fn for_each(
        &self,
        cf: &str,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), io::Error>,
    ) -> Result<(), io::Error> {
        let iter =
            self.sm
                .db
                .iterator_cf_opt(self.sm.cf(cf)?, self.read_opts(), IteratorMode::Start);
        for item in iter {
            let (k, v) = item.map_err(io_err)?;
            visit(&k, &v)?;
        }
        Ok(())
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl KvRead for SmView<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_cf(table.name(), key).map_err(backend)
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let from = if start > prefix { start } else { prefix };
        let cf = self.sm.cf(table.name()).map_err(backend)?;
        let iter = self.sm.db.iterator_cf_opt(
            cf,
            self.read_opts(),
            IteratorMode::From(from, Direction::Forward),
        );
        for item in iter {
            let (k, v) = item.map_err(backend)?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_honours_prefix_start_limit_and_snapshots() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sm = SmDb::open(dir.path()).expect("open");
        let cf = sm.cf(Table::Dentries.name()).expect("cf");
        for k in [&b"a1"[..], b"a2", b"a3", b"b1"] {
            sm.db().put_cf(cf, k, b"v").expect("put");
        }
        let snap_view = SmView::snapshot(&sm);
        sm.db().put_cf(cf, b"a4", b"v").expect("put");
        let live = SmView::live(&sm);
        let keys =
            |pairs: Vec<(Vec<u8>, Vec<u8>)>| pairs.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            keys(live.scan(Table::Dentries, b"a", b"", 10).expect("scan")).len(),
            4
        );
        assert_eq!(
            keys(
                snap_view
                    .scan(Table::Dentries, b"a", b"", 10)
                    .expect("scan")
            )
            .len(),
            3
        );
        assert_eq!(
            keys(live.scan(Table::Dentries, b"a", b"a3", 1).expect("scan")),
            vec![b"a3".to_vec()]
        );
        assert!(live
            .scan(Table::Dentries, b"c", b"", 10)
            .expect("scan")
            .is_empty());
        assert_eq!(
            live.get(Table::Dentries, b"b1").expect("get"),
            Some(b"v".to_vec())
        );
        assert_eq!(snap_view.get(Table::Dentries, b"a4").expect("get"), None);
    }
}
