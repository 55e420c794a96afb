//! Errors of the metrics HTTP server.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The address could not be bound (in use, or not an address of this host).
    #[error("listening for HTTP on {addr}: {source} (pick a free port, or port 0 for any)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}
