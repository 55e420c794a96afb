//! The metadata server's HTTP side, on `metrics_addr`: Prometheus metrics at
//! `/metrics`, the leader's cluster status as JSON at `/api/status` and a
//! self-contained dashboard at `/`.

mod routes;
mod sample;
mod status;

pub use sample::watch_raft;

use crate::server::MetaService;
use ferrofs_proto::endpoint::Connector;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A connection that sends no request header within this time is closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Accept HTTP/1 connections until the task is aborted.
pub async fn serve(listener: TcpListener, app: Arc<HttpApp>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "accepting an HTTP connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, std::convert::Infallible>(routes::route(&app, req).await) }
            });
            let conn = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "HTTP connection ended");
            }
        });
    }
}
