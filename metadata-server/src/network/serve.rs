//! The receiving side of Raft RPCs: decode, check the addressee, read the payload
//! within its limit, hand it to the local Raft and build the reply.

use super::rpc::{self, RaftHeader, RaftReply, RaftRpc, MAX_APPEND_BYTES};
use crate::store::{SnapshotData, SnapshotDir};
use crate::types::MetaRaft;
use ferrofs_proto::frame;
use ferrofs_proto::limits::MAX_SNAPSHOT_BYTES;
use openraft::raft::AppendEntriesRequest;
use openraft::storage::Snapshot;
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// Handle one Raft RPC whose framed header was `header`; the payload, if any, is
/// still on `recv`.
pub async fn handle(
    raft: &MetaRaft,
    me: u64,
    snapshots: &SnapshotDir,
    header: &[u8],
    recv: &mut quinn::RecvStream,
) -> RaftReply {
    let header: RaftHeader = match rpc::decode(header) {
        Ok(h) => h,
        Err(m) => return RaftReply::Failed(m),
    };
    if header.to != me {
        return RaftReply::WrongNode { actual: me };
    }
    match header.rpc {
        RaftRpc::Append { len } => {
            if len > MAX_APPEND_BYTES {
                return RaftReply::Failed(format!(
                    "append of {len} bytes exceeds {MAX_APPEND_BYTES}"
                ));
            }
            let bytes = match frame::read_payload(recv, len).await {
                Ok(b) => b,
                Err(e) => return RaftReply::Failed(format!("reading entries: {e}")),
            };
            let req: AppendEntriesRequest<_> = match rpc::decode(&bytes) {
                Ok(r) => r,
                Err(m) => return RaftReply::Failed(m),
            };
            match raft.append_entries(req).await {
                Ok(resp) => RaftReply::Append(resp),
                Err(e) => RaftReply::Failed(e.to_string()),
            }
        }
        RaftRpc::Vote(req) => match raft.vote(req).await {
            Ok(resp) => RaftReply::Vote(resp),
            Err(e) => RaftReply::Failed(e.to_string()),
        },
        RaftRpc::PreVote(req) => match raft.pre_vote(req).await {
            Ok(resp) => RaftReply::Vote(resp),
            Err(e) => RaftReply::Failed(e.to_string()),
        },
        RaftRpc::Snapshot { vote, meta, len } => {
            if len > MAX_SNAPSHOT_BYTES {
                return RaftReply::Failed(format!(
                    "snapshot of {len} bytes exceeds {MAX_SNAPSHOT_BYTES}"
                ));
            }
            let tmp = snapshots.temp_path("incoming");
            let reply = match receive_file(recv, &tmp, len).await {
                Ok(()) => match SnapshotData::open(&tmp) {
                    Ok(data) => {
                        tracing::info!(len, "received a snapshot; installing");
                        match raft
                            .install_full_snapshot(
                                vote,
                                Snapshot {
                                    meta,
                                    snapshot: data,
                                },
                            )
                            .await
                        {
                            Ok(resp) => RaftReply::Snapshot(resp),
                            Err(e) => RaftReply::Failed(e.to_string()),
                        }
                    }
                    Err(e) => RaftReply::Failed(format!("opening the received snapshot: {e}")),
                },
                Err(e) => RaftReply::Failed(format!("receiving a snapshot: {e}")),
            };
            // Installed snapshots were renamed away; anything left is a refused one.
            if tmp.exists() {
                let _ = tokio::fs::remove_file(&tmp).await;
            }
            reply
        }
    }
}

/// Copy exactly `len` bytes from the stream into `path` and fsync it.
async fn receive_file(recv: &mut quinn::RecvStream, path: &Path, len: u64) -> Result<(), String> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        match recv
            .read(&mut buf[..want])
            .await
            .map_err(|e| e.to_string())?
        {
            Some(n) => {
                file.write_all(&buf[..n]).await.map_err(|e| e.to_string())?;
                left -= n as u64;
            }
            None => return Err(format!("stream ended with {left} bytes missing")),
        }
    }
    file.sync_all().await.map_err(|e| e.to_string())
}
