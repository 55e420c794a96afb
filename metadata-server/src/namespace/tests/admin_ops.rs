use super::fixture::*;
use crate::namespace::{data_servers, locations_per_server, rebalance_settings};
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::NodeId;
use ferrofs_proto::meta_msg::{MetaOp, RebalanceSettings, ServerState};

fn register(node: u64, weight: u32) -> MetaOp {
    MetaOp::RegisterDataServerWeighted {
        node: NodeId(node),
        addr: format!("127.0.0.1:{}", 7000 + node),
        zone: String::new(),
        capacity: 1000,
        weight,
    }
}

fn set(node: u64, state: Option<ServerState>, weight: Option<u32>) -> MetaOp {
    MetaOp::SetDataServer {
        node: NodeId(node),
        state,
        weight,
    }
}

fn remove(node: u64, force: bool) -> MetaOp {
    MetaOp::RemoveDataServer {
        node: NodeId(node),
        force,
    }
}

fn server(fs: &Fs, node: u64) -> ferrofs_proto::meta_msg::DataServerInfo {
    data_servers(&fs.store)
        .expect("servers")
        .into_iter()
        .find(|s| s.id == NodeId(node))
        .expect("registered")
}

fn message(e: FsError) -> String {
    match e {
        FsError::Invalid(m) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn the_configured_weight_applies_at_first_registration_only() {
    let mut fs = Fs::new();
    fs.ok(register(1, 3));
    assert_eq!(server(&fs, 1).weight, 3);
    fs.ok(set(1, None, Some(5)));
    fs.ok(register(1, 3));
    assert_eq!(server(&fs, 1).weight, 5, "the operator's weight stays");
}

#[test]
fn drain_undrain_and_weights_are_checked() {
    let mut fs = Fs::new();
    fs.ok(register(1, 1));
    fs.ok(set(1, Some(ServerState::Draining), None));
    assert_eq!(server(&fs, 1).state, ServerState::Draining);
    fs.ok(set(1, Some(ServerState::Up), Some(0)));
    assert_eq!(
        (server(&fs, 1).state, server(&fs, 1).weight),
        (ServerState::Up, 0)
    );
    for bad in [
        ServerState::Down,
        ServerState::Suspect,
        ServerState::Removed,
    ] {
        let m = message(fs.err(set(1, Some(bad), None)));
        assert!(m.contains("up or draining"), "{m}");
    }
    assert!(message(fs.err(set(1, None, Some(1_000_000)))).contains("maximum"));
    assert!(message(fs.err(set(9, None, Some(1)))).contains("not registered"));
}

#[test]
fn removal_needs_a_finished_drain_or_force() {
    let mut fs = Fs::new();
    fs.ok(register(1, 1));
    fs.ok(register(2, 1));
    let f = fs.create(ROOT, "f");
    fs.commit(f, 0, 7, &[1, 2], 10);
    assert_eq!(
        locations_per_server(&fs.store).expect("scan")[&NodeId(1)],
        1
    );

    let m = message(fs.err(remove(1, false)));
    assert!(
        m.contains("not drained") && m.contains("ferrofs node drain 1"),
        "{m}"
    );
    fs.ok(set(1, Some(ServerState::Draining), None));
    let m = message(fs.err(remove(1, false)));
    assert!(
        m.contains("still draining") && m.contains("1 chunk copies"),
        "{m}"
    );
    // The copy moved away: removal goes through, and repeats are harmless.
    fs.ok(MetaOp::RemoveReplica {
        chunk: ferrofs_proto::ids::ChunkId(7),
        server: NodeId(1),
    });
    fs.ok(remove(1, false));
    fs.ok(remove(1, false));
    assert_eq!(server(&fs, 1).state, ServerState::Removed);
    assert!(message(fs.err(set(1, Some(ServerState::Up), None))).contains("removed"));
    // A registration does not bring a removed server back.
    fs.ok(register(1, 1));
    assert_eq!(server(&fs, 1).state, ServerState::Removed);
    // Forced (the leader has checked it is down): copies or not.
    fs.ok(remove(2, true));
    assert_eq!(server(&fs, 2).state, ServerState::Removed);
}

#[test]
fn rebalance_settings_default_and_change() {
    let mut fs = Fs::new();
    assert_eq!(
        rebalance_settings(&fs.store).expect("read"),
        RebalanceSettings::default()
    );
    assert_eq!(RebalanceSettings::default().rate_mib_per_sec, 50);
    fs.ok(MetaOp::SetRebalance {
        paused: Some(true),
        rate_mib_per_sec: None,
    });
    fs.ok(MetaOp::SetRebalance {
        paused: None,
        rate_mib_per_sec: Some(7),
    });
    let s = rebalance_settings(&fs.store).expect("read");
    assert_eq!((s.paused, s.rate_mib_per_sec), (true, 7));
    let m = message(fs.err(MetaOp::SetRebalance {
        paused: Some(false),
        rate_mib_per_sec: Some(0),
    }));
    assert!(m.contains("use pause"), "{m}");
    assert!(
        rebalance_settings(&fs.store).expect("read").paused,
        "a refused op writes nothing"
    );
}
