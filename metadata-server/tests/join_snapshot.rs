//! `ferrofs meta add` on the leader: a node started in join mode (empty
//! `initial_voters`) does not initialise a cluster of its own, is added as a learner,
//! catches up through a snapshot because the leader has purged its log, and becomes a
//! voter holding everything written before it joined.

mod common;

use common::{lookup, wait_for, TestCluster, TestNode};
use ferrofs_meta::{bind, MetaNode};
use ferrofs_proto::membership::MembershipChange;
use ferrofs_proto::meta_msg::{MetaRequest, MetaResponse};
use ferrofs_proto::NodeId;
use openraft::type_config::async_runtime::WatchReceiver;
use std::time::Duration;

const SNAPSHOT_AFTER: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn joining_node_catches_up_by_snapshot_and_becomes_a_voter() {
    let mut cluster = TestCluster::start_with(3, SNAPSHOT_AFTER).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
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

    // Node 4: join mode. The test reuses meta-1's certificate (same cluster CA).
    let mut cfg = cluster.nodes[0].cfg.clone();
    cfg.node_id = NodeId(4);
    cfg.listen = "127.0.0.1:0".parse().expect("addr");
    cfg.data_dir = cluster.dir.path().join("meta-4");
    cfg.initial_voters = Vec::new();
    let endpoint = bind(&cfg).expect("bind");
    cfg.listen = endpoint.local_addr().expect("addr");
    let node = MetaNode::start_on(cfg.clone(), endpoint)
        .await
        .expect("start node 4");
    assert!(
        !node.raft().is_initialized().await.expect("raft"),
        "a node in join mode initialised a cluster"
    );
    cluster.nodes.push(TestNode {
        id: 4,
        cfg: cfg.clone(),
        node: Some(node),
    });

    let add = MetaRequest::Membership(MembershipChange::AddVoter {
        id: NodeId(4),
        addr: cfg.listen.to_string(),
    });
    let resp = cluster.call_leader(&add).await;
    assert!(matches!(resp, MetaResponse::Done), "meta add: {resp:?}");

    // The same add again is a no-op.
    assert!(matches!(
        cluster.call_leader(&add).await,
        MetaResponse::Done
    ));

    let m = cluster.node(4).raft().metrics().borrow_watched().clone();
    let voters: Vec<u64> = m.membership_config.membership().voter_ids().collect();
    assert_eq!(voters, vec![1, 2, 3, 4], "node 4 is a voter");
    assert!(
        m.snapshot.is_some_and(|s| s.index >= purged),
        "node 4 caught up through a snapshot covering the purged log: {:?}",
        m.snapshot
    );
    let last = format!("d{}", SNAPSHOT_AFTER * 4 - 1);
    let settings = cluster.nodes[0].cfg.cluster.clone();
    let req = lookup(&last);
    let found = cluster
        .node(4)
        .state_machine()
        .clone()
        .read(move |view| ferrofs_meta::namespace::query(view, &settings, &req))
        .await
        .expect("read")
        .expect("query");
    assert!(
        matches!(found, MetaResponse::Attr(_) | MetaResponse::Added { .. }),
        "{found:?}"
    );

    cluster.shutdown().await;
}
