//! `ferrofs node list|drain|undrain|remove|set-weight`: the data servers of a cluster.

use super::OpContext;
use crate::args::{NodeCommand, NodeListArgs};
use crate::client_config::connect;
use crate::output::{format_bytes, Align, Table};
use anyhow::{Context, Result};
use ferrofs_client::{ClusterStatus, DataServerInfo, ServerState};
use ferrofs_proto::NodeId;
use std::path::PathBuf;

pub async fn run(config: Option<PathBuf>, cmd: NodeCommand) -> Result<()> {
    let client = connect(config).await?;
    match cmd {
        NodeCommand::List(a) => {
            let status = client.status().await.op(|| "node list".to_string())?;
            list(&status, &a)
        }
        NodeCommand::Drain(a) => {
            client
                .drain_data_server(NodeId(a.id))
                .await
                .op(|| format!("node drain {}", a.id))?;
            println!(
                "data server {} is draining: it takes no new chunks and its chunks move to \
                 other servers; `ferrofs node list` shows it drained when done",
                a.id
            );
            Ok(())
        }
        NodeCommand::Undrain(a) => {
            client
                .undrain_data_server(NodeId(a.id))
                .await
                .op(|| format!("node undrain {}", a.id))?;
            println!("data server {} takes chunks again", a.id);
            Ok(())
        }
        NodeCommand::Remove(a) => {
            client
                .remove_data_server(NodeId(a.id), a.force)
                .await
                .op(|| format!("node remove {}", a.id))?;
            println!("data server {} removed", a.id);
            Ok(())
        }
        NodeCommand::SetWeight(a) => {
            client
                .set_data_server_weight(NodeId(a.id), a.weight)
                .await
                .op(|| format!("node set-weight {} {}", a.id, a.weight))?;
            println!(
                "data server {} has weight {}; chunks move in the background \
                 (`ferrofs rebalance status`)",
                a.id, a.weight
            );
            Ok(())
        }
    }
}

/// Chunk copies recorded on `id`, as the leader last counted them (`None` if unknown).
pub fn copies_held(status: &ClusterStatus, id: NodeId) -> Option<u64> {
    if status.rebalance.locations.is_empty() && status.chunks > 0 {
        // The loop has not counted yet (a new leader).
        return None;
    }
    Some(
        status
            .rebalance
            .locations
            .iter()
            .find(|l| l.id == id)
            .map_or(0, |l| l.chunks),
    )
}

/// The state as shown: a draining server without any chunk copy is "drained".
pub fn state_label(status: &ClusterStatus, d: &DataServerInfo) -> &'static str {
    match d.state {
        ServerState::Up => "up",
        ServerState::Suspect => "suspect",
        ServerState::Down => "down",
        ServerState::Draining if copies_held(status, d.id) == Some(0) => "drained",
        ServerState::Draining => "draining",
        ServerState::Removed => "removed",
    }
}

fn list(status: &ClusterStatus, args: &NodeListArgs) -> Result<()> {
    if args.json {
        let rows: Vec<serde_json::Value> = status
            .data_servers
            .iter()
            .map(|d| {
                serde_json::json!({
                    "id": d.id.0,
                    "addr": d.addr,
                    "zone": d.zone,
                    "weight": d.weight,
                    "state": state_label(status, d),
                    "chunks": copies_held(status, d.id),
                    "capacity": d.capacity,
                    "used": d.used,
                })
            })
            .collect();
        let text = serde_json::to_string(&rows).context("encoding the list as JSON")?;
        println!("{text}");
    } else {
        print!("{}", render_list(status));
    }
    Ok(())
}

pub fn render_list(status: &ClusterStatus) -> String {
    let mut t = Table::new(&[
        ("ID", Align::Right),
        ("ADDRESS", Align::Left),
        ("ZONE", Align::Left),
        ("WEIGHT", Align::Right),
        ("STATE", Align::Left),
        ("CHUNKS", Align::Right),
        ("USED", Align::Right),
        ("CAPACITY", Align::Right),
    ]);
    for d in &status.data_servers {
        let zone = if d.zone.is_empty() { "-" } else { &d.zone };
        let chunks = copies_held(status, d.id).map_or("-".to_string(), |c| c.to_string());
        t.row(vec![
            d.id.to_string(),
            d.addr.clone(),
            zone.to_string(),
            d.weight.to_string(),
            state_label(status, d).to_string(),
            chunks,
            format_bytes(d.used),
            format_bytes(d.capacity),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_proto::meta_msg::{RebalanceStatus, ServerChunks};

    fn server(id: u64, state: ServerState) -> DataServerInfo {
        DataServerInfo {
            id: NodeId(id),
            addr: format!("127.0.0.1:{}", 5000 + id),
            zone: String::new(),
            weight: 2,
            capacity: 1 << 30,
            used: 0,
            chunks: 3,
            state,
        }
    }

    #[test]
    fn a_draining_server_without_copies_is_drained() {
        let status = ClusterStatus {
            leader: None,
            term: 1,
            commit_index: 1,
            voters: vec![],
            data_servers: vec![
                server(101, ServerState::Draining),
                server(102, ServerState::Draining),
                server(103, ServerState::Up),
            ],
            files: 1,
            dirs: 1,
            chunks: 4,
            under_replicated: 0,
            logical_bytes: 0,
            replication: 1,
            repair: Default::default(),
            rebalance: RebalanceStatus {
                locations: vec![
                    ServerChunks {
                        id: NodeId(102),
                        chunks: 1,
                    },
                    ServerChunks {
                        id: NodeId(103),
                        chunks: 3,
                    },
                ],
                ..Default::default()
            },
        };
        let text = render_list(&status);
        let row = |id: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(id))
                .unwrap_or_default()
                .to_string()
        };
        assert!(row("101").contains("drained"), "{text}");
        assert!(row("102").contains("draining"), "{text}");
        assert!(row("103").contains(" up "), "{text}");
        assert!(row("103").contains(" 3 "), "{text}");
    }
}
