//! Stopping every voter and starting them again keeps all committed data, and the
//! state machine comes back from RocksDB at its applied index (no full log replay).

mod common;

use common::{lookup, TestCluster};
use ferrofs_proto::meta_msg::MetaResponse;
use openraft::type_config::async_runtime::WatchReceiver;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whole_cluster_restart_keeps_data() {
    let mut cluster = TestCluster::start(3).await;
    cluster.wait_leader(Duration::from_secs(20)).await;
    for i in 0..5 {
        let resp = cluster
            .call_leader(&cluster.mkdir(&format!("keep-{i}")))
            .await;
        assert!(
            matches!(resp, MetaResponse::Attr(_) | MetaResponse::Added { .. }),
            "{resp:?}"
        );
    }
    let applied: Vec<u64> = (1..=3)
        .map(|id| {
            cluster
                .node(id)
                .raft()
                .metrics()
                .borrow_watched()
                .last_applied
                .map_or(0, |l| l.index)
        })
        .collect();
    for id in 1..=3 {
        cluster.stop(id).await;
    }
    tracing::info!(?applied, "phase 1: all voters stopped");

    for id in 1..=3 {
        cluster.restart(id).await;
        let m = cluster.node(id).raft().metrics().borrow_watched().clone();
        let restored = m.last_applied.map_or(0, |l| l.index);
        assert!(
            restored >= applied[(id - 1) as usize],
            "node {id} resumed at {restored}, not 0"
        );
    }
    cluster.wait_leader(Duration::from_secs(20)).await;
    for i in 0..5 {
        let resp = cluster.call_leader(&lookup(&format!("keep-{i}"))).await;
        assert!(
            matches!(resp, MetaResponse::Attr(_) | MetaResponse::Added { .. }),
            "keep-{i}: {resp:?}"
        );
    }
    let resp = cluster.call_leader(&cluster.mkdir("after-restart")).await;
    assert!(
        matches!(resp, MetaResponse::Attr(_) | MetaResponse::Added { .. }),
        "{resp:?}"
    );
    cluster.shutdown().await;
}
