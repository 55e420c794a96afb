//! `Client`: the handle every caller holds. Owns the QUIC endpoint, the metadata link,
//! the cached cluster map (with its placement ring) and the replica load statistics.

use crate::error::ClientError;
use crate::meta_link::MetaLink;
use crate::replica::ReplicaLoads;
use ferrofs_proto::config::{ClientConfig, Validate};
use ferrofs_proto::endpoint::{client_endpoint, Connector};
use ferrofs_proto::limits::MAX_CHUNK_BYTES;
use ferrofs_proto::meta_msg::{
    ClusterMap, ClusterStatus, MetaOp, MetaRequest, MetaResponse, ServerState, StatFs,
};
use ferrofs_proto::ring::Ring;
use ferrofs_proto::tls::TlsIdentity;
use ferrofs_proto::{ClientId, NodeId, RequestId};
use parking_lot::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// A cluster map older than this is fetched again before placing new chunks.
pub(crate) const MAP_MAX_AGE: Duration = Duration::from_secs(3);

/// A connection to one ferrofs cluster. Cheap to clone; clones share connections,
/// the leader cache and the cluster map.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    pub(crate) connector: Connector,
    pub(crate) meta: MetaLink,
    map: RwLock<Arc<MapView>>,
    /// Serialises map refreshes so that many failing uploads fetch it once.
    map_refresh: tokio::sync::Mutex<()>,
    pub(crate) loads: ReplicaLoads,
    client_id: ClientId,
    seq: AtomicU64,
}

impl Inner {
    /// The cached map view as it is, however old.
    pub(crate) fn map_view_cached(&self) -> Arc<MapView> {
        self.map.read().clone()
    }
}

/// A cluster map with the ring built from its Up data servers.
pub(crate) struct MapView {
    pub(crate) map: Arc<ClusterMap>,
    pub(crate) ring: Ring,
    /// Data servers on the ring (state Up, weight > 0).
    pub(crate) up: usize,
    pub(crate) fetched: Instant,
}

impl MapView {
    pub(crate) fn new(map: ClusterMap) -> MapView {
        let ring = Ring::of_up_servers(&map.data_servers, map.vnodes_per_weight);
        let up = ring.members().len();
        MapView {
            map: Arc::new(map),
            ring,
            up,
            fetched: Instant::now(),
        }
    }

    /// The address of a data server, whatever its state.
    pub(crate) fn addr_of(&self, id: NodeId) -> Option<&str> {
        self.map
            .data_servers
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.addr.as_str())
    }

    pub(crate) fn state_of(&self, id: NodeId) -> Option<ServerState> {
        self.map
            .data_servers
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.state)
    }
}

fn check_map(map: &ClusterMap) -> Result<(), ClientError> {
    if map.chunk_size == 0 || map.chunk_size > MAX_CHUNK_BYTES {
        return Err(ClientError::protocol(
            "cluster map",
            format!("chunk size {}", map.chunk_size),
        ));
    }
    if map.replication == 0 {
        return Err(ClientError::protocol("cluster map", "replication factor 0"));
    }
    Ok(())
}

impl Client {
    /// Validate the config, load the TLS identity it names, and fetch the cluster map
    /// (which also finds the metadata leader).
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        config.validate()?;
        let identity = TlsIdentity::load(&config.tls)?;
        Client::connect_with_identity(config, &identity).await
    }

    /// Like `connect`, with TLS material already loaded (tests, embedding processes).
    pub async fn connect_with_identity(
        config: ClientConfig,
        identity: &TlsIdentity,
    ) -> Result<Client, ClientError> {
        config.validate()?;
        let connector = Connector::new(client_endpoint(identity)?);
        let meta = MetaLink::new(
            connector.clone(),
            config.meta_addrs.clone(),
            config.request_timeout,
            config.failover_timeout,
        );
        let map = fetch_map(&meta).await?;
        let loads = ReplicaLoads::new(config.read_policy);
        let inner = Inner {
            config,
            connector,
            meta,
            map: RwLock::new(Arc::new(MapView::new(map))),
            map_refresh: tokio::sync::Mutex::new(()),
            loads,
            client_id: ClientId(rand::random()),
            seq: AtomicU64::new(1),
        };
        Ok(Client {
            inner: Arc::new(inner),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// This client's id, carried in every mutation's `RequestId`.
    pub fn client_id(&self) -> ClientId {
        self.inner.client_id
    }

    /// The metadata leader address last seen, if any.
    pub fn leader_addr(&self) -> Option<String> {
        self.inner.meta.cached_leader()
    }

    /// Bytes per chunk, from the cluster map.
    pub fn chunk_size(&self) -> u64 {
        self.inner.map.read().map.chunk_size
    }

    /// The cluster map; fetched again if `refresh` or if the cached one is old.
    pub async fn cluster_map(&self, refresh: bool) -> Result<Arc<ClusterMap>, ClientError> {
        let view = if refresh {
            self.refresh_map().await?
        } else {
            self.map_view().await?
        };
        Ok(view.map.clone())
    }

    pub async fn statfs(&self) -> Result<StatFs, ClientError> {
        match self.meta_read("statfs", MetaRequest::StatFs).await? {
            MetaResponse::StatFs(s) => Ok(s),
            other => Err(ClientError::protocol("statfs", other)),
        }
    }

    pub async fn status(&self) -> Result<ClusterStatus, ClientError> {
        match self.meta_read("status", MetaRequest::ClusterStatus).await? {
            MetaResponse::Status(s) => Ok(*s),
            other => Err(ClientError::protocol("status", other)),
        }
    }

    /// Close every connection and wait until the peers have been told (bounded).
    pub async fn shutdown(&self) {
        let endpoint = self.inner.connector.endpoint();
        endpoint.close(quinn::VarInt::from_u32(0), b"client shutdown");
        let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    }

    // ---- crate-internal plumbing -------------------------------------------------

    /// A read-only metadata request; errors other than leadership come back as `Fs`.
    pub(crate) async fn meta_read(
        &self,
        op: &'static str,
        req: MetaRequest,
    ) -> Result<MetaResponse, ClientError> {
        match self.inner.meta.call(op, &req).await? {
            MetaResponse::Error(err) => Err(ClientError::Fs { op, err }),
            resp => Ok(resp),
        }
    }

    /// A mutation under a fresh `RequestId`, kept for every retry of this call.
    pub(crate) async fn mutate(
        &self,
        op: &'static str,
        mop: MetaOp,
    ) -> Result<MetaResponse, ClientError> {
        let id = self.next_request_id();
        let req = MetaRequest::Mutate { id, op: mop };
        let span = tracing::debug_span!("mutate", op, request = %id);
        self.meta_read(op, req).instrument(span).await
    }

    pub(crate) fn next_request_id(&self) -> RequestId {
        RequestId {
            client: self.inner.client_id,
            seq: self.inner.seq.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The cached map view, refreshed first if it is older than `MAP_MAX_AGE`.
    pub(crate) async fn map_view(&self) -> Result<Arc<MapView>, ClientError> {
        let view = self.inner.map.read().clone();
        if view.fetched.elapsed() < MAP_MAX_AGE {
            return Ok(view);
        }
        self.refresh_map_since(Instant::now()).await
    }

    /// Fetch the map now (unless another task fetched it while we waited).
    pub(crate) async fn refresh_map(&self) -> Result<Arc<MapView>, ClientError> {
        self.refresh_map_since(Instant::now()).await
    }

    /// Ensure the cached map was fetched at or after `since`, fetching once if not.
    async fn refresh_map_since(&self, since: Instant) -> Result<Arc<MapView>, ClientError> {
        let _guard = self.inner.map_refresh.lock().await;
        let view = self.inner.map.read().clone();
        if view.fetched >= since {
            return Ok(view);
        }
        let map = fetch_map(&self.inner.meta).await?;
        let view = Arc::new(MapView::new(map));
        *self.inner.map.write() = view.clone();
        Ok(view)
    }
}

async fn fetch_map(meta: &MetaLink) -> Result<ClusterMap, ClientError> {
    match meta.call("cluster map", &MetaRequest::ClusterMap).await? {
        MetaResponse::Map(map) => {
            check_map(&map)?;
            Ok(map)
        }
        MetaResponse::Error(err) => Err(ClientError::Fs {
            op: "cluster map",
            err,
        }),
        other => Err(ClientError::protocol("cluster map", other)),
    }
}

/// `Err` for a reply of the wrong kind (shared by every op).
pub(crate) fn unexpected<T>(op: &'static str, resp: MetaResponse) -> Result<T, ClientError> {
    match resp {
        MetaResponse::Error(err) => Err(ClientError::Fs { op, err }),
        other => Err(ClientError::protocol(op, other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_proto::meta_msg::DataServerInfo;

    pub(crate) fn server(id: u64, state: ServerState) -> DataServerInfo {
        DataServerInfo {
            id: NodeId(id),
            addr: format!("127.0.0.1:{}", 7100 + id),
            zone: String::new(),
            weight: 1,
            capacity: 1 << 30,
            used: 0,
            chunks: 0,
            state,
        }
    }

    #[test]
    fn ring_holds_only_up_servers() {
        let map = ClusterMap {
            data_servers: vec![
                server(1, ServerState::Up),
                server(2, ServerState::Suspect),
                server(3, ServerState::Up),
                server(4, ServerState::Down),
            ],
            replication: 3,
            chunk_size: 1 << 20,
            vnodes_per_weight: 16,
        };
        let view = MapView::new(map);
        assert_eq!(view.up, 2);
        let placed = view.ring.place(ferrofs_proto::ChunkId(7), 3);
        assert_eq!(placed.len(), 2);
        assert!(placed.iter().all(|n| *n == NodeId(1) || *n == NodeId(3)));
        assert_eq!(view.addr_of(NodeId(4)), Some("127.0.0.1:7104"));
        assert_eq!(view.state_of(NodeId(2)), Some(ServerState::Suspect));
    }

    fn assert_send<T: Send>(_: &T) {}

    /// Compile-time check: the FUSE layer spawns these futures on a multi-threaded runtime.
    #[allow(dead_code)]
    fn futures_are_send(c: &Client) {
        use ferrofs_proto::InodeId;
        assert_send(&c.read_at(InodeId(2), 0, 1));
        assert_send(&c.write_chunks(InodeId(2), Vec::new(), 0));
        assert_send(&c.write_file_from(InodeId(2), tokio::io::empty(), &|_| {}));
        assert_send(&c.read_file_to(InodeId(2), tokio::io::sink(), &|_| {}));
        assert_send(&c.resolve("/a"));
        assert_send(&c.resolve_parent("/a"));
    }

    #[test]
    fn a_map_with_chunk_size_zero_is_refused() {
        let map = ClusterMap {
            data_servers: vec![],
            replication: 3,
            chunk_size: 0,
            vnodes_per_weight: 1,
        };
        assert!(check_map(&map).is_err());
    }
}
