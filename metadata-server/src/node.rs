//! Starting and stopping one metadata server: storage, Raft, the QUIC endpoint and
//! the background tasks. `run` is what the binary and the tests call.

use crate::network::Network;
use crate::server::{MetaService, Timeouts};
use crate::store::{self, StateMachine};
use crate::types::MetaRaft;
use ferrofs_metrics_http::HttpError;
use ferrofs_proto::config::{MetaConfig, Validate};
use ferrofs_proto::endpoint::{serve_streams, server_endpoint, Connector};
use ferrofs_proto::tls::TlsIdentity;
use openraft::type_config::async_runtime::WatchReceiver;
use openraft::{BasicNode, SnapshotPolicy};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Why a metadata server could not start or stop cleanly.
#[derive(Debug, Error)]
pub enum MetaError {
    /// The configuration is invalid; the message names the field.
    #[error(transparent)]
    Config(#[from] ferrofs_proto::config::ConfigError),
    /// TLS material or the QUIC endpoint could not be set up.
    #[error("setting up the QUIC endpoint: {0}")]
    Endpoint(#[from] ferrofs_proto::WireError),
    /// The Raft log or state machine could not be opened.
    /// (`reason` is not a `source`: the message already carries it, and error
    /// chains printed with `{:#}` would repeat it.)
    #[error("opening storage in {path}: {reason}")]
    Storage {
        path: PathBuf,
        reason: std::io::Error,
    },
    /// openraft refused the configuration or failed to start.
    #[error("starting raft: {0}")]
    Raft(String),
    /// openraft did not shut down cleanly.
    #[error("stopping raft: {0}")]
    Shutdown(String),
    /// The metrics/dashboard HTTP address could not be bound.
    #[error("listening for HTTP on {addr}: {source}")]
    Http {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// openraft's configuration from ours.
pub fn raft_config(cfg: &MetaConfig) -> Result<openraft::Config, MetaError> {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let r = &cfg.raft;
    let every = r.snapshot_after_entries.max(1);
    let config = openraft::Config {
        cluster_name: "ferrofs".to_string(),
        heartbeat_interval: ms(r.heartbeat_interval),
        election_timeout_min: ms(r.election_timeout_min),
        election_timeout_max: ms(r.election_timeout_max),
        // A whole snapshot goes in one stream; give it time.
        install_snapshot_timeout: 120_000,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(every),
        // Keep one snapshot interval of log so a briefly lagging follower gets entries.
        max_in_snapshot_log_to_keep: every,
        max_payload_entries: 64,
        ..openraft::Config::default()
    };
    config
        .validate()
        .map_err(|e| MetaError::Raft(e.to_string()))
}

/// Bind the node's QUIC endpoint (before `MetaNode::start_on`, so tests can learn
/// the port of `127.0.0.1:0` first).
pub fn bind(cfg: &MetaConfig) -> Result<quinn::Endpoint, MetaError> {
    let tls = TlsIdentity::load(&cfg.tls)?;
    Ok(server_endpoint(cfg.listen, &tls)?)
}

/// A running metadata server.
pub struct MetaNode {
    raft: MetaRaft,
    sm: StateMachine,
    service: Arc<MetaService>,
    endpoint: quinn::Endpoint,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    local_addr: SocketAddr,
    /// Where `/metrics` and the dashboard are served, if `metrics_addr` was set.
    http_addr: Option<SocketAddr>,
}

impl MetaNode {
    /// Bind `cfg.listen` and start.
    pub async fn start(cfg: MetaConfig) -> Result<MetaNode, MetaError> {
        let endpoint = bind(&cfg)?;
        MetaNode::start_on(cfg, endpoint).await
    }

    /// Start on an endpoint bound by `bind`.
    pub async fn start_on(
        cfg: MetaConfig,
        endpoint: quinn::Endpoint,
    ) -> Result<MetaNode, MetaError> {
        cfg.validate()?;
        let local_addr = endpoint
            .local_addr()
            .map_err(|e| MetaError::Endpoint(e.into()))?;
        let (log, sm) = store::open(&cfg.data_dir).map_err(|reason| MetaError::Storage {
            path: cfg.data_dir.clone(),
            reason,
        })?;
        let network = Network::new(Connector::new(endpoint.clone()));
        let id = cfg.node_id.0;
        let raft = openraft::Raft::new(id, Arc::new(raft_config(&cfg)?), network, log, sm.clone())
            .await
            .map_err(|e| MetaError::Raft(e.to_string()))?;
        bootstrap(&raft, &cfg, &Connector::new(endpoint.clone())).await?;

        let election_max = cfg.raft.election_timeout_max;
        let timeouts = Timeouts {
            read: election_max * 3,
            write: (election_max * 5).max(Duration::from_secs(5)),
        };
        let service = Arc::new(MetaService::new(
            raft.clone(),
            id,
            sm.clone(),
            cfg.cluster.clone(),
            timeouts,
        ));
        let serve = {
            let service = service.clone();
            tokio::spawn(serve_streams(endpoint.clone(), move |_conn, send, recv| {
                let service = service.clone();
                async move { service.handle_stream(send, recv).await }
            }))
        };
        let mut tasks = vec![tokio::spawn(crate::http::watch_raft(service.clone()))];
        let http_addr = match cfg.metrics_addr {
            Some(addr) => Some(start_http(addr, service.clone(), &endpoint, &mut tasks).await?),
            None => None,
        };
        let reconcile = tokio::spawn(crate::reconcile::run(
            service.clone(),
            Connector::new(endpoint.clone()),
        ));
        let housekeeping = tokio::spawn(crate::server::housekeeping::run(service.clone()));
        let lock_sessions = tokio::spawn(crate::server::lock_sessions::run(
            service.clone(),
            cfg.lock_timeout,
        ));
        let watch = tokio::spawn(watch_leadership(service.clone()));
        tracing::info!(node = id, addr = %local_addr, "metadata server started");
        Ok(MetaNode {
            raft,
            sm,
            service,
            endpoint,
            tasks: tasks
                .into_iter()
                .chain([serve, watch, reconcile, housekeeping, lock_sessions])
                .collect(),
            local_addr,
            http_addr,
        })
    }

    pub fn raft(&self) -> &MetaRaft {
        &self.raft
    }

    pub fn state_machine(&self) -> &StateMachine {
        &self.sm
    }

    /// The request handlers (tests run the leader's periodic work through it).
    pub fn service(&self) -> &Arc<MetaService> {
        &self.service
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound address of the metrics and dashboard server, if any.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Stop serving, shut Raft down and release the port.
    pub async fn shutdown(self) -> Result<(), MetaError> {
        self.endpoint
            .close(quinn::VarInt::from_u32(0), b"shutting down");
        for task in &self.tasks {
            task.abort();
        }
        let result = self
            .raft
            .shutdown()
            .await
            .map_err(|e| MetaError::Shutdown(e.to_string()));
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
        tracing::info!(addr = %self.local_addr, "metadata server stopped");
        result
    }
}

/// Bind `addr` and serve metrics, status and the dashboard on it.
async fn start_http(
    addr: SocketAddr,
    service: Arc<MetaService>,
    endpoint: &quinn::Endpoint,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<SocketAddr, MetaError> {
    let app = crate::http::HttpApp::new(service, Connector::new(endpoint.clone()));
    let server = crate::http::start(addr, Arc::new(app))
        .await
        .map_err(|e| match e {
            HttpError::Bind { addr, source } => MetaError::Http { addr, source },
        })?;
    let bound = server.local_addr();
    tasks.extend(server.into_task());
    tracing::info!(addr = %bound, "serving metrics and the dashboard over HTTP");
    Ok(bound)
}

/// A node whose log is empty initialises the cluster with the configured voters.
/// Every node may do so; all propose the same membership, and "already initialised"
/// is not a failure. A node in join mode (empty `initial_voters`) never initialises: it
/// waits for a leader to add it. Nor does a node whose peers already run a cluster
/// (see `join_guard`: a wiped node restarting under its old id).
async fn bootstrap(
    raft: &MetaRaft,
    cfg: &MetaConfig,
    connector: &Connector,
) -> Result<(), MetaError> {
    if raft
        .is_initialized()
        .await
        .map_err(|e| MetaError::Raft(e.to_string()))?
    {
        return Ok(());
    }
    if cfg.initial_voters.is_empty() {
        tracing::info!(
            node = cfg.node_id.0,
            "join mode: waiting to be added with `ferrofs meta add`"
        );
        return Ok(());
    }
    if crate::join_guard::cluster_exists(connector, &cfg.initial_voters, cfg.node_id).await {
        return Ok(());
    }
    let voters: BTreeMap<u64, BasicNode> = cfg
        .initial_voters
        .iter()
        .map(|p| {
            (
                p.id.0,
                BasicNode {
                    addr: p.addr.clone(),
                },
            )
        })
        .collect();
    match raft.initialize(voters).await {
        Ok(()) => {
            tracing::info!(
                voters = cfg.initial_voters.len(),
                "initialised a new cluster"
            );
            Ok(())
        }
        Err(openraft::errors::RaftError::APIError(e)) => {
            tracing::debug!(reason = %e, "cluster already initialised");
            Ok(())
        }
        Err(e) => Err(MetaError::Raft(e.to_string())),
    }
}

/// On every gain of leadership: restart liveness tracking and make sure the
/// namespace is initialised.
async fn watch_leadership(service: Arc<MetaService>) {
    let mut metrics = service.raft.metrics();
    let mut was_leader = false;
    loop {
        let is_leader = metrics.borrow_watched().state == openraft::ServerState::Leader;
        if is_leader && !was_leader {
            tracing::info!(node = service.node_id, "became leader");
            service.liveness.restart_epoch();
            let s = service.clone();
            tokio::spawn(async move {
                if let Err(e) = s.ensure_initialised().await {
                    tracing::debug!(error = %e, "initialising the namespace after election");
                }
            });
        }
        was_leader = is_leader;
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// Run a metadata server until `shutdown` completes, then stop it cleanly.
pub async fn run(config: MetaConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let node = MetaNode::start(config).await?;
    shutdown.await;
    tracing::info!("shutdown requested");
    node.shutdown().await?;
    Ok(())
}
