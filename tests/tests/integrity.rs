//! Issue 5, acceptance 3, end to end in a running cluster: a damaged replica is read
//! around (full and ranged reads return the right bytes), found, reported and replaced;
//! `ferrofs scrub start` finds damage no one read; with every copy damaged a read fails
//! with an error naming the file, never with wrong bytes.

use ferrofs_client::{Client, ReadPolicy, ServerState};
use ferrofs_proto::attr::ChunkLocation;
use ferrofs_proto::config::{load, ClientConfig};
use ferrofs_proto::endpoint::Connector;
use ferrofs_proto::ids::{ChunkId, NodeId};
use ferrofs_tests::damage::{corrupt_on, data_name, disable_background_scrub, has_chunk};
use ferrofs_tests::data::{content, hash};
use ferrofs_tests::files::{get_bytes, mkdir_p, put_bytes};
use ferrofs_tests::{raw, wait_until, TestCluster};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const MIB: usize = 1024 * 1024;
const REPAIR_TIMEOUT: Duration = Duration::from_secs(60);

struct Ctx {
    cfg: ClientConfig,
    conn: Connector,
    client: Client,
}

impl Ctx {
    async fn new(cluster: &TestCluster) -> anyhow::Result<Ctx> {
        let mut cfg: ClientConfig = load(&cluster.client_config())?;
        // Every replica gets its turn, so repeated reads reach the damaged one.
        cfg.read_policy = ReadPolicy::RoundRobin;
        let conn = raw::connector(&cfg)?;
        let client = Client::connect(cfg.clone()).await?;
        Ok(Ctx { cfg, conn, client })
    }

    async fn chunks(&self, path: &str) -> anyhow::Result<Vec<ChunkLocation>> {
        let attr = self.client.resolve(path).await?;
        let count = attr.size.div_ceil(self.client.chunk_size()).max(1);
        raw::chunk_locations(&self.conn, &self.cfg.meta_addrs, attr.ino, count).await
    }

    async fn location(&self, path: &str, id: ChunkId) -> Option<ChunkLocation> {
        let chunks = self.chunks(path).await.ok()?;
        chunks.into_iter().find(|c| c.chunk.id == id)
    }

    async fn up_addrs(&self) -> Option<HashMap<NodeId, String>> {
        let s = self.client.status().await.ok()?;
        Some(
            s.data_servers
                .into_iter()
                .filter(|d| d.state == ServerState::Up)
                .map(|d| (d.id, d.addr))
                .collect(),
        )
    }

    /// `Some(servers)` once chunk `id` of `path` is recorded on 3 up servers that each
    /// hold a verified copy (so the server that had the damaged copy is among them only
    /// if it was given a good copy again).
    async fn three_verified(&self, path: &str, id: ChunkId) -> Option<Vec<NodeId>> {
        let loc = self.location(path, id).await?;
        let up = self.up_addrs().await?;
        if loc.servers.len() < 3 {
            return None;
        }
        for s in &loc.servers {
            let addr = up.get(s)?;
            if !has_chunk(&self.conn, addr, id).await {
                return None;
            }
        }
        Some(loc.servers)
    }

    /// One 4 KiB read of `path` at `off`, checked against `want`.
    async fn read_range_checked(&self, path: &str, want: &[u8], off: u64) -> anyhow::Result<()> {
        let ino = self.client.resolve(path).await?.ino;
        let got = self.client.read_at(ino, off, 4096).await?;
        let end = (off + 4096).min(want.len() as u64) as usize;
        anyhow::ensure!(
            got == want[off as usize..end],
            "{path}: read_at({off}, 4096) gave wrong bytes"
        );
        Ok(())
    }

    /// Whole-file and ranged reads of `path`, all checked against `want`.
    async fn read_checked(&self, path: &str, want: &[u8]) -> anyhow::Result<()> {
        let got = get_bytes(&self.client, path).await?;
        anyhow::ensure!(
            hash(&got) == hash(want),
            "{path}: whole read gave wrong bytes"
        );
        let ino = self.client.resolve(path).await?.ino;
        let len = want.len() as u64;
        for (off, n) in [(0, 4096), (len / 2 - 1000, 300_000), (len - 777, 10_000)] {
            let got = self.client.read_at(ino, off, n).await?;
            let end = (off + n).min(len) as usize;
            anyhow::ensure!(
                got == want[off as usize..end],
                "{path}: read_at({off}, {n}) gave wrong bytes"
            );
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn damaged_replicas_are_read_around_found_and_replaced() -> anyhow::Result<()> {
    // A long down_after: the short stops for damaging a server must not look like a
    // dead server (that is repair.rs's subject).
    let mut cluster = TestCluster::start_with(3, 4, &["--down-after", "60s"])?;
    let ctx = Ctx::new(&cluster).await?;
    mkdir_p(&ctx.client, "/i").await?;
    let read_me = content(1, 10 * MIB + 12345);
    let scrub_me = content(2, 6 * MIB);
    let lost = content(3, MIB);
    put_bytes(&ctx.client, "/i/read", &read_me).await?;
    put_bytes(&ctx.client, "/i/scrub", &scrub_me).await?;
    put_bytes(&ctx.client, "/i/lost", &lost).await?;

    // Phase 1: damage one copy of the middle chunk of /i/read; reads find it.
    let target = ctx.chunks("/i/read").await?[1].clone();
    let victim = target.servers[0];
    let victim_name = data_name(&cluster, victim)?;
    disable_background_scrub(&cluster, &victim_name)?;
    corrupt_on(&mut cluster, &victim_name, &[target.chunk.id])?;
    eprintln!(
        "phase 1: damaged chunk {} on {victim_name} (node {}); copies on {:?}",
        target.chunk.id, victim.0, target.servers
    );
    let t0 = Instant::now();
    let (path, id) = ("/i/read", target.chunk.id);
    // Inside the damaged chunk (index 1).
    let chunk_off = ctx.client.chunk_size() + 100;
    wait_until(
        "the damaged copy to be reported",
        REPAIR_TIMEOUT,
        || async {
            if let Err(e) = ctx.read_checked(path, &read_me).await {
                panic!("a read with one damaged copy failed: {e:#}");
            }
            // Round-robin turns are shared by every chunk read, so the reads above may
            // always ask the same replica first for this chunk; three reads of it in a
            // row ask each of its three replicas first once.
            for _ in 0..3 {
                if let Err(e) = ctx.read_range_checked(path, &read_me, chunk_off).await {
                    panic!("a ranged read with one damaged copy failed: {e:#}");
                }
            }
            // Reported: the bad copy is out of the locations, or already replaced (the
            // repair can put a good copy back on the same server between two polls).
            let loc = ctx.location(path, id).await?;
            let replaced = ctx
                .client
                .status()
                .await
                .ok()?
                .repair
                .recent
                .iter()
                .any(|r| r.chunk == id);
            (replaced || !loc.servers.contains(&victim)).then_some(())
        },
    )
    .await
    .map_err(|e| {
        let running = cluster
            .pid(&victim_name)
            .is_some_and(ferrofs_tests::cluster::alive);
        anyhow::anyhow!(
            "{e}; {victim_name} running: {running}\n--- {victim_name} log ---\n{}",
            cluster.log_tail(&victim_name)
        )
    })?;
    let servers = wait_until("3 verified copies again", REPAIR_TIMEOUT, || {
        ctx.three_verified(path, id)
    })
    .await?;
    ctx.read_checked(path, &read_me).await?;
    eprintln!(
        "phase 1: found by reads, reported and replaced in {:.1?}; copies now on {servers:?}",
        t0.elapsed()
    );

    // Phase 2: damage a copy nobody reads; `ferrofs scrub start` finds it.
    let chunks = ctx.chunks("/i/scrub").await?;
    let target = chunks
        .iter()
        .find(|c| c.servers.contains(&victim))
        .unwrap_or(&chunks[0])
        .clone();
    let victim = if target.servers.contains(&victim) {
        victim
    } else {
        target.servers[0]
    };
    let victim_name = data_name(&cluster, victim)?;
    disable_background_scrub(&cluster, &victim_name)?;
    corrupt_on(&mut cluster, &victim_name, &[target.chunk.id])?;
    wait_until("the damaged server to be up", REPAIR_TIMEOUT, || async {
        ctx.up_addrs().await?.contains_key(&victim).then_some(())
    })
    .await?;
    let before = ctx.location("/i/scrub", target.chunk.id).await;
    assert!(
        before.is_some_and(|l| l.servers.contains(&victim)),
        "no one read the chunk, so no one may have found it yet"
    );
    let t0 = Instant::now();
    let node = victim.0.to_string();
    let out = cluster.ferrofs(&[
        "scrub",
        "start",
        "--node",
        &node,
        "--wait",
        "--timeout",
        "60s",
    ])?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "scrub start failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id_hex = target.chunk.id.to_string();
    assert!(
        text.contains(&id_hex),
        "scrub did not name chunk {id_hex}:\n{text}"
    );
    let out = cluster.ferrofs(&["scrub", "status", "--node", &node, "--json"])?;
    assert!(out.status.success(), "scrub status: {out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let last = &json[0]["report"]["last"];
    assert!(last["corrupt"].as_u64() >= Some(1), "scrub status: {json}");
    assert!(
        last["requested"].as_bool() == Some(true),
        "scrub status: {json}"
    );
    assert!(
        last["chunks_checked"].as_u64() >= Some(1),
        "scrub status: {json}"
    );
    let (path, id) = ("/i/scrub", target.chunk.id);
    let servers = wait_until(
        "the scrubbed chunk back to 3 verified copies",
        REPAIR_TIMEOUT,
        || ctx.three_verified(path, id),
    )
    .await?;
    ctx.read_checked(path, &scrub_me).await?;
    eprintln!(
        "phase 2: scrub found chunk {id} on node {}, replaced in {:.1?}; copies on {servers:?}",
        victim.0,
        t0.elapsed()
    );

    // Phase 3: every copy of /i/lost damaged: reads fail naming the file.
    let target = ctx.chunks("/i/lost").await?[0].clone();
    for s in &target.servers {
        let name = data_name(&cluster, *s)?;
        corrupt_on(&mut cluster, &name, &[target.chunk.id])?;
    }
    eprintln!(
        "phase 3: damaged all copies of {} on {:?}",
        target.chunk.id, target.servers
    );
    wait_until("every server up again", REPAIR_TIMEOUT, || async {
        let up = ctx.up_addrs().await?;
        target
            .servers
            .iter()
            .all(|s| up.contains_key(s))
            .then_some(())
    })
    .await?;
    let local = cluster.dir().join("lost.out");
    let local_s = local.to_string_lossy().to_string();
    let out = cluster.ferrofs(&["get", "/i/lost", &local_s])?;
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "get of a file with no good copy succeeded"
    );
    assert!(
        err.contains("/i/lost"),
        "the error does not name the file: {err}"
    );
    if let Ok(bytes) = std::fs::read(&local) {
        assert!(
            bytes.len() < lost.len() && lost.starts_with(&bytes),
            "get wrote {} bytes that are not a prefix of the file",
            bytes.len()
        );
    }
    match get_bytes(&ctx.client, "/i/lost").await {
        Ok(bytes) => panic!(
            "a read with every copy damaged returned {} bytes",
            bytes.len()
        ),
        Err(e) => eprintln!(
            "phase 3: the library read fails: {e:#}; the CLI says: {}",
            err.trim()
        ),
    }
    // The other files are untouched by all this.
    ctx.read_checked("/i/read", &read_me).await?;
    ctx.read_checked("/i/scrub", &scrub_me).await?;
    Ok(())
}
