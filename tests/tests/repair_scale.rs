//! Issue 5, acceptances 1 and 6 at full scale: a 4-server cluster holding 1 GiB loses a
//! data server for good; every chunk is back to 3 verified copies within
//! down_after + lost bytes / an assumed repair rate + 30 s while a reader keeps reading
//! every file without a failure. Then all files but one are deleted while that one is
//! overwritten again and again: the GC brings the used bytes down within a bounded
//! time and never deletes a live chunk. FERROFS_SCALE_MIB shrinks the data set.

use ferrofs_client::{Client, ServerState};
use ferrofs_proto::config::{load, ClientConfig};
use ferrofs_proto::endpoint::Connector;
use ferrofs_proto::ids::{ChunkId, NodeId};
use ferrofs_tests::damage::{has_chunk, node_id};
use ferrofs_tests::data::{content, hash};
use ferrofs_tests::files::{get_bytes, mkdir_p, put_bytes};
use ferrofs_tests::reader::{Files, VerifyingReader};
use ferrofs_tests::{raw, wait_until, TestCluster};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
const FILE: u64 = 16 * MIB;
const DOWN_AFTER: Duration = Duration::from_secs(3);
/// The slowest repair rate the bound allows (copies in flight are capped, not throttled
/// by bytes; this is what a loaded 2-core box manages with margin).
const ASSUMED_REPAIR_RATE: u64 = 8 * MIB;
const WRITERS: usize = 4;

fn total_bytes() -> u64 {
    std::env::var("FERROFS_SCALE_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1024)
        * MIB
}

/// Write `count` files of `FILE` bytes with `WRITERS` writers in parallel.
async fn write_files(client: &Client, count: usize) -> anyhow::Result<Files> {
    mkdir_p(client, "/s").await?;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (w..count).step_by(WRITERS) {
                let path = format!("/s/f{i}");
                let bytes = content(i as u64 + 77, FILE as usize);
                put_bytes(&client, &path, &bytes).await?;
                out.push((path, hash(&bytes)));
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut files = Vec::new();
    for t in tasks {
        files.extend(t.await??);
    }
    Ok(files)
}

/// Every chunk of every file with its recorded servers.
async fn chunk_map(
    cfg: &ClientConfig,
    conn: &Connector,
    client: &Client,
    files: &Files,
) -> anyhow::Result<Vec<(ChunkId, Vec<NodeId>)>> {
    let mut out = Vec::new();
    for (path, _) in files {
        let attr = client.resolve(path).await?;
        let count = attr.size.div_ceil(client.chunk_size());
        for loc in raw::chunk_locations(conn, &cfg.meta_addrs, attr.ino, count).await? {
            out.push((loc.chunk.id, loc.servers));
        }
    }
    Ok(out)
}

async fn up_servers(client: &Client, not: NodeId) -> Option<HashMap<NodeId, String>> {
    let s = client.status().await.ok()?;
    Some(
        s.data_servers
            .into_iter()
            .filter(|d| d.state == ServerState::Up && d.id != not)
            .map(|d| (d.id, d.addr))
            .collect(),
    )
}

/// Bytes used on the servers that are up.
async fn used_up(client: &Client) -> Option<u64> {
    let s = client.status().await.ok()?;
    Some(
        s.data_servers
            .iter()
            .filter(|d| d.state == ServerState::Up)
            .map(|d| d.used)
            .sum(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_gib_is_re_replicated_in_bounded_time_and_collected() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start_with(3, 4, &["--down-after", "3s", "--gc-grace", "2s"])?;
    let client = cluster.client().await?;
    let cfg: ClientConfig = load(&cluster.client_config())?;
    let conn = raw::connector(&cfg)?;
    let count = (total_bytes() / FILE).max(1) as usize;
    let t0 = Instant::now();
    let files = write_files(&client, count).await?;
    eprintln!(
        "phase 1: wrote {count} files of {} MiB ({} MiB) in {:.1?}",
        FILE / MIB,
        count as u64 * FILE / MIB,
        t0.elapsed()
    );

    let victim = node_id(&cluster, "data-1")?;
    let before = chunk_map(&cfg, &conn, &client, &files).await?;
    let lost = before.iter().filter(|(_, s)| s.contains(&victim)).count() as u64;
    let lost_bytes = lost * client.chunk_size();
    let bound = DOWN_AFTER + Duration::from_secs(lost_bytes / ASSUMED_REPAIR_RATE + 30);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = VerifyingReader::spawn(client.clone(), files.clone(), stop.clone());
    let t0 = Instant::now();
    cluster.kill9("data-1")?;
    eprintln!(
        "phase 2: killed data-1 (node {}), which held {lost} chunks ({} MiB); bound {bound:?}",
        victim.0,
        lost_bytes / MIB
    );
    let waited = wait_until("every chunk on 3 up servers", bound, || async {
        let up = up_servers(&client, victim).await?;
        let map = chunk_map(&cfg, &conn, &client, &files).await.ok()?;
        map.iter()
            .all(|(_, s)| s.iter().filter(|n| up.contains_key(n)).count() >= 3)
            .then_some(map)
    })
    .await;
    let elapsed = t0.elapsed();
    let reads = reader.reads();
    stop.store(true, Ordering::Relaxed);
    let failures = reader.failures().await?;
    let map = waited.map_err(|e| anyhow::anyhow!("{e}\n{}", cluster.log_tail("meta-1")))?;
    eprintln!(
        "phase 2: every chunk back to 3 copies in {elapsed:.1?} (bound {bound:?}); {reads} reads meanwhile"
    );
    assert!(
        failures.is_empty(),
        "reads failed during repair: {failures:?}"
    );
    // The copies are verified, not just recorded.
    let up = up_servers(&client, victim)
        .await
        .ok_or_else(|| anyhow::anyhow!("no status"))?;
    for (id, servers) in &map {
        let mut good = 0;
        for s in servers.iter().filter(|s| up.contains_key(s)) {
            if has_chunk(&conn, &up[s], *id).await {
                good += 1;
            }
        }
        assert!(
            good >= 3,
            "chunk {id} has {good} verified copies on {servers:?}"
        );
    }

    // Acceptance 6: delete all but /s/f0 while /s/keep is overwritten again and again.
    let full = wait_until("usage reported", Duration::from_secs(30), || {
        used_up(&client)
    })
    .await?;
    let (dir, _) = client.resolve_parent("/s/f0").await?;
    let t0 = Instant::now();
    let mut keep = Vec::new();
    for (i, (path, _)) in files.iter().enumerate().skip(1) {
        let name = path.rsplit('/').next().unwrap_or_default();
        client.unlink(dir.ino, name.as_bytes()).await?;
        if i % 8 == 0 {
            keep = content(i as u64 + 5000, (3 * MIB + 11) as usize);
            put_bytes(&client, "/s/keep", &keep).await?;
        }
    }
    let deleted = (count as u64 - 1) * FILE * 3;
    let gc_bound = Duration::from_secs(120);
    let target = full.saturating_sub(deleted);
    let after = wait_until("the deleted bytes to be reclaimed", gc_bound, || async {
        used_up(&client).await.filter(|u| *u <= target + 64 * MIB)
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", cluster.log_tail("meta-1")))?;
    eprintln!(
        "phase 3: used {} MiB -> {} MiB in {:.1?} after deleting {} MiB of files",
        full / MIB,
        after / MIB,
        t0.elapsed(),
        (count as u64 - 1) * FILE / MIB
    );
    let (path, want) = &files[0];
    assert_eq!(hash(&get_bytes(&client, path).await?), *want, "{path} lost");
    if !keep.is_empty() {
        assert!(get_bytes(&client, "/s/keep").await? == keep, "/s/keep lost");
    }
    Ok(())
}
