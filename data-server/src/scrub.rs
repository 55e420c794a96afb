//! The scrubber: walks every stored chunk, re-hashing it at a bounded byte rate,
//! and hands damaged ones to the `CorruptionSink` exactly as reads do.

use crate::integrity::CorruptionSink;
use crate::scrub_control::ScrubControl;
use crate::store::error::StoreError;
use crate::store::{blocking, ChunkStore};
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

/// What one chunk turned out to be.
enum Outcome {
    Intact(u64),
    Corrupt,
    /// Deleted meanwhile, or unreadable for another reason (logged).
    Skipped,
}

/// Verify one chunk, paying for its bytes first (no bucket: unthrottled).
async fn scrub_one(
    store: &Arc<ChunkStore>,
    sink: &CorruptionSink,
    bucket: Option<&mut TokenBucket>,
    stats: &ScrubStats,
    id: ChunkId,
) -> Outcome {
    let s = store.clone();
    let len = match blocking(move || s.header(id)).await {
        Ok(Some(h)) => h.len,
        Ok(None) => return Outcome::Skipped, // deleted meanwhile
        Err(StoreError::Corrupt { reason, .. }) => {
            stats.corrupt_found.fetch_add(1, Ordering::AcqRel);
            sink.damaged(id, &reason).await;
            return Outcome::Corrupt;
        }
        Err(e) => {
            tracing::warn!(chunk = %id, error = %e, "scrub: reading header");
            return Outcome::Skipped;
        }
    };
    if let Some(bucket) = bucket {
        bucket.take(len).await;
    }
    let s = store.clone();
    match blocking(move || s.verify_and_refresh_blocks(id)).await {
        Ok(refreshed) => {
            if refreshed {
                tracing::info!(chunk = %id, "scrub: block hashes written again");
            }
            stats.chunks_scrubbed.fetch_add(1, Ordering::AcqRel);
            stats.bytes_scrubbed.fetch_add(len, Ordering::AcqRel);
            Outcome::Intact(len)
        }
        Err(StoreError::NotFound(_)) => Outcome::Skipped,
        Err(StoreError::Corrupt { reason, .. }) => {
            stats.corrupt_found.fetch_add(1, Ordering::AcqRel);
            sink.damaged(id, &reason).await;
            Outcome::Corrupt
        }
        Err(e) => {
            tracing::warn!(chunk = %id, error = %e, "scrub: reading chunk");
            Outcome::Skipped
        }
    }
}

/// Scrub forever: a pass at start-up and after every `pass_pause`, or at once when
/// one is requested through `control` (which restarts a pass in progress). With
/// `rate == 0` only requested passes run, unthrottled.
pub async fn run(
    store: Arc<ChunkStore>,
    sink: CorruptionSink,
    cfg: ScrubConfig,
    stats: Arc<ScrubStats>,
    control: Arc<ScrubControl>,
) {
    let scheduled = cfg.rate > 0;
    if !scheduled {
        tracing::info!("background scrubbing disabled (scrub_rate = 0); passes run on request");
    }
    let mut bucket = scheduled.then(|| TokenBucket::new(cfg.rate));
    let mut requested = if scheduled {
        control.take_request()
    } else {
        next_pass(&control, None).await
    };
    loop {
        let total = store.stat().chunks;
        control.begin(requested, total);
        let mut cursor: Option<ChunkId> = None;
        let mut restarted = false;
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
                if control.take_request() {
                    restarted = true;
                    break;
                }
                match scrub_one(&store, &sink, bucket.as_mut(), &stats, *id).await {
                    Outcome::Intact(len) => control.checked(len),
                    Outcome::Corrupt => control.corrupt(*id),
                    Outcome::Skipped => {}
                }
            }
            if restarted || ids.len() < BATCH {
                break;
            }
            cursor = ids.last().copied();
        }
        if restarted {
            tracing::info!("scrub pass restarted on request");
            requested = true;
            continue;
        }
        control.finish();
        stats.passes.fetch_add(1, Ordering::AcqRel);
        tracing::info!(
            chunks = stats.chunks(),
            corrupt = stats.corrupt(),
            "scrub pass complete"
        );
        requested = next_pass(&control, scheduled.then_some(cfg.pass_pause)).await;
    }
}

/// Wait for the next pass: `pause` elapsed (returns false) or a pass requested
/// (returns true). A wake-up whose request a finished pass already took is ignored.
async fn next_pass(control: &ScrubControl, pause: Option<Duration>) -> bool {
    let timer = async {
        match pause {
            Some(p) => tokio::time::sleep(p).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timer);
    loop {
        tokio::select! {
            _ = &mut timer => return control.take_request(),
            _ = control.requested() => {
                if control.take_request() {
                    return true;
                }
            }
        }
    }
}
