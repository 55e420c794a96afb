//! Mutations: the leader fixes the apply context, proposes the command and answers
//! with the applied response once it is committed and applied.

use super::MetaService;
use crate::namespace::ApplyContext;
use crate::types::{op_name, LogCommand, MetaCommand};
use ferrofs_proto::attr::Timestamp;
use ferrofs_proto::meta_msg::{HeartbeatInfo, MetaOp, MetaResponse, MAX_ORPHAN_BATCH};
use ferrofs_proto::{ChunkId, FsError, NodeId, RequestId};
use std::sync::atomic::Ordering;
use tracing::Instrument;

impl MetaService {
    /// Propose `cmd` and wait for its applied response.
    pub(crate) async fn propose(&self, cmd: LogCommand) -> Result<MetaResponse, FsError> {
        match tokio::time::timeout(self.timeouts.write, self.raft.client_write(cmd)).await {
            Ok(Ok(resp)) => Ok(resp.data),
            Ok(Err(e)) => Err(self.write_error(e)),
            Err(_) => Err(FsError::Unavailable(
                "timed out waiting for the quorum to commit".into(),
            )),
        }
    }

    /// Make sure the namespace has its root and layout, proposing `Init` if not.
    pub(crate) async fn ensure_initialised(&self) -> Result<(), FsError> {
        if self.initialised.load(Ordering::Acquire) {
            return Ok(());
        }
        let ready = self
            .sm
            .root_ready()
            .await
            .map_err(|e| FsError::Internal(e.to_string()))?;
        if !ready {
            let ctx = ApplyContext {
                now: Timestamp::now(),
            };
            let init = LogCommand::Init {
                ctx,
                settings: self.settings.clone(),
            };
            match self.propose(init).await? {
                MetaResponse::Error(e) => tracing::warn!(error = %e, "initialising the namespace"),
                _ => tracing::info!("initialised the namespace"),
            }
        }
        self.initialised.store(true, Ordering::Release);
        Ok(())
    }

    pub(crate) async fn mutate(&self, id: RequestId, op: MetaOp) -> MetaResponse {
        let span = tracing::debug_span!("mutate", request = %id, op = op_name(&op));
        async move {
            if let Err(e) = self.ensure_initialised().await {
                return MetaResponse::Error(e);
            }
            if let Err(e) = self.check_admin(&op).await {
                return MetaResponse::Error(e);
            }
            let ctx = ApplyContext {
                now: Timestamp::now(),
            };
            let cmd = MetaCommand {
                request_id: Some(id),
                ctx,
                op,
            };
            if super::ack_early::enabled() {
                return self.ack_before_commit(cmd).await;
            }
            self.propose(LogCommand::Meta(cmd))
                .await
                .unwrap_or_else(MetaResponse::Error)
        }
        .instrument(span)
        .await
    }

    pub(crate) fn heartbeat(&self, info: &HeartbeatInfo) -> MetaResponse {
        match self.raft.as_leader() {
            Ok(_) => {
                self.liveness.record(info);
                MetaResponse::HeartbeatAck
            }
            Err(fwd) => MetaResponse::Error(self.not_leader(&fwd)),
        }
    }

    /// `ReportStrays`: hand the copies to the reconciler (leader only; not durable).
    pub(crate) fn report_strays(&self, server: NodeId, chunks: &[ChunkId]) -> MetaResponse {
        if let Err(fwd) = self.raft.as_leader() {
            return MetaResponse::Error(self.not_leader(&fwd));
        }
        if chunks.len() > MAX_ORPHAN_BATCH {
            return MetaResponse::Error(FsError::Invalid(format!(
                "{} chunk ids in one request; at most {MAX_ORPHAN_BATCH}",
                chunks.len()
            )));
        }
        let taken = self.strays.report(server, chunks);
        if taken < chunks.len() {
            tracing::warn!(
                %server,
                dropped = chunks.len() - taken,
                "too many stray copies waiting; the rest are reported again later"
            );
        }
        MetaResponse::Done
    }
}
