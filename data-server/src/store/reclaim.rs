//! Giving deleted chunks' disk space back. A delete only writes tombstones: the
//! bytes stay in the write-ahead log and blob files until memtables are flushed and
//! a compaction with blob GC rewrites the blob files that still hold live chunks.
//! That runs in passes: every `RECLAIM_PERIOD` if chunks were deleted, and at once
//! when a server is about to refuse a chunk for lack of space.

use super::db::CF_CHUNKS;
use super::error::StoreError;
use super::ChunkStore;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// At most one reclaim per this interval: a full compaction is expensive.
const RECLAIM_INTERVAL: Duration = Duration::from_secs(5);
/// How often deleted chunks are reclaimed when the disk is not full.
pub const RECLAIM_PERIOD: Duration = Duration::from_secs(60);

impl ChunkStore {
    /// Flush every memtable (so the log holding deleted chunks can go) and compact
    /// the chunk family (so blob GC can drop their bytes), if chunks were deleted
    /// since the last reclaim and none ran recently. Returns true if it ran.
    pub fn reclaim_deleted(&self, why: &'static str) -> Result<bool, StoreError> {
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
            why,
            "flushing and compacting to reclaim deleted chunks"
        );
        self.flush()?;
        let chunks = self.cf(CF_CHUNKS)?;
        let gc = |on: &str| {
            if let Err(e) = self
                .db
                .set_options_cf(chunks, &[("enable_blob_garbage_collection", on)])
            {
                tracing::warn!(error = %e, on, "switching blob GC");
            }
        };
        gc("true");
        self.db
            .compact_range_cf(chunks, None::<&[u8]>, None::<&[u8]>);
        gc("false");
        Ok(true)
    }
}

/// Reclaim deleted chunks every `RECLAIM_PERIOD` (a pass does nothing when no chunk
/// was deleted since the last one). Runs until the server stops.
pub async fn run_periodic(store: std::sync::Arc<ChunkStore>) {
    let mut tick = tokio::time::interval(RECLAIM_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate
    loop {
        tick.tick().await;
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.reclaim_deleted("periodic")).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "reclaiming deleted chunks failed"),
            Err(e) => tracing::warn!(error = %e, "reclaim task failed"),
        }
    }
}
