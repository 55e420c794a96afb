//! `/api/status`: the leader's `ClusterStatus`, asked over QUIC when this node is a
//! follower, so every metadata server's dashboard shows the same view.

use super::HttpApp;
use ferrofs_proto::meta_msg::{ClusterStatus, MetaRequest, MetaResponse};
use ferrofs_proto::FsError;
use std::time::Duration;

/// One call to the leader.
const LEADER_TIMEOUT: Duration = Duration::from_secs(3);

pub(super) async fn leader_status(app: &HttpApp) -> Result<ClusterStatus, FsError> {
    let leader_addr = match app.service.cluster_status().await {
        MetaResponse::Status(s) => return Ok(*s),
        MetaResponse::Error(FsError::NotLeader {
            leader_addr: Some(addr),
        }) => addr,
        MetaResponse::Error(e) => return Err(e),
        other => return Err(FsError::Internal(format!("unexpected reply {other:?}"))),
    };
    let reply: MetaResponse = app
        .connector
        .call(&leader_addr, &MetaRequest::ClusterStatus, LEADER_TIMEOUT)
        .await
        .map_err(|e| FsError::Unavailable(format!("asking leader {leader_addr}: {e}")))?;
    match reply {
        MetaResponse::Status(s) => Ok(*s),
        MetaResponse::Error(e) => Err(e),
        other => Err(FsError::Internal(format!("unexpected reply {other:?}"))),
    }
}
