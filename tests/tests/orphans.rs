//! Chunks stored on data servers but never committed (a writer died between its upload
//! and its commit) are found by the data servers' orphan sweep and deleted by the GC,
//! while every chunk a file references stays.

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

/// Orphan copies the data servers reported, by their metrics.
fn orphans_reported(cluster: &TestCluster) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for name in cluster.names("data") {
        let cfg: DataConfig = load(&cluster.dir().join(&name).join("data.toml"))?;
        let addr = cfg
            .metrics_addr
            .context("data server has no metrics_addr")?;
        total += sample(&scrape(addr)?, "ferrofs_data_orphans_reported_total");
    }
    Ok(total)
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
    let reported = orphans_reported(&cluster)?;
    assert!(reported >= 7.0, "orphan copies reported: {reported}");
    assert!(
        get_bytes(&client, "/kept").await? == kept,
        "the committed file reads back whole"
    );
    let fsck = cluster.ferrofs(&["fsck"])?;
    assert!(
        fsck.status.success(),
        "fsck: {}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    Ok(())
}
