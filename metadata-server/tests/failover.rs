//! A 3-voter cluster on loopback: election, a write over QUIC, a read through a
//! follower's redirect, then leader loss: a new leader within 3 x election_timeout_max,
//! every time, with the data kept.

mod common;

use common::{lookup, TestCluster, ELECTION_MAX};
use ferrofs_proto::meta_msg::{MetaRequest, MetaResponse};
use ferrofs_proto::{FsError, InodeId};
use std::time::{Duration, Instant};

fn attr_ino(resp: &MetaResponse) -> InodeId {
    match resp {
        MetaResponse::Attr(a) | MetaResponse::Added { attr: a, .. } => a.ino,
        other => panic!("expected Attr, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_voters_write_redirect_and_fail_over() {
    let mut cluster = TestCluster::start(3).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
    tracing::info!(leader, "phase 1: a leader is elected");

    let created = cluster.call(leader, &cluster.mkdir("alpha")).await;
    let ino = attr_ino(&created);
    tracing::info!(?ino, "phase 2: mkdir through the leader");

    let follower = (1..=3).find(|id| *id != leader).expect("a follower");
    match cluster.call(follower, &lookup("alpha")).await {
        MetaResponse::Error(FsError::NotLeader { leader_addr }) => {
            assert_eq!(
                leader_addr,
                Some(cluster.addr(leader)),
                "the follower names the leader"
            );
            let addr = leader_addr.expect("addr");
            let again: MetaResponse = cluster
                .client
                .call(&addr, &lookup("alpha"), common::CALL_TIMEOUT)
                .await
                .expect("call");
            assert_eq!(attr_ino(&again), ino);
        }
        other => panic!("a follower must redirect reads, got {other:?}"),
    }
    tracing::info!("phase 3: a follower redirects to the leader, which answers");

    let mut old_leader = leader;
    for round in 0..3 {
        let killed_at = Instant::now();
        cluster.stop(old_leader).await;
        tracing::info!(stop_took = ?killed_at.elapsed(), "stopped the leader");
        let new_leader = cluster
            .wait_leader(ELECTION_MAX * 3 + Duration::from_millis(500))
            .await;
        let took = killed_at.elapsed();
        assert_ne!(new_leader, old_leader);
        assert!(
            took <= ELECTION_MAX * 3 + Duration::from_millis(500),
            "election took {took:?}"
        );
        tracing::info!(
            round,
            new_leader,
            ?took,
            "phase 4: a new leader after leader loss"
        );

        assert_eq!(
            attr_ino(&cluster.call_leader(&lookup("alpha")).await),
            ino,
            "data kept"
        );
        let name = format!("round-{round}");
        attr_ino(&cluster.call_leader(&cluster.mkdir(&name)).await);

        cluster.restart(old_leader).await;
        old_leader = cluster.wait_leader(Duration::from_secs(20)).await;
    }

    match cluster.call_leader(&MetaRequest::ClusterStatus).await {
        MetaResponse::Status(st) => {
            assert_eq!(st.voters.len(), 3);
            assert_eq!(st.voters.iter().filter(|v| v.role == "leader").count(), 1);
            assert!(st.commit_index > 0);
            assert_eq!(st.dirs, 5, "root, alpha and three round dirs");
        }
        other => panic!("expected Status, got {other:?}"),
    }
    cluster.shutdown().await;
}
