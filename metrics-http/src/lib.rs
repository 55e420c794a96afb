//! The HTTP side every ferrofs process shares: a small HTTP/1 server on `metrics_addr`
//! (`HttpServer`: bind, accept, one task per connection, all stopped with the server)
//! and the replies it sends. A process with nothing but metrics serves them with
//! `HttpServer::start_metrics` and a `Scrape` source; the metadata server routes its
//! own paths (status, dashboard) and uses `metrics_reply` for `/metrics`.

mod error;
mod reply;
mod scrape;
mod server;

pub use error::HttpError;
pub use reply::{metrics_reply, reply, text, Body, OPENMETRICS};
pub use scrape::{encode, metrics_routes, Scrape};
pub use server::HttpServer;
