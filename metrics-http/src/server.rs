//! `HttpServer`: bind an address, accept HTTP/1 connections on one task and serve each
//! on a task of its own; stopping (or dropping) the server ends them all.

use crate::error::HttpError;
use crate::reply::Body;
use crate::scrape::{metrics_routes, Scrape};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// A connection that sends no request header within this time is closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. out of file descriptors) before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A running HTTP server. Dropping it stops it, open connections included.
pub struct HttpServer {
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Bind `addr` (port 0 picks a free port) and answer every request with `handler`.
    /// Must be called inside a tokio runtime.
    pub async fn start<H, F>(addr: SocketAddr, handler: H) -> Result<HttpServer, HttpError>
    where
        H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
        F: Future<Output = Response<Body>> + Send + 'static,
    {
        let bind_err = |source| HttpError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
        let bound = listener.local_addr().map_err(bind_err)?;
        let task = tokio::spawn(accept_loop(listener, Arc::new(handler)));
        Ok(HttpServer {
            addr: bound,
            task: Some(task),
        })
    }

    /// A server of `/metrics` (from `source`) and `/healthz` only.
    pub async fn start_metrics(
        addr: SocketAddr,
        source: Arc<dyn Scrape>,
    ) -> Result<HttpServer, HttpError> {
        HttpServer::start(addr, move |req| {
            let resp = metrics_routes(source.as_ref(), &req);
            async move { resp }
        })
        .await
    }

    /// The bound address (the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The accept task, for an owner that stops its tasks by aborting them; aborting it
    /// ends the open connections too.
    pub fn into_task(mut self) -> Option<JoinHandle<()>> {
        self.task.take()
    }

    /// Stop accepting, end the open connections and wait until they are gone.
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // Cancelled is the expected outcome; a panic was already reported.
            let _ = task.await;
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Accept connections until aborted; the connection tasks live in a `JoinSet`, so
/// aborting this task drops the set and aborts them.
async fn accept_loop<H, F>(listener: TcpListener, handler: Arc<H>)
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        // Forget finished connections so the set does not grow.
        while conns.try_join_next().is_some() {}
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "accepting an HTTP connection");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let handler = handler.clone();
        conns.spawn(async move {
            let svc = service_fn(move |req| {
                let answer = handler(req);
                async move { Ok::<_, std::convert::Infallible>(answer.await) }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::text;
    use hyper::StatusCode;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok(out)
    }

    #[tokio::test]
    async fn serves_on_a_free_port_and_stops() {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = HttpServer::start(any, |req: Request<Incoming>| {
            let path = req.uri().path().to_string();
            async move { text(StatusCode::OK, &format!("you asked for {path}\n")) }
        })
        .await
        .expect("start");
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        let answer = get(addr, "/hello").await.expect("get");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("cache-control: no-store"), "{answer}");
        assert!(answer.ends_with("you asked for /hello\n"), "{answer}");

        // A second server on the same port cannot bind, and says which address.
        let err = HttpServer::start(addr, |_req: Request<Incoming>| async {
            text(StatusCode::OK, "")
        })
        .await
        .err()
        .expect("address in use");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");

        server.stop().await;
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "nothing listens after stop"
        );
    }
}
