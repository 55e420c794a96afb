//! Issue 5, acceptance 1 and 2 (scaled down for a 2-core box): a data server killed for
//! good has its chunks re-replicated to 3 copies on up servers while reads keep working;
//! with 2 of 5 servers killed at once, chunks left with one copy are repaired first.

use ferrofs_client::{Client, ServerState};
use ferrofs_proto::config::{load, ClientConfig, DataConfig};
use ferrofs_proto::ids::{ChunkId, NodeId};
use ferrofs_tests::data::{content, hash};
use ferrofs_tests::files::{get_bytes, mkdir_p, put_bytes};
use ferrofs_tests::reader::VerifyingReader;
use ferrofs_tests::{raw, wait_until, TestCluster};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MIB: usize = 1024 * 1024;

fn node_id(cluster: &TestCluster, name: &str) -> anyhow::Result<NodeId> {
    let cfg: DataConfig = load(&cluster.dir().join(name).join("data.toml"))?;
    Ok(cfg.node_id)
}

/// Write `count` files of `size` bytes; their blake3 by path.
async fn write_files(
    client: &Client,
    count: usize,
    size: usize,
) -> anyhow::Result<Vec<(String, blake3::Hash)>> {
    mkdir_p(client, "/r").await?;
    let mut out = Vec::new();
    for i in 0..count {
        let path = format!("/r/f{i}");
        let bytes = content(i as u64 + 500, size);
        put_bytes(client, &path, &bytes).await?;
        out.push((path, hash(&bytes)));
    }
    Ok(out)
}

/// Every chunk of every file: its id and recorded servers.
async fn chunk_map(
    cluster: &TestCluster,
    client: &Client,
    files: &[(String, blake3::Hash)],
) -> anyhow::Result<Vec<(ChunkId, Vec<NodeId>)>> {
    let cfg: ClientConfig = load(&cluster.client_config())?;
    let conn = raw::connector(&cfg)?;
    let mut out = Vec::new();
    for (path, _) in files {
        let attr = client.resolve(path).await?;
        let count = attr.size.div_ceil(client.chunk_size());
        for loc in raw::chunk_locations(&conn, &cfg.meta_addrs, attr.ino, count).await? {
            out.push((loc.chunk.id, loc.servers));
        }
    }
    Ok(out)
}

/// True when every chunk has at least 3 copies on servers the leader reports up, not
/// counting the `killed` ones (reported up until they miss enough heartbeats).
async fn fully_repaired(
    cluster: &TestCluster,
    client: &Client,
    files: &[(String, blake3::Hash)],
    killed: &[NodeId],
) -> Option<()> {
    let status = client.status().await.ok()?;
    let up: HashSet<NodeId> = status
        .data_servers
        .iter()
        .filter(|d| d.state == ServerState::Up && !killed.contains(&d.id))
        .map(|d| d.id)
        .collect();
    let chunks = chunk_map(cluster, client, files).await.ok()?;
    chunks
        .iter()
        .all(|(_, servers)| servers.iter().filter(|s| up.contains(s)).count() >= 3)
        .then_some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_data_server_is_re_replicated_while_reads_go_on() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start_with(3, 4, &["--down-after", "3s"])?;
    let client = cluster.client().await?;
    let files = write_files(&client, 10, 10 * MIB).await?;
    let before = chunk_map(&cluster, &client, &files).await?;
    eprintln!(
        "phase 1: wrote {} files, {} chunks",
        files.len(),
        before.len()
    );

    let victim = "data-1".to_string();
    let victim_id = node_id(&cluster, &victim)?;
    let lost = before
        .iter()
        .filter(|(_, s)| s.contains(&victim_id))
        .count();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = VerifyingReader::spawn(client.clone(), files.clone(), stop.clone());
    let victims = [victim_id];
    let t0 = Instant::now();
    cluster.kill9(&victim)?;
    eprintln!("phase 2: killed {victim} (node {victim_id}), which held {lost} chunks");

    let waited = wait_until(
        "every chunk back to 3 copies on up servers",
        Duration::from_secs(90),
        || fully_repaired(&cluster, &client, &files, &victims),
    )
    .await;
    let elapsed = t0.elapsed();
    let reads = reader.reads();
    stop.store(true, Ordering::Relaxed);
    let failures = reader.failures().await?;
    waited.map_err(|e| anyhow::anyhow!("{e}\n{}", cluster.log_tail("meta-1")))?;
    let status = client.status().await?;
    eprintln!(
        "phase 3: repaired in {elapsed:.1?} (down_after 3 s included); {} copies made; {} reads during repair",
        status.repair.chunks_repaired, reads
    );
    assert!(
        failures.is_empty(),
        "reads failed during repair: {failures:?}"
    );
    assert!(reads > 0, "no read ran during the repair");
    assert!(
        status.repair.chunks_repaired >= lost as u64,
        "{:?}",
        status.repair
    );
    assert!(
        status.repair.bytes_repaired > 0,
        "repaired bytes are counted: {:?}",
        status.repair
    );
    wait_until(
        "the repair's bytes left to fall to 0",
        Duration::from_secs(10),
        || async {
            let s = client.status().await.ok()?;
            (s.repair.bytes_left == 0 && s.repair.eta_secs == Some(0)).then_some(())
        },
    )
    .await?;
    for (path, want) in &files {
        assert_eq!(hash(&get_bytes(&client, path).await?), *want, "{path}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_two_servers_dead_chunks_with_one_copy_are_repaired_first() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start_with(3, 5, &["--down-after", "3s"])?;
    let client = cluster.client().await?;
    let files = write_files(&client, 8, 8 * MIB).await?;
    let before = chunk_map(&cluster, &client, &files).await?;
    let killed = [node_id(&cluster, "data-1")?, node_id(&cluster, "data-2")?];
    let left: HashMap<ChunkId, usize> = before
        .iter()
        .map(|(id, s)| (*id, s.iter().filter(|n| !killed.contains(n)).count()))
        .collect();
    let ones = left.values().filter(|n| **n == 1).count();
    let twos = left.values().filter(|n| **n == 2).count();
    eprintln!(
        "phase 1: {} chunks; after the kill {ones} keep 1 copy, {twos} keep 2",
        before.len()
    );
    assert!(ones > 0 && twos > 0, "the test needs both kinds: {left:?}");

    let t0 = Instant::now();
    cluster.kill9("data-1")?;
    cluster.kill9("data-2")?;
    wait_until(
        "every chunk back to 3 copies on up servers",
        Duration::from_secs(90),
        || fully_repaired(&cluster, &client, &files, &killed),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", cluster.log_tail("meta-1")))?;
    eprintln!("phase 2: repaired in {:.1?}", t0.elapsed());

    // The leader's recent repairs, in completion order, with the copies each chunk had.
    let recent = client.status().await?.repair.recent;
    let order: Vec<u32> = recent.iter().map(|r| r.live_copies).collect();
    eprintln!("phase 3: repair order by copies left: {order:?}");
    let last_one = order.iter().rposition(|l| *l == 1);
    let first_two = order.iter().position(|l| *l == 2);
    if let (Some(a), Some(b)) = (last_one, first_two) {
        assert!(
            a < b,
            "a chunk with 2 copies was repaired before one with 1: {order:?}"
        );
    }
    let repaired_ones: HashSet<ChunkId> = recent
        .iter()
        .filter(|r| r.live_copies == 1)
        .map(|r| r.chunk)
        .collect();
    for (id, n) in &left {
        if *n == 1 {
            assert!(
                repaired_ones.contains(id),
                "chunk {id} had 1 copy and is not in {order:?}"
            );
        }
    }
    for (path, want) in &files {
        assert_eq!(
            hash(&get_bytes(&client, path).await?),
            *want,
            "{path}: data lost"
        );
    }
    Ok(())
}
