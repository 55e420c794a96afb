//! Cluster-level reads: the data-server map, file-system usage and `ferrofs status`.
//! They merge the Raft registry with the leader's in-memory liveness.

use super::MetaService;
use crate::namespace;
use ferrofs_proto::meta_msg::{
    ClusterStatus, DataServerInfo, MetaRequest, MetaResponse, ServerState, VoterStatus,
};
use ferrofs_proto::{FsError, NodeId};
use openraft::type_config::async_runtime::WatchReceiver;

impl MetaService {
    /// Registered data servers with their live state and latest usage.
    pub(crate) async fn data_servers(&self) -> Result<Vec<DataServerInfo>, FsError> {
        let registry = self
            .read_local("the data servers", |view| namespace::data_servers(view))
            .await?;
        Ok(self.liveness.merge(registry, &self.settings))
    }

    /// The loop's rebalance progress with the settings currently in Raft state.
    pub(crate) async fn rebalance_status(
        &self,
    ) -> Result<ferrofs_proto::meta_msg::RebalanceStatus, FsError> {
        let settings = self
            .read_local("the rebalance settings", |view| {
                namespace::rebalance_settings(view)
            })
            .await?;
        let mut status = self.repair.rebalance_snapshot();
        status.paused = settings.paused;
        status.rate_mib_per_sec = settings.rate_mib_per_sec;
        Ok(status)
    }

    pub(crate) async fn cluster_map(&self) -> MetaResponse {
        let result = async {
            self.linearize().await?;
            let servers = self.data_servers().await?;
            match self.query(MetaRequest::ClusterMap).await? {
                MetaResponse::Map(mut map) => {
                    map.data_servers = servers;
                    Ok(MetaResponse::Map(map))
                }
                other => Ok(other),
            }
        };
        result.await.unwrap_or_else(MetaResponse::Error)
    }

    pub(crate) async fn stat_fs(&self) -> MetaResponse {
        let result = async {
            self.linearize().await?;
            let servers = self.data_servers().await?;
            let (files, inline) = self
                .read_local("the file counts", |view| namespace::stat_fs_counts(view))
                .await?;
            let serving = servers
                .iter()
                .filter(|s| !matches!(s.state, ServerState::Down | ServerState::Removed));
            // Live usage from heartbeats, plus small files kept in the metadata.
            let live: u64 = serving.clone().map(|s| s.used).sum();
            Ok::<_, FsError>(MetaResponse::StatFs(ferrofs_proto::meta_msg::StatFs {
                capacity: serving.map(|s| s.capacity).sum(),
                used: live.saturating_add(inline),
                files,
            }))
        };
        result.await.unwrap_or_else(MetaResponse::Error)
    }

    pub(crate) async fn cluster_status(&self) -> MetaResponse {
        let result = async {
            self.linearize().await?;
            let data_servers = self.data_servers().await?;
            let counts = self
                .read_local("the namespace counts", |view| namespace::counts(view))
                .await?;
            let metrics = self.raft.metrics();
            let m = metrics.borrow_watched().clone();
            let membership = m.membership_config.membership();
            let voter_ids: Vec<u64> = membership.voter_ids().collect();
            let reachable = self.reachable(&m);
            let voters = membership
                .nodes()
                .map(|(id, node)| {
                    let role = if m.current_leader == Some(*id) {
                        "leader"
                    } else if m.heartbeat.is_some() && !reachable.contains(id) {
                        "unreachable"
                    } else if voter_ids.contains(id) {
                        "follower"
                    } else {
                        "learner"
                    };
                    let matched_index = if *id == self.node_id {
                        m.last_log_index
                    } else {
                        m.replication
                            .as_ref()
                            .and_then(|r| r.get(id).cloned().flatten())
                            .map(|l| l.index)
                    };
                    VoterStatus {
                        id: NodeId(*id),
                        addr: node.addr.clone(),
                        role: role.to_string(),
                        matched_index,
                    }
                })
                .collect();
            Ok(MetaResponse::Status(Box::new(ClusterStatus {
                leader: m.current_leader.map(NodeId),
                term: m.current_term,
                commit_index: m.local_committed.as_ref().map_or(0, |l| l.index),
                voters,
                data_servers,
                files: counts.files,
                dirs: counts.dirs,
                chunks: counts.chunks,
                under_replicated: counts.under_replicated,
                logical_bytes: counts.logical_bytes,
                replication: self.settings.replication,
                repair: self.repair.snapshot(),
                rebalance: self.rebalance_status().await?,
            })))
        };
        result.await.unwrap_or_else(MetaResponse::Error)
    }
}
