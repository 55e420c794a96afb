//! `ferrofs status`: voters, data servers and counts, as tables or JSON.

use super::OpContext;
use crate::args::StatusArgs;
use crate::client_config::connect;
use crate::output::{format_bytes, Align, Table};
use anyhow::{Context, Result};
use ferrofs_client::{ClusterStatus, ServerState};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

pub async fn run(config: Option<PathBuf>, args: StatusArgs) -> Result<()> {
    let client = connect(config).await?;
    if !args.watch {
        let status = client.status().await.op(|| "status".to_string())?;
        return print(&status, args.json, false);
    }
    let clear = !args.json && std::io::stdout().is_terminal();
    let mut tick = tokio::time::interval(args.interval);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tick.tick() => {}
        }
        match client.status().await {
            Ok(status) => print(&status, args.json, clear)?,
            // A watch survives an election or an unreachable leader; say so and go on.
            Err(e) => eprintln!("ferrofs: status: {e}"),
        }
    }
}

fn print(status: &ClusterStatus, json: bool, clear: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let line = serde_json::to_string(status).context("encoding the status as JSON")?;
        writeln!(out, "{line}")?;
    } else {
        if clear {
            write!(out, "\x1b[2J\x1b[H")?;
        }
        write!(out, "{}", render_status(status))?;
    }
    out.flush()?;
    Ok(())
}

fn state_name(s: ServerState) -> &'static str {
    match s {
        ServerState::Up => "up",
        ServerState::Suspect => "suspect",
        ServerState::Down => "down",
        ServerState::Draining => "draining",
        ServerState::Removed => "removed",
    }
}

/// The status as text: a summary line, the voters table, the data servers table and
/// the counts.
pub fn render_status(s: &ClusterStatus) -> String {
    let leader = s
        .leader
        .map(|l| l.to_string())
        .unwrap_or_else(|| "none".to_string());
    let mut out = format!(
        "metadata: leader {leader}, term {}, commit index {}, replication {}\n",
        s.term, s.commit_index, s.replication
    );
    let mut voters = Table::new(&[
        ("ID", Align::Right),
        ("ADDRESS", Align::Left),
        ("ROLE", Align::Left),
        ("MATCHED", Align::Right),
    ]);
    for v in &s.voters {
        let matched = v
            .matched_index
            .map(|m| m.to_string())
            .unwrap_or_else(|| "-".to_string());
        voters.row(vec![
            v.id.to_string(),
            v.addr.clone(),
            v.role.clone(),
            matched,
        ]);
    }
    out.push_str(&voters.render());
    out.push('\n');

    let mut data = Table::new(&[
        ("ID", Align::Right),
        ("ADDRESS", Align::Left),
        ("ZONE", Align::Left),
        ("CAPACITY", Align::Right),
        ("USED", Align::Right),
        ("USE%", Align::Right),
        ("CHUNKS", Align::Right),
        ("STATE", Align::Left),
    ]);
    for d in &s.data_servers {
        let pct = if d.capacity == 0 {
            "-".to_string()
        } else {
            format!("{:.1}", d.used as f64 * 100.0 / d.capacity as f64)
        };
        let zone = if d.zone.is_empty() {
            "-".to_string()
        } else {
            d.zone.clone()
        };
        data.row(vec![
            d.id.to_string(),
            d.addr.clone(),
            zone,
            format_bytes(d.capacity),
            format_bytes(d.used),
            pct,
            d.chunks.to_string(),
            state_name(d.state).to_string(),
        ]);
    }
    out.push_str(&data.render());
    out.push('\n');
    out.push_str(&format!(
        "files {}, directories {}, chunks {}, under-replicated {}, logical size {}\n",
        s.files,
        s.dirs,
        s.chunks,
        s.under_replicated,
        format_bytes(s.logical_bytes)
    ));
    let r = &s.repair;
    let eta = r.eta_secs.map_or("-".to_string(), |s| format!("{s} s"));
    out.push_str(&format!(
        "repair: in flight {}, left {} at {}/s (ETA {eta}), repaired {}, surplus removed {}; gc: pending {}, collected {}, reclaimed {}\n",
        r.in_flight,
        format_bytes(r.bytes_left),
        format_bytes(r.bytes_per_sec),
        r.chunks_repaired,
        r.surplus_removed,
        r.garbage_pending,
        r.garbage_collected,
        format_bytes(r.bytes_reclaimed)
    ));
    out.push_str(&super::rebalance::render_rebalance(&s.rebalance));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_client::DataServerInfo;
    use ferrofs_proto::meta_msg::VoterStatus;
    use ferrofs_proto::NodeId;

    #[test]
    fn status_renders_every_section() {
        let s = ClusterStatus {
            leader: Some(NodeId(2)),
            term: 7,
            commit_index: 42,
            voters: vec![
                VoterStatus {
                    id: NodeId(1),
                    addr: "127.0.0.1:4001".into(),
                    role: "follower".into(),
                    matched_index: Some(42),
                },
                VoterStatus {
                    id: NodeId(2),
                    addr: "127.0.0.1:4002".into(),
                    role: "leader".into(),
                    matched_index: None,
                },
            ],
            data_servers: vec![DataServerInfo {
                id: NodeId(101),
                addr: "127.0.0.1:5001".into(),
                zone: String::new(),
                weight: 1,
                capacity: 1 << 30,
                used: 1 << 28,
                chunks: 64,
                state: ServerState::Suspect,
            }],
            files: 10,
            dirs: 2,
            chunks: 64,
            under_replicated: 3,
            logical_bytes: 1 << 20,
            replication: 3,
            repair: ferrofs_proto::meta_msg::RepairStatus {
                garbage_pending: 5,
                ..Default::default()
            },
            rebalance: Default::default(),
        };
        let text = render_status(&s);
        assert!(text.starts_with("metadata: leader 2, term 7"), "{text}");
        assert!(text.contains("127.0.0.1:4002  leader"), "{text}");
        let row = text.lines().find(|l| l.contains("5001")).expect("data row");
        for cell in ["101", "1.0 GiB", "256.0 MiB", "25.0", "64", "suspect"] {
            assert!(row.contains(cell), "{cell} missing in {row}");
        }
        assert!(text.contains("under-replicated 3"), "{text}");
        assert!(text.contains("rebalance: 0 chunks misplaced"), "{text}");
        assert!(text.contains("gc: pending 5"), "{text}");
        // JSON is the serde form of the same struct.
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(json["leader"], 2);
    }
}
