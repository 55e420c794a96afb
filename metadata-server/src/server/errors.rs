//! Turning openraft's errors into the `FsError`s clients act on: `NotLeader` (retry
//! at the named leader) and `Unavailable` (retry later).

use super::MetaService;
use crate::types::TypeConfig;
use ferrofs_proto::FsError;
use openraft::errors::{
    ClientWriteError, Fatal, ForwardToLeader, LinearizableReadError, RaftError,
};

impl MetaService {
    /// The address of the current leader, if this node knows it.
    pub(crate) fn leader_addr(&self, leader: Option<u64>) -> Option<String> {
        let leader = leader?;
        let metrics = self.raft.metrics();
        let m = openraft::type_config::async_runtime::WatchReceiver::borrow_watched(&metrics);
        m.membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
    }

    pub(crate) fn not_leader(&self, fwd: &ForwardToLeader<TypeConfig>) -> FsError {
        let leader_addr = match &fwd.leader_node {
            Some(node) => Some(node.addr.clone()),
            None => self.leader_addr(fwd.leader_id),
        };
        FsError::NotLeader { leader_addr }
    }

    pub(crate) fn read_error(
        &self,
        e: RaftError<TypeConfig, LinearizableReadError<TypeConfig>>,
    ) -> FsError {
        match e {
            RaftError::APIError(LinearizableReadError::ForwardToLeader(f)) => self.not_leader(&f),
            RaftError::APIError(LinearizableReadError::QuorumNotEnough(q)) => {
                FsError::Unavailable(format!("cannot confirm leadership: {q}"))
            }
            RaftError::Fatal(f) => stopped(&f),
        }
    }

    pub(crate) fn write_error(
        &self,
        e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>,
    ) -> FsError {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => self.not_leader(&f),
            RaftError::APIError(ClientWriteError::LogEntryDiscarded(_)) => FsError::Unavailable(
                "the leader changed before the request committed; retry it".into(),
            ),
            RaftError::APIError(other) => FsError::Internal(other.to_string()),
            RaftError::Fatal(f) => stopped(&f),
        }
    }
}

fn stopped(f: &Fatal<TypeConfig>) -> FsError {
    FsError::Unavailable(format!("this metadata server is stopping: {f}"))
}
