//! What travels inside `MetaRequest::Raft` / `MetaResponse::Raft` between voters.
//!
//! A Raft RPC is one QUIC stream: `MetaRequest::Raft(postcard(RaftHeader))` as the
//! framed header, then (for `Append` and `Snapshot`) a raw payload whose length the
//! header states, then the reply `MetaResponse::Raft(postcard(RaftReply))`. Entries
//! and snapshots go as payloads so they are not bound by the 4 MiB header limit.

use crate::types::{SnapshotMeta, TypeConfig, Vote};
use openraft::raft::{AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse};
use serde::{Deserialize, Serialize};

/// Largest `AppendEntries` payload accepted (the request, postcard-encoded).
pub const MAX_APPEND_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
pub struct RaftHeader {
    /// The node the sender means to reach; a node refuses RPCs addressed to another
    /// (a restarted or moved node on a reused address).
    pub to: u64,
    pub rpc: RaftRpc,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRpc {
    /// Followed by `len` bytes: a postcard `AppendEntriesRequest`.
    Append {
        len: u64,
    },
    Vote(VoteRequest<TypeConfig>),
    PreVote(VoteRequest<TypeConfig>),
    /// Followed by `len` bytes of snapshot file.
    Snapshot {
        vote: Vote,
        meta: SnapshotMeta,
        len: u64,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RaftReply {
    Append(AppendEntriesResponse<TypeConfig>),
    Vote(VoteResponse<TypeConfig>),
    Snapshot(SnapshotResponse<TypeConfig>),
    /// The RPC was addressed to another node id.
    WrongNode {
        actual: u64,
    },
    /// The receiver could not handle it (malformed, too large, Raft stopped).
    Failed(String),
}

pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, String> {
    postcard::to_stdvec(v).map_err(|e| format!("encoding raft message: {e}"))
}

pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("decoding raft message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespace::ApplyContext;
    use crate::types::{Entry, LogCommand, MetaCommand};
    use ferrofs_proto::attr::Timestamp;
    use ferrofs_proto::meta_msg::MetaOp;
    use ferrofs_proto::{ClientId, InodeId, RequestId};
    use openraft::entry::RaftEntry;
    use openraft::raft::AppendEntriesRequest;
    use openraft::testing::log_id;

    #[test]
    fn openraft_messages_survive_postcard() {
        let cmd = LogCommand::Meta(MetaCommand {
            request_id: Some(RequestId {
                client: ClientId(3),
                seq: 9,
            }),
            ctx: ApplyContext { now: Timestamp(42) },
            op: MetaOp::Mkdir {
                parent: InodeId::ROOT,
                name: b"d".to_vec(),
                mode: 0o755,
                uid: 1,
                gid: 2,
            },
        });
        let req = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 1),
            prev_log_id: Some(log_id::<TypeConfig>(2, 1, 4)),
            entries: vec![
                Entry::new_blank(log_id::<TypeConfig>(3, 1, 5)),
                Entry::new_normal(log_id::<TypeConfig>(3, 1, 6), cmd),
            ],
            leader_commit: Some(log_id::<TypeConfig>(2, 1, 4)),
        };
        let bytes = encode(&req).expect("encode");
        let back: AppendEntriesRequest<TypeConfig> = decode(&bytes).expect("decode");
        assert_eq!(format!("{req:?}"), format!("{back:?}"));

        let header = RaftHeader {
            to: 2,
            rpc: RaftRpc::Snapshot {
                vote: Vote::new(4, 2),
                meta: SnapshotMeta::default(),
                len: 10,
            },
        };
        let bytes = encode(&header).expect("encode");
        let back: RaftHeader = decode(&bytes).expect("decode");
        assert_eq!(format!("{header:?}"), format!("{back:?}"));
    }
}
