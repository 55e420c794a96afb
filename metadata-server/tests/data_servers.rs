//! Data servers: registration is Raft state, heartbeats go to the leader only, and the
//! cluster map / statfs / status merge the registry with the leader's liveness view.

mod common;

use common::{wait_for, TestCluster};
use ferrofs_proto::meta_msg::{HeartbeatInfo, MetaOp, MetaRequest, MetaResponse, ServerState};
use ferrofs_proto::{FsError, NodeId};
use std::time::Duration;

fn beat(used: u64) -> MetaRequest {
    MetaRequest::Heartbeat(HeartbeatInfo {
        node: NodeId(101),
        addr: "127.0.0.1:9101".into(),
        zone: "z1".into(),
        capacity: 1000,
        used,
        chunks: 3,
    })
}

async fn state_of(cluster: &TestCluster) -> (ServerState, u64, u64) {
    match cluster.call_leader(&MetaRequest::ClusterMap).await {
        MetaResponse::Map(map) => {
            let s = map
                .data_servers
                .iter()
                .find(|s| s.id == NodeId(101))
                .expect("registered");
            (s.state, s.capacity, s.used)
        }
        other => panic!("expected Map, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registry_heartbeats_and_liveness() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
    let follower = (1..=3).find(|id| *id != leader).expect("a follower");

    let register = MetaRequest::Mutate {
        id: cluster.next_request_id(),
        op: MetaOp::RegisterDataServer {
            node: NodeId(101),
            addr: "127.0.0.1:9101".into(),
            zone: "z1".into(),
            capacity: 500,
        },
    };
    assert_eq!(cluster.call(leader, &register).await, MetaResponse::Done);

    assert_eq!(
        cluster.call(leader, &beat(40)).await,
        MetaResponse::HeartbeatAck
    );
    match cluster.call(follower, &beat(40)).await {
        MetaResponse::Error(FsError::NotLeader { leader_addr }) => {
            assert_eq!(leader_addr, Some(cluster.addr(leader)))
        }
        other => panic!("a follower must redirect heartbeats, got {other:?}"),
    }
    assert_eq!(
        state_of(&cluster).await,
        (ServerState::Up, 1000, 40),
        "usage from the heartbeat"
    );

    match cluster.call_leader(&MetaRequest::StatFs).await {
        MetaResponse::StatFs(st) => assert_eq!((st.capacity, st.used), (1000, 40)),
        other => panic!("expected StatFs, got {other:?}"),
    }
    match cluster.call_leader(&MetaRequest::ClusterStatus).await {
        MetaResponse::Status(st) => {
            assert_eq!(st.data_servers.len(), 1);
            assert_eq!(st.leader, Some(NodeId(leader)));
        }
        other => panic!("expected Status, got {other:?}"),
    }

    // Silence: suspect after 2 s, down after 4 s (the test cluster's settings).
    wait_for(
        "the server to turn suspect",
        Duration::from_secs(10),
        || async { (state_of(&cluster).await.0 == ServerState::Suspect).then_some(()) },
    )
    .await;
    wait_for(
        "the server to turn down",
        Duration::from_secs(10),
        || async { (state_of(&cluster).await.0 == ServerState::Down).then_some(()) },
    )
    .await;
    match cluster.call_leader(&MetaRequest::StatFs).await {
        MetaResponse::StatFs(st) => assert_eq!(st.capacity, 0, "a down server adds no capacity"),
        other => panic!("expected StatFs, got {other:?}"),
    }
    assert_eq!(
        cluster.call(leader, &beat(41)).await,
        MetaResponse::HeartbeatAck
    );
    assert_eq!(
        state_of(&cluster).await,
        (ServerState::Up, 1000, 41),
        "a heartbeat revives it"
    );
    cluster.shutdown().await;
}
