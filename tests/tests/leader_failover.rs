//! Issue 2, acceptance 2: kill -9 the metadata leader while a client writes; the client
//! sees no error, nothing acknowledged is lost, the killed node catches up; then 20 leader
//! kills in a row each elect a new leader within 3 x the maximum election timeout.

use ferrofs_tests::data::{content, hash};
use ferrofs_tests::files::{get_bytes, mkdir_p, put_bytes};
use ferrofs_tests::leader::{election_timeout_max, meta_name, MetaProbe};
use ferrofs_tests::{wait_until, TestCluster};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_killed_under_writes_loses_nothing() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3, 3)?;
    let client = cluster.client().await?;
    let probe = MetaProbe::new(&cluster)?;
    mkdir_p(&client, "/w").await?;

    // A writer that creates and fills files until told to stop; any error fails the test.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (client, stop, written) = (client.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let bytes = content(i, (i as usize * 7919) % (300 * 1024));
                put_bytes(&client, &format!("/w/f{i}"), &bytes).await?;
                acked.push((i, hash(&bytes)));
                written.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
            anyhow::Ok(acked)
        })
    };
    let at_least = |n: usize| {
        let written = written.clone();
        move || {
            let written = written.clone();
            async move { (written.load(Ordering::SeqCst) >= n).then_some(()) }
        }
    };
    wait_until("20 files written", Duration::from_secs(60), at_least(20)).await?;

    let old = probe.status().await?.leader.expect("a leader");
    cluster.kill9(&meta_name(old))?;
    eprintln!(
        "killed leader {old} after {} files",
        written.load(Ordering::SeqCst)
    );
    let new = wait_until("a new leader", Duration::from_secs(30), || {
        probe.leader_other_than(Some(old))
    })
    .await?;
    eprintln!("new leader {new}");
    let before = written.load(Ordering::SeqCst);
    wait_until(
        "20 more files",
        Duration::from_secs(60),
        at_least(before + 20),
    )
    .await?;

    // The killed node restarts and catches up with the leader's commit index.
    cluster.restart(&meta_name(old))?;
    wait_until(
        "restarted node catches up",
        Duration::from_secs(60),
        || async {
            let s = probe.status().await.ok()?;
            let v = s.voters.iter().find(|v| v.id == old)?;
            (v.matched_index? >= s.commit_index.saturating_sub(5) && v.role != "unreachable")
                .then_some(())
        },
    )
    .await?;

    stop.store(true, Ordering::SeqCst);
    let acked = writer.await??;
    for (i, h) in &acked {
        let bytes = get_bytes(&client, &format!("/w/f{i}")).await?;
        assert_eq!(hash(&bytes), *h, "/w/f{i} damaged");
    }
    eprintln!("{} acknowledged files intact", acked.len());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_leader_kills_each_elect_a_leader_in_bounded_time() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3, 1)?;
    let probe = MetaProbe::new(&cluster)?;
    let bound = election_timeout_max(&cluster)? * 3;
    let mut worst = Duration::ZERO;
    for round in 1..=20 {
        let old = wait_until("a leader", Duration::from_secs(30), || {
            probe.leader_other_than(None)
        })
        .await?;
        // Let every voter be back in the cluster before killing, so a quorum remains.
        let last_voters = std::sync::Mutex::new(None);
        let healthy = wait_until("all voters healthy", Duration::from_secs(30), || async {
            let s = probe.status().await.ok()?;
            let ok = s.voters.len() == 3
                && s.voters
                    .iter()
                    .all(|v| v.role == "leader" || v.role == "follower")
                && s.voters.iter().all(|v| v.matched_index.is_some());
            *last_voters.lock().expect("lock") = Some(s.voters);
            ok.then_some(())
        })
        .await;
        if let Err(e) = healthy {
            let voters = last_voters.lock().expect("lock").take();
            anyhow::bail!(
                "round {round}: {e}; the leader last listed {voters:?}\n{}",
                cluster.meta_log_digest()
            );
        }
        cluster.kill9(&meta_name(old))?;
        let t0 = Instant::now();
        eprintln!(
            "round {round}: killed {old} at {:?}",
            std::time::SystemTime::now()
        );
        let new = wait_until("a new leader", bound * 2, || {
            probe.leader_other_than(Some(old))
        })
        .await?;
        let took = t0.elapsed();
        worst = worst.max(took);
        eprintln!("round {round}: leader {old} killed, {new} elected in {took:?}");
        assert!(
            took <= bound,
            "round {round}: election took {took:?} > {bound:?}"
        );
        cluster.restart(&meta_name(old))?;
    }
    eprintln!("20 rounds, worst election {worst:?} (bound {bound:?})");
    Ok(())
}
