//! QUIC endpoints and a connection cache shared by every process.

use crate::error::WireError;
use crate::frame::{read_msg, write_msg};
use crate::tls::{TlsIdentity, SERVER_NAME};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Timeout for establishing a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Transport tuned for 4 MiB chunks: windows far above quinn's defaults so one
/// stream can keep a whole chunk in flight.
fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.stream_receive_window(quinn::VarInt::from_u32(16 * 1024 * 1024));
    t.receive_window(quinn::VarInt::from_u32(128 * 1024 * 1024));
    t.send_window(128 * 1024 * 1024);
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(4096));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    // A peer that died (kill -9, or restarted on the same port with a new endpoint) sends
    // nothing back, so its connection is only known dead once the idle timeout passes:
    // keep that short, with keep-alives well inside it, so Raft votes and client calls
    // stop using a dead connection within a few seconds.
    t.keep_alive_interval(Some(Duration::from_millis(500)));
    if let Ok(idle) = quinn::IdleTimeout::try_from(Duration::from_secs(3)) {
        t.max_idle_timeout(Some(idle));
    }
    Arc::new(t)
}

/// Socket buffers asked for; the kernel caps them at `net.core.rmem_max` and
/// `wmem_max`. With the default (208 KiB) a burst of chunk data overflowed the
/// receive buffer (RcvbufErrors) and every drop cost a retransmission and a smaller
/// congestion window.
const SOCKET_BUFFER_BYTES: usize = 8 << 20;

fn udp_socket(bind: SocketAddr) -> Result<std::net::UdpSocket, WireError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(bind), Type::DGRAM, Some(Protocol::UDP))?;
    for (what, set) in [
        (
            "receive",
            Socket::set_recv_buffer_size as fn(&Socket, usize) -> std::io::Result<()>,
        ),
        ("send", Socket::set_send_buffer_size),
    ] {
        if let Err(e) = set(&socket, SOCKET_BUFFER_BYTES) {
            tracing::warn!(error = %e, "keeping the default UDP {what} buffer");
        }
    }
    socket.bind(&bind.into())?;
    Ok(socket.into())
}

fn endpoint(
    bind: SocketAddr,
    server: Option<quinn::ServerConfig>,
) -> Result<quinn::Endpoint, WireError> {
    let runtime = quinn::default_runtime()
        .ok_or_else(|| WireError::Transport("no async runtime for QUIC".to_string()))?;
    let socket = udp_socket(bind)?;
    Ok(quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        server,
        socket,
        runtime,
    )?)
}

fn client_config(tls: &TlsIdentity) -> Result<quinn::ClientConfig, WireError> {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls.rustls_client()?)
        .map_err(|e| WireError::Tls(e.to_string()))?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(transport());
    Ok(cfg)
}

/// An endpoint that accepts connections (and can also dial out, e.g. for replication).
pub fn server_endpoint(bind: SocketAddr, tls: &TlsIdentity) -> Result<quinn::Endpoint, WireError> {
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls.rustls_server()?)
        .map_err(|e| WireError::Tls(e.to_string()))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(transport());
    let mut endpoint = endpoint(bind, Some(cfg))?;
    endpoint.set_default_client_config(client_config(tls)?);
    Ok(endpoint)
}

/// An endpoint that only dials out.
pub fn client_endpoint(tls: &TlsIdentity) -> Result<quinn::Endpoint, WireError> {
    let bind: SocketAddr = SocketAddr::from(([0, 0, 0, 0], 0));
    let mut endpoint = endpoint(bind, None)?;
    endpoint.set_default_client_config(client_config(tls)?);
    Ok(endpoint)
}

/// Resolve "host:port" to a socket address.
pub async fn resolve(addr: &str) -> Result<SocketAddr, WireError> {
    let mut addrs = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| WireError::Connect {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
    addrs.next().ok_or_else(|| WireError::Connect {
        addr: addr.to_string(),
        reason: "no address found".to_string(),
    })
}

/// Caches one QUIC connection per peer address and reconnects when one dies.
#[derive(Clone)]
pub struct Connector {
    endpoint: quinn::Endpoint,
    conns: Arc<Mutex<HashMap<String, quinn::Connection>>>,
}

impl Connector {
    pub fn new(endpoint: quinn::Endpoint) -> Connector {
        Connector {
            endpoint,
            conns: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn endpoint(&self) -> &quinn::Endpoint {
        &self.endpoint
    }

    fn cached(&self, addr: &str) -> Option<quinn::Connection> {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        match conns.get(addr) {
            Some(c) if c.close_reason().is_none() => Some(c.clone()),
            Some(_) => {
                conns.remove(addr);
                None
            }
            None => None,
        }
    }

    /// Forget a connection (after a transport error) so the next call reconnects.
    pub fn forget(&self, addr: &str) {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(addr);
    }

    /// A live connection to `addr`, dialling if needed.
    pub async fn connection(&self, addr: &str) -> Result<quinn::Connection, WireError> {
        if let Some(c) = self.cached(addr) {
            return Ok(c);
        }
        let sock = resolve(addr).await?;
        let connect_err = |reason: String| WireError::Connect {
            addr: addr.to_string(),
            reason,
        };
        let connecting = self
            .endpoint
            .connect(sock, SERVER_NAME)
            .map_err(|e| connect_err(e.to_string()))?;
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| connect_err("timed out".to_string()))?
            .map_err(|e| connect_err(e.to_string()))?;
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(addr.to_string(), conn.clone());
        Ok(conn)
    }

    /// Open a request stream to `addr`; reconnects once if the cached connection died.
    pub async fn open(
        &self,
        addr: &str,
    ) -> Result<(quinn::SendStream, quinn::RecvStream), WireError> {
        let conn = self.connection(addr).await?;
        match conn.open_bi().await {
            Ok(s) => Ok(s),
            Err(_) => {
                self.forget(addr);
                let conn = self.connection(addr).await?;
                Ok(conn.open_bi().await?)
            }
        }
    }

    /// One request, one response, bounded by `timeout`.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        addr: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, WireError> {
        let work = async {
            let (mut send, mut recv) = self.open(addr).await?;
            write_msg(&mut send, req).await?;
            send.finish()?;
            read_msg::<Resp>(&mut recv).await
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                if matches!(e, WireError::Transport(_) | WireError::Connect { .. }) {
                    self.forget(addr);
                }
                Err(e)
            }
            Err(_) => {
                // No answer in time: the connection may be dead; dial afresh next time.
                self.forget(addr);
                Err(WireError::Timeout)
            }
        }
    }
}

/// Accept connections forever, calling `handle` once per bidirectional stream.
/// A failing stream or connection never stops the loop.
pub async fn serve_streams<H, Fut>(endpoint: quinn::Endpoint, handle: H)
where
    H: Fn(quinn::Connection, quinn::SendStream, quinn::RecvStream) -> Fut
        + Clone
        + Send
        + Sync
        + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    while let Some(incoming) = endpoint.accept().await {
        let handle = handle.clone();
        tokio::spawn(async move {
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "handshake failed");
                    return;
                }
            };
            while let Ok((send, recv)) = conn.accept_bi().await {
                tokio::spawn(handle.clone()(conn.clone(), send, recv));
            }
        });
    }
}
