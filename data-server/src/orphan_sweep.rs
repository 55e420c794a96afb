//! The orphan sweep: finds chunks this server stores that no file references and has
//! them collected. They appear when a writer dies between its upload and its commit, or
//! when a commit is refused (replicas that disagreed on a patch, a patch that lost to
//! another writer); nothing else ever deletes them.
//!
//! Every `interval` the sweep asks the metadata which of its chunks are unreferenced
//! (`UnreferencedChunks`). A chunk seen unreferenced for at least `grace`, by passes
//! that far apart, is reported (`ReportOrphans`): the metadata marks it, so a writer
//! committing it late is refused and uploads again, and the GC deletes this copy.
//! The grace only spares slow writers a second upload; the mark is what keeps a late
//! commit from referencing deleted bytes.
//!
//! The same pass finds stray copies: chunks files reference while the metadata does not
//! list this server as a holder (a surplus copy whose delete failed, an upload that
//! landed after its writer gave up on this server). One seen stray for the grace is
//! reported (`ReportStrays`); the leader verifies it against the chunk's hash, records
//! it, and its surplus removal then drops whichever copy the ring wants least.

use crate::meta_link::MetaLink;
use crate::metrics::DataMetrics;
use crate::store::{blocking, ChunkStore};
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse, MAX_ORPHAN_BATCH};
use ferrofs_proto::{ChunkId, NodeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Below this many, orphans are reported even when they are most of the chunks.
const ALARM_MIN: usize = 1024;

#[derive(Clone, Copy, Debug)]
pub struct SweepConfig {
    /// Time between two passes; zero turns the sweep off.
    pub interval: Duration,
    /// How long a chunk must have been seen unreferenced before it is reported.
    pub grace: Duration,
}

/// Chunks seen unreferenced, with when each was first seen so.
#[derive(Debug, Default)]
struct Suspects {
    first_seen: HashMap<ChunkId, Instant>,
}

impl Suspects {
    /// Take one complete pass's unreferenced chunks, seen at `now`: chunks missing from
    /// it (committed or deleted since) are forgotten. Returns those first seen at least
    /// `grace` before `now`, in id order.
    fn observe(&mut self, unreferenced: &[ChunkId], now: Instant, grace: Duration) -> Vec<ChunkId> {
        let mut next = HashMap::with_capacity(unreferenced.len());
        for &id in unreferenced {
            let since = self.first_seen.get(&id).copied().unwrap_or(now);
            next.insert(id, since);
        }
        self.first_seen = next;
        let mut ripe: Vec<ChunkId> = self
            .first_seen
            .iter()
            .filter(|(_, since)| now.saturating_duration_since(**since) >= grace)
            .map(|(id, _)| *id)
            .collect();
        ripe.sort_unstable();
        ripe
    }

    fn forget(&mut self, ids: &[ChunkId]) {
        for id in ids {
            self.first_seen.remove(id);
        }
    }

    fn len(&self) -> usize {
        self.first_seen.len()
    }
}

/// Would reporting `ripe` of `stored` chunks more likely be a mistake than a cleanup?
/// Most of a server's chunks unreferenced points at the wrong metadata (a restored or
/// replaced cluster), which an operator must look at before anything is deleted.
fn too_many(ripe: usize, stored: u64) -> bool {
    ripe > ALARM_MIN && ripe as u64 > stored / 2
}

/// What one pass over the stored chunks found.
#[derive(Debug, Default)]
struct Pass {
    /// Chunks no file references.
    unreferenced: Vec<ChunkId>,
    /// Chunks files reference whose location record does not list this server.
    strays: Vec<ChunkId>,
}

/// Ask the metadata about every stored chunk, a batch at a time.
async fn pass(store: &Arc<ChunkStore>, link: &MetaLink, node: NodeId) -> Result<Pass, String> {
    let mut out = Pass::default();
    let mut cursor = None;
    loop {
        let s = store.clone();
        let ids = blocking(move || s.ids_after(cursor, MAX_ORPHAN_BATCH))
            .await
            .map_err(|e| e.to_string())?;
        let Some(&last) = ids.last() else { break };
        let full = ids.len() == MAX_ORPHAN_BATCH;
        let strays = MetaRequest::StrayChunks {
            server: node,
            chunks: ids.clone(),
        };
        out.unreferenced
            .extend(ask(link, MetaRequest::UnreferencedChunks { chunks: ids }).await?);
        out.strays.extend(ask(link, strays).await?);
        if !full {
            break;
        }
        cursor = Some(last);
    }
    Ok(out)
}

async fn ask(link: &MetaLink, req: MetaRequest) -> Result<Vec<ChunkId>, String> {
    match link.call(&req).await.map_err(|e| e.to_string())? {
        MetaResponse::ChunkIds(found) => Ok(found),
        other => Err(format!("unexpected answer: {other:?}")),
    }
}

/// Report `ripe` in batches; the chunks the metadata marked as orphans.
async fn report(link: &MetaLink, node: NodeId, ripe: &[ChunkId]) -> Vec<ChunkId> {
    let mut marked = Vec::new();
    for batch in ripe.chunks(MAX_ORPHAN_BATCH) {
        let op = MetaOp::ReportOrphans {
            server: node,
            chunks: batch.to_vec(),
        };
        match link.mutate_until_answered(op).await {
            MetaResponse::ChunkIds(ids) => marked.extend(ids),
            other => tracing::warn!(reply = ?other, "orphan report refused"),
        }
    }
    marked
}

/// Hand `ripe` stray copies to the leader, which verifies and records them; the ones
/// it took.
async fn report_strays(link: &MetaLink, node: NodeId, ripe: &[ChunkId]) -> Vec<ChunkId> {
    let mut taken = Vec::new();
    for batch in ripe.chunks(MAX_ORPHAN_BATCH) {
        let req = MetaRequest::ReportStrays {
            server: node,
            chunks: batch.to_vec(),
        };
        match link.call(&req).await {
            Ok(MetaResponse::Done) => taken.extend_from_slice(batch),
            Ok(other) => tracing::warn!(reply = ?other, "stray report refused"),
            Err(e) => tracing::debug!(error = %e, "stray report not delivered; next pass"),
        }
    }
    taken
}

/// Sweep forever (nothing when the interval is zero).
pub async fn run(
    store: Arc<ChunkStore>,
    link: Arc<MetaLink>,
    node: NodeId,
    cfg: SweepConfig,
    metrics: Arc<DataMetrics>,
) {
    if cfg.interval.is_zero() {
        tracing::info!("orphan sweep disabled (orphan_check_interval = 0)");
        return;
    }
    let mut orphans = Suspects::default();
    let mut strays = Suspects::default();
    loop {
        tokio::time::sleep(cfg.interval).await;
        let found = match pass(&store, &link, node).await {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, "orphan sweep: pass not finished; next time");
                continue;
            }
        };
        let now = Instant::now();
        let ripe_strays = strays.observe(&found.strays, now, cfg.grace);
        if !ripe_strays.is_empty() {
            let taken = report_strays(&link, node, &ripe_strays).await;
            tracing::info!(
                strays = taken.len(),
                "reported unlisted copies of referenced chunks; the leader records them"
            );
            metrics.add_strays_reported(taken.len() as u64);
            strays.forget(&taken);
        }
        let ripe = orphans.observe(&found.unreferenced, now, cfg.grace);
        metrics.set_orphan_suspects(orphans.len() as u64);
        if ripe.is_empty() {
            continue;
        }
        let stored = store.stat().chunks;
        if too_many(ripe.len(), stored) {
            tracing::error!(
                unreferenced = ripe.len(),
                stored,
                "most stored chunks are unreferenced: not reporting them as orphans; \
                 check that meta_addrs names this server's own cluster"
            );
            continue;
        }
        let marked = report(&link, node, &ripe).await;
        if !marked.is_empty() {
            tracing::info!(
                orphans = marked.len(),
                "reported unreferenced chunks as orphans; the GC deletes them"
            );
        }
        metrics.add_orphans_reported(marked.len() as u64);
        orphans.forget(&marked);
        metrics.set_orphan_suspects(orphans.len() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(60);

    #[test]
    fn a_chunk_is_ripe_only_after_the_grace_of_continuous_sightings() {
        let mut s = Suspects::default();
        let t0 = Instant::now();
        let (a, b) = (ChunkId(1), ChunkId(2));
        assert!(s.observe(&[a], t0, GRACE).is_empty());
        assert!(s.observe(&[a, b], t0 + GRACE / 2, GRACE).is_empty());
        assert_eq!(s.observe(&[a, b], t0 + GRACE, GRACE), vec![a]);
        assert_eq!(
            s.observe(&[a, b], t0 + GRACE + GRACE / 2, GRACE),
            vec![a, b]
        );
    }

    #[test]
    fn a_chunk_referenced_in_between_starts_its_grace_again() {
        let mut s = Suspects::default();
        let t0 = Instant::now();
        let a = ChunkId(7);
        s.observe(&[a], t0, GRACE);
        // Committed (or deleted) by the next pass: forgotten.
        assert!(s.observe(&[], t0 + GRACE / 2, GRACE).is_empty());
        assert_eq!(s.len(), 0);
        // Unreferenced again later: the grace counts from now.
        assert!(s.observe(&[a], t0 + GRACE, GRACE).is_empty());
        assert_eq!(s.observe(&[a], t0 + 2 * GRACE, GRACE), vec![a]);
    }

    #[test]
    fn reported_chunks_are_forgotten() {
        let mut s = Suspects::default();
        let t0 = Instant::now();
        s.observe(&[ChunkId(1), ChunkId(2)], t0, GRACE);
        s.forget(&[ChunkId(1)]);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn most_chunks_unreferenced_is_an_alarm_not_a_cleanup() {
        assert!(
            !too_many(10, 12),
            "a few orphans on a small server are swept"
        );
        assert!(!too_many(ALARM_MIN + 1, 10_000));
        assert!(too_many(ALARM_MIN + 1, ALARM_MIN as u64 + 1));
        assert!(too_many(50_000, 60_000));
    }
}
