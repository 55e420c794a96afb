//! One `match` over the request path.

use super::{sample, status, HttpApp};
use crate::store::digest;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};

const DASHBOARD: &str = include_str!("dashboard.html");
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub(super) async fn route(app: &HttpApp, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match req.uri().path() {
        "/metrics" => {
            sample::refresh(&app.service).await;
            match app.service.metrics.encode() {
                Ok(body) => reply(StatusCode::OK, OPENMETRICS, body),
                Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics\n"),
            }
        }
        "/api/status" => match status::leader_status(app).await {
            Ok(s) => match serde_json::to_string(&s) {
                Ok(body) => reply(StatusCode::OK, "application/json", body),
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
            },
            Err(e) => {
                let body = serde_json::json!({ "error": e.to_string() }).to_string();
                reply(StatusCode::SERVICE_UNAVAILABLE, "application/json", body)
            }
        },
        "/" | "/index.html" => reply(StatusCode::OK, "text/html; charset=utf-8", DASHBOARD),
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/api/digest" => match app.service.sm.read(digest::digest).await {
            Ok(Ok(d)) => match serde_json::to_string(&d) {
                Ok(body) => reply(StatusCode::OK, "application/json", body),
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
            },
            Ok(Err(e)) | Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(code: StatusCode, body: &str) -> Response<Full<Bytes>> {
    reply(code, "text/plain; charset=utf-8", body.to_string())
}

fn reply(code: StatusCode, kind: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
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
