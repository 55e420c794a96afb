//! The data server's HTTP side on `metrics_addr`: Prometheus metrics at `/metrics`.

use crate::heartbeat::HeartbeatStats;
use crate::metrics::DataMetrics;
use crate::scrub::ScrubStats;
use crate::store::ChunkStore;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A connection that sends no request header within this time is closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What `/metrics` samples.
pub struct MetricsSources {
    pub metrics: Arc<DataMetrics>,
    pub store: Arc<ChunkStore>,
    pub scrub: Arc<ScrubStats>,
    pub heartbeat: Arc<HeartbeatStats>,
}

/// Accept HTTP/1 connections until the task is aborted.
pub async fn serve(listener: TcpListener, sources: Arc<MetricsSources>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "accepting an HTTP connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let sources = sources.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let reply = route(&sources, &req);
                async move { Ok::<_, std::convert::Infallible>(reply) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "HTTP connection ended");
            }
        });
    }
}

fn route(s: &MetricsSources, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/metrics" => {
            s.metrics.refresh(&s.store.stat(), &s.scrub, &s.heartbeat);
            match s.metrics.encode() {
                Ok(body) => reply(StatusCode::OK, OPENMETRICS, body),
                Err(_) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    "encoding\n",
                ),
            }
        }
        "/healthz" => reply(StatusCode::OK, "text/plain", "ok\n"),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}

fn reply(code: StatusCode, kind: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = code;
    if let Ok(v) = kind.parse() {
        resp.headers_mut().insert(CONTENT_TYPE, v);
    }
    resp
}
