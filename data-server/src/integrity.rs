//! What happens when a stored chunk fails verification: it leaves the read path
//! (quarantine) and the metadata leader hears about it so it can re-replicate.

use crate::meta_link::MetaLink;
use crate::store::ChunkStore;
use ferrofs_proto::meta_msg::{MetaOp, MetaResponse};
use ferrofs_proto::{ChunkId, NodeId};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Hands damaged chunks to the quarantine and the reporter task.
#[derive(Clone)]
pub struct CorruptionSink {
    store: Arc<ChunkStore>,
    reports: mpsc::UnboundedSender<ChunkId>,
}

impl CorruptionSink {
    pub fn new(store: Arc<ChunkStore>) -> (CorruptionSink, mpsc::UnboundedReceiver<ChunkId>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (CorruptionSink { store, reports: tx }, rx)
    }

    /// Queue a report for a chunk quarantined earlier (e.g. before a restart).
    pub fn report_again(&self, id: ChunkId) {
        let _ = self.reports.send(id);
    }

    /// Chunk `id` failed verification (`reason`): quarantine it and queue a report.
    /// Runs the RocksDB work on the blocking pool.
    pub async fn damaged(&self, id: ChunkId, reason: &str) {
        tracing::error!(chunk = %id, reason, "stored chunk failed verification");
        let store = self.store.clone();
        let moved = tokio::task::spawn_blocking(move || store.quarantine(id)).await;
        match moved {
            Ok(Ok(true)) => {
                if self.reports.send(id).is_err() {
                    tracing::warn!(chunk = %id, "bad-replica reporter is gone; report dropped");
                }
            }
            Ok(Ok(false)) => tracing::info!(chunk = %id, "chunk was repaired or deleted meanwhile"),
            Ok(Err(e)) => tracing::error!(chunk = %id, error = %e, "quarantining chunk"),
            Err(e) => tracing::error!(chunk = %id, error = %e, "quarantine task failed"),
        }
    }
}

/// Report every quarantined chunk to the metadata leader (`ReportBadReplica`),
/// retrying until the leader answers.
pub async fn run_reporter(
    link: Arc<MetaLink>,
    node: NodeId,
    mut reports: mpsc::UnboundedReceiver<ChunkId>,
) {
    while let Some(chunk) = reports.recv().await {
        let op = MetaOp::ReportBadReplica {
            chunk,
            server: node,
        };
        match link.mutate_until_answered(op).await {
            MetaResponse::Done => tracing::info!(chunk = %chunk, "bad replica reported"),
            other => tracing::warn!(chunk = %chunk, reply = ?other, "bad replica report refused"),
        }
    }
}
