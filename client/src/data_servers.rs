//! Data-server administration sent to the metadata leader: a server's state, weight and
//! removal, and the runtime rebalance settings. Each is one Raft mutation.

use crate::{Client, ClientError};
use ferrofs_proto::meta_msg::{MetaOp, MetaResponse, ServerState};
use ferrofs_proto::NodeId;

impl Client {
    async fn admin(&self, op: &'static str, mop: MetaOp) -> Result<(), ClientError> {
        match self.mutate(op, mop).await? {
            MetaResponse::Done => Ok(()),
            other => Err(ClientError::protocol(op, other)),
        }
    }

    /// Stop placing chunks on `node` and move its copies away (state Draining).
    pub async fn drain_data_server(&self, node: NodeId) -> Result<(), ClientError> {
        let op = MetaOp::SetDataServer {
            node,
            state: Some(ServerState::Draining),
            weight: None,
        };
        self.admin("drain", op).await
    }

    /// End a drain: `node` takes chunks again (state Up).
    pub async fn undrain_data_server(&self, node: NodeId) -> Result<(), ClientError> {
        let op = MetaOp::SetDataServer {
            node,
            state: Some(ServerState::Up),
            weight: None,
        };
        self.admin("undrain", op).await
    }

    /// Set `node`'s relative share of chunks (0 takes none).
    pub async fn set_data_server_weight(
        &self,
        node: NodeId,
        weight: u32,
    ) -> Result<(), ClientError> {
        let op = MetaOp::SetDataServer {
            node,
            state: None,
            weight: Some(weight),
        };
        self.admin("set-weight", op).await
    }

    /// Remove a drained server, or with `force` one that is down past the grace period.
    pub async fn remove_data_server(&self, node: NodeId, force: bool) -> Result<(), ClientError> {
        self.admin("remove", MetaOp::RemoveDataServer { node, force })
            .await
    }

    /// Change the rebalance settings (`None` keeps a value).
    pub async fn set_rebalance(
        &self,
        paused: Option<bool>,
        rate_mib_per_sec: Option<u32>,
    ) -> Result<(), ClientError> {
        let op = MetaOp::SetRebalance {
            paused,
            rate_mib_per_sec,
        };
        self.admin("rebalance", op).await
    }
}
