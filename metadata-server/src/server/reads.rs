//! Linearizable reads: only the leader answers, after a read-index barrier, from a
//! point-in-time view of its state machine.

use super::MetaService;
use crate::namespace;
use crate::store::SmView;
use ferrofs_proto::meta_msg::{MetaRequest, MetaResponse};
use ferrofs_proto::FsError;
use openraft::ReadPolicy;
use std::fmt::Display;

impl MetaService {
    /// Run `f` on a snapshot of this node's state machine (no leadership check: the
    /// leader's own loops and local answers). A storage failure becomes `Internal`,
    /// naming `what` was read.
    pub(crate) async fn read_local<T, E, F>(&self, what: &str, f: F) -> Result<T, FsError>
    where
        F: FnOnce(&SmView<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Display + Send + 'static,
    {
        match self.sm.read(f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(FsError::Internal(format!("reading {what}: {e}"))),
            Err(e) => Err(FsError::Internal(format!("reading {what}: {e}"))),
        }
    }

    /// Confirm leadership and wait until everything committed before now is applied;
    /// then a local read is linearizable.
    ///
    /// The leader lease is tried first: while a quorum acknowledged this leader within
    /// the lease (`election_timeout_max`, during which no other leader can be elected),
    /// no network round trip is needed. This assumes clocks advance at about the same
    /// rate on the voters (not that they agree), as etcd's and TiKV's lease reads do.
    /// When the lease is stale, fall back to a read-index round with a quorum.
    pub(crate) async fn linearize(&self) -> Result<(), FsError> {
        if self
            .raft
            .ensure_linearizable(ReadPolicy::LeaseRead)
            .await
            .is_ok()
        {
            return self.ensure_initialised().await;
        }
        let barrier = self.raft.ensure_linearizable(ReadPolicy::ReadIndex);
        match tokio::time::timeout(self.timeouts.read, barrier).await {
            Ok(Ok(_)) => self.ensure_initialised().await,
            Ok(Err(e)) => Err(self.read_error(e)),
            Err(_) => Err(FsError::Unavailable(
                "timed out confirming leadership".into(),
            )),
        }
    }

    /// Run a namespace query on the state machine (after `linearize`).
    pub(crate) async fn query(&self, req: MetaRequest) -> Result<MetaResponse, FsError> {
        let settings = self.settings.clone();
        match self
            .sm
            .read(move |view| namespace::query(view, &settings, &req))
            .await
        {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading the namespace");
                Err(FsError::Internal(e.to_string()))
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the namespace");
                Err(FsError::Internal(e.to_string()))
            }
        }
    }

    pub(crate) async fn read(&self, req: MetaRequest) -> MetaResponse {
        if let Err(e) = self.linearize().await {
            return MetaResponse::Error(e);
        }
        self.query(req).await.unwrap_or_else(MetaResponse::Error)
    }
}
