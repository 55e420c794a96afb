//! The sending side of Raft RPCs: openraft's network factory over the shared QUIC
//! connector.

use super::rpc::{self, RaftHeader, RaftReply, RaftRpc};
use crate::store::SnapshotData;
use crate::types::{TypeConfig, Vote};
use ferrofs_proto::endpoint::Connector;
use ferrofs_proto::frame;
use ferrofs_proto::meta_msg::{MetaRequest, MetaResponse};
use ferrofs_proto::WireError;
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::v2::RaftNetworkV2;
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend};
use std::future::Future;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Creates one `PeerClient` per target; all share the node's QUIC endpoint.
#[derive(Clone)]
pub struct Network {
    connector: Connector,
}

impl Network {
    pub fn new(connector: Connector) -> Network {
        Network { connector }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerClient {
        PeerClient {
            connector: self.connector.clone(),
            target,
            addr: node.addr.clone(),
        }
    }
}

/// Sends Raft RPCs to one peer.
pub struct PeerClient {
    connector: Connector,
    target: u64,
    addr: String,
}

/// Why an RPC failed, before it becomes openraft's error type.
#[derive(Debug)]
enum CallError {
    /// Could not reach the peer: openraft backs off.
    Unreachable(String),
    /// The exchange failed midway or the peer refused it.
    Network(String),
}

impl From<WireError> for CallError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Connect { .. } | WireError::Timeout => CallError::Unreachable(e.to_string()),
            other => CallError::Network(other.to_string()),
        }
    }
}

impl From<CallError> for RPCError<TypeConfig> {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Unreachable(m) => RPCError::Unreachable(Unreachable::from_string(m)),
            CallError::Network(m) => RPCError::Network(NetworkError::from_string(m)),
        }
    }
}

impl From<CallError> for StreamingError<TypeConfig> {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Unreachable(m) => StreamingError::Unreachable(Unreachable::from_string(m)),
            CallError::Network(m) => StreamingError::Network(NetworkError::from_string(m)),
        }
    }
}

/// What follows the header on the stream.
enum Payload {
    None,
    Bytes(Vec<u8>),
    File(std::fs::File, u64),
}

impl PeerClient {
    async fn call(
        &self,
        rpc: RaftRpc,
        payload: Payload,
        timeout: Duration,
    ) -> Result<RaftReply, CallError> {
        let header = rpc::encode(&RaftHeader {
            to: self.target,
            rpc,
        })
        .map_err(CallError::Network)?;
        let work = async {
            let (mut send, mut recv) = self.connector.open(&self.addr).await?;
            frame::write_msg(&mut send, &MetaRequest::Raft(header)).await?;
            match payload {
                Payload::None => {}
                Payload::Bytes(b) => send.write_all(&b).await?,
                Payload::File(file, len) => {
                    let mut file = tokio::fs::File::from_std(file);
                    let mut buf = vec![0u8; 1 << 20];
                    let mut left = len;
                    while left > 0 {
                        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                        let n = file.read(&mut buf[..want]).await?;
                        if n == 0 {
                            return Err(WireError::Truncated);
                        }
                        send.write_all(&buf[..n]).await?;
                        left -= n as u64;
                    }
                }
            }
            send.finish()?;
            frame::read_msg::<MetaResponse>(&mut recv).await
        };
        let reply = match tokio::time::timeout(timeout, work).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                self.connector.forget(&self.addr);
                return Err(e.into());
            }
            Err(_) => {
                // A dead peer keeps a cached connection alive until the idle timeout;
                // dial afresh next time.
                self.connector.forget(&self.addr);
                return Err(CallError::Unreachable(format!("{} timed out", self.addr)));
            }
        };
        match reply {
            MetaResponse::Raft(bytes) => match rpc::decode::<RaftReply>(&bytes) {
                Ok(RaftReply::WrongNode { actual }) => Err(CallError::Unreachable(format!(
                    "{} is node {actual}, not node {}",
                    self.addr, self.target
                ))),
                Ok(RaftReply::Failed(m)) => {
                    Err(CallError::Network(format!("node {}: {m}", self.target)))
                }
                Ok(reply) => Ok(reply),
                Err(m) => Err(CallError::Network(m)),
            },
            MetaResponse::Error(e) => Err(CallError::Network(format!("node {}: {e}", self.target))),
            other => Err(CallError::Network(format!(
                "unexpected reply to a raft rpc: {other:?}"
            ))),
        }
    }

    fn unexpected(&self, reply: RaftReply) -> CallError {
        CallError::Network(format!(
            "node {} sent a mismatched reply: {reply:?}",
            self.target
        ))
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        req: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let bytes = rpc::encode(&req).map_err(CallError::Network)?;
        let len = bytes.len() as u64;
        match self
            .call(
                RaftRpc::Append { len },
                Payload::Bytes(bytes),
                option.soft_ttl(),
            )
            .await?
        {
            RaftReply::Append(resp) => Ok(resp),
            other => Err(self.unexpected(other).into()),
        }
    }

    async fn vote(
        &mut self,
        req: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .call(RaftRpc::Vote(req), Payload::None, option.soft_ttl())
            .await?
        {
            RaftReply::Vote(resp) => Ok(resp),
            other => Err(self.unexpected(other).into()),
        }
    }

    async fn pre_vote(
        &mut self,
        req: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .call(RaftRpc::PreVote(req), Payload::None, option.soft_ttl())
            .await?
        {
            RaftReply::Vote(resp) => Ok(resp),
            other => Err(self.unexpected(other).into()),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let len = snapshot
            .snapshot
            .len()
            .map_err(|e| CallError::Network(e.to_string()))?;
        let mut file = snapshot.snapshot.into_file();
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))
            .map_err(|e| CallError::Network(e.to_string()))?;
        let rpc = RaftRpc::Snapshot {
            vote,
            meta: snapshot.meta,
            len,
        };
        tracing::info!(target_node = self.target, len, "sending a snapshot");
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            reply = self.call(rpc, Payload::File(file, len), option.hard_ttl()) => match reply? {
                RaftReply::Snapshot(resp) => Ok(resp),
                other => Err(self.unexpected(other).into()),
            },
        }
    }
}
