//! `ferrofs rebalance status|pause|resume|set-rate`: the moves that put every chunk on
//! the servers the ring wants after data servers join, drain or change weight.

use super::OpContext;
use crate::args::RebalanceCommand;
use crate::client_config::connect;
use crate::output::format_bytes;
use anyhow::{Context, Result};
use ferrofs_proto::meta_msg::RebalanceStatus;
use std::path::PathBuf;

pub async fn run(config: Option<PathBuf>, cmd: RebalanceCommand) -> Result<()> {
    let client = connect(config).await?;
    match cmd {
        RebalanceCommand::Status(a) => {
            let status = client
                .status()
                .await
                .op(|| "rebalance status".to_string())?;
            if a.json {
                let text = serde_json::to_string(&status.rebalance)
                    .context("encoding the rebalance status as JSON")?;
                println!("{text}");
            } else {
                println!("{}", render_rebalance(&status.rebalance));
            }
        }
        RebalanceCommand::Pause => {
            client
                .set_rebalance(Some(true), None)
                .await
                .op(|| "rebalance pause".to_string())?;
            println!("rebalance paused: no new moves start (repairs go on)");
        }
        RebalanceCommand::Resume => {
            client
                .set_rebalance(Some(false), None)
                .await
                .op(|| "rebalance resume".to_string())?;
            println!("rebalance resumed");
        }
        RebalanceCommand::SetRate(a) => {
            client
                .set_rebalance(None, Some(a.mib))
                .await
                .op(|| format!("rebalance set-rate {}", a.mib))?;
            println!("rebalance throttled to {} MiB/s per data server", a.mib);
        }
    }
    Ok(())
}

fn eta(secs: Option<u64>) -> String {
    match secs {
        None => "-".to_string(),
        Some(s) if s >= 3600 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        Some(s) if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        Some(s) => format!("{s}s"),
    }
}

/// One line: `rebalance: 12 chunks misplaced, 1.2 MiB left, 3.0 MiB/s, ETA 1s, 40 moves
/// done, throttle 50 MiB/s per server` (with `, paused` when paused).
pub fn render_rebalance(r: &RebalanceStatus) -> String {
    let mut out = format!(
        "rebalance: {} chunks misplaced, {} left, {}/s, ETA {}, {} moves done, throttle {} MiB/s per server",
        r.chunks_misplaced,
        format_bytes(r.bytes_left),
        format_bytes(r.bytes_per_sec),
        eta(r.eta_secs),
        r.moves_done,
        r.rate_mib_per_sec
    );
    if r.paused {
        out.push_str(", paused");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_progress_and_pause() {
        let r = RebalanceStatus {
            chunks_misplaced: 12,
            bytes_left: 3 << 20,
            bytes_per_sec: 1 << 20,
            eta_secs: Some(75),
            paused: true,
            rate_mib_per_sec: 50,
            moves_done: 40,
            ..Default::default()
        };
        let line = render_rebalance(&r);
        for part in [
            "12 chunks misplaced",
            "3.0 MiB left",
            "1.0 MiB/s",
            "ETA 1m15s",
            "40 moves done",
            "50 MiB/s",
            "paused",
        ] {
            assert!(line.contains(part), "{part} missing in {line}");
        }
    }
}
