//! Wiring: store, QUIC endpoint, service, heartbeats, reporter and scrubber.

use crate::heartbeat::{self, HeartbeatStats, Identity};
use crate::http::MetricsSources;
use crate::integrity::{self, CorruptionSink};
use crate::meta_link::MetaLink;
use crate::metrics::DataMetrics;
use crate::orphan_sweep::{self, SweepConfig};
use crate::scrub::{self, ScrubConfig, ScrubStats};
use crate::scrub_control::ScrubControl;
use crate::service::Service;
use crate::store::ChunkStore;
use anyhow::Context;
use ferrofs_metrics_http::HttpServer;
use ferrofs_proto::config::DataConfig;
use ferrofs_proto::endpoint::{serve_streams, server_endpoint, Connector};
use ferrofs_proto::tls::TlsIdentity;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// One attempt of one metadata request.
const META_TIMEOUT: Duration = Duration::from_secs(3);
/// Rest between two scrub passes.
const SCRUB_PASS_PAUSE: Duration = Duration::from_secs(60);
/// How long shutdown waits for open connections to drain.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Knobs tests may turn that are not part of the config file.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    pub scrub_pass_pause: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            scrub_pass_pause: SCRUB_PASS_PAUSE,
        }
    }
}

/// A running data server.
pub struct DataServer {
    endpoint: quinn::Endpoint,
    store: Arc<ChunkStore>,
    link: Arc<MetaLink>,
    scrub_stats: Arc<ScrubStats>,
    heartbeat_stats: Arc<HeartbeatStats>,
    metrics: Arc<DataMetrics>,
    http_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl DataServer {
    /// Open the store, bind the endpoint and start every background task.
    pub async fn start(config: DataConfig) -> anyhow::Result<DataServer> {
        DataServer::start_tuned(config, Tuning::default()).await
    }

    pub async fn start_tuned(config: DataConfig, tuning: Tuning) -> anyhow::Result<DataServer> {
        let tls = TlsIdentity::load(&config.tls).context("loading TLS material")?;
        let dir = config.data_dir.clone();
        let capacity = config.capacity.map(|c| c.as_u64());
        let store = tokio::task::spawn_blocking(move || ChunkStore::open(&dir, capacity))
            .await
            .context("opening chunk store")?
            .with_context(|| format!("opening chunk store in {}", config.data_dir.display()))?;
        let store = Arc::new(store);
        let endpoint = server_endpoint(config.listen, &tls)
            .with_context(|| format!("listening on {}", config.listen))?;
        let local = endpoint.local_addr().context("reading the bound address")?;
        let addr = config
            .advertise_addr
            .clone()
            .unwrap_or_else(|| local.to_string());
        let connector = Connector::new(endpoint.clone());
        let link = Arc::new(MetaLink::new(
            connector.clone(),
            config.meta_addrs.clone(),
            META_TIMEOUT,
        ));
        let (sink, reports) = CorruptionSink::new(store.clone());
        let s = store.clone();
        let earlier = tokio::task::spawn_blocking(move || s.quarantined_ids())
            .await
            .context("listing quarantined chunks")?
            .context("listing quarantined chunks")?;
        for id in earlier {
            sink.report_again(id);
        }
        let metrics = Arc::new(DataMetrics::new());
        let scrub_control = Arc::new(ScrubControl::new(config.scrub_rate.as_u64()));
        let service = Arc::new(
            Service::new(store.clone(), sink.clone(), connector, metrics.clone())
                .with_scrub(scrub_control.clone()),
        );
        let scrub_stats = Arc::new(ScrubStats::default());
        let heartbeat_stats = Arc::new(HeartbeatStats::default());
        let identity = Identity {
            node: config.node_id,
            addr: addr.clone(),
            zone: config.zone.clone(),
            weight: config.weight,
        };

        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(serve_streams(
            endpoint.clone(),
            move |_conn, send, recv| service.clone().handle_stream(send, recv),
        )));
        tasks.push(tokio::spawn(heartbeat::run(
            link.clone(),
            identity,
            store.clone(),
            config.heartbeat_interval,
            heartbeat_stats.clone(),
        )));
        tasks.push(tokio::spawn(integrity::run_reporter(
            link.clone(),
            config.node_id,
            reports,
        )));
        let scrub_cfg = ScrubConfig {
            rate: config.scrub_rate.as_u64(),
            pass_pause: tuning.scrub_pass_pause,
        };
        tasks.push(tokio::spawn(scrub::run(
            store.clone(),
            sink,
            scrub_cfg,
            scrub_stats.clone(),
            scrub_control,
        )));
        tasks.push(tokio::spawn(orphan_sweep::run(
            store.clone(),
            link.clone(),
            config.node_id,
            SweepConfig {
                interval: config.orphan_check_interval,
                grace: config.orphan_grace,
            },
            metrics.clone(),
        )));
        tasks.push(tokio::spawn(crate::store::reclaim_periodically(
            store.clone(),
        )));
        let http_addr = match config.metrics_addr {
            Some(at) => {
                let sources = Arc::new(MetricsSources {
                    metrics: metrics.clone(),
                    store: store.clone(),
                    scrub: scrub_stats.clone(),
                    heartbeat: heartbeat_stats.clone(),
                });
                let server = HttpServer::start_metrics(at, sources).await?;
                let bound = server.local_addr();
                tasks.extend(server.into_task());
                tracing::info!(addr = %bound, "serving metrics over HTTP");
                Some(bound)
            }
            None => None,
        };
        tracing::info!(node = %config.node_id, %local, advertise = %addr, "data server started");
        Ok(DataServer {
            endpoint,
            store,
            link,
            scrub_stats,
            heartbeat_stats,
            metrics,
            http_addr,
            tasks,
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.endpoint.local_addr()?)
    }

    /// The bound address of the metrics server, if `metrics_addr` was set.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    pub fn metrics(&self) -> &Arc<DataMetrics> {
        &self.metrics
    }

    pub fn store(&self) -> &Arc<ChunkStore> {
        &self.store
    }

    pub fn scrub_stats(&self) -> &Arc<ScrubStats> {
        &self.scrub_stats
    }

    pub fn heartbeat_stats(&self) -> &Arc<HeartbeatStats> {
        &self.heartbeat_stats
    }

    /// The metadata leader address last seen answering.
    pub fn meta_leader(&self) -> Option<String> {
        self.link.leader()
    }

    /// Stop accepting, stop background work, flush RocksDB.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.endpoint
            .close(quinn::VarInt::from_u32(0), b"shutting down");
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, self.endpoint.wait_idle()).await;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.flush())
            .await
            .context("flushing chunk store")?
            .context("flushing chunk store")?;
        close_store(self.store).await;
        tracing::info!("data server stopped");
        Ok(())
    }
}

/// Close RocksDB (releasing its lock file) once the last request task has let go
/// of the store, so the same folder can be reopened as soon as `shutdown` returns.
async fn close_store(mut store: Arc<ChunkStore>) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        match Arc::try_unwrap(store) {
            Ok(owned) => {
                let _ = tokio::task::spawn_blocking(move || drop(owned)).await;
                return;
            }
            Err(shared) if Instant::now() >= deadline => {
                tracing::warn!("chunk store still in use at shutdown; it closes when released");
                drop(shared);
                return;
            }
            Err(shared) => {
                store = shared;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Run a data server until `shutdown` completes, then stop it cleanly.
pub async fn run(config: DataConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let server = DataServer::start(config).await?;
    shutdown.await;
    server.shutdown().await
}
