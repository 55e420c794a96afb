//! Elections work with 1 and 5 voters, and a 5-voter cluster survives losing its
//! leader and then a second voter.

mod common;

use common::{lookup, TestCluster, ELECTION_MAX};
use ferrofs_proto::meta_msg::MetaResponse;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_voter_serves_alone() {
    let cluster = TestCluster::start(1).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
    assert_eq!(leader, 1);
    assert!(matches!(
        cluster.call(1, &cluster.mkdir("solo")).await,
        MetaResponse::Attr(_) | MetaResponse::Added { .. }
    ));
    assert!(matches!(
        cluster.call(1, &lookup("solo")).await,
        MetaResponse::Attr(_) | MetaResponse::Added { .. }
    ));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_voters_survive_two_losses() {
    let mut cluster = TestCluster::start(5).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
    assert!(matches!(
        cluster.call(leader, &cluster.mkdir("five")).await,
        MetaResponse::Attr(_) | MetaResponse::Added { .. }
    ));

    let killed_at = Instant::now();
    cluster.stop(leader).await;
    let second = cluster
        .wait_leader(ELECTION_MAX * 3 + Duration::from_secs(1))
        .await;
    assert!(killed_at.elapsed() <= ELECTION_MAX * 3 + Duration::from_secs(1));
    assert_ne!(second, leader);

    cluster.stop(second).await;
    cluster
        .wait_leader(ELECTION_MAX * 3 + Duration::from_secs(1))
        .await;
    assert!(matches!(
        cluster.call_leader(&lookup("five")).await,
        MetaResponse::Attr(_) | MetaResponse::Added { .. }
    ));
    assert!(matches!(
        cluster.call_leader(&cluster.mkdir("three-left")).await,
        MetaResponse::Attr(_) | MetaResponse::Added { .. }
    ));
    cluster.shutdown().await;
}
