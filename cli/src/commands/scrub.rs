//! `ferrofs scrub start|status`: talk to the data servers' scrubbers directly, at the
//! addresses in the metadata leader's cluster map.

use super::OpContext;
use crate::args::{ScrubCommand, ScrubStartArgs, ScrubStatusArgs};
use crate::client_config::load_client_config;
use crate::output::{format_bytes, Align, Table};
use anyhow::{anyhow, bail, Context, Result};
use ferrofs_client::{Client, ServerState};
use ferrofs_proto::data_msg::{DataRequest, DataResponse, ScrubPass, ScrubReport};
use ferrofs_proto::endpoint::{client_endpoint, Connector};
use ferrofs_proto::ids::NodeId;
use ferrofs_proto::tls::TlsIdentity;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant, UNIX_EPOCH};

const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const WAIT_POLL: Duration = Duration::from_millis(500);

/// One data server the command talks to.
struct Target {
    node: NodeId,
    addr: String,
}

/// One row of `scrub status`: the report, or why there is none.
#[derive(Debug, Serialize)]
pub struct ServerScrub {
    pub node: NodeId,
    pub addr: String,
    pub report: Option<ScrubReport>,
    pub error: Option<String>,
}

pub async fn run(config: Option<PathBuf>, cmd: ScrubCommand) -> Result<()> {
    let cfg = load_client_config(config)?;
    let connector = Connector::new(client_endpoint(&TlsIdentity::load(&cfg.tls)?)?);
    let client = Client::connect(cfg).await?;
    match cmd {
        ScrubCommand::Start(a) => start(&client, &connector, a).await,
        ScrubCommand::Status(a) => status(&client, &connector, a).await,
    }
}

/// Every up data server, or the one asked for (whatever its state).
async fn targets(client: &Client, node: Option<u64>) -> Result<Vec<Target>> {
    let status = client.status().await.op(|| "status".to_string())?;
    let all = status.data_servers.iter();
    let picked: Vec<Target> = match node {
        Some(n) => all
            .filter(|d| d.id == NodeId(n))
            .map(|d| Target {
                node: d.id,
                addr: d.addr.clone(),
            })
            .collect(),
        None => all
            .filter(|d| d.state == ServerState::Up)
            .map(|d| Target {
                node: d.id,
                addr: d.addr.clone(),
            })
            .collect(),
    };
    match (node, picked.is_empty()) {
        (Some(n), true) => bail!("no data server with node id {n} (see `ferrofs status`)"),
        (None, true) => bail!("no data server is up (see `ferrofs status`)"),
        _ => Ok(picked),
    }
}

async fn call(connector: &Connector, t: &Target, req: DataRequest) -> Result<DataResponse> {
    let reply = connector
        .call::<_, DataResponse>(&t.addr, &req, CALL_TIMEOUT)
        .await
        .map_err(|e| anyhow!("data server {} at {}: {e}", t.node.0, t.addr))?;
    match reply {
        DataResponse::Error(e) => Err(anyhow!("data server {} refused: {e}", t.node.0)),
        other => Ok(other),
    }
}

async fn report(connector: &Connector, t: &Target) -> Result<ScrubReport> {
    match call(connector, t, DataRequest::ScrubStatus).await? {
        DataResponse::Scrub(r) => Ok(r),
        other => Err(anyhow!(
            "data server {} answered {other:?} to a scrub status request (an older version?)",
            t.node.0
        )),
    }
}

async fn start(client: &Client, connector: &Connector, args: ScrubStartArgs) -> Result<()> {
    let targets = targets(client, args.node).await?;
    let mut started = Vec::new();
    let mut failed = 0;
    for t in &targets {
        match call(connector, t, DataRequest::ScrubStart).await {
            Ok(DataResponse::ScrubStarted { started_unix_ms }) => {
                println!("data server {}: scrub pass started", t.node.0);
                started.push((t, started_unix_ms));
            }
            Ok(other) => {
                failed += 1;
                eprintln!(
                    "data server {}: unexpected answer {other:?} (an older version?)",
                    t.node.0
                );
            }
            Err(e) => {
                failed += 1;
                eprintln!("{e:#}");
            }
        }
    }
    if args.wait {
        let deadline = Instant::now() + args.timeout;
        let mut rows = Vec::new();
        for (t, at) in started {
            let last = wait_for_pass(connector, t, at, deadline).await?;
            rows.push(ServerScrub {
                node: t.node,
                addr: t.addr.clone(),
                report: Some(last),
                error: None,
            });
        }
        print!("{}", render(&rows));
    }
    if failed > 0 {
        bail!("could not start scrubbing on {failed} data server(s)");
    }
    Ok(())
}

/// Poll until `t` has finished a pass that started at or after `at`.
async fn wait_for_pass(
    connector: &Connector,
    t: &Target,
    at: u64,
    deadline: Instant,
) -> Result<ScrubReport> {
    loop {
        let r = report(connector, t).await?;
        if r.last.as_ref().is_some_and(|l| l.started_unix_ms >= at) {
            return Ok(r);
        }
        if Instant::now() > deadline {
            bail!(
                "data server {} has not finished its scrub pass in time (see `ferrofs scrub status`)",
                t.node.0
            );
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

async fn status(client: &Client, connector: &Connector, args: ScrubStatusArgs) -> Result<()> {
    let targets = targets(client, args.node).await?;
    let mut rows = Vec::new();
    for t in &targets {
        let (report, error) = match report(connector, t).await {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        rows.push(ServerScrub {
            node: t.node,
            addr: t.addr.clone(),
            report,
            error,
        });
    }
    if args.json {
        let text = serde_json::to_string(&rows).context("encoding the scrub status as JSON")?;
        println!("{text}");
    } else {
        print!("{}", render(&rows));
    }
    let unreachable = rows.iter().filter(|r| r.error.is_some()).count();
    if unreachable > 0 {
        bail!("{unreachable} data server(s) did not answer");
    }
    Ok(())
}

fn time(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn progress(p: &ScrubPass) -> String {
    format!(
        "{}/{} chunks, {}",
        p.chunks_checked,
        p.chunks_total,
        format_bytes(p.bytes_checked)
    )
}

/// One table row per server, then the damaged chunks the last passes found.
pub fn render(rows: &[ServerScrub]) -> String {
    let mut table = Table::new(&[
        ("NODE", Align::Right),
        ("CURRENT PASS", Align::Left),
        ("STARTED", Align::Left),
        ("LAST PASS", Align::Left),
        ("FINISHED", Align::Left),
        ("CORRUPT", Align::Right),
    ]);
    let mut notes = String::new();
    for row in rows {
        let Some(r) = &row.report else {
            let why = row.error.clone().unwrap_or_default();
            table.row(vec![
                row.node.0.to_string(),
                "unreachable".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
            notes.push_str(&format!("node {}: {why}\n", row.node.0));
            continue;
        };
        let (cur, started) = match &r.current {
            Some(c) => (progress(c), time(c.started_unix_ms)),
            None => ("idle".to_string(), "-".to_string()),
        };
        let (last, finished, corrupt) = match &r.last {
            Some(l) => (
                progress(l),
                l.finished_unix_ms.map(time).unwrap_or_default(),
                l.corrupt.to_string(),
            ),
            None => ("none yet".to_string(), "-".to_string(), "-".to_string()),
        };
        table.row(vec![
            row.node.0.to_string(),
            cur,
            started,
            last,
            finished,
            corrupt,
        ]);
        for pass in r.last.iter().chain(r.current.iter()) {
            for id in &pass.corrupt_ids {
                notes.push_str(&format!(
                    "node {}: chunk {id} was corrupt: quarantined and reported for repair\n",
                    row.node.0
                ));
            }
        }
    }
    format!("{}{notes}", table.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_proto::ChunkId;

    #[test]
    fn render_shows_progress_and_findings() {
        let pass = ScrubPass {
            requested: true,
            started_unix_ms: 1_700_000_000_000,
            finished_unix_ms: Some(1_700_000_060_000),
            chunks_total: 10,
            chunks_checked: 9,
            bytes_checked: 9 * 1024 * 1024,
            corrupt: 1,
            corrupt_ids: vec![ChunkId(0xab)],
        };
        let rows = vec![
            ServerScrub {
                node: NodeId(3),
                addr: "127.0.0.1:1".into(),
                report: Some(ScrubReport {
                    rate: 1,
                    passes: 1,
                    current: None,
                    last: Some(pass),
                }),
                error: None,
            },
            ServerScrub {
                node: NodeId(4),
                addr: "127.0.0.1:2".into(),
                report: None,
                error: Some("timed out".into()),
            },
        ];
        let text = render(&rows);
        assert!(text.contains("9/10 chunks"), "{text}");
        assert!(text.contains("2023-11-14T22:14:20Z"), "{text}");
        assert!(
            text.contains("node 3: chunk 000000000000000000000000000000ab was corrupt"),
            "{text}"
        );
        assert!(text.contains("node 4: timed out"), "{text}");
    }
}
