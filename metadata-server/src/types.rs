//! The Raft type configuration: what a log entry carries and what applying it returns.

use crate::namespace::ApplyContext;
use ferrofs_proto::attr::Timestamp;
use ferrofs_proto::config::ClusterSettings;
use ferrofs_proto::meta_msg::{MetaOp, MetaResponse};
use ferrofs_proto::{ChunkId, ClientId, RequestId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The payload of one normal log entry: a namespace or cluster mutation, with the
/// context the leader fixed before proposing it (so every replica applies it alike).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaCommand {
    /// Set for client mutations; a retry with the same id is answered from the
    /// dedup record instead of being applied twice.
    pub request_id: Option<RequestId>,
    pub ctx: ApplyContext,
    pub op: MetaOp,
}

/// What one normal log entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogCommand {
    /// A client's (or a data server's) mutation.
    Meta(MetaCommand),
    /// Create the root directory if it does not exist and store the cluster layout
    /// (chunk size, replication); proposed by a leader that finds the namespace
    /// uninitialised, so the root gets the leader's clock rather than a made-up one.
    Init {
        ctx: ApplyContext,
        settings: ClusterSettings,
    },
    /// Drop the dedup records of `clients` last seen before `before` (the leader's
    /// sweep lists them; see `store::dedup`). `now` starts the clock of a client that
    /// has no last-seen time yet.
    ExpireDedup {
        clients: Vec<ClientId>,
        before: Timestamp,
        now: Timestamp,
    },
    /// Drop the orphan marks of `chunks` made before `before` (the leader's
    /// housekeeping lists them; see `namespace::orphans`).
    ExpireOrphanMarks {
        chunks: Vec<ChunkId>,
        before: Timestamp,
        now: Timestamp,
    },
}

impl fmt::Display for LogCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogCommand::Meta(cmd) => cmd.fmt(f),
            LogCommand::Init { .. } => write!(f, "Init"),
            LogCommand::ExpireDedup { clients, .. } => {
                write!(f, "ExpireDedup({} clients)", clients.len())
            }
            LogCommand::ExpireOrphanMarks { chunks, .. } => {
                write!(f, "ExpireOrphanMarks({} chunks)", chunks.len())
            }
        }
    }
}

impl fmt::Display for MetaCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.request_id {
            Some(id) => write!(f, "MetaCommand({id}: {})", op_name(&self.op)),
            None => write!(f, "MetaCommand({})", op_name(&self.op)),
        }
    }
}

/// A short name of an op, for logs and spans, and the `op` label of the metrics (which
/// the Grafana dashboard in deploy/ and the tests query): snake_case.
pub fn op_name(op: &MetaOp) -> &'static str {
    match op {
        MetaOp::Create { .. } => "create",
        MetaOp::Mkdir { .. } => "mkdir",
        MetaOp::Symlink { .. } => "symlink",
        MetaOp::Link { .. } => "link",
        MetaOp::Unlink { .. } => "unlink",
        MetaOp::Rmdir { .. } => "rmdir",
        MetaOp::Rename { .. } => "rename",
        MetaOp::SetAttr { .. } => "setattr",
        MetaOp::SetXattr { .. } => "setxattr",
        MetaOp::RemoveXattr { .. } => "removexattr",
        MetaOp::CommitChunks { .. } => "commit_chunks",
        MetaOp::CommitPatch { .. } => "commit_patch",
        MetaOp::RegisterDataServer { .. } => "register_data_server",
        MetaOp::ReportBadReplica { .. } => "report_bad_replica",
        MetaOp::AddReplica { .. } => "add_replica",
        MetaOp::RemoveReplica { .. } => "remove_replica",
        MetaOp::GarbageDeleted { .. } => "garbage_deleted",
        MetaOp::SetDataServer { .. } => "set_data_server",
        MetaOp::RemoveDataServer { .. } => "remove_data_server",
        MetaOp::SetRebalance { .. } => "set_rebalance",
        MetaOp::RegisterDataServerWeighted { .. } => "register_data_server",
        MetaOp::ReportOrphans { .. } => "report_orphans",
        MetaOp::CommitOver { .. } => "commit_over",
        MetaOp::SetLock { .. } => "set_lock",
        MetaOp::Unlock { .. } => "unlock",
        MetaOp::ExpireLockSessions { .. } => "expire_lock_sessions",
    }
}

openraft::declare_raft_types!(
    /// ferrofs's openraft types: node ids are `u64` (`ferrofs_proto::NodeId.0`), a node
    /// is its QUIC address.
    pub TypeConfig:
        D = LogCommand,
        R = MetaResponse,
        NodeId = u64,
        Node = openraft::BasicNode,
);

/// The Raft handle of a metadata server.
pub type MetaRaft = openraft::Raft<TypeConfig, crate::store::StateMachine>;

/// Log id, vote and other aliases bound to our config.
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
