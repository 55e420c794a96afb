//! Damage on demand: stop a data server, flip a byte of a stored chunk with the hidden
//! `ferrofs-data corrupt-chunk` hook, start it again. Plus the lookups integrity tests
//! need: which process is which node, and which servers hold a verified copy.

use crate::cluster::{bin, TestCluster};
use anyhow::{bail, Context, Result};
use ferrofs_proto::config::{load, DataConfig};
use ferrofs_proto::data_msg::{DataRequest, DataResponse};
use ferrofs_proto::endpoint::Connector;
use ferrofs_proto::ids::{ChunkId, NodeId};
use std::process::Command;
use std::time::{Duration, Instant};

/// The node id of data process `name` ("data-2").
pub fn node_id(cluster: &TestCluster, name: &str) -> Result<NodeId> {
    let cfg: DataConfig = load(&cluster.dir().join(name).join("data.toml"))?;
    Ok(cfg.node_id)
}

/// The data process name of node `id`.
pub fn data_name(cluster: &TestCluster, id: NodeId) -> Result<String> {
    for name in data_folders(cluster)? {
        if node_id(cluster, &name)? == id {
            return Ok(name);
        }
    }
    bail!("no data server folder has node id {id:?}")
}

/// Every data process folder ("data-1", ...), running or not.
fn data_folders(cluster: &TestCluster) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(cluster.dir())? {
        let name = e?.file_name().to_string_lossy().to_string();
        if name.starts_with("data-") {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Turn off the background scrubber of `name` (passes then run only on request).
/// Takes effect at its next start.
pub fn disable_background_scrub(cluster: &TestCluster, name: &str) -> Result<()> {
    let path = cluster.dir().join(name).join("data.toml");
    let text = std::fs::read_to_string(&path)?;
    let mut out: Vec<String> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("scrub_rate"))
        .map(str::to_string)
        .collect();
    // Top-level keys must come before the first table.
    let at = out
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .unwrap_or(out.len());
    out.insert(at, "scrub_rate = 0".to_string());
    std::fs::write(&path, out.join("\n") + "\n")?;
    Ok(())
}

/// kill -9 data process `name`, flip a byte of each chunk in `chunks`, start it again.
pub fn corrupt_on(cluster: &mut TestCluster, name: &str, chunks: &[ChunkId]) -> Result<()> {
    cluster.kill9(name)?;
    let config = cluster.dir().join(name).join("data.toml");
    for id in chunks {
        // The killed server's store lock goes with its last thread; wait for it.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = Command::new(bin("ferrofs-data"))
                .arg("corrupt-chunk")
                .arg("--config")
                .arg(&config)
                .arg("--chunk")
                .arg(id.to_string())
                .output()
                .context("running ferrofs-data corrupt-chunk")?;
            if out.status.success() {
                break;
            }
            let err = String::from_utf8_lossy(&out.stderr);
            if !err.contains("LOCK") || Instant::now() > deadline {
                bail!("corrupt-chunk {id} on {name} failed: {err}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    cluster.restart(name)
}

/// Does the server at `addr` hold a verified (not quarantined) copy of `id`?
pub async fn has_chunk(conn: &Connector, addr: &str, id: ChunkId) -> bool {
    matches!(
        conn.call::<_, DataResponse>(addr, &DataRequest::HasChunk { id }, Duration::from_secs(5))
            .await,
        Ok(DataResponse::Present(true))
    )
}
