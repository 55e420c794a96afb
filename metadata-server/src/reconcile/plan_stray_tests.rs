//! The planner's adoption of stray copies (copies of live chunks on servers the
//! metadata does not list), tested by what it emits and by carrying its tasks out.

use super::plan::tests::server;
use super::plan::{plan, Snapshot, Task};
use crate::namespace::LiveChunk;
use ferrofs_proto::ids::{ChunkId, NodeId};
use ferrofs_proto::meta_msg::ServerState;
use ferrofs_proto::ring::Ring;
use std::collections::HashMap;

fn nodes(ids: &[u64]) -> Vec<NodeId> {
    ids.iter().copied().map(NodeId).collect()
}

/// Four up servers; chunk 5 on its ring target set plus a stray copy on the fourth.
fn one_stray() -> (Snapshot, NodeId) {
    let servers: Vec<_> = (1..=4).map(|i| server(i, ServerState::Up)).collect();
    let ring = Ring::of_up_servers(&servers, 1);
    let id = ChunkId(5);
    let holders = ring.place(id, 3);
    let stray = (1..=4)
        .map(NodeId)
        .find(|n| !holders.contains(n))
        .expect("a fourth server");
    let s = Snapshot {
        replication: 3,
        vnodes_per_weight: 1,
        servers,
        chunks: vec![LiveChunk {
            id,
            hash: [5; 32],
            len: 100,
            servers: holders,
        }],
        strays: HashMap::from([(id, vec![stray])]),
        ..Snapshot::default()
    };
    (s, stray)
}

#[test]
fn a_stray_copy_is_recorded_then_the_ring_keeps_its_three() {
    let (mut s, stray) = one_stray();
    let (tasks, _) = plan(&s);
    assert_eq!(tasks.len(), 1, "only the adoption this round: {tasks:?}");
    let Task::Adopt {
        chunk,
        hash,
        source,
        target,
    } = &tasks[0]
    else {
        panic!("expected an adoption: {tasks:?}");
    };
    assert_eq!((*chunk, *hash, target.id), (ChunkId(5), [5; 32], stray));
    assert!(
        s.chunks[0].servers.contains(&source.id),
        "read from a holder"
    );

    // Carried out: the copy is listed and the leader forgets the report.
    s.chunks[0].servers.push(stray);
    s.strays.clear();
    let (tasks, _) = plan(&s);
    let [Task::RemoveSurplus { surplus, keep, .. }] = tasks.as_slice() else {
        panic!("expected one surplus removal: {tasks:?}");
    };
    assert_eq!(surplus.id, stray, "the copy off the ring goes");
    assert_eq!(keep.len(), 3);
}

#[test]
fn strays_that_are_listed_down_or_of_under_replicated_chunks_wait() {
    let (mut s, stray) = one_stray();
    let holders = s.chunks[0].servers.clone();

    // Listed already (recorded by a copy since): nothing to adopt.
    s.strays = HashMap::from([(ChunkId(5), vec![holders[0]])]);
    assert!(plan(&s).0.is_empty());

    // On a server that is not up: waits.
    s.strays = HashMap::from([(ChunkId(5), vec![stray])]);
    s.servers[(stray.0 - 1) as usize].state = ServerState::Suspect;
    assert!(plan(&s).0.is_empty());
    s.servers[(stray.0 - 1) as usize].state = ServerState::Up;

    // A holder is down: repair comes first, the stray waits for a later round.
    s.servers[(holders[0].0 - 1) as usize].state = ServerState::Down;
    let (tasks, _) = plan(&s);
    assert!(!tasks.is_empty());
    assert!(
        tasks.iter().all(|t| matches!(t, Task::Copy { .. })),
        "{tasks:?}"
    );

    // A chunk no file references any more: never adopted.
    s.servers[(holders[0].0 - 1) as usize].state = ServerState::Up;
    s.strays = HashMap::from([(ChunkId(6), nodes(&[1, 2, 3, 4]))]);
    assert!(plan(&s).0.is_empty());
}
