//! Building replies: a body with its content type, never cached by browsers.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};

/// The body of every reply: the whole text at once.
pub type Body = Full<Bytes>;

/// Content type of `/metrics`: OpenMetrics text, as prometheus-client encodes it.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A reply with status `code`, content type `kind` and `body`.
pub fn reply(code: StatusCode, kind: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = code;
    if let Ok(v) = kind.parse() {
        resp.headers_mut().insert(CONTENT_TYPE, v);
    }
    if let Ok(v) = "no-store".parse() {
        resp.headers_mut().insert(CACHE_CONTROL, v);
    }
    resp
}

/// A plain-text reply.
pub fn text(code: StatusCode, body: &str) -> Response<Body> {
    reply(code, "text/plain; charset=utf-8", body.to_string())
}

/// The reply to `/metrics`: the encoded text, or 500 if encoding failed.
pub fn metrics_reply(encoded: Result<String, std::fmt::Error>) -> Response<Body> {
    match encoded {
        Ok(body) => reply(StatusCode::OK, OPENMETRICS, body),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics\n"),
    }
}
