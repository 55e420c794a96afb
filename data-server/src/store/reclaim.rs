//! Giving deleted chunks' disk space back when the disk is full. A delete only writes
//! tombstones: the bytes stay in the write-ahead log and blob files until memtables
//! are flushed and compaction drops them. Normally that happens in its own time; a
//! server refusing chunks for lack of space asks for it at once.

use super::db::CF_CHUNKS;
use super::error::StoreError;
use super::ChunkStore;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// At most one reclaim per this interval: a full compaction is expensive.
const RECLAIM_INTERVAL: Duration = Duration::from_secs(5);

impl ChunkStore {
    /// Flush every memtable (so the log holding deleted chunks can go) and compact
    /// the chunk family (so blob GC can drop their bytes), if chunks were deleted
    /// since the last reclaim and none ran recently. Returns true if it ran.
    pub(super) fn reclaim_deleted(&self) -> Result<bool, StoreError> {
        if self.deleted_since_reclaim.load(Ordering::Acquire) == 0 {
            return Ok(false);
        }
        {
            let mut last = self.last_reclaim.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < RECLAIM_INTERVAL) {
                return Ok(false);
            }
            *last = Some(Instant::now());
        }
        let deleted = self.deleted_since_reclaim.swap(0, Ordering::AcqRel);
        tracing::info!(
            deleted,
            "disk full: flushing and compacting to reclaim deleted chunks"
        );
        self.flush()?;
        self.db
            .compact_range_cf(self.cf(CF_CHUNKS)?, None::<&[u8]>, None::<&[u8]>);
        Ok(true)
    }
}
