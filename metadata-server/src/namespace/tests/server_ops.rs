use super::fixture::*;
use crate::namespace::{data_servers, update_data_server};
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::NodeId;
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse, ServerState, StatFs};

fn register(node: u64, addr: &str, capacity: u64) -> MetaOp {
    MetaOp::RegisterDataServer {
        node: NodeId(node),
        addr: addr.into(),
        zone: "z1".into(),
        capacity,
    }
}

#[test]
fn registration_upserts() {
    let mut fs = Fs::new();
    fs.ok(register(2, "127.0.0.1:7002", 1000));
    fs.ok(register(1, "127.0.0.1:7001", 500));
    let all = data_servers(&fs.store).expect("servers");
    assert_eq!(all.iter().map(|s| s.id.0).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(
        (all[0].weight, all[0].state, all[0].capacity),
        (1, ServerState::Up, 500)
    );
    // Admin changes survive a re-registration; address and capacity follow it.
    let updated =
        fs.mutate(|o| update_data_server(o, NodeId(1), Some(ServerState::Draining), Some(5)));
    assert_eq!(updated.expect("known").weight, 5);
    fs.ok(register(1, "127.0.0.1:7101", 600));
    let s = &data_servers(&fs.store).expect("servers")[0];
    assert_eq!(
        (s.addr.as_str(), s.capacity, s.weight, s.state),
        ("127.0.0.1:7101", 600, 5, ServerState::Draining)
    );
    let unknown = fs.mutate(|o| update_data_server(o, NodeId(9), Some(ServerState::Down), None));
    assert_eq!(unknown, Err(FsError::NotFound));
    assert!(matches!(
        fs.err(register(0, "127.0.0.1:1", 1)),
        FsError::Invalid(_)
    ));
    assert!(matches!(fs.err(register(3, "", 1)), FsError::Invalid(_)));
}

#[test]
fn statfs_and_cluster_map() {
    let mut fs = Fs::new();
    fs.ok(register(1, "127.0.0.1:7001", 500));
    fs.ok(register(2, "127.0.0.1:7002", 1000));
    fs.ok(register(3, "127.0.0.1:7003", 4000));
    fs.mutate(|o| update_data_server(o, NodeId(3), Some(ServerState::Removed), None))
        .expect("known");
    fs.create(ROOT, "f");
    fs.mkdir(ROOT, "d");
    assert_eq!(
        fs.query(MetaRequest::StatFs),
        MetaResponse::StatFs(StatFs {
            capacity: 1500,
            used: 0,
            files: 3
        })
    );
    match fs.query(MetaRequest::ClusterMap) {
        MetaResponse::Map(m) => {
            assert_eq!(m.data_servers.len(), 3);
            assert_eq!((m.replication, m.chunk_size), (2, CHUNK));
            assert_eq!(m.vnodes_per_weight, fs.settings.vnodes_per_weight);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_requests_are_unsupported() {
    let fs = Fs::new();
    for req in [MetaRequest::ClusterStatus, MetaRequest::Raft(vec![1])] {
        assert_eq!(fs.query(req), MetaResponse::Error(FsError::Unsupported));
    }
}
