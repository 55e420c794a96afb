//! Running one planned task: talk to the data servers, then commit what changed through
//! Raft. Every step is idempotent, so a task repeated after a failure or a leader change
//! is harmless.

use super::plan::{Peer, Task};
use super::stats::RepairStats;
use crate::namespace::ApplyContext;
use crate::server::MetaService;
use crate::types::{LogCommand, MetaCommand};
use ferrofs_proto::attr::Timestamp;
use ferrofs_proto::data_msg::{DataRequest, DataResponse};
use ferrofs_proto::endpoint::Connector;
use ferrofs_proto::ids::{ChunkId, NodeId};
use ferrofs_proto::meta_msg::{MetaOp, MetaResponse};
use std::sync::Arc;
use std::time::Duration;

/// A copy moves up to a whole chunk between two data servers.
const COPY_TIMEOUT: Duration = Duration::from_secs(90);
const SMALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a task stopped early (logged by the loop; the next round tries again).
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("data server {server} at {addr}: {reason}")]
    DataServer {
        server: NodeId,
        addr: String,
        reason: String,
    },
    #[error("committing {op}: {reason}")]
    Commit { op: &'static str, reason: String },
    #[error("data server {server} does not hold chunk {chunk}; surplus copy kept")]
    NotVerified { server: NodeId, chunk: ChunkId },
}

/// What the executor needs from its node.
#[derive(Clone)]
pub struct Executor {
    pub service: Arc<MetaService>,
    pub connector: Connector,
    pub stats: Arc<RepairStats>,
}

impl Executor {
    /// Have `target` copy the chunk from `source` (it verifies the blake3 before storing),
    /// then record the new copy through Raft.
    async fn copy_and_record(
        &self,
        chunk: ChunkId,
        hash: [u8; 32],
        source: &Peer,
        target: &Peer,
    ) -> Result<(), TaskError> {
        let req = DataRequest::CopyChunkFrom {
            id: chunk,
            hash,
            source_addr: source.addr.clone(),
        };
        self.expect(target, &req, COPY_TIMEOUT, |r| {
            matches!(r, DataResponse::Stored)
        })
        .await?;
        let op = MetaOp::AddReplica {
            chunk,
            server: target.id,
        };
        self.commit("add-replica", op).await
    }

    /// Run `task`; `len` is the chunk's size when known (for the bytes-reclaimed count).
    pub async fn run(&self, task: Task, len: Option<u64>) -> Result<(), TaskError> {
        match task {
            Task::Copy {
                chunk,
                hash,
                len: bytes,
                source,
                target,
                live,
            } => {
                self.copy_and_record(chunk, hash, &source, &target).await?;
                tracing::info!(%chunk, from = %source.id, to = %target.id, live, "chunk re-replicated");
                self.stats.repaired(chunk, live, bytes);
                Ok(())
            }
            Task::Move {
                chunk,
                hash,
                len,
                source,
                target,
            } => {
                self.copy_and_record(chunk, hash, &source, &target).await?;
                tracing::debug!(%chunk, from = %source.id, to = %target.id, "chunk moved onto its target");
                self.stats.moved(len);
                Ok(())
            }
            Task::Adopt {
                chunk,
                hash,
                source,
                target,
            } => {
                self.copy_and_record(chunk, hash, &source, &target).await?;
                self.service.strays.forget(chunk, target.id);
                tracing::info!(%chunk, server = %target.id, "stray copy verified and recorded");
                Ok(())
            }
            Task::RemoveSurplus {
                chunk,
                surplus,
                keep,
            } => {
                for p in &keep {
                    let req = DataRequest::HasChunk { id: chunk };
                    let present = self
                        .expect(p, &req, SMALL_TIMEOUT, |r| {
                            matches!(r, DataResponse::Present(_))
                        })
                        .await?;
                    if present != DataResponse::Present(true) {
                        return Err(TaskError::NotVerified {
                            server: p.id,
                            chunk,
                        });
                    }
                }
                // Location first: from here on no reader is sent to the copy we delete.
                let op = MetaOp::RemoveReplica {
                    chunk,
                    server: surplus.id,
                };
                self.commit("remove-replica", op).await?;
                self.delete(&surplus, chunk).await?;
                tracing::info!(%chunk, server = %surplus.id, "surplus copy removed");
                self.stats.surplus_removed();
                Ok(())
            }
            Task::Forget {
                chunk,
                servers,
                garbage,
            } => {
                for server in servers {
                    let (what, op) = if garbage {
                        ("garbage-deleted", MetaOp::GarbageDeleted { chunk, server })
                    } else {
                        ("remove-replica", MetaOp::RemoveReplica { chunk, server })
                    };
                    self.commit(what, op).await?;
                    tracing::info!(%chunk, %server, garbage, "removed server struck from the chunk's record");
                }
                Ok(())
            }
            Task::Collect { chunk, servers } => {
                for p in &servers {
                    // The plan is a snapshot: make sure no commit revived the chunk since.
                    self.still_garbage(chunk).await?;
                    self.delete(p, chunk).await?;
                    let op = MetaOp::GarbageDeleted {
                        chunk,
                        server: p.id,
                    };
                    self.commit("garbage-deleted", op).await?;
                    self.stats.copy_deleted(len.unwrap_or(0));
                }
                tracing::debug!(%chunk, copies = servers.len(), "garbage chunk deleted");
                self.stats.collected();
                Ok(())
            }
        }
    }

    async fn still_garbage(&self, chunk: ChunkId) -> Result<(), TaskError> {
        let refused = |reason: String| TaskError::Commit {
            op: "garbage check",
            reason,
        };
        self.service
            .linearize()
            .await
            .map_err(|e| refused(e.to_string()))?;
        let check = self
            .service
            .sm
            .read(move |v| crate::namespace::is_garbage(v, chunk))
            .await;
        match check {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(refused(format!("chunk {chunk} is no longer garbage"))),
            Ok(Err(e)) => Err(refused(e.to_string())),
            Err(e) => Err(refused(e.to_string())),
        }
    }

    async fn delete(&self, p: &Peer, chunk: ChunkId) -> Result<(), TaskError> {
        let req = DataRequest::DeleteChunk { id: chunk };
        self.expect(p, &req, SMALL_TIMEOUT, |r| {
            matches!(r, DataResponse::Deleted)
        })
        .await
        .map(drop)
    }

    /// One request to a data server whose answer must pass `ok`.
    async fn expect(
        &self,
        p: &Peer,
        req: &DataRequest,
        timeout: Duration,
        ok: impl Fn(&DataResponse) -> bool,
    ) -> Result<DataResponse, TaskError> {
        let err = |reason: String| TaskError::DataServer {
            server: p.id,
            addr: p.addr.clone(),
            reason,
        };
        match self
            .connector
            .call::<_, DataResponse>(&p.addr, req, timeout)
            .await
        {
            Ok(r) if ok(&r) => Ok(r),
            Ok(DataResponse::Error(e)) => Err(err(e.to_string())),
            Ok(other) => Err(err(format!("unexpected answer {other:?}"))),
            Err(e) => Err(err(e.to_string())),
        }
    }

    async fn commit(&self, op_name: &'static str, op: MetaOp) -> Result<(), TaskError> {
        let cmd = LogCommand::Meta(MetaCommand {
            request_id: None,
            ctx: ApplyContext {
                now: Timestamp::now(),
            },
            op,
        });
        match self.service.propose(cmd).await {
            Ok(MetaResponse::Error(e)) | Err(e) => Err(TaskError::Commit {
                op: op_name,
                reason: e.to_string(),
            }),
            Ok(_) => Ok(()),
        }
    }
}
