//! An in-process cluster of metadata servers on loopback for the integration tests:
//! each node has its own temp folder and a port bound before the configs are written.
#![allow(dead_code)]

use ferrofs_meta::{bind, MetaNode};
use ferrofs_proto::config::{ClusterSettings, MetaConfig, PeerConfig, RaftTiming};
use ferrofs_proto::endpoint::{server_endpoint, Connector};
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse};
use ferrofs_proto::tls::{ClusterCa, TlsIdentity, TlsPaths};
use ferrofs_proto::{ClientId, FsError, InodeId, NodeId, RequestId};
use openraft::type_config::async_runtime::WatchReceiver;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub const HEARTBEAT: Duration = Duration::from_millis(100);
pub const ELECTION_MIN: Duration = Duration::from_millis(500);
pub const ELECTION_MAX: Duration = Duration::from_millis(1000);
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// Poll `cond` until it returns `Some`, or panic after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut cond: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub struct TestNode {
    pub id: u64,
    pub cfg: MetaConfig,
    pub node: Option<MetaNode>,
}

pub struct TestCluster {
    pub dir: TempDir,
    pub nodes: Vec<TestNode>,
    pub client: Connector,
    client_id: ClientId,
    seq: AtomicU64,
}

impl TestCluster {
    pub async fn start(n: usize) -> TestCluster {
        TestCluster::start_with(n, 10_000).await
    }

    /// Start `n` voters (ids 1..=n) that snapshot every `snapshot_after` entries.
    pub async fn start_with(n: usize, snapshot_after: u64) -> TestCluster {
        init_tracing();
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = ClusterCa::generate().expect("ca");
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let mut endpoints = Vec::new();
        let mut tls = Vec::new();
        for id in 1..=n as u64 {
            let paths = ca
                .issue_to_dir(&format!("meta-{id}"), &dir.path().join("tls"))
                .expect("issue");
            let probe = MetaConfig {
                node_id: NodeId(id),
                listen: loopback,
                advertise_addr: None,
                data_dir: dir.path().join(format!("meta-{id}")),
                initial_voters: vec![PeerConfig {
                    id: NodeId(id),
                    addr: String::new(),
                }],
                tls: paths.clone(),
                raft: RaftTiming::default(),
                cluster: ClusterSettings::default(),
                metrics_addr: None,
                lock_timeout: ferrofs_proto::config::DEFAULT_LOCK_TIMEOUT,
            };
            endpoints.push(bind(&probe).expect("bind"));
            tls.push(paths);
        }
        let addrs: Vec<SocketAddr> = endpoints
            .iter()
            .map(|e| e.local_addr().expect("addr"))
            .collect();
        let voters: Vec<PeerConfig> = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| PeerConfig {
                id: NodeId(i as u64 + 1),
                addr: a.to_string(),
            })
            .collect();
        let mut nodes = Vec::new();
        for (i, endpoint) in endpoints.into_iter().enumerate() {
            let id = i as u64 + 1;
            let cfg = MetaConfig {
                node_id: NodeId(id),
                listen: addrs[i],
                advertise_addr: None,
                data_dir: dir.path().join(format!("meta-{id}")),
                initial_voters: voters.clone(),
                tls: tls[i].clone(),
                raft: RaftTiming {
                    heartbeat_interval: HEARTBEAT,
                    election_timeout_min: ELECTION_MIN,
                    election_timeout_max: ELECTION_MAX,
                    snapshot_after_entries: snapshot_after,
                },
                cluster: ClusterSettings {
                    replication: 1,
                    suspect_after: Duration::from_secs(2),
                    down_after: Duration::from_secs(4),
                    ..ClusterSettings::default()
                },
                metrics_addr: None,
                lock_timeout: ferrofs_proto::config::DEFAULT_LOCK_TIMEOUT,
            };
            let node = MetaNode::start_on(cfg.clone(), endpoint)
                .await
                .expect("start node");
            nodes.push(TestNode {
                id,
                cfg,
                node: Some(node),
            });
        }
        let client_paths: TlsPaths = ca
            .issue_to_dir("client", &dir.path().join("tls"))
            .expect("issue");
        let identity = TlsIdentity::load(&client_paths).expect("identity");
        let client = Connector::new(server_endpoint(loopback, &identity).expect("client endpoint"));
        TestCluster {
            dir,
            nodes,
            client,
            client_id: ClientId(rand::random()),
            seq: AtomicU64::new(1),
        }
    }

    pub fn node(&self, id: u64) -> &MetaNode {
        self.nodes[(id - 1) as usize]
            .node
            .as_ref()
            .expect("node is running")
    }

    pub fn addr(&self, id: u64) -> String {
        self.nodes[(id - 1) as usize].cfg.listen.to_string()
    }

    pub fn running(&self) -> impl Iterator<Item = (u64, &MetaNode)> {
        self.nodes
            .iter()
            .filter_map(|n| n.node.as_ref().map(|node| (n.id, node)))
    }

    pub async fn stop(&mut self, id: u64) {
        let node = self.nodes[(id - 1) as usize]
            .node
            .take()
            .expect("node is running");
        node.shutdown().await.expect("shutdown");
    }

    /// Restart a stopped node on the same port and data folder.
    pub async fn restart(&mut self, id: u64) {
        let cfg = self.nodes[(id - 1) as usize].cfg.clone();
        let endpoint = wait_for("the port to be free", Duration::from_secs(10), || {
            let cfg = cfg.clone();
            async move { bind(&cfg).ok() }
        })
        .await;
        let node = MetaNode::start_on(cfg, endpoint)
            .await
            .expect("restart node");
        self.nodes[(id - 1) as usize].node = Some(node);
    }

    /// The leader all running nodes agree on (and which is running).
    pub async fn wait_leader(&self, timeout: Duration) -> u64 {
        wait_for("a leader", timeout, || async {
            let mut leader = None;
            for (_, node) in self.running() {
                let m = node.raft().metrics().borrow_watched().clone();
                let l = m.current_leader?;
                if leader.is_some_and(|x| x != l) {
                    return None;
                }
                leader = Some(l);
            }
            let l = leader?;
            let running_leader = self
                .running()
                .any(|(id, node)| id == l && node.raft().is_leader());
            running_leader.then_some(l)
        })
        .await
    }

    pub async fn call(&self, id: u64, req: &MetaRequest) -> MetaResponse {
        self.client
            .call(&self.addr(id), req, CALL_TIMEOUT)
            .await
            .expect("call")
    }

    pub fn next_request_id(&self) -> RequestId {
        RequestId {
            client: self.client_id,
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub fn mkdir(&self, name: &str) -> MetaRequest {
        MetaRequest::Mutate {
            id: self.next_request_id(),
            op: MetaOp::Mkdir {
                parent: InodeId::ROOT,
                name: name.as_bytes().to_vec(),
                mode: 0o755,
                uid: 0,
                gid: 0,
            },
        }
    }

    /// Send to any running node, following NotLeader redirects and retrying while
    /// the cluster is unavailable (election in progress).
    pub async fn call_leader(&self, req: &MetaRequest) -> MetaResponse {
        let first = self
            .running()
            .next()
            .map(|(id, _)| self.addr(id))
            .expect("a running node");
        let mut addr = first.clone();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let resp = self
                .client
                .call::<_, MetaResponse>(&addr, req, CALL_TIMEOUT)
                .await;
            match resp {
                Ok(MetaResponse::Error(FsError::NotLeader {
                    leader_addr: Some(a),
                })) => addr = a,
                Ok(MetaResponse::Error(FsError::NotLeader { leader_addr: None }))
                | Ok(MetaResponse::Error(FsError::Unavailable(_)))
                | Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    addr = first.clone();
                }
                Ok(other) => return other,
            }
            assert!(Instant::now() < deadline, "no leader answered {req:?}");
        }
    }

    pub async fn shutdown(mut self) {
        let ids: Vec<u64> = self.running().map(|(id, _)| id).collect();
        for id in ids {
            self.stop(id).await;
        }
    }
}

pub fn lookup(name: &str) -> MetaRequest {
    MetaRequest::Lookup {
        parent: InodeId::ROOT,
        name: name.as_bytes().to_vec(),
    }
}
