//! Chunks stored on data servers but never committed (a writer died between its upload
//! and its commit) are found by the data servers' orphan sweep and deleted by the GC,
//! while every chunk a file references stays. Copies of referenced chunks on servers the
//! metadata does not list (strays) are recorded by the leader and then trimmed back to
//! the replication factor.

use anyhow::Context;
use ferrofs_proto::config::{load, ClientConfig, DataConfig};
use ferrofs_proto::ChunkId;
use ferrofs_tests::damage::has_chunk;
use ferrofs_tests::data::content;
use ferrofs_tests::files::{get_bytes, put_bytes};
use ferrofs_tests::metrics::{sample, scrape};
use ferrofs_tests::raw::{connector, put_uncommitted};
use ferrofs_tests::{wait_until, TestCluster};
use std::time::Duration;

const MIB: usize = 1024 * 1024;

/// One counter summed over every data server's metrics.
fn data_servers_total(cluster: &TestCluster, metric: &str) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for name in cluster.names("data") {
        let cfg: DataConfig = load(&cluster.dir().join(&name).join("data.toml"))?;
        let addr = cfg
            .metrics_addr
            .context("data server has no metrics_addr")?;
        total += sample(&scrape(addr)?, metric);
    }
    Ok(total)
}

fn fsck_is_clean(cluster: &TestCluster) -> anyhow::Result<()> {
    let fsck = cluster.ferrofs(&["fsck"])?;
    anyhow::ensure!(
        fsck.status.success(),
        "fsck: {}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uncommitted_chunks_are_collected_and_committed_ones_stay() -> anyhow::Result<()> {
    let cluster = TestCluster::start_with(3, 3, &["--gc-grace", "1s", "--orphan-grace", "2s"])?;
    let client = cluster.client().await?;
    let kept = content(11, 9 * MIB + 17);
    put_bytes(&client, "/kept", &kept).await?;

    let cfg: ClientConfig = load(&cluster.client_config())?;
    let conn = connector(&cfg)?;
    let addrs: Vec<String> = client
        .status()
        .await?
        .data_servers
        .iter()
        .map(|d| d.addr.clone())
        .collect();
    assert_eq!(addrs.len(), 3);
    // Two orphans on every server, one more on one server only.
    let orphans = [ChunkId(rand::random()), ChunkId(rand::random())];
    for (i, id) in orphans.iter().enumerate() {
        for addr in &addrs {
            put_uncommitted(&conn, addr, *id, &content(i as u64, MIB)).await?;
        }
    }
    let lone = ChunkId(rand::random());
    put_uncommitted(&conn, &addrs[0], lone, &content(9, 4096)).await?;
    for addr in &addrs {
        assert!(has_chunk(&conn, addr, orphans[0]).await, "stored on {addr}");
    }

    wait_until(
        "every orphan deleted from every server",
        Duration::from_secs(90),
        || async {
            for addr in &addrs {
                for id in orphans.iter().chain([&lone]) {
                    if has_chunk(&conn, addr, *id).await {
                        return None;
                    }
                }
            }
            Some(())
        },
    )
    .await?;
    eprintln!("orphans {orphans:?} and {lone} collected from all servers");

    // The sweep reported them (a metric of each server), and nothing referenced went.
    let reported = data_servers_total(&cluster, "ferrofs_data_orphans_reported_total")?;
    assert!(reported >= 7.0, "orphan copies reported: {reported}");
    assert!(
        get_bytes(&client, "/kept").await? == kept,
        "the committed file reads back whole"
    );
    fsck_is_clean(&cluster)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stray_copy_is_recorded_and_the_copies_trimmed_back_to_three() -> anyhow::Result<()> {
    let cluster = TestCluster::start_with(3, 4, &["--gc-grace", "1s", "--orphan-grace", "2s"])?;
    let client = cluster.client().await?;
    let bytes = content(5, MIB + 3);
    let ino = put_bytes(&client, "/f", &bytes).await?.ino;
    let (locs, _) = client.chunk_locations(ino, 0, 1).await?;
    let loc = locs.first().context("the file has a stored chunk")?.clone();
    assert_eq!(loc.servers.len(), 3, "{loc:?}");
    let servers = client.status().await?.data_servers;
    assert_eq!(servers.len(), 4);
    let outsider = servers
        .iter()
        .find(|d| !loc.servers.contains(&d.id))
        .context("a server without a copy")?;

    // A copy the metadata does not know of: what a surplus removal whose delete failed,
    // or an upload that landed after its writer gave up on it, leaves behind.
    let cfg: ClientConfig = load(&cluster.client_config())?;
    let conn = connector(&cfg)?;
    put_uncommitted(&conn, &outsider.addr, loc.chunk.id, &bytes).await?;
    let holders = || async {
        let mut n = 0;
        for d in &servers {
            n += usize::from(has_chunk(&conn, &d.addr, loc.chunk.id).await);
        }
        n
    };
    assert_eq!(holders().await, 4);

    wait_until(
        "the stray copy reported, recorded and the surplus removed",
        Duration::from_secs(90),
        || async {
            let reported =
                data_servers_total(&cluster, "ferrofs_data_strays_reported_total").ok()?;
            let (now, _) = client.chunk_locations(ino, 0, 1).await.ok()?;
            let listed = now.first()?.servers.len();
            (reported >= 1.0 && listed == 3 && holders().await == 3).then_some(())
        },
    )
    .await?;
    let (now, _) = client.chunk_locations(ino, 0, 1).await?;
    for d in &servers {
        assert_eq!(
            has_chunk(&conn, &d.addr, loc.chunk.id).await,
            now[0].servers.contains(&d.id),
            "server {}: holds a copy exactly when listed ({now:?})",
            d.id
        );
    }
    assert!(
        get_bytes(&client, "/f").await? == bytes,
        "the file reads back"
    );
    fsck_is_clean(&cluster)
}
