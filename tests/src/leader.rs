//! Finding and following the metadata leader from a test.

use crate::raw;
use crate::TestCluster;
use anyhow::{bail, Result};
use ferrofs_proto::config::{ClientConfig, MetaConfig};
use ferrofs_proto::endpoint::Connector;
use ferrofs_proto::meta_msg::{ClusterStatus, MetaRequest, MetaResponse};
use ferrofs_proto::NodeId;
use std::time::Duration;

/// Raw access to the cluster's metadata servers with the client's certificate.
pub struct MetaProbe {
    pub conn: Connector,
    pub addrs: Vec<String>,
}

impl MetaProbe {
    pub fn new(cluster: &TestCluster) -> Result<MetaProbe> {
        let cfg: ClientConfig = ferrofs_proto::config::load(&cluster.client_config())?;
        Ok(MetaProbe {
            conn: raw::connector(&cfg)?,
            addrs: cfg.meta_addrs,
        })
    }

    /// The status as the current leader reports it.
    pub async fn status(&self) -> Result<ClusterStatus> {
        match raw::meta_call(&self.conn, &self.addrs, &MetaRequest::ClusterStatus).await? {
            MetaResponse::Status(s) => Ok(*s),
            other => bail!("ClusterStatus answered {other:?}"),
        }
    }

    /// Ask one server directly for its status, with a short timeout.
    pub async fn status_from(&self, addr: &str) -> Option<ClusterStatus> {
        status_from(&self.conn, addr).await
    }

    /// A leader other than `not`, as reported by a server that is itself that leader.
    /// Every server is asked at once, so a dead one costs no extra time.
    pub async fn leader_other_than(&self, not: Option<NodeId>) -> Option<NodeId> {
        let mut asks = tokio::task::JoinSet::new();
        for addr in self.addrs.clone() {
            let conn = self.conn.clone();
            asks.spawn(async move { status_from(&conn, &addr).await });
        }
        while let Some(answer) = asks.join_next().await {
            if let Ok(Some(s)) = answer {
                if s.leader.is_some() && s.leader != not {
                    return s.leader;
                }
            }
        }
        None
    }
}

async fn status_from(conn: &Connector, addr: &str) -> Option<ClusterStatus> {
    let ask = MetaRequest::ClusterStatus;
    match conn
        .call::<_, MetaResponse>(addr, &ask, Duration::from_millis(100))
        .await
    {
        Ok(MetaResponse::Status(s)) => Some(*s),
        _ => None,
    }
}

/// The process name of metadata node `id` ("meta-<id>").
pub fn meta_name(id: NodeId) -> String {
    format!("meta-{}", id.0)
}

/// The election timeout maximum the cluster's metadata servers run with.
pub fn election_timeout_max(cluster: &TestCluster) -> Result<Duration> {
    let cfg: MetaConfig =
        ferrofs_proto::config::load(&cluster.dir().join("meta-1").join("meta.toml"))?;
    Ok(cfg.raft.election_timeout_max)
}
