//! Issue 2, acceptance 3 and 4: kill -9 every process and start the cluster again on the
//! same folders; kill -9 one data server. Every file reads back intact both times.

use ferrofs_tests::data::{content, hash};
use ferrofs_tests::files::{get_bytes, mkdir_p, put_bytes};
use ferrofs_tests::leader::MetaProbe;
use ferrofs_tests::{wait_until, TestCluster};
use std::time::Duration;

const FILES: u64 = 30;

fn size_of(i: u64) -> usize {
    // Spans empty, sub-chunk and multi-chunk files.
    [0, 1, 4096, 1 << 20, (4 << 20) + 1, 9 << 20][(i % 6) as usize]
}

async fn write_files(client: &ferrofs_client::Client) -> anyhow::Result<Vec<blake3::Hash>> {
    mkdir_p(client, "/keep/sub").await?;
    let mut hashes = Vec::new();
    for i in 0..FILES {
        let bytes = content(i, size_of(i));
        put_bytes(client, &format!("/keep/sub/f{i}"), &bytes).await?;
        hashes.push(hash(&bytes));
    }
    Ok(hashes)
}

async fn check_files(
    client: &ferrofs_client::Client,
    hashes: &[blake3::Hash],
) -> anyhow::Result<()> {
    for (i, h) in hashes.iter().enumerate() {
        let bytes = get_bytes(client, &format!("/keep/sub/f{i}")).await?;
        assert_eq!(hash(&bytes), *h, "/keep/sub/f{i} differs");
    }
    Ok(())
}

async fn wait_healthy(probe: &MetaProbe, data: usize) -> anyhow::Result<()> {
    wait_until(
        "leader and all data servers up",
        Duration::from_secs(60),
        || async {
            let s = probe.status().await.ok()?;
            let up = s
                .data_servers
                .iter()
                .filter(|d| d.state == ferrofs_client::ServerState::Up)
                .count();
            (s.leader.is_some() && up == data).then_some(())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_every_process_and_restart_keeps_every_file() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3, 3)?;
    let hashes = write_files(&cluster.client().await?).await?;

    cluster.kill_all_and_restart()?;
    let probe = MetaProbe::new(&cluster)?;
    wait_healthy(&probe, 3).await?;
    check_files(&cluster.client().await?, &hashes).await?;
    eprintln!("all {FILES} files intact after kill -9 of all 6 processes and restart");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_one_data_server_every_file_still_reads() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3, 3)?;
    let client = cluster.client().await?;
    let hashes = write_files(&client).await?;
    let victim = cluster
        .names("data")
        .into_iter()
        .next()
        .expect("a data server");
    cluster.kill9(&victim)?;
    check_files(&client, &hashes).await?;
    // A fresh client (no cached connections) reads them too.
    check_files(&cluster.client().await?, &hashes).await?;
    eprintln!("all {FILES} files read with {victim} killed");
    Ok(())
}
