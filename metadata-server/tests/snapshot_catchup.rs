//! A follower that was down while the others wrote and purged their logs catches up
//! through a snapshot streamed over QUIC, and then serves the same data.

mod common;

use common::{lookup, wait_for, TestCluster};
use ferrofs_proto::meta_msg::MetaResponse;
use openraft::type_config::async_runtime::WatchReceiver;
use std::time::Duration;

const SNAPSHOT_AFTER: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lagging_follower_catches_up_by_snapshot() {
    let mut cluster = TestCluster::start_with(3, SNAPSHOT_AFTER).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
    let lagging = (1..=3).find(|id| *id != leader).expect("a follower");
    assert!(matches!(
        cluster.call(leader, &cluster.mkdir("before")).await,
        MetaResponse::Attr(_) | MetaResponse::Added { .. }
    ));
    cluster.stop(lagging).await;
    tracing::info!(lagging, "phase 1: a follower is down");

    for i in 0..(SNAPSHOT_AFTER * 4) {
        let resp = cluster.call_leader(&cluster.mkdir(&format!("d{i}"))).await;
        assert!(
            matches!(resp, MetaResponse::Attr(_) | MetaResponse::Added { .. }),
            "mkdir d{i}: {resp:?}"
        );
    }
    let purged = wait_for(
        "the leader to purge its log",
        Duration::from_secs(20),
        || async {
            let m = cluster
                .node(leader)
                .raft()
                .metrics()
                .borrow_watched()
                .clone();
            m.purged
                .filter(|p| p.index > SNAPSHOT_AFTER)
                .map(|p| p.index)
        },
    )
    .await;
    tracing::info!(purged, "phase 2: the others wrote, snapshotted and purged");

    cluster.restart(lagging).await;
    let target = cluster
        .node(leader)
        .raft()
        .metrics()
        .borrow_watched()
        .last_applied;
    let target = target.expect("leader applied").index;
    let installed = wait_for(
        "the follower to catch up",
        Duration::from_secs(30),
        || async {
            let m = cluster
                .node(lagging)
                .raft()
                .metrics()
                .borrow_watched()
                .clone();
            let applied = m.last_applied.map_or(0, |l| l.index);
            (applied >= target).then_some(m.snapshot)
        },
    )
    .await;
    assert!(
        installed.is_some_and(|s| s.index >= purged),
        "caught up through a snapshot covering the purged log: {installed:?}"
    );
    tracing::info!("phase 3: the follower installed a snapshot and caught up");

    // Its state machine holds what was written while it was down.
    let last = format!("d{}", SNAPSHOT_AFTER * 4 - 1);
    let sm = cluster.node(lagging).state_machine().clone();
    let settings = cluster.nodes[0].cfg.cluster.clone();
    let req = lookup(&last);
    let found = sm
        .read(move |view| ferrofs_meta::namespace::query(view, &settings, &req))
        .await
        .expect("read")
        .expect("query");
    assert!(
        matches!(found, MetaResponse::Attr(_) | MetaResponse::Added { .. }),
        "{found:?}"
    );

    // And it can lead: stop the old leader and read through whoever leads now.
    cluster.stop(leader).await;
    cluster.wait_leader(Duration::from_secs(20)).await;
    assert!(matches!(
        cluster.call_leader(&lookup("before")).await,
        MetaResponse::Attr(_) | MetaResponse::Added { .. }
    ));
    assert!(matches!(
        cluster.call_leader(&lookup(&last)).await,
        MetaResponse::Attr(_) | MetaResponse::Added { .. }
    ));
    cluster.shutdown().await;
}
