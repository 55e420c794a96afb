//! Growing a running `TestCluster`: a new data server with its own folder, certificate,
//! ports and weight, started as a real process that registers by itself.

use crate::cluster::{issue_cert, TestCluster};
use anyhow::{Context, Result};
use ferrofs_cli::dev::ports::{pick_free_tcp_ports, pick_free_udp_ports};
use std::path::Path;

/// Data server ids are this base plus the folder's ordinal (as `ferrofs dev up` does).
const DATA_ID_BASE: u64 = 100;

/// A free UDP port (QUIC) and a free TCP port (HTTP), picked as `ferrofs dev up` picks them.
fn free_ports() -> Result<(u16, u16)> {
    let none = std::collections::BTreeSet::new();
    let udp = pick_free_udp_ports(1, &none)?;
    let tcp = pick_free_tcp_ports(1, &none)?;
    Ok((udp[0], tcp[0]))
}

/// The highest `data-N` folder ordinal in the cluster folder.
fn last_ordinal(dir: &Path) -> Result<u64> {
    let mut last = 0;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().to_string();
        if let Some(n) = name.strip_prefix("data-").and_then(|n| n.parse().ok()) {
            last = last.max(n);
        }
    }
    Ok(last)
}

/// Create the folder of a new data server (config derived from data-1's, a fresh
/// certificate from the cluster CA) and return its name, e.g. `data-4`.
pub fn prepare_data_server(dir: &Path, weight: u32, zone: &str) -> Result<String> {
    let ordinal = last_ordinal(dir)? + 1;
    let name = format!("data-{ordinal}");
    let folder = dir.join(&name);
    std::fs::create_dir_all(&folder)?;
    issue_cert(&dir.join("ca"), &name, &folder.join("tls"))?;
    let template = std::fs::read_to_string(dir.join("data-1").join("data.toml"))
        .context("reading data-1's config as a template")?;
    let (udp, tcp) = free_ports()?;
    let mut lines = Vec::new();
    for line in template.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        let line = match key {
            "node_id" => format!("node_id = {}", DATA_ID_BASE + ordinal),
            "listen" => format!("listen = \"127.0.0.1:{udp}\""),
            "metrics_addr" => format!("metrics_addr = \"127.0.0.1:{tcp}\""),
            "weight" => format!("weight = {weight}"),
            "zone" => format!("zone = \"{zone}\""),
            _ => line.replace("data-1", &name),
        };
        lines.push(line);
    }
    std::fs::write(folder.join("data.toml"), lines.join("\n") + "\n")?;
    Ok(name)
}

/// Start one more data server in a running cluster; returns its name (`data-4`, ...).
pub fn add_data_server(cluster: &mut TestCluster, weight: u32) -> Result<String> {
    let name = prepare_data_server(cluster.dir(), weight, "")?;
    cluster.restart(&name)?;
    Ok(name)
}
