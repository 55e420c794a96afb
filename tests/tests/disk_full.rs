//! Issue 5, acceptance 5: one data server on a small file system (a real tmpfs). When
//! it fills, writes go to the other servers and all succeed; the full server stays up
//! and serves what it holds; nothing acknowledged is lost; once its file system grows,
//! it takes new chunks again.

use ferrofs_client::Client;
use ferrofs_proto::config::{load, DataConfig};
use ferrofs_proto::data_msg::{DataRequest, DataResponse};
use ferrofs_proto::ids::NodeId;
use ferrofs_tests::damage::node_id;
use ferrofs_tests::data::{content, hash};
use ferrofs_tests::files::{get_bytes, mkdir_p, put_bytes};
use ferrofs_tests::tmpfs::Tmpfs;
use ferrofs_tests::{raw, wait_until, TestCluster};
use std::time::Duration;

const MIB: u64 = 1024 * 1024;
const FILE: usize = 2 * MIB as usize;
/// The data server keeps this much of its disk free (data-server/src/store/space.rs).
const RESERVE: u64 = 96 * MIB;
const SMALL_MIB: u64 = 150;

/// (chunks, used) of node `id` as its heartbeats report them.
async fn usage_of(client: &Client, id: NodeId) -> Option<(u64, u64)> {
    let s = client.status().await.ok()?;
    let d = s.data_servers.iter().find(|d| d.id == id)?;
    Some((d.chunks, d.used))
}

async fn write(
    client: &Client,
    from: usize,
    to: usize,
) -> anyhow::Result<Vec<(String, blake3::Hash)>> {
    let mut out = Vec::new();
    for i in from..to {
        let path = format!("/full/f{i}");
        let bytes = content(i as u64 + 300, FILE);
        put_bytes(client, &path, &bytes)
            .await
            .map_err(|e| anyhow::anyhow!("put {path} failed: {e:#}"))?;
        out.push((path, hash(&bytes)));
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_data_server_is_written_around_and_takes_chunks_once_it_has_room(
) -> anyhow::Result<()> {
    let mut cluster = TestCluster::start_with(3, 4, &["--chunk-size", "1MiB"])?;
    let small = "data-4";
    let id = node_id(&cluster, small)?;
    let cfg: DataConfig = load(&cluster.dir().join(small).join("data.toml"))?;
    cluster.kill9(small)?;
    let fs = Tmpfs::mount_over(&cfg.data_dir, SMALL_MIB)?;
    cluster.restart(small)?;
    let client = cluster.client().await?;
    wait_until(
        "the small server to be up",
        Duration::from_secs(30),
        || async {
            let s = client.status().await.ok()?;
            let d = s.data_servers.iter().find(|d| d.id == id)?;
            (d.state == ferrofs_client::ServerState::Up).then_some(())
        },
    )
    .await?;
    eprintln!(
        "phase 1: {small} (node {}) runs on a {SMALL_MIB} MiB tmpfs, {} MiB free",
        id.0,
        fs.available()? / MIB
    );

    mkdir_p(&client, "/full").await?;
    let mut files = write(&client, 0, 100).await?;
    let free = fs.available()?;
    let (chunks, used) = wait_until("usage reported", Duration::from_secs(10), || {
        usage_of(&client, id)
    })
    .await?;
    eprintln!(
        "phase 2: wrote {} MiB x 3; {small} holds {chunks} chunks ({} MiB), {} MiB free",
        files.len() as u64 * FILE as u64 / MIB,
        used / MIB,
        free / MIB
    );
    assert!(
        free < RESERVE + 2 * MIB,
        "{small} never filled up ({} MiB free): the test proves nothing",
        free / MIB
    );
    assert!(
        cluster
            .pid(small)
            .is_some_and(ferrofs_tests::cluster::alive),
        "{small} died when its disk filled:\n{}",
        cluster.log_tail(small)
    );
    for (path, want) in &files {
        assert_eq!(hash(&get_bytes(&client, path).await?), *want, "{path}");
    }

    // A restart replays the write-ahead log and flushes it: that must fit too.
    cluster.kill9(small)?;
    cluster.restart(small)?;
    let conn = raw::connector(&load(&cluster.client_config())?)?;
    let addr = client
        .status()
        .await?
        .data_servers
        .iter()
        .find(|d| d.id == id)
        .map(|d| d.addr.clone())
        .ok_or_else(|| anyhow::anyhow!("{small} is not in the cluster map"))?;
    wait_until(
        "the full server to serve again",
        Duration::from_secs(30),
        || async {
            // Asked directly: the leader's view lags a dead server by the heartbeat timeout.
            let req = DataRequest::Stat;
            match conn
                .call::<_, DataResponse>(&addr, &req, Duration::from_secs(2))
                .await
            {
                Ok(DataResponse::Stat { chunks: c, .. }) if c == chunks => Some(()),
                _ => None,
            }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", cluster.log_tail(small)))?;
    assert!(
        cluster
            .pid(small)
            .is_some_and(ferrofs_tests::cluster::alive),
        "{small} did not survive a restart on a full disk:\n{}",
        cluster.log_tail(small)
    );
    eprintln!(
        "phase 2: restarted full, {small} is up with its {chunks} chunks, {} MiB free",
        fs.available()? / MIB
    );
    for (path, want) in &files {
        assert_eq!(hash(&get_bytes(&client, path).await?), *want, "{path}");
    }

    fs.resize(600)?;
    eprintln!("phase 3: grew the tmpfs to 600 MiB");
    files.extend(write(&client, 100, 140).await?);
    let (after, _) = wait_until(
        "the grown server to take new chunks",
        Duration::from_secs(30),
        || async {
            let (c, u) = usage_of(&client, id).await?;
            (c > chunks).then_some((c, u))
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", cluster.log_tail(small)))?;
    eprintln!("phase 3: {small} took {} new chunks", after - chunks);
    for (path, want) in &files {
        assert_eq!(hash(&get_bytes(&client, path).await?), *want, "{path}");
    }
    drop(client);
    // Stop the servers before the tmpfs goes away under them.
    cluster.stop_all();
    drop(fs);
    Ok(())
}

/// Fill every data server: a put then fails with ENOSPC and says so; nothing
/// acknowledged is lost; deleting files (and the GC) makes room for puts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_cluster_refuses_puts_with_enospc_and_recovers_after_deletes() -> anyhow::Result<()>
{
    const TINY_MIB: u64 = 130;
    let mut cluster = TestCluster::start_with(3, 3, &["--chunk-size", "1MiB", "--gc-grace", "1s"])?;
    let mut mounts = Vec::new();
    for name in cluster.names("data") {
        let cfg: DataConfig = load(&cluster.dir().join(&name).join("data.toml"))?;
        cluster.kill9(&name)?;
        mounts.push(Tmpfs::mount_over(&cfg.data_dir, TINY_MIB)?);
        cluster.restart(&name)?;
    }
    let client = cluster.client().await?;
    mkdir_p(&client, "/full").await?;
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..200usize {
        let path = format!("/full/g{i}");
        let bytes = content(i as u64 + 7000, FILE);
        match put_bytes(&client, &path, &bytes).await {
            Ok(_) => acked.push((path, hash(&bytes))),
            Err(e) => {
                refused = Some(format!("{e:#}"));
                break;
            }
        }
    }
    let refused = refused.ok_or_else(|| anyhow::anyhow!("200 puts fit on {TINY_MIB} MiB disks"))?;
    eprintln!(
        "phase 1: {} files acknowledged, then the library put failed: {refused}",
        acked.len()
    );
    assert!(!acked.is_empty(), "nothing fit at all");
    assert!(
        refused.contains("no space"),
        "not a no-space error: {refused}"
    );
    let local = cluster.dir().join("one-more");
    std::fs::write(&local, content(1, FILE))?;
    let local_s = local.to_string_lossy().to_string();
    let out = cluster.ferrofs(&["put", &local_s, "/full/cli"])?;
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "a put into a full cluster succeeded");
    assert!(
        err.contains("/full/cli") && err.contains("no space"),
        "unclear error: {err}"
    );
    eprintln!("phase 1: ferrofs put says: {}", err.trim());
    for (path, want) in &acked {
        assert_eq!(hash(&get_bytes(&client, path).await?), *want, "{path}");
    }

    // Make room: delete half the files and let the GC collect them.
    let (dir, _) = client.resolve_parent("/full/g0").await?;
    let half = acked.len() / 2;
    for (path, _) in acked.drain(..half) {
        let name = path.rsplit('/').next().unwrap_or_default().to_string();
        client.unlink(dir.ino, name.as_bytes()).await?;
    }
    let bytes = content(2, FILE);
    let put_again = wait_until("a put to fit again", Duration::from_secs(60), || async {
        put_bytes(&client, "/full/after", &bytes).await.ok()
    })
    .await;
    let free: Vec<u64> = mounts
        .iter()
        .map(|m| m.available().unwrap_or(0) / MIB)
        .collect();
    put_again.map_err(|e| anyhow::anyhow!("{e}; MiB free per server: {free:?}"))?;
    eprintln!("phase 2: after deleting {half} files a put fits again; MiB free: {free:?}");
    assert_eq!(
        hash(&get_bytes(&client, "/full/after").await?),
        hash(&bytes)
    );
    for (path, want) in &acked {
        assert_eq!(hash(&get_bytes(&client, path).await?), *want, "{path}");
    }
    drop(client);
    cluster.stop_all();
    drop(mounts);
    Ok(())
}
