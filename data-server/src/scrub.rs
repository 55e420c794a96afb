//! The scrubber: walks every stored chunk, re-hashing it at a bounded byte rate,
//! and hands damaged ones to the `CorruptionSink` exactly as reads do.

use crate::integrity::CorruptionSink;
use crate::store::error::StoreError;
use crate::store::ChunkStore;
use crate::token_bucket::TokenBucket;
use ferrofs_proto::ChunkId;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Ids fetched from the store per step (a fresh iterator each step, so no
/// long-lived RocksDB snapshot is pinned).
const BATCH: usize = 256;

#[derive(Clone, Copy, Debug)]
pub struct ScrubConfig {
    /// Bytes re-hashed per second; 0 disables the scrubber.
    pub rate: u64,
    /// Rest between two complete passes.
    pub pass_pause: Duration,
}

/// Scrubber counters, readable while it runs.
#[derive(Debug, Default)]
pub struct ScrubStats {
    pub chunks_scrubbed: AtomicU64,
    pub bytes_scrubbed: AtomicU64,
    pub corrupt_found: AtomicU64,
    pub passes: AtomicU64,
}

impl ScrubStats {
    pub fn chunks(&self) -> u64 {
        self.chunks_scrubbed.load(Ordering::Acquire)
    }
    pub fn corrupt(&self) -> u64 {
        self.corrupt_found.load(Ordering::Acquire)
    }
    pub fn passes(&self) -> u64 {
        self.passes.load(Ordering::Acquire)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Db(format!("scrub task failed: {e}")))?
}

/// Verify one chunk, paying for its bytes first.
async fn scrub_one(
    store: &Arc<ChunkStore>,
    sink: &CorruptionSink,
    bucket: &mut TokenBucket,
    stats: &ScrubStats,
    id: ChunkId,
) {
    let s = store.clone();
    let len = match blocking(move || s.header(id)).await {
        Ok(Some(h)) => h.len,
        Ok(None) => return, // deleted meanwhile
        Err(StoreError::Corrupt { reason, .. }) => {
            stats.corrupt_found.fetch_add(1, Ordering::AcqRel);
            sink.damaged(id, &reason).await;
            return;
        }
        Err(e) => {
            tracing::warn!(chunk = %id, error = %e, "scrub: reading header");
            return;
        }
    };
    bucket.take(len).await;
    let s = store.clone();
    match blocking(move || s.read_verified(id).map(|_| ())).await {
        Ok(()) => {
            stats.chunks_scrubbed.fetch_add(1, Ordering::AcqRel);
            stats.bytes_scrubbed.fetch_add(len, Ordering::AcqRel);
        }
        Err(StoreError::NotFound(_)) => {}
        Err(StoreError::Corrupt { reason, .. }) => {
            stats.corrupt_found.fetch_add(1, Ordering::AcqRel);
            sink.damaged(id, &reason).await;
        }
        Err(e) => tracing::warn!(chunk = %id, error = %e, "scrub: reading chunk"),
    }
}

/// Scrub forever.
pub async fn run(
    store: Arc<ChunkStore>,
    sink: CorruptionSink,
    cfg: ScrubConfig,
    stats: Arc<ScrubStats>,
) {
    if cfg.rate == 0 {
        tracing::info!("scrubber disabled (scrub_rate = 0)");
        return;
    }
    let mut bucket = TokenBucket::new(cfg.rate);
    let mut cursor: Option<ChunkId> = None;
    loop {
        let s = store.clone();
        let ids = match blocking(move || s.ids_after(cursor, BATCH)).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "scrub: listing chunks");
                Vec::new()
            }
        };
        for id in &ids {
            scrub_one(&store, &sink, &mut bucket, &stats, *id).await;
        }
        if ids.len() < BATCH {
            stats.passes.fetch_add(1, Ordering::AcqRel);
            tracing::debug!(
                chunks = stats.chunks(),
                corrupt = stats.corrupt(),
                "scrub pass complete"
            );
            cursor = None;
            tokio::time::sleep(cfg.pass_pause).await;
        } else {
            cursor = ids.last().copied();
        }
    }
}
