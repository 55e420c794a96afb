//! Issue 4, acceptance 5: which replica serves a read. With 3 data servers holding every
//! chunk, `round-robin` spreads reads evenly (within 10%), `random` roughly evenly, and
//! `least-loaded` (the default) sends fewer reads to a server made slow with the hidden
//! `ferrofs-data --test-read-delay-ms` flag. Reads are counted by the data servers
//! themselves (`ferrofs_data_requests_total{op="get"}` on their /metrics).

use anyhow::{bail, Context, Result};
use ferrofs_client::{Client, ClientConfig, ReadPolicy};
use ferrofs_proto::config::{load, DataConfig};
use ferrofs_tests::data::{content, hash};
use ferrofs_tests::files::{get_bytes, mkdir_p, put_bytes};
use ferrofs_tests::{wait_until, TestCluster};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Small files: one chunk each, on all 3 servers.
const FILES: u64 = 6;
const READS: u64 = 300;

fn data_metrics_addrs(cluster: &TestCluster) -> Result<BTreeMap<String, SocketAddr>> {
    let mut out = BTreeMap::new();
    for name in cluster.names("data") {
        let cfg: DataConfig = load(&cluster.dir().join(&name).join("data.toml"))?;
        out.insert(name, cfg.metrics_addr.context("data has no metrics_addr")?);
    }
    Ok(out)
}

/// Chunk reads served so far by the data server whose metrics are at `addr`.
fn gets_served(addr: SocketAddr) -> Result<u64> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let line = raw
        .lines()
        .find(|l| l.starts_with("ferrofs_data_requests_total{op=\"get\"}"));
    match line.and_then(|l| l.split_whitespace().last()) {
        Some(v) => Ok(v.parse::<f64>().context("parsing the get counter")? as u64),
        // No read served yet: the labelled counter does not exist.
        None if raw.starts_with("HTTP/1.1 200") => Ok(0),
        None => bail!("GET http://{addr}/metrics failed: {raw}"),
    }
}

fn all_gets(addrs: &BTreeMap<String, SocketAddr>) -> Result<BTreeMap<String, u64>> {
    addrs
        .iter()
        .map(|(n, a)| Ok((n.clone(), gets_served(*a)?)))
        .collect()
}

async fn client_with(cluster: &TestCluster, policy: ReadPolicy) -> Result<Client> {
    let mut cfg: ClientConfig = load(&cluster.client_config())?;
    cfg.read_policy = policy;
    Ok(Client::connect(cfg).await?)
}

/// Read the test files `reads` times in total with `tasks` readers at once, checking
/// every byte; returns how many chunk reads each server served meanwhile.
async fn count_reads(
    cluster: &TestCluster,
    client: &Client,
    expected: &[blake3::Hash],
    reads: u64,
    tasks: u64,
) -> Result<BTreeMap<String, u64>> {
    let addrs = data_metrics_addrs(cluster)?;
    let before = all_gets(&addrs)?;
    let mut set = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let client = client.clone();
        let expected = expected.to_vec();
        set.spawn(async move {
            for r in (t..reads).step_by(tasks as usize) {
                let i = r % FILES;
                let bytes = get_bytes(&client, &format!("/r/f{i}")).await?;
                anyhow::ensure!(hash(&bytes) == expected[i as usize], "/r/f{i} damaged");
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    let after = all_gets(&addrs)?;
    let diff: BTreeMap<String, u64> = after
        .iter()
        .map(|(n, a)| (n.clone(), a - before.get(n).copied().unwrap_or(0)))
        .collect();
    let total: u64 = diff.values().sum();
    anyhow::ensure!(
        total == reads,
        "expected {reads} chunk reads in all, the servers counted {diff:?}"
    );
    Ok(diff)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_policies_spread_or_steer_reads() -> Result<()> {
    let mut cluster = TestCluster::start(1, 3)?;
    let writer = cluster.client().await?;
    mkdir_p(&writer, "/r").await?;
    let mut expected = Vec::new();
    for i in 0..FILES {
        let bytes = content(i, 32 * 1024 + i as usize);
        put_bytes(&writer, &format!("/r/f{i}"), &bytes).await?;
        expected.push(hash(&bytes));
    }
    let even = READS as f64 / 3.0;

    let rr = client_with(&cluster, ReadPolicy::RoundRobin).await?;
    let spread = count_reads(&cluster, &rr, &expected, READS, 1).await?;
    eprintln!("round-robin: {spread:?}");
    for (name, n) in &spread {
        let off = (*n as f64 - even).abs() / even;
        assert!(off <= 0.10, "round-robin gave {name} {n} of {READS} reads");
    }

    let random = client_with(&cluster, ReadPolicy::Random).await?;
    let spread = count_reads(&cluster, &random, &expected, READS, 1).await?;
    eprintln!("random: {spread:?}");
    for (name, n) in &spread {
        // Binomial(300, 1/3): the standard deviation is ~8 reads; 35% is > 4 of them.
        let off = (*n as f64 - even).abs() / even;
        assert!(off <= 0.35, "random gave {name} {n} of {READS} reads");
    }

    // Make data-3 slow and check that least-loaded (the default) mostly avoids it.
    assert_eq!(ReadPolicy::default(), ReadPolicy::LeastLoaded);
    cluster.kill9("data-3")?;
    cluster.restart_with("data-3", &["--test-read-delay-ms", "40"])?;
    let slow_addr = data_metrics_addrs(&cluster)?["data-3"];
    let slow_cfg: DataConfig = load(&cluster.dir().join("data-3").join("data.toml"))?;
    let slow_id = slow_cfg.node_id;
    wait_until("data-3 serving again", Duration::from_secs(30), || async {
        gets_served(slow_addr).ok()
    })
    .await?;
    let least = client_with(&cluster, ReadPolicy::LeastLoaded).await?;
    // The slow server must be in the map as up before reading, or it is simply skipped.
    wait_until("data-3 up in the map", Duration::from_secs(30), || async {
        let map = least.cluster_map(true).await.ok()?;
        map.data_servers
            .iter()
            .any(|s| s.id == slow_id && s.state == ferrofs_client::ServerState::Up)
            .then_some(())
    })
    .await?;
    let spread = count_reads(&cluster, &least, &expected, READS, 3).await?;
    eprintln!("least-loaded with data-3 slow: {spread:?}");
    let slow = spread["data-3"];
    let fast = spread["data-1"].min(spread["data-2"]);
    assert!(
        slow * 4 <= fast,
        "least-loaded sent {slow} reads to the slow server and only {fast} to a fast one"
    );
    Ok(())
}
