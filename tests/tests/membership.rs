//! Issue 4, acceptance 3: grow the metadata quorum from 3 voters to 5 and back to 3,
//! removing the leader on the way, while a client keeps creating files: no error reaches
//! the client and no acknowledged file is lost. Then a removal that would lose the quorum
//! is refused.

use ferrofs_proto::meta_msg::ClusterStatus;
use ferrofs_proto::NodeId;
use ferrofs_tests::data::{content, hash};
use ferrofs_tests::files::{get_bytes, mkdir_p, put_bytes};
use ferrofs_tests::leader::{meta_name, MetaProbe};
use ferrofs_tests::{wait_until, TestCluster};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The voter ids in a status, if every one of them is a healthy leader or follower.
fn healthy_voters(s: &ClusterStatus) -> Option<BTreeSet<u64>> {
    s.voters
        .iter()
        .all(|v| (v.role == "leader" || v.role == "follower") && v.matched_index.is_some())
        .then(|| s.voters.iter().map(|v| v.id.0).collect())
}

async fn wait_for_voters(probe: &MetaProbe, want: &[u64]) -> anyhow::Result<ClusterStatus> {
    let want: BTreeSet<u64> = want.iter().copied().collect();
    wait_until(
        &format!("voters {want:?}"),
        Duration::from_secs(60),
        || async {
            let s = probe.status().await.ok()?;
            (healthy_voters(&s)? == want).then_some(s)
        },
    )
    .await
}

/// Run `ferrofs meta ...` and require success.
fn meta(cluster: &TestCluster, args: &[&str]) -> anyhow::Result<()> {
    let mut all = vec!["meta"];
    all.extend_from_slice(args);
    let t0 = Instant::now();
    let out = cluster.ferrofs(&all)?;
    anyhow::ensure!(
        out.status.success(),
        "ferrofs {all:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("ferrofs {all:?} took {:?}", t0.elapsed());
    Ok(())
}

/// Wait until the writer has acknowledged `n` more files.
async fn more_files(written: &Arc<AtomicUsize>, n: usize) -> anyhow::Result<()> {
    let target = written.load(Ordering::SeqCst) + n;
    wait_until(
        &format!("{n} more files"),
        Duration::from_secs(60),
        || async { (written.load(Ordering::SeqCst) >= target).then_some(()) },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn voters_grow_to_five_and_shrink_to_three_under_writes() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3, 3)?;
    let client = cluster.client().await?;
    let mut probe = MetaProbe::new(&cluster)?;
    mkdir_p(&client, "/w").await?;
    wait_for_voters(&probe, &[1, 2, 3]).await?;

    // A writer that creates small files until told to stop; any error fails the test.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (client, stop, written) = (client.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let bytes = content(i, 1 + (i as usize * 7919) % (16 * 1024));
                put_bytes(&client, &format!("/w/f{i}"), &bytes).await?;
                acked.push((i, hash(&bytes)));
                written.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
            anyhow::Ok(acked)
        })
    };
    more_files(&written, 10).await?;

    // Grow: 4 and 5 start in join mode and are added one at a time.
    for id in [4u64, 5] {
        let addr = cluster.start_joining_meta(id)?;
        meta(&cluster, &["add", &id.to_string(), &addr])?;
        probe.addrs.push(addr);
        let want: Vec<u64> = (1..=id).collect();
        wait_for_voters(&probe, &want).await?;
        eprintln!("node {id} is a voter");
        more_files(&written, 5).await?;
    }

    // Shrink: remove the leader, then one more original voter that does not lead.
    let mut voters: BTreeSet<u64> = (1..=5).collect();
    let leader = probe.status().await?.leader.expect("a leader").0;
    let follower = *[1u64, 2, 3]
        .iter()
        .find(|id| **id != leader)
        .expect("an original follower");
    for (id, what) in [(leader, "the leader"), (follower, "a follower")] {
        meta(&cluster, &["remove", &id.to_string()])?;
        voters.remove(&id);
        let want: Vec<u64> = voters.iter().copied().collect();
        let s = wait_for_voters(&probe, &want).await?;
        assert_ne!(s.leader, Some(NodeId(id)), "removed node {id} still leads");
        cluster.kill9(&meta_name(NodeId(id)))?;
        eprintln!(
            "removed {what} {id}; voters {want:?}, leader {:?}",
            s.leader
        );
        more_files(&written, 5).await?;
    }
    assert_eq!(voters.len(), 3);

    stop.store(true, Ordering::SeqCst);
    let acked = writer.await??;
    for (i, h) in &acked {
        let bytes = get_bytes(&client, &format!("/w/f{i}")).await?;
        assert_eq!(hash(&bytes), *h, "/w/f{i} damaged");
    }
    eprintln!("{} acknowledged files intact", acked.len());

    // With one of the 3 voters down, removing another one would leave 2 voters with
    // only 1 reachable: refused, and the voters stay as they are. The one killed is a
    // new node, so that node 3 (the only address left in the CLI's config) stays up.
    let s = probe.status().await?;
    let leader = s.leader.expect("a leader").0;
    let others: Vec<u64> = voters.iter().copied().filter(|v| *v != leader).collect();
    let (alive, dead) = (others[0], others[1]);
    cluster.kill9(&meta_name(NodeId(dead)))?;
    wait_until(
        "the leader sees the killed voter as unreachable",
        Duration::from_secs(30),
        || async {
            let s = probe.status().await.ok()?;
            s.voters
                .iter()
                .any(|v| v.id.0 == dead && v.role == "unreachable")
                .then_some(())
        },
    )
    .await?;
    let out = cluster.ferrofs(&["meta", "remove", &alive.to_string()])?;
    assert!(
        !out.status.success(),
        "a removal losing the quorum succeeded"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lose the quorum"), "unexpected refusal: {err}");
    let s = probe.status().await?;
    let now: BTreeSet<u64> = s.voters.iter().map(|v| v.id.0).collect();
    assert_eq!(now, voters, "a refused removal changed the voters");
    Ok(())
}
