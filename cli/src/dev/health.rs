//! Waiting for a freshly started local cluster: a leader is elected and every data
//! server is registered and up.

use super::layout::{Layout, ProcessSpec};
use super::processes::{log_tail, Running};
use anyhow::{bail, Result};
use ferrofs_client::{Client, ClusterStatus, ServerState};
use ferrofs_proto::config::{load, ClientConfig};
use ferrofs_proto::NodeId;
use std::time::Duration;
use tokio::time::Instant;

const POLL: Duration = Duration::from_millis(200);
/// Short timeouts while polling, so one dead attempt does not eat the whole wait.
const ATTEMPT: Duration = Duration::from_secs(2);

/// What is still missing for the cluster to count as healthy; empty when healthy.
pub fn missing(status: &ClusterStatus, data_ids: &[NodeId]) -> Vec<String> {
    let mut out = Vec::new();
    if status.leader.is_none() {
        out.push("no metadata leader yet".to_string());
    }
    for id in data_ids {
        match status.data_servers.iter().find(|d| d.id == *id) {
            None => out.push(format!("data server {id} not registered")),
            Some(d) if d.state != ServerState::Up => {
                out.push(format!("data server {id} is {:?}", d.state))
            }
            Some(_) => {}
        }
    }
    out
}

/// Poll the cluster until healthy or `timeout`; fail early if a process exits.
/// Returns the healthy status.
pub async fn wait_healthy(
    layout: &Layout,
    children: &mut [Running],
    timeout: Duration,
) -> Result<ClusterStatus> {
    let mut cfg: ClientConfig = load(&layout.client_config_path())?;
    cfg.request_timeout = ATTEMPT;
    cfg.failover_timeout = ATTEMPT;
    let data_ids: Vec<NodeId> = layout.data.iter().map(|d| d.id).collect();
    let deadline = Instant::now() + timeout;
    let mut client: Option<Client> = None;
    let mut last = String::from("no answer yet");
    loop {
        check_children(children)?;
        if client.is_none() {
            match tokio::time::timeout(ATTEMPT * 2, Client::connect(cfg.clone())).await {
                Ok(Ok(c)) => client = Some(c),
                Ok(Err(e)) => last = format!("connecting: {e}"),
                Err(_) => last = "connecting: timed out".to_string(),
            }
        }
        if let Some(c) = &client {
            match tokio::time::timeout(ATTEMPT * 2, c.status()).await {
                Ok(Ok(status)) => {
                    let gaps = missing(&status, &data_ids);
                    if gaps.is_empty() {
                        c.shutdown().await;
                        return Ok(status);
                    }
                    last = gaps.join(", ");
                }
                Ok(Err(e)) => last = format!("status: {e}"),
                Err(_) => last = "status: timed out".to_string(),
            }
        }
        if Instant::now() >= deadline {
            if let Some(c) = &client {
                c.shutdown().await;
            }
            bail!(
                "the cluster in {} is not healthy after {}: {last}\n{}",
                layout.dir.display(),
                humantime::format_duration(timeout),
                log_hint(layout.processes())
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// An error naming the first child that has exited, with the end of its log.
fn check_children(children: &mut [Running]) -> Result<()> {
    for r in children.iter_mut() {
        if let Ok(Some(status)) = r.child.try_wait() {
            let tail = log_tail(&r.log, 15);
            let tail = if tail.trim().is_empty() {
                "(the log is empty)".to_string()
            } else {
                tail
            };
            bail!(
                "{} exited during start-up ({status}); last lines of {}:\n{tail}",
                r.name,
                r.log.display()
            );
        }
    }
    Ok(())
}

fn log_hint<'a>(procs: impl Iterator<Item = &'a ProcessSpec>) -> String {
    let logs: Vec<String> = procs.map(|p| p.log_path().display().to_string()).collect();
    format!("logs: {}", logs.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_client::DataServerInfo;

    fn status(leader: Option<u64>, servers: &[(u64, ServerState)]) -> ClusterStatus {
        ClusterStatus {
            leader: leader.map(NodeId),
            term: 1,
            commit_index: 1,
            voters: vec![],
            data_servers: servers
                .iter()
                .map(|(id, state)| DataServerInfo {
                    id: NodeId(*id),
                    addr: "127.0.0.1:1".into(),
                    zone: String::new(),
                    weight: 1,
                    capacity: 0,
                    used: 0,
                    chunks: 0,
                    state: *state,
                })
                .collect(),
            files: 0,
            dirs: 0,
            chunks: 0,
            under_replicated: 0,
            logical_bytes: 0,
            replication: 3,
            repair: Default::default(),
            rebalance: Default::default(),
        }
    }

    #[test]
    fn healthy_needs_a_leader_and_every_data_server_up() {
        let ids = [NodeId(101), NodeId(102)];
        let ok = status(Some(1), &[(101, ServerState::Up), (102, ServerState::Up)]);
        assert!(missing(&ok, &ids).is_empty());
        let no_leader = status(None, &[(101, ServerState::Up), (102, ServerState::Up)]);
        assert_eq!(
            missing(&no_leader, &ids),
            vec!["no metadata leader yet".to_string()]
        );
        let partial = status(Some(1), &[(101, ServerState::Suspect)]);
        assert_eq!(
            missing(&partial, &ids),
            vec![
                "data server 101 is Suspect".to_string(),
                "data server 102 not registered".to_string()
            ]
        );
    }
}
