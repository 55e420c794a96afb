//! Record a history on a local cluster (real processes) while the metadata leader is
//! paused (SIGSTOP for 3 x the election timeout) and then killed -9 and restarted.

use super::run::{client_loop, Recorder};
use super::Event;
use crate::files::mkdir_p;
use crate::leader::{election_timeout_max, meta_name, MetaProbe};
use crate::{wait_until, TestCluster};
use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Clients that run at once.
pub const CLIENTS: usize = 3;

/// Run `CLIENTS` recording clients in `/h` through a leader pause and a leader kill;
/// returns the history once every client has stopped.
pub async fn record_with_faults(cluster: &mut TestCluster) -> Result<Vec<Event>> {
    let setup = cluster.client().await?;
    mkdir_p(&setup, "/h").await?;
    // Polled: a broken server (--test-ack-before-commit) shows the directory only later.
    let dir = wait_until("/h to exist", Duration::from_secs(30), || async {
        setup.resolve("/h").await.ok().map(|a| a.ino)
    })
    .await?;
    let probe = MetaProbe::new(cluster)?;
    let timeout = election_timeout_max(cluster)?;

    let rec = Recorder::default();
    let stop = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for id in 0..CLIENTS {
        // Each client its own connection and client id.
        let client = cluster.client().await?;
        let (rec, stop, finished) = (rec.clone(), stop.clone(), finished.clone());
        tasks.push(tokio::spawn(async move {
            client_loop(client, id, dir, rec, stop, 400, Duration::from_secs(20)).await;
            finished.fetch_add(1, Ordering::Relaxed);
        }));
    }
    // Progress: `n` events recorded, or every client has done its operations (a server
    // that answers before committing runs through them long before the faults end).
    let ran = |n: usize| {
        let (rec, finished) = (rec.clone(), finished.clone());
        move || {
            let (rec, finished) = (rec.clone(), finished.clone());
            async move {
                let all_done = finished.load(Ordering::Relaxed) == CLIENTS;
                (all_done || rec.events().len() >= n).then_some(())
            }
        }
    };
    wait_until("clients to get going", Duration::from_secs(30), ran(20)).await?;

    // Fault 1: the leader stops (SIGSTOP) for 3 x the election timeout.
    let leader = probe
        .leader_other_than(None)
        .await
        .context("no leader to pause")?;
    let pid = cluster
        .pid(&meta_name(leader))
        .context("the leader's pid")?;
    kill(Pid::from_raw(pid), Signal::SIGSTOP)?;
    tokio::time::sleep(timeout * 3).await; // the fault's length, not a synchronisation
    kill(Pid::from_raw(pid), Signal::SIGCONT)?;
    let n = rec.events().len();
    wait_until(
        "operations after the pause",
        Duration::from_secs(60),
        ran(n + 20),
    )
    .await?;

    // Fault 2: kill -9 the leader, then start it again.
    let leader = wait_until("a leader", Duration::from_secs(30), || {
        probe.leader_other_than(None)
    })
    .await?;
    cluster.kill9(&meta_name(leader))?;
    let n = rec.events().len();
    wait_until(
        "operations after the kill",
        Duration::from_secs(60),
        ran(n + 20),
    )
    .await?;
    cluster.restart(&meta_name(leader))?;
    let n = rec.events().len();
    wait_until(
        "operations after the restart",
        Duration::from_secs(60),
        ran(n + 20),
    )
    .await?;

    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.context("a recording client panicked")?;
    }
    Ok(rec.events())
}
