//! A process that serves only metrics: `/metrics` from a `Scrape` source, `/healthz`.

use crate::reply::{metrics_reply, text, Body};
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::registry::Registry;

/// What `/metrics` serves.
pub trait Scrape: Send + Sync + 'static {
    /// Bring values sampled at scrape time up to date, then encode every metric as
    /// OpenMetrics text (`encode`).
    fn scrape(&self) -> Result<String, std::fmt::Error>;
}

/// The OpenMetrics text of `registry`.
pub fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(out)
}

/// Route a request of a metrics-only server.
pub fn metrics_routes<B>(source: &dyn Scrape, req: &Request<B>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match req.uri().path() {
        "/metrics" => metrics_reply(source.scrape()),
        "/healthz" => text(StatusCode::OK, "ok\n"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;

    struct One(Registry);

    impl Scrape for One {
        fn scrape(&self) -> Result<String, std::fmt::Error> {
            encode(&self.0)
        }
    }

    fn get(path: &str) -> Request<()> {
        Request::get(path).body(()).expect("request")
    }

    #[test]
    fn routes_metrics_health_and_the_rest() {
        let mut r = Registry::with_prefix("t");
        let c = Counter::<u64>::default();
        c.inc_by(7);
        r.register("things", "Things", c);
        let src = One(r);
        let m = metrics_routes(&src, &get("/metrics"));
        assert_eq!(m.status(), StatusCode::OK);
        assert_eq!(
            m.headers()
                .get(hyper::header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(crate::OPENMETRICS.as_bytes())
        );
        assert_eq!(
            metrics_routes(&src, &get("/healthz")).status(),
            StatusCode::OK
        );
        assert_eq!(
            metrics_routes(&src, &get("/x")).status(),
            StatusCode::NOT_FOUND
        );
        let post = Request::post("/metrics").body(()).expect("request");
        assert_eq!(
            metrics_routes(&src, &post).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        let text = src.scrape().expect("encode");
        assert!(text.contains("t_things_total 7"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
