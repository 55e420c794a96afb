//! The foreground mount: serve the FUSE session on a plain thread until Ctrl-C,
//! SIGTERM or an unmount from outside, then unmount cleanly. With a metrics address,
//! the mount's FUSE operation metrics are served over HTTP meanwhile.

use crate::signals::Signals;
use anyhow::{anyhow, Context, Result};
use ferrofs_client::Client;
use ferrofs_fuse::{mount_blocking_with_metrics, MountError, MountMetrics, MountOptions};
use ferrofs_metrics_http::HttpServer;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Mount `client`'s cluster on `target` and serve it until a signal or an unmount
/// from outside. A first SIGINT/SIGTERM unmounts (lazily if files are still open, then
/// waiting for their last close); a second one stops waiting and exits, leaving the
/// mount detached. With `metrics_addr`, Prometheus metrics are served there until the
/// mount ends.
pub async fn serve(
    client: Client,
    target: &Path,
    opts: MountOptions,
    metrics_addr: Option<SocketAddr>,
) -> Result<()> {
    let mut signals = Signals::install()?;
    let metrics = Arc::new(MountMetrics::new());
    let http = match metrics_addr {
        Some(addr) => {
            let server = HttpServer::start_metrics(addr, metrics.clone())
                .await
                .context("serving the mount's metrics")?;
            tracing::info!(addr = %server.local_addr(), "serving mount metrics over HTTP");
            Some(server)
        }
        None => None,
    };
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, mut done_rx) = oneshot::channel::<Result<(), MountError>>();
    let runtime = tokio::runtime::Handle::current();
    let mount_point: PathBuf = target.to_path_buf();
    let session_client = client.clone();
    std::thread::Builder::new()
        .name("ferrofs-fuse".into())
        .spawn(move || {
            let served = mount_blocking_with_metrics(
                session_client,
                runtime,
                &mount_point,
                &opts,
                stop_rx,
                metrics,
            );
            let _ = done_tx.send(served);
        })
        .context("starting the mount thread")?;

    let served = tokio::select! {
        r = &mut done_rx => Some(r),
        _ = signals.recv() => None,
    };
    let served = match served {
        Some(r) => r,
        None => {
            tracing::info!(mountpoint = %target.display(), "signal received; unmounting");
            // A send error means the session already ended; its result is on done_rx.
            let _ = stop_tx.send(());
            tokio::select! {
                r = &mut done_rx => r,
                _ = signals.recv() => {
                    eprintln!(
                        "ferrofs: {} is detached; files still open on it are lost to their programs",
                        target.display()
                    );
                    Ok(Ok(()))
                }
            }
        }
    };
    if let Some(server) = http {
        server.stop().await;
    }
    client.shutdown().await;
    match served {
        // MountError names the mount point itself.
        Ok(r) => r.map_err(anyhow::Error::from),
        Err(_) => Err(anyhow!("mount {}: the mount thread died", target.display())),
    }
}
