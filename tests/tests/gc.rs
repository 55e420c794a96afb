//! Issue 5, acceptance 6 (scaled down for a 2-core box): deleting files brings the data
//! servers' used bytes down by what they held, within a bounded time after the grace.

use ferrofs_client::Client;
use ferrofs_tests::data::content;
use ferrofs_tests::files::{mkdir_p, put_bytes};
use ferrofs_tests::{wait_until, TestCluster};
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
const FILES: u64 = 20;
const SIZE: u64 = 10 * MIB;

async fn used(client: &Client) -> anyhow::Result<u64> {
    Ok(client
        .status()
        .await?
        .data_servers
        .iter()
        .map(|d| d.used)
        .sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleted_files_free_their_space_after_the_grace_period() -> anyhow::Result<()> {
    let cluster = TestCluster::start_with(3, 3, &["--gc-grace", "2s"])?;
    let client = cluster.client().await?;
    mkdir_p(&client, "/gc").await?;
    // One file stays: its chunks must survive the GC.
    let keep = content(7, (3 * MIB + 5) as usize);
    put_bytes(&client, "/gc/keep", &keep).await?;
    for i in 0..FILES {
        put_bytes(&client, &format!("/gc/f{i}"), &content(i, SIZE as usize)).await?;
    }
    // Heartbeats carry usage: wait until the written bytes are reported.
    let written = FILES * SIZE * 3;
    let full = wait_until("usage reported", Duration::from_secs(60), || async {
        used(&client).await.ok().filter(|u| *u >= written)
    })
    .await?;
    eprintln!(
        "phase 1: wrote {} MiB x 3 copies; data servers use {} MiB",
        FILES * SIZE / MIB,
        full / MIB
    );

    let (root, _) = client.resolve_parent("/gc/f0").await?;
    for i in 0..FILES {
        client.unlink(root.ino, format!("f{i}").as_bytes()).await?;
    }
    let t0 = Instant::now();
    let target = full - written;
    let after = wait_until(
        "the deleted chunks' space is reclaimed",
        Duration::from_secs(60),
        || async { used(&client).await.ok().filter(|u| *u <= target) },
    )
    .await;
    let after = match after {
        Ok(a) => a,
        Err(e) => {
            let status = client.status().await;
            anyhow::bail!("{e}\nstatus: {status:?}\n{}", cluster.meta_log_digest());
        }
    };
    let status = client.status().await?;
    eprintln!(
        "phase 2: used {} MiB -> {} MiB in {:.1?} (grace 2 s); gc collected {} chunks, reclaimed {} MiB",
        full / MIB,
        after / MIB,
        t0.elapsed(),
        status.repair.garbage_collected,
        status.repair.bytes_reclaimed / MIB
    );
    assert!(
        full - after >= written,
        "reclaimed {} of {written}",
        full - after
    );
    // Every deleted chunk was collected (bytes_reclaimed is not checked: it only counts
    // chunks whose size this leader saw while they were live).
    let deleted_chunks = FILES * SIZE.div_ceil(client.chunk_size());
    assert!(
        status.repair.garbage_collected >= deleted_chunks,
        "collected {} of {deleted_chunks} chunks: {:?}",
        status.repair.garbage_collected,
        status.repair
    );
    let back = ferrofs_tests::files::get_bytes(&client, "/gc/keep").await?;
    assert!(back == keep, "the kept file changed");
    Ok(())
}
