//! Test helper: run the recording clients of `ferrofs_tests::history` against a cluster
//! and print the history as JSON lines. The docker fault tests copy it into the client
//! container, where the servers' advertised names resolve.
//!
//!     ferrofs-history CLIENT_CONFIG DIR SECONDS CLIENTS

use anyhow::{bail, Context, Result};
use ferrofs_client::Client;
use ferrofs_proto::config::{load, ClientConfig};
use ferrofs_tests::history::run::{client_loop, Recorder};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, dir, seconds, clients] = args.as_slice() else {
        bail!("usage: ferrofs-history CLIENT_CONFIG DIR SECONDS CLIENTS");
    };
    let seconds: u64 = seconds.parse().context("SECONDS")?;
    let clients: usize = clients.parse().context("CLIENTS")?;
    let cfg: ClientConfig = load(config.as_ref())?;
    let setup = Client::connect(cfg.clone()).await?;
    let parent = match setup.resolve(dir).await {
        Ok(a) => a.ino,
        Err(_) => {
            let (p, name) = setup.resolve_parent(dir).await?;
            setup.mkdir(p.ino, name, 0o755, 0, 0).await?.ino
        }
    };
    let rec = Recorder::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for id in 0..clients {
        let client = Client::connect(cfg.clone()).await?;
        tasks.push(tokio::spawn(client_loop(
            client,
            id,
            parent,
            rec.clone(),
            stop.clone(),
            usize::MAX,
            Duration::from_secs(20),
        )));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.context("a recording client panicked")?;
    }
    for e in rec.events() {
        println!("{}", serde_json::to_string(&e)?);
    }
    Ok(())
}
