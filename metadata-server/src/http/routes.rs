//! One `match` over the request path.

use super::{sample, status, HttpApp};
use crate::store::digest;
use ferrofs_metrics_http::{metrics_reply, reply, text, Body};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

const DASHBOARD: &str = include_str!("dashboard.html");

pub(super) async fn route(app: &HttpApp, req: Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match req.uri().path() {
        "/metrics" => {
            sample::refresh(&app.service).await;
            metrics_reply(app.service.metrics.encode())
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
