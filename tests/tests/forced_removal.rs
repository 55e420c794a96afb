//! `ferrofs node remove ID --force` of a data server that died: the removal is accepted
//! once it has been down past `down_after`, its copies are re-replicated, and the
//! metadata forgets it. No chunk location names it, and
//! files deleted later leave no garbage entry waiting for a server that will never answer
//! (the garbage count goes back to zero).

use anyhow::{ensure, Context};
use ferrofs_client::{Client, ServerState};
use ferrofs_proto::config::{load, ClientConfig, DataConfig};
use ferrofs_proto::ids::NodeId;
use ferrofs_tests::data::{content, hash};
use ferrofs_tests::files::{get_bytes, mkdir_p, put_bytes};
use ferrofs_tests::{raw, wait_until, TestCluster};
use std::time::Duration;

const FILES: u64 = 60;

/// The servers recorded for every chunk of the files under /f.
async fn recorded_servers(
    cluster: &TestCluster,
    client: &Client,
) -> anyhow::Result<Vec<Vec<NodeId>>> {
    let cfg: ClientConfig = load(&cluster.client_config())?;
    let conn = raw::connector(&cfg)?;
    let mut out = Vec::new();
    for i in 0..FILES {
        let attr = client.resolve(&format!("/f/{i}")).await?;
        for loc in raw::chunk_locations(&conn, &cfg.meta_addrs, attr.ino, 1).await? {
            out.push(loc.servers);
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_server_removed_by_force_is_forgotten() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start_with(1, 4, &["--down-after", "3s", "--gc-grace", "1s"])?;
    let client = cluster.client_without_inline().await?;
    mkdir_p(&client, "/f").await?;
    for i in 0..FILES {
        put_bytes(&client, &format!("/f/{i}"), &content(i, 700)).await?;
    }
    let victim_name = "data-4";
    let cfg: DataConfig = load(&cluster.dir().join(victim_name).join("data.toml"))?;
    let victim = cfg.node_id;
    let on_victim = recorded_servers(&cluster, &client)
        .await?
        .iter()
        .filter(|s| s.contains(&victim))
        .count();
    ensure!(on_victim > 0, "no chunk has a copy on {victim}");
    eprintln!("phase 1: {FILES} files, {on_victim} chunks with a copy on {victim}");

    cluster.kill9(victim_name)?;
    wait_until(
        "the dead server to be down past down_after",
        Duration::from_secs(90),
        || async {
            let s = client.status().await.ok()?;
            s.data_servers
                .iter()
                .any(|d| d.id == victim && d.state == ServerState::Down)
                .then_some(())
        },
    )
    .await?;
    let out = cluster.ferrofs(&["node", "remove", &victim.0.to_string(), "--force"])?;
    ensure!(
        out.status.success(),
        "node remove --force: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("phase 2: {victim} down and removed by force");

    // The reconcile loop strikes the removed server from every location, and every
    // chunk has three copies on live servers.
    wait_until(
        "every chunk on 3 servers, none of them the removed one",
        Duration::from_secs(90),
        || async {
            let all = recorded_servers(&cluster, &client).await.ok()?;
            all.iter()
                .all(|s| s.len() == 3 && !s.contains(&victim))
                .then_some(())
        },
    )
    .await?;
    for i in 0..FILES {
        let bytes = get_bytes(&client, &format!("/f/{i}")).await?;
        ensure!(hash(&bytes) == hash(&content(i, 700)), "/f/{i} changed");
    }
    eprintln!("phase 3: every chunk on 3 live servers, every file intact");

    let collected_before = client.status().await?.repair.garbage_collected;
    let out = cluster.ferrofs(&["rm", "-r", "/f"])?;
    ensure!(
        out.status.success(),
        "rm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        "the garbage list to empty",
        Duration::from_secs(60),
        || async {
            let s = client.status().await.ok()?;
            let collected = s.repair.garbage_collected >= collected_before + FILES;
            (collected && s.repair.garbage_pending == 0).then_some(())
        },
    )
    .await
    .context("garbage of the deleted files is still pending")?;
    eprintln!("phase 4: the deleted files' copies were collected");
    Ok(())
}
