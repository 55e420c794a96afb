//! Guard against initialising a second cluster. A node with an empty log is either
//! booting a new cluster for the first time or was wiped (its folder lost) and restarted
//! under its old id. Before initialising, it asks the other initial voters: if any of
//! them already belongs to a running cluster (it reports a status or names a leader),
//! this node must not initialise; it waits empty, and the leader brings it up to date.

use ferrofs_proto::config::PeerConfig;
use ferrofs_proto::endpoint::Connector;
use ferrofs_proto::meta_msg::{MetaRequest, MetaResponse};
use ferrofs_proto::{FsError, NodeId};
use std::time::Duration;

/// How long each peer gets to answer.
const ASK_TIMEOUT: Duration = Duration::from_millis(500);

/// Does any other initial voter already serve an initialised cluster?
pub(crate) async fn cluster_exists(
    connector: &Connector,
    peers: &[PeerConfig],
    me: NodeId,
) -> bool {
    let mut asks = tokio::task::JoinSet::new();
    for peer in peers.iter().filter(|p| p.id != me) {
        let (connector, addr) = (connector.clone(), peer.addr.clone());
        asks.spawn(async move {
            let answer = connector
                .call::<_, MetaResponse>(&addr, &MetaRequest::ClusterStatus, ASK_TIMEOUT)
                .await;
            (addr, answer.map(|r| shows_a_cluster(&r)).unwrap_or(false))
        });
    }
    while let Some(done) = asks.join_next().await {
        if let Ok((addr, true)) = done {
            tracing::warn!(
                peer = %addr,
                "this node's log is empty but its peers already run a cluster (was its data \
                 folder wiped?); not initialising, waiting for the leader to send the log"
            );
            asks.abort_all();
            return true;
        }
    }
    false
}

/// An answer that only a member of an initialised cluster gives.
fn shows_a_cluster(resp: &MetaResponse) -> bool {
    match resp {
        MetaResponse::Status(s) => !s.voters.is_empty(),
        MetaResponse::Error(FsError::NotLeader { leader_addr }) => leader_addr.is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_known_leader_or_a_status_shows_a_cluster() {
        let no_leader = MetaResponse::Error(FsError::NotLeader { leader_addr: None });
        assert!(!shows_a_cluster(&no_leader));
        let election = MetaResponse::Error(FsError::Unavailable("election".into()));
        assert!(!shows_a_cluster(&election));
        let follower = MetaResponse::Error(FsError::NotLeader {
            leader_addr: Some("127.0.0.1:1".into()),
        });
        assert!(shows_a_cluster(&follower));
    }
}
