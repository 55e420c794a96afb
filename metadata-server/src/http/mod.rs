//! The metadata server's HTTP side, on `metrics_addr`: Prometheus metrics at
//! `/metrics`, the leader's cluster status as JSON at `/api/status` and a
//! self-contained dashboard at `/`.

mod routes;
mod sample;
mod status;

pub use sample::watch_raft;

use crate::server::MetaService;
use ferrofs_metrics_http::{HttpError, HttpServer};
use ferrofs_proto::endpoint::Connector;
use std::net::SocketAddr;
use std::sync::Arc;

/// What the HTTP handlers read.
pub struct HttpApp {
    pub(crate) service: Arc<MetaService>,
    /// Asks the leader for its status when this node is a follower.
    pub(crate) connector: Connector,
}

impl HttpApp {
    pub fn new(service: Arc<MetaService>, connector: Connector) -> HttpApp {
        HttpApp { service, connector }
    }
}

/// Bind `addr` and serve `app`'s routes on it until the server is stopped.
pub async fn start(addr: SocketAddr, app: Arc<HttpApp>) -> Result<HttpServer, HttpError> {
    HttpServer::start(addr, move |req| {
        let app = app.clone();
        async move { routes::route(&app, req).await }
    })
    .await
}
