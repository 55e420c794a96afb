//! Serving one QUIC stream: read one `MetaRequest`, dispatch it, write one
//! `MetaResponse`. Bad input is answered with an error (or the stream is dropped)
//! and never affects other streams.

pub mod ack_early;
mod admin;
mod cluster;
pub mod dedup_sweep;
mod errors;
pub mod housekeeping;
pub mod liveness;
pub mod lock_sessions;
mod membership;
pub mod orphan_mark_sweep;
mod reads;
mod writes;

use crate::metrics::{request_kind, MetaMetrics};
use crate::network::{rpc, serve};
use crate::store::StateMachine;
use crate::types::MetaRaft;
use ferrofs_proto::config::ClusterSettings;
use ferrofs_proto::frame;
use ferrofs_proto::meta_msg::{MetaRequest, MetaResponse};
use ferrofs_proto::{FsError, WireError};
use liveness::Liveness;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A peer that starts a request must finish sending its header within this time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a request may wait on Raft before the caller hears `Unavailable`.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Confirming leadership for a read.
    pub read: Duration,
    /// Committing and applying a write.
    pub write: Duration,
}

/// Everything a request handler needs; shared by all streams of a node.
pub struct MetaService {
    pub(crate) raft: MetaRaft,
    pub(crate) node_id: u64,
    pub(crate) sm: StateMachine,
    pub(crate) settings: ClusterSettings,
    pub(crate) liveness: Liveness,
    pub(crate) timeouts: Timeouts,
    /// Prometheus metrics, served by `crate::http`.
    pub(crate) metrics: Arc<MetaMetrics>,
    /// Progress of the reconciliation loop, for `ferrofs status`.
    pub(crate) repair: Arc<crate::reconcile::RepairStats>,
    /// Stray copies the data servers reported, waiting for the reconciler (leader only).
    pub(crate) strays: crate::reconcile::Strays,
    /// Mounts holding file locks and when they last renewed (leader only).
    pub(crate) lock_sessions: lock_sessions::LockSessions,
    /// Set once the namespace is known to be initialised (root, layout).
    initialised: AtomicBool,
    /// The voter change this leader is running, if any.
    membership_jobs: membership::MembershipJobs,
}

impl MetaService {
    pub fn new(
        raft: MetaRaft,
        node_id: u64,
        sm: StateMachine,
        settings: ClusterSettings,
        timeouts: Timeouts,
    ) -> MetaService {
        MetaService {
            raft,
            node_id,
            sm,
            settings,
            liveness: Liveness::default(),
            timeouts,
            metrics: Arc::new(MetaMetrics::new()),
            repair: Arc::default(),
            strays: crate::reconcile::Strays::default(),
            lock_sessions: lock_sessions::LockSessions::default(),
            initialised: AtomicBool::new(false),
            membership_jobs: membership::MembershipJobs::default(),
        }
    }

    /// This node's metrics.
    pub fn metrics(&self) -> &Arc<MetaMetrics> {
        &self.metrics
    }

    /// Serve one bidirectional stream.
    pub async fn handle_stream(&self, mut send: quinn::SendStream, mut recv: quinn::RecvStream) {
        let read = tokio::time::timeout(
            HEADER_READ_TIMEOUT,
            frame::read_msg::<MetaRequest>(&mut recv),
        );
        let received = read.await.unwrap_or(Err(WireError::Timeout));
        let response = match received {
            Ok(req) => {
                let op = request_kind(&req);
                let started = Instant::now();
                let response = self.dispatch(req, &mut recv).await;
                let ok = !matches!(response, MetaResponse::Error(_));
                self.metrics.observe_request(op, started.elapsed(), ok);
                response
            }
            Err(WireError::Transport(e)) => {
                tracing::debug!(error = %e, "request stream failed");
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "refusing a malformed request");
                // Tell the peer to stop sending whatever else it had.
                let _ = recv.stop(quinn::VarInt::from_u32(1));
                MetaResponse::Error(FsError::Invalid(format!("bad request: {e}")))
            }
        };
        if let Err(e) = frame::write_msg(&mut send, &response).await {
            tracing::debug!(error = %e, "sending a response");
            return;
        }
        let _ = send.finish();
    }

    async fn dispatch(&self, req: MetaRequest, recv: &mut quinn::RecvStream) -> MetaResponse {
        match req {
            MetaRequest::Raft(header) => {
                let reply =
                    serve::handle(&self.raft, self.node_id, self.sm.snapshots(), &header, recv)
                        .await;
                match rpc::encode(&reply) {
                    Ok(bytes) => MetaResponse::Raft(bytes),
                    Err(m) => MetaResponse::Error(FsError::Internal(m)),
                }
            }
            MetaRequest::Mutate { id, op } => self.mutate(id, op).await,
            MetaRequest::Heartbeat(info) => self.heartbeat(&info),
            MetaRequest::ReportStrays { server, chunks } => self.report_strays(server, &chunks),
            MetaRequest::KeepLocks { client } => self.keep_locks(client),
            MetaRequest::StatFs => self.stat_fs().await,
            MetaRequest::ClusterMap => self.cluster_map().await,
            MetaRequest::ClusterStatus => self.cluster_status().await,
            MetaRequest::Membership(change) => self.membership(change).await,
            read @ (MetaRequest::Lookup { .. }
            | MetaRequest::GetAttr { .. }
            | MetaRequest::ReadDir { .. }
            | MetaRequest::ReadLink { .. }
            | MetaRequest::GetXattr { .. }
            | MetaRequest::ListXattr { .. }
            | MetaRequest::GetChunks { .. }
            | MetaRequest::UnreferencedChunks { .. }
            | MetaRequest::StrayChunks { .. }
            | MetaRequest::TestLock { .. }) => self.read(read).await,
        }
    }
}
