//! Issue 4 (data servers): rebalancing after the ring changes, on real clusters.
//! - acceptance 1: a 4th server joins a 3-server cluster holding 2,000 chunks; moves stay
//!   within 1.25x the ideal, all onto the new server, a reader checks every file throughout,
//!   and each server ends with its share within 10% (also: no move while paused);
//! - acceptance 2: a drain under a write and read workload, never below 2 copies, removal
//!   refused before the drain ends and accepted after; files deleted during the drain
//!   leave no garbage entry waiting for the removed server;
//! - acceptance 4 and 6: the ring changes twice mid-rebalance (a weight, then a server) and
//!   the moves converge onto the target sets, with a weight-2 server holding ~2x;
//! - the throttle holds the move rate to the runtime setting.
//!
//! Files are small (a chunk per file) so thousands of chunks are little data.

use ferrofs_client::{Client, ClusterStatus, ServerState};
use ferrofs_proto::config::{load, ClientConfig};
use ferrofs_proto::ids::{ChunkId, NodeId};
use ferrofs_proto::ring::Ring;
use ferrofs_tests::data::{content, hash};
use ferrofs_tests::files::{get_bytes, mkdir_p, put_bytes};
use ferrofs_tests::grow::add_data_server;
use ferrofs_tests::reader::{Files, VerifyingReader};
use ferrofs_tests::{raw, wait_until, TestCluster};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Write `count` files of `size` bytes under `dir` with `workers` writers at once.
async fn write_many(
    client: &Client,
    dir: &str,
    count: usize,
    size: usize,
    workers: usize,
) -> anyhow::Result<Files> {
    mkdir_p(client, dir).await?;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (client, dir) = (client.clone(), dir.to_string());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (w..count).step_by(workers) {
                let path = format!("{dir}/f{i}");
                let bytes = content(i as u64 * 7 + 1, size);
                put_bytes(&client, &path, &bytes).await?;
                out.push((path, hash(&bytes)));
            }
            anyhow::Ok(out)
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

/// Copies per server as the leader's loop last counted them.
fn held(status: &ClusterStatus) -> BTreeMap<NodeId, u64> {
    status
        .rebalance
        .locations
        .iter()
        .map(|l| (l.id, l.chunks))
        .collect()
}

/// Run the CLI; fail with its output unless it exits as `ok` says.
fn cli(cluster: &TestCluster, args: &[&str], ok: bool) -> anyhow::Result<String> {
    let out = cluster.ferrofs(args)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(
        out.status.success() == ok,
        "ferrofs {args:?} exited {} (wanted success = {ok}): {text}",
        out.status
    );
    Ok(text)
}

/// The status once the loop has counted `copies` locations, nothing is misplaced and
/// nothing is in flight.
async fn converged(
    client: &Client,
    copies: u64,
    timeout: Duration,
) -> anyhow::Result<ClusterStatus> {
    wait_until("rebalancing to finish", timeout, || async {
        let s = client.status().await.ok()?;
        let total: u64 = held(&s).values().sum();
        (s.rebalance.chunks_misplaced == 0 && total == copies && s.repair.in_flight == 0)
            .then_some(s)
    })
    .await
}

async fn wait_up(client: &Client, id: NodeId) -> anyhow::Result<()> {
    wait_until(
        "the new data server to be up",
        Duration::from_secs(30),
        || async {
            let s = client.status().await.ok()?;
            s.data_servers
                .iter()
                .any(|d| d.id == id && d.state == ServerState::Up)
                .then_some(())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fourth_server_takes_a_quarter_of_the_copies_while_a_reader_checks_every_file(
) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let mut cluster = TestCluster::start(1, 3)?;
    let client = cluster.client_without_inline().await?;
    let files = write_many(&client, "/a", 2000, 600, 16).await?;
    let copies = 2000 * 3;
    converged(&client, copies, Duration::from_secs(60)).await?;
    eprintln!(
        "phase 1: 2000 files, {copies} copies on 3 servers ({:?})",
        t0.elapsed()
    );

    cli(&cluster, &["rebalance", "pause"], true)?;
    let name = add_data_server(&mut cluster, 1)?;
    let new = NodeId(104);
    wait_up(&client, new).await?;
    wait_until(
        "the loop to see misplaced chunks",
        Duration::from_secs(30),
        || async {
            let s = client.status().await.ok()?;
            (s.rebalance.chunks_misplaced > 0).then_some(())
        },
    )
    .await?;
    // Paused: nothing moves over a few seconds of looking.
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(3) {
        let s = client.status().await?;
        assert!(s.rebalance.paused);
        assert_eq!(s.rebalance.moves_done, 0, "a move ran while paused");
        assert_eq!(held(&s).get(&new).copied().unwrap_or(0), 0);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let line = cli(&cluster, &["rebalance", "status"], true)?;
    assert!(
        line.contains("paused") && line.contains("chunks misplaced"),
        "{line}"
    );
    eprintln!("phase 2: {name} joined; paused, nothing moved: {line}");

    let stop = Arc::new(AtomicBool::new(false));
    let reader = VerifyingReader::spawn(client.clone(), files.clone(), stop.clone());
    cli(&cluster, &["rebalance", "resume"], true)?;
    let started = Instant::now();
    // Old servers only ever lose copies: every move goes onto the new one.
    let mut last = held(&client.status().await?);
    let deadline = Instant::now() + Duration::from_secs(180);
    let done = loop {
        let s = client.status().await?;
        let now = held(&s);
        for id in [101, 102, 103].map(NodeId) {
            let (before, after) = (last.get(&id).copied(), now.get(&id).copied());
            assert!(
                after <= before,
                "server {id} gained copies: {before:?} -> {after:?}"
            );
        }
        last = now;
        let total: u64 = last.values().sum();
        if s.rebalance.chunks_misplaced == 0 && total == copies && s.repair.in_flight == 0 {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "rebalance did not finish: {:?}",
            s.rebalance
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let took = started.elapsed();
    // One more full pass after the last move, then stop the reader.
    let seen = reader.passes();
    wait_until(
        "a full read pass after the moves",
        Duration::from_secs(120),
        || async { (reader.passes() > seen).then_some(()) },
    )
    .await?;
    let passes = reader.passes();
    stop.store(true, Ordering::Relaxed);
    let failures = reader.failures().await?;
    assert!(
        failures.is_empty(),
        "reader failed: {:?}",
        &failures[..failures.len().min(5)]
    );

    let ideal = copies as f64 / 4.0;
    let moved = done.rebalance.moves_done;
    let counts = held(&done);
    eprintln!(
        "phase 3: moved {moved} copies (ideal {ideal}) in {took:?}; held {counts:?}; reader passes {passes}"
    );
    assert!(moved as f64 <= ideal * 1.25, "moved {moved}, ideal {ideal}");
    assert_eq!(
        counts.get(&new).copied(),
        Some(moved),
        "every move went onto {new}"
    );
    // Equal weights: each of the 4 servers' share is a quarter of the copies.
    let share = copies as f64 / 4.0;
    for (id, n) in &counts {
        assert!(
            (*n as f64 - share).abs() <= share * 0.10,
            "server {id} holds {n} copies, share {share}"
        );
    }
    let chunks = chunk_map(&cluster, &client, &files).await?;
    assert!(
        chunks.iter().all(|(_, s)| s.len() == 3),
        "every chunk has 3 copies"
    );
    eprintln!("total {:?}", t0.elapsed());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_drained_server_loses_every_chunk_under_load_and_is_then_removed() -> anyhow::Result<()> {
    let t0 = Instant::now();
    let cluster = TestCluster::start_with(1, 4, &["--gc-grace", "2s"])?;
    let client = cluster.client_without_inline().await?;
    let files = write_many(&client, "/d", 300, 600, 8).await?;
    // Deleted once the drain has begun: their garbage names the draining server.
    let doomed = write_many(&client, "/g", 30, 600, 8).await?;
    converged(&client, 990, Duration::from_secs(60)).await?;
    let victim = NodeId(104);
    let doomed_on_victim = chunk_map(&cluster, &client, &doomed)
        .await?
        .iter()
        .filter(|(_, servers)| servers.contains(&victim))
        .count();
    assert!(doomed_on_victim > 0, "no chunk to delete is on {victim}");
    eprintln!("phase 1: 330 files on 4 servers ({:?})", t0.elapsed());

    let stop = Arc::new(AtomicBool::new(false));
    let reader = VerifyingReader::spawn(client.clone(), files.clone(), stop.clone());
    let written: Arc<Mutex<Files>> = Arc::default();
    let writer = {
        let (client, stop, written) = (client.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            mkdir_p(&client, "/w").await?;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let path = format!("/w/f{i}");
                let bytes = content(9000 + i, 800);
                put_bytes(&client, &path, &bytes).await?;
                written.lock().expect("lock").push((path, hash(&bytes)));
                i += 1;
            }
            anyhow::Ok(())
        })
    };
    // Sample every chunk's recorded copies throughout the drain.
    let min_copies = Arc::new(AtomicU64::new(u64::MAX));
    let samples = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, min_copies, files) = (stop.clone(), min_copies.clone(), files.clone());
        let samples = samples.clone();
        let client = client.clone();
        let cfg: ClientConfig = load(&cluster.client_config())?;
        tokio::spawn(async move {
            let conn = raw::connector(&cfg)?;
            while !stop.load(Ordering::Relaxed) {
                for (path, _) in &files {
                    let attr = client.resolve(path).await?;
                    for loc in raw::chunk_locations(&conn, &cfg.meta_addrs, attr.ino, 1).await? {
                        min_copies.fetch_min(loc.servers.len() as u64, Ordering::Relaxed);
                    }
                }
                samples.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        })
    };

    let out = cli(&cluster, &["node", "drain", "104"], true)?;
    assert!(out.contains("draining"), "{out}");
    cli(&cluster, &["rm", "-r", "/g"], true)?;
    let refused = cli(&cluster, &["node", "remove", "104"], false)?;
    assert!(
        refused.contains("still draining") && refused.contains("chunk copies"),
        "{refused}"
    );
    eprintln!(
        "phase 2: drain started; early remove refused: {}",
        refused.trim()
    );
    wait_until(
        "node list to show 104 drained",
        Duration::from_secs(150),
        || async {
            let out = cluster.ferrofs(&["node", "list", "--json"]).ok()?;
            let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).ok()?;
            rows.iter()
                .any(|r| r["id"] == 104 && r["state"] == "drained")
                .then_some(())
        },
    )
    .await?;
    eprintln!("phase 3: drained after {:?}", t0.elapsed());
    // Let the sampler finish one full pass over the drained state, then stop everything.
    let seen = samples.load(Ordering::Relaxed);
    wait_until(
        "a sample of the drained state",
        Duration::from_secs(60),
        || async { (samples.load(Ordering::Relaxed) > seen).then_some(()) },
    )
    .await?;
    stop.store(true, Ordering::Relaxed);
    sampler.await??;
    let samples = samples.load(Ordering::Relaxed);
    writer.await??;
    let failures = reader.failures().await?;
    assert!(
        failures.is_empty(),
        "reader failed: {:?}",
        &failures[..failures.len().min(5)]
    );
    let min = min_copies.load(Ordering::Relaxed);
    assert!(samples >= 1, "the sampler never finished a pass");
    assert!(
        min >= 2,
        "a chunk went down to {min} copies during the drain"
    );

    cli(&cluster, &["node", "remove", "104"], true)?;
    let list = cli(&cluster, &["node", "list"], true)?;
    let row = list
        .lines()
        .find(|l| l.trim_start().starts_with("104"))
        .unwrap_or("");
    assert!(row.contains("removed"), "{list}");
    // The deleted files' copies on 104 were collected while it drained, or their entries
    // struck once it was removed: none waits for a server that will never answer.
    wait_until(
        "the garbage list to empty",
        Duration::from_secs(60),
        || async {
            let s = client.status().await.ok()?;
            (s.repair.garbage_pending == 0).then_some(())
        },
    )
    .await?;

    let mut all = files.clone();
    all.extend(written.lock().expect("lock").iter().cloned());
    for (path, want) in &all {
        assert_eq!(hash(&get_bytes(&client, path).await?), *want, "{path}");
    }
    let chunks = chunk_map(&cluster, &client, &all).await?;
    for (id, servers) in &chunks {
        assert!(!servers.contains(&victim), "chunk {id} still on {victim}");
        assert_eq!(servers.len(), 3, "chunk {id}: {servers:?}");
    }
    eprintln!(
        "phase 4: removed, garbage collected ({doomed_on_victim} deleted chunks were on {victim}); {} files intact ({} written during the drain), min copies {min}, {samples} samples; total {:?}",
        all.len(),
        all.len() - files.len(),
        t0.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_ring_changes_mid_rebalance_converge_and_weight_two_holds_twice() -> anyhow::Result<()>
{
    let t0 = Instant::now();
    let mut cluster = TestCluster::start_with(1, 3, &["--replication", "1"])?;
    let client = cluster.client_without_inline().await?;
    let files = write_many(&client, "/c", 2000, 300, 16).await?;
    converged(&client, 2000, Duration::from_secs(60)).await?;
    eprintln!(
        "phase 1: 2000 single-copy files on 3 servers ({:?})",
        t0.elapsed()
    );

    add_data_server(&mut cluster, 1)?;
    let moving = |after: u64| {
        let client = client.clone();
        async move {
            wait_until("moves under way", Duration::from_secs(60), || async {
                let s = client.status().await.ok()?;
                (s.rebalance.moves_done >= after + 20 && s.rebalance.chunks_misplaced > 0)
                    .then_some(s.rebalance.moves_done)
            })
            .await
        }
    };
    let first = moving(0).await?;
    cli(&cluster, &["node", "set-weight", "104", "2"], true)?;
    eprintln!("phase 2: data-4 joined; at {first} moves, its weight set to 2");
    let second = moving(first).await?;
    add_data_server(&mut cluster, 1)?;
    eprintln!("phase 3: at {second} moves, data-5 joined");

    let done = converged(&client, 2000, Duration::from_secs(150)).await?;
    let ring = Ring::of_up_servers(&done.data_servers, 1);
    assert_eq!(ring.members().len(), 5);
    let chunks = chunk_map(&cluster, &client, &files).await?;
    for (id, servers) in &chunks {
        assert_eq!(
            servers,
            &ring.place(*id, 1),
            "chunk {id} is not on its target"
        );
    }
    let counts = held(&done);
    let light: Vec<u64> = [101, 102, 103, 105]
        .iter()
        .map(|i| counts.get(&NodeId(*i)).copied().unwrap_or(0))
        .collect();
    let mean = light.iter().sum::<u64>() as f64 / light.len() as f64;
    let heavy = counts.get(&NodeId(104)).copied().unwrap_or(0) as f64;
    let ratio = heavy / mean;
    eprintln!(
        "phase 4: converged after {} moves; held {counts:?}; weight-2 / weight-1 = {ratio:.2}; total {:?}",
        done.rebalance.moves_done,
        t0.elapsed()
    );
    assert!((1.7..=2.3).contains(&ratio), "weight 2 holds {ratio:.2}x");
    for (path, want) in files.iter().step_by(10) {
        assert_eq!(hash(&get_bytes(&client, path).await?), *want, "{path}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moves_keep_to_the_throttle() -> anyhow::Result<()> {
    const MIB: u64 = 1 << 20;
    const FILES: usize = 48;
    let t0 = Instant::now();
    let mut cluster = TestCluster::start_with(1, 3, &["--replication", "1"])?;
    let client = cluster.client_without_inline().await?;
    // Chunk ids are random, so how many move to the new server is binomial: with 48
    // chunks fewer than 3 move once in 7,000 runs (with 24 it was one in 25).
    let files = write_many(&client, "/t", FILES, MIB as usize, 4).await?;
    converged(&client, FILES as u64, Duration::from_secs(60)).await?;
    cli(&cluster, &["rebalance", "set-rate", "1"], true)?;
    add_data_server(&mut cluster, 1)?;
    let start = Instant::now();
    let max_rate = std::cell::Cell::new(0u64);
    let done = wait_until(
        "the throttled rebalance to finish",
        Duration::from_secs(120),
        || async {
            let s = client.status().await.ok()?;
            max_rate.set(max_rate.get().max(s.rebalance.bytes_per_sec));
            let total: u64 = held(&s).values().sum();
            let started = s.rebalance.moves_done > 0;
            (started
                && s.rebalance.chunks_misplaced == 0
                && total == FILES as u64
                && s.repair.in_flight == 0)
                .then_some(s)
        },
    )
    .await?;
    let took = start.elapsed().as_secs_f64();
    let moved = done.rebalance.bytes_moved;
    let max_rate = max_rate.get();
    eprintln!(
        "moved {} MiB in {took:.1}s at 1 MiB/s per server (max reported rate {} KiB/s); total {:?}",
        moved / MIB,
        max_rate / 1024,
        t0.elapsed()
    );
    assert!(
        moved >= 3 * MIB,
        "too little moved to see the throttle: {moved}"
    );
    // One second of burst is allowed; the rest goes at 1 MiB/s into the one new server.
    let floor = (moved - MIB) as f64 / MIB as f64 - 1.0;
    assert!(
        took >= floor,
        "moved {moved} bytes in {took:.1}s: faster than 1 MiB/s"
    );
    assert!(
        max_rate <= 2 * MIB,
        "reported rate {max_rate} B/s above the throttle"
    );
    for (path, want) in &files {
        assert_eq!(hash(&get_bytes(&client, path).await?), *want, "{path}");
    }
    Ok(())
}
