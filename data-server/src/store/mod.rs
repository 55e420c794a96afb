//! The chunk store: immutable chunks, verified on every read. Headers and small
//! chunks live in RocksDB, chunks of `FILE_MIN_BYTES` and more in chunk files.

mod blocks;
mod buffer_pool;
mod charge;
mod patch;
pub use blocks::Blocks;
pub use patch::{Edit, Patched};
mod chunk_file;
mod db;
pub mod error;
pub mod header;
mod overlay;
mod quarantine;
mod reclaim;
pub use reclaim::run_periodic as reclaim_periodically;
pub mod space;
mod test_hook;

use blocks::NewBlockHashes;
use bytes::Bytes;
use chunk_file::ChunkFiles;
pub use chunk_file::{AlignedBuf, AlignedFill};
use db::{key, CF_BLOCKS, CF_CHUNKS, CF_HEADERS, CF_QUARANTINE};
use error::StoreError;
use ferrofs_proto::limits::MAX_CHUNK_BYTES;
use ferrofs_proto::ChunkId;
use header::ChunkHeader;
use rocksdb::{ColumnFamily, IteratorMode, WriteBatch, WriteOptions, DB};
use space::{disk_space, Usage, DISK_RESERVE_BYTES};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Writers of the same chunk id are serialised by one of these locks; writers of
/// different ids proceed in parallel so RocksDB can group their WAL syncs.
const LOCK_STRIPES: usize = 64;
/// Chunks at least this large are stored as files (`chunk_file.rs`); smaller ones
/// cost less as one RocksDB write than as a file create and two syncs.
pub const FILE_MIN_BYTES: u64 = 64 * 1024;

/// Counters for status reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreStat {
    pub capacity: u64,
    pub used: u64,
    pub chunks: u64,
    pub quarantined: u64,
}

/// What a `put` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// The chunk is new here.
    Stored,
    /// An intact copy with the same hash was already stored; nothing was written.
    AlreadyStored,
    /// A copy with the same hash was stored but damaged; it was replaced.
    Repaired,
}

pub struct ChunkStore {
    db: DB,
    files: ChunkFiles,
    dir: PathBuf,
    usage: Usage,
    /// No capacity configured: the limit follows the size of the disk.
    follow_disk: bool,
    quarantined: AtomicU64,
    locks: Vec<Mutex<()>>,
    /// Chunks deleted since the last `reclaim_deleted`, and when that ran.
    deleted_since_reclaim: AtomicU64,
    last_reclaim: Mutex<Option<std::time::Instant>>,
}

fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

impl ChunkStore {
    /// Open the store in `dir`. `capacity` defaults to the size of the file system
    /// holding `dir`. Usage counters are recomputed from the `headers` family.
    pub fn open(dir: &Path, capacity: Option<u64>) -> Result<ChunkStore, StoreError> {
        let db = db::open(dir)?;
        let files = ChunkFiles::open(dir)?;
        let follow_disk = capacity.is_none();
        let capacity = match capacity {
            Some(c) => c,
            None => disk_space(dir)?.total,
        };
        let mut quarantined = 0u64;
        {
            let headers = cf(&db, CF_HEADERS)?;
            let orphans = files.remove_orphans(|id| {
                db.get_pinned_cf(headers, key(id))
                    .ok()
                    .flatten()
                    .and_then(|raw| ChunkHeader::decode(id, &raw).ok())
                    .is_some_and(|h| h.in_file)
            })?;
            if orphans > 0 {
                tracing::info!(orphans, "removed chunk files no header refers to");
            }
            let q = cf(&db, CF_QUARANTINE)?;
            for item in db.iterator_cf(q, IteratorMode::Start) {
                item.map_err(|e| StoreError::from_db(e, 0))?;
                quarantined += 1;
            }
        }
        let mut store = ChunkStore {
            db,
            files,
            dir: dir.to_path_buf(),
            usage: Usage::new(capacity, 0, 0),
            follow_disk,
            quarantined: AtomicU64::new(quarantined),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            deleted_since_reclaim: AtomicU64::new(0),
            last_reclaim: Mutex::new(None),
        };
        let (used, chunks) = store.count_usage()?;
        store.usage = Usage::new(capacity, used, chunks);
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self, id: ChunkId) -> MutexGuard<'_, ()> {
        let stripe = (id.0 % LOCK_STRIPES as u128) as usize;
        self.locks[stripe].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        cf(&self.db, name)
    }

    fn write(&self, batch: WriteBatch, needed: u64) -> Result<(), StoreError> {
        self.db
            .write_opt(batch, &synced())
            .map_err(|e| StoreError::from_db(e, needed))
    }

    pub fn stat(&self) -> StoreStat {
        StoreStat {
            capacity: self.usage.capacity(),
            used: self.usage.used(),
            chunks: self.usage.chunks(),
            quarantined: self.quarantined.load(Ordering::Acquire),
        }
    }

    /// Store a chunk whose bytes must hash to `hash`. Durable (WAL synced) on return.
    /// Storing the same chunk again is idempotent; a different hash under the same
    /// id is a `Conflict`.
    pub fn put(&self, id: ChunkId, hash: [u8; 32], bytes: &[u8]) -> Result<PutOutcome, StoreError> {
        let len = bytes.len() as u64;
        if len > MAX_CHUNK_BYTES {
            return Err(StoreError::TooLarge {
                len,
                limit: MAX_CHUNK_BYTES,
            });
        }
        // The block hashes of a chunk file add up to its hash: computing them is the
        // verification, with no second pass over the bytes.
        let (blocks, computed) = NewBlockHashes::of(bytes, len >= FILE_MIN_BYTES);
        if computed != hash {
            return Err(StoreError::HashMismatch(id));
        }
        self.put_hashed(id, hash, &blocks, bytes)
    }

    /// Store bytes whose block hashes and hash the caller has just computed from them
    /// (`NewBlockHashes::of`), like `put`.
    fn put_hashed(
        &self,
        id: ChunkId,
        hash: [u8; 32],
        blocks: &NewBlockHashes,
        bytes: &[u8],
    ) -> Result<PutOutcome, StoreError> {
        let len = bytes.len() as u64;
        let header = ChunkHeader {
            hash,
            len,
            in_file: false,
            overlay: false,
        };
        let _guard = self.lock(id);
        let raw = self
            .db
            .get_cf(self.cf(CF_HEADERS)?, key(id))
            .map_err(|e| StoreError::from_db(e, 0))?;
        if let Some(raw) = raw {
            return self.put_existing(id, header, blocks, bytes, &raw);
        }
        self.store_new(len, len, || {
            self.write_record(id, header, blocks, bytes, true)
                .map(|()| true)
        })?;
        Ok(PutOutcome::Stored)
    }

    /// Store a new chunk charged `charge` bytes (charge.rs), `disk` of them written
    /// now, by `write`, which says whether it stored it: the charge is reserved first
    /// and given back unless it did, and the chunk is counted if it did.
    fn store_new(
        &self,
        charge: u64,
        disk: u64,
        write: impl FnOnce() -> Result<bool, StoreError>,
    ) -> Result<bool, StoreError> {
        self.follow_disk()?;
        self.usage.reserve(charge)?;
        match self.check_disk(disk).and_then(|()| write()) {
            Ok(true) => {
                self.usage.chunk_added();
                Ok(true)
            }
            other => {
                self.usage.release(charge);
                other
            }
        }
    }

    /// A put of a chunk whose header is already stored (caller holds the lock).
    fn put_existing(
        &self,
        id: ChunkId,
        header: ChunkHeader,
        blocks: &NewBlockHashes,
        bytes: &[u8],
        raw_old: &[u8],
    ) -> Result<PutOutcome, StoreError> {
        let old = ChunkHeader::decode(id, raw_old).ok();
        match &old {
            Some(old) if old.hash != header.hash => {
                // Either a real conflict or a damaged header over intact bytes.
                let stored = self.stored_bytes(id, old).ok().flatten();
                if stored.map(|s| ChunkHeader::of(&s).hash) != Some(header.hash) {
                    return Err(StoreError::Conflict(id));
                }
            }
            Some(old) => {
                if let Ok(Some(stored)) = self.stored_bytes(id, old) {
                    if old.verify(id, &stored).is_ok() {
                        return Ok(PutOutcome::AlreadyStored);
                    }
                }
            }
            None => {}
        }
        // The stored copy is damaged: replace it, fixing the accounting.
        tracing::warn!(chunk = %id, "replacing a damaged stored copy with a verified one");
        // The new file takes the name; the old file's bytes are freed only if that
        // was its last name (an overlay may share it).
        let old_len = self.own_charge(id, old.as_ref()) + self.file_charge(id, old.as_ref());
        let grow = header.len.saturating_sub(old_len);
        self.usage.reserve(grow)?;
        if let Err(e) = self.write_record(id, header, blocks, bytes, false) {
            self.usage.release(grow);
            return Err(e);
        }
        self.usage.release(old_len.saturating_sub(header.len));
        Ok(PutOutcome::Repaired)
    }

    /// Without a configured capacity the limit is the size of the disk, which may have
    /// grown or shrunk since the store opened (a resized volume).
    fn follow_disk(&self) -> Result<(), StoreError> {
        if self.follow_disk {
            self.usage.set_capacity(disk_space(&self.dir)?.total);
        }
        Ok(())
    }

    /// Refuse a write that would leave less than the reserve free on the disk.
    /// Deleted chunks' space is reclaimed first if that can help.
    fn check_disk(&self, len: u64) -> Result<(), StoreError> {
        let needed = len.saturating_add(DISK_RESERVE_BYTES);
        if disk_space(&self.dir)?.available >= needed {
            return Ok(());
        }
        if self.reclaim_deleted("disk full")? && disk_space(&self.dir)?.available >= needed {
            return Ok(());
        }
        Err(StoreError::NoSpace { needed: len })
    }

    /// Store the bytes and then commit the header. `fresh`: no earlier record of
    /// this chunk exists, so a chunk file left by a failed commit is an orphan.
    fn write_record(
        &self,
        id: ChunkId,
        header: ChunkHeader,
        blocks: &NewBlockHashes,
        bytes: &[u8],
        fresh: bool,
    ) -> Result<(), StoreError> {
        let in_file = header.len >= FILE_MIN_BYTES;
        let header = ChunkHeader {
            in_file,
            overlay: false,
            ..header
        };
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_HEADERS)?, key(id), header.encode());
        blocks.add_to(self, id, &mut batch)?;
        if in_file {
            self.files
                .write(id, bytes)
                .map_err(|e| StoreError::from_io(e, header.len))?;
            // A legacy copy of the bytes inside RocksDB is replaced by the file.
            batch.delete_cf(self.cf(CF_CHUNKS)?, key(id));
        } else {
            batch.put_cf(self.cf(CF_CHUNKS)?, key(id), bytes);
        }
        let committed = self.write(batch, header.len);
        if committed.is_err() && in_file && fresh {
            let _ = self.files.remove(id);
        }
        committed
    }

    /// The stored bytes of chunk `id` as they are (unverified); `None` if missing.
    /// A failure to read the file (too many open files, say) is `Io`, not damage:
    /// it must not get an intact chunk quarantined.
    fn stored_bytes(&self, id: ChunkId, header: &ChunkHeader) -> Result<Option<Bytes>, StoreError> {
        if header.in_file {
            return match self.files.read(id, header.len) {
                Ok(b) => self.with_spans(id, header, 0, b).map(Some),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(StoreError::Corrupt {
                    id,
                    reason: format!("chunk file unreadable: {e}"),
                }),
                Err(e) => Err(StoreError::Io(e)),
            };
        }
        let bytes = self
            .db
            .get_cf(self.cf(CF_CHUNKS)?, key(id))
            .map_err(|e| StoreError::from_db(e, 0))?;
        Ok(bytes.map(Bytes::from))
    }

    /// The header of a stored chunk, if any (not verified against the bytes).
    pub fn header(&self, id: ChunkId) -> Result<Option<ChunkHeader>, StoreError> {
        let raw = self
            .db
            .get_cf(self.cf(CF_HEADERS)?, key(id))
            .map_err(|e| StoreError::from_db(e, 0))?;
        raw.map(|r| ChunkHeader::decode(id, &r)).transpose()
    }

    pub fn contains(&self, id: ChunkId) -> Result<bool, StoreError> {
        let raw = self
            .db
            .get_pinned_cf(self.cf(CF_HEADERS)?, key(id))
            .map_err(|e| StoreError::from_db(e, 0))?;
        Ok(raw.is_some())
    }

    /// Read a whole chunk and verify it against its header.
    pub fn read_verified(&self, id: ChunkId) -> Result<(ChunkHeader, Bytes), StoreError> {
        let (header, bytes) = self.read_stored(id)?;
        header.verify(id, &bytes)?;
        Ok((header, bytes))
    }

    /// A whole chunk as stored, with its header: present and of the header's length,
    /// but not hashed (for callers that hash it their own way).
    fn read_stored(&self, id: ChunkId) -> Result<(ChunkHeader, Bytes), StoreError> {
        let header = self.header(id)?.ok_or(StoreError::NotFound(id))?;
        let corrupt = |reason: String| StoreError::Corrupt { id, reason };
        let bytes = self
            .stored_bytes(id, &header)?
            .ok_or_else(|| corrupt("bytes missing".to_string()))?;
        if bytes.len() as u64 != header.len {
            let (got, want) = (bytes.len(), header.len);
            return Err(corrupt(format!("stored {got} bytes, header says {want}")));
        }
        Ok((header, bytes))
    }

    /// `len` bytes at `offset` (`u64::MAX`, or anything past the end, means to the
    /// end). The whole chunk is verified first; corrupt chunks yield `Corrupt`.
    pub fn get(&self, id: ChunkId, offset: u64, len: u64) -> Result<Bytes, StoreError> {
        let (header, bytes) = self.read_verified(id)?;
        if offset > header.len {
            return Err(StoreError::BadRange {
                offset,
                len: header.len,
            });
        }
        let end = offset.saturating_add(len).min(header.len);
        Ok(bytes.slice(offset as usize..end as usize))
    }

    /// Delete a chunk (and any quarantined copy). Returns whether a live copy existed.
    pub fn delete(&self, id: ChunkId) -> Result<bool, StoreError> {
        let _guard = self.lock(id);
        let raw = self
            .db
            .get_cf(self.cf(CF_HEADERS)?, key(id))
            .map_err(|e| StoreError::from_db(e, 0))?;
        let in_quarantine = self
            .db
            .get_pinned_cf(self.cf(CF_QUARANTINE)?, key(id))
            .map_err(|e| StoreError::from_db(e, 0))?
            .is_some();
        if raw.is_none() && !in_quarantine {
            return Ok(false);
        }
        let header = raw.as_deref().and_then(|r| ChunkHeader::decode(id, r).ok());
        // Read before the batch deletes an overlay's spans.
        let own = self.own_charge(id, header.as_ref());
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_HEADERS)?, key(id));
        batch.delete_cf(self.cf(CF_CHUNKS)?, key(id));
        batch.delete_cf(self.cf(CF_QUARANTINE)?, key(id));
        batch.delete_cf(self.cf(CF_BLOCKS)?, key(id));
        self.write(batch, 0)?;
        let freed = own + self.remove_file_of(id, header.as_ref());
        self.deleted_since_reclaim.fetch_add(1, Ordering::AcqRel);
        if in_quarantine {
            let _ = self
                .quarantined
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| c.checked_sub(1));
        }
        match raw {
            Some(_) => {
                self.usage.release(freed);
                self.usage.chunk_removed();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// After a committed delete: remove the chunk file name the old header pointed
    /// to, returning the bytes that frees (charge.rs): the file's length if the name
    /// was its last. A failure leaves an orphan that the next open removes (and the
    /// count at that open leaves out).
    fn remove_file_of(&self, id: ChunkId, header: Option<&ChunkHeader>) -> u64 {
        let Some(h) = header.filter(|h| h.in_file) else {
            return 0;
        };
        match self.files.remove_name(id) {
            Ok(true) => h.len,
            Ok(false) => 0,
            Err(e) => {
                tracing::warn!(chunk = %id, error = %e, "removing a deleted chunk's file");
                h.len
            }
        }
    }

    /// Up to `limit` stored chunk ids after `after` (exclusive) in id order.
    pub fn ids_after(
        &self,
        after: Option<ChunkId>,
        limit: usize,
    ) -> Result<Vec<ChunkId>, StoreError> {
        let start = after.map(key);
        let mode = match &start {
            Some(k) => IteratorMode::From(k, rocksdb::Direction::Forward),
            None => IteratorMode::Start,
        };
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_HEADERS)?, mode) {
            let (k, _) = item.map_err(|e| StoreError::from_db(e, 0))?;
            let Some(id) = db::id_of(&k) else { continue };
            if Some(id) == after {
                continue;
            }
            out.push(id);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Flush memtables and sync the WAL (clean shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush_wal(true)
            .map_err(|e| StoreError::from_db(e, 0))?;
        for name in [CF_HEADERS, CF_CHUNKS, CF_QUARANTINE, CF_BLOCKS] {
            self.db
                .flush_cf(self.cf(name)?)
                .map_err(|e| StoreError::from_db(e, 0))?;
        }
        Ok(())
    }
}

fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily, StoreError> {
    db.cf_handle(name)
        .ok_or_else(|| StoreError::Db(format!("column family {name} missing")))
}

#[cfg(test)]
mod overlay_tests;
#[cfg(test)]
mod tests;

/// Run blocking store work off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Db(format!("store task failed: {e}")))?
}
