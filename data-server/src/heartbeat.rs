//! Registration with the metadata leader and the periodic heartbeat.

use crate::meta_link::{next_backoff, MetaLink, FIRST_BACKOFF};
use crate::store::ChunkStore;
use ferrofs_proto::meta_msg::{HeartbeatInfo, MetaOp, MetaRequest, MetaResponse};
use ferrofs_proto::{FsError, NodeId};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Who this data server says it is.
#[derive(Clone, Debug)]
pub struct Identity {
    pub node: NodeId,
    pub addr: String,
    pub zone: String,
    /// The configured weight, applied by the leader at the first registration.
    pub weight: u32,
}

/// Progress of the heartbeat task, for status and tests.
#[derive(Debug, Default)]
pub struct HeartbeatStats {
    pub registered: AtomicBool,
    pub heartbeats_acked: AtomicU64,
    pub heartbeats_failed: AtomicU64,
}

/// Register (retrying with backoff until the leader says `Done`).
pub async fn register(link: &MetaLink, id: &Identity, store: &ChunkStore) {
    let mut pause = FIRST_BACKOFF;
    loop {
        let op = MetaOp::RegisterDataServerWeighted {
            node: id.node,
            addr: id.addr.clone(),
            zone: id.zone.clone(),
            capacity: store.stat().capacity,
            weight: id.weight,
        };
        match link.mutate_until_answered(op).await {
            MetaResponse::Done => {
                tracing::info!(node = %id.node, addr = %id.addr, "registered with the metadata leader");
                return;
            }
            other => {
                tracing::warn!(node = %id.node, reply = ?other, "registration refused; retrying")
            }
        }
        tokio::time::sleep(pause).await;
        pause = next_backoff(pause);
    }
}

fn info(id: &Identity, store: &ChunkStore) -> HeartbeatInfo {
    let st = store.stat();
    HeartbeatInfo {
        node: id.node,
        addr: id.addr.clone(),
        zone: id.zone.clone(),
        capacity: st.capacity,
        used: st.used,
        chunks: st.chunks,
    }
}

/// Register, then send a heartbeat every `interval` forever. A leader that does not
/// know this server (`NotFound`) gets a fresh registration.
pub async fn run(
    link: Arc<MetaLink>,
    id: Identity,
    store: Arc<ChunkStore>,
    interval: Duration,
    stats: Arc<HeartbeatStats>,
) {
    register(&link, &id, &store).await;
    stats.registered.store(true, Ordering::Release);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match link.call(&MetaRequest::Heartbeat(info(&id, &store))).await {
            Ok(MetaResponse::HeartbeatAck) => {
                stats.heartbeats_acked.fetch_add(1, Ordering::AcqRel);
            }
            Ok(MetaResponse::Error(FsError::NotFound)) => {
                tracing::info!(node = %id.node, "metadata leader does not know us; registering again");
                register(&link, &id, &store).await;
            }
            Ok(other) => {
                stats.heartbeats_failed.fetch_add(1, Ordering::AcqRel);
                tracing::warn!(reply = ?other, "unexpected heartbeat reply");
            }
            Err(e) => {
                stats.heartbeats_failed.fetch_add(1, Ordering::AcqRel);
                tracing::debug!(error = %e, "heartbeat not delivered");
            }
        }
    }
}
