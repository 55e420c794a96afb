//! The planner's rebalancing, tested by what it emits: single rounds, and whole runs in
//! which a simulated cluster carries out every task until nothing is left to do.

use super::plan::{plan, Snapshot, Task};
use crate::namespace::LiveChunk;
use ferrofs_proto::ids::{ChunkId, NodeId};
use ferrofs_proto::meta_msg::{DataServerInfo, ServerState};
use ferrofs_proto::ring::Ring;
use std::collections::{BTreeMap, HashSet};

const R: usize = 3;

fn server(id: u64, weight: u32, state: ServerState) -> DataServerInfo {
    DataServerInfo {
        id: NodeId(id),
        addr: format!("127.0.0.1:{}", 7000 + id),
        zone: String::new(),
        weight,
        capacity: 1 << 30,
        used: 0,
        chunks: 0,
        state,
    }
}

fn up(ids: std::ops::RangeInclusive<u64>) -> Vec<DataServerInfo> {
    ids.map(|i| server(i, 1, ServerState::Up)).collect()
}

fn ring_of(servers: &[DataServerInfo]) -> Ring {
    Ring::of_up_servers(servers, 1)
}

/// `n` chunks placed where the ring over `servers` wants them.
fn placed(servers: &[DataServerInfo], n: u128) -> Vec<LiveChunk> {
    let ring = ring_of(servers);
    (0..n)
        .map(|i| {
            let id = ChunkId(i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835));
            let mut servers = ring.place(id, R);
            servers.sort();
            LiveChunk {
                id,
                hash: [0; 32],
                len: 1000,
                servers,
            }
        })
        .collect()
}

fn snapshot(servers: Vec<DataServerInfo>, chunks: Vec<LiveChunk>) -> Snapshot {
    Snapshot {
        replication: R,
        vnodes_per_weight: 1,
        servers,
        chunks,
        ..Snapshot::default()
    }
}

fn moves(tasks: &[Task]) -> Vec<(ChunkId, NodeId, NodeId)> {
    tasks
        .iter()
        .filter_map(|t| match t {
            Task::Move {
                chunk,
                source,
                target,
                ..
            } => Some((*chunk, source.id, target.id)),
            _ => None,
        })
        .collect()
}

/// What a run of the simulated cluster did.
#[derive(Debug, Default)]
struct Run {
    moves: u64,
    removals: u64,
    rounds: u64,
    /// The fewest copies any chunk had at any point.
    min_copies: usize,
    move_targets: HashSet<NodeId>,
}

/// Carry out every task of `rounds` rounds (or until nothing is planned): a move adds the
/// target's copy, a surplus removal drops one copy (checking the kept ones exist first).
fn simulate(s: &mut Snapshot, rounds: u64) -> Run {
    simulate_some(s, rounds, usize::MAX)
}

/// As `simulate`, carrying out at most `per_round` tasks of each round (the others are
/// planned again next round, as with the loop's limited slots).
fn simulate_some(s: &mut Snapshot, rounds: u64, per_round: usize) -> Run {
    let mut run = Run {
        min_copies: usize::MAX,
        ..Run::default()
    };
    for _ in 0..rounds {
        let (tasks, _) = plan(s);
        if tasks.is_empty() {
            break;
        }
        run.rounds += 1;
        for t in tasks.into_iter().take(per_round) {
            let c = s
                .chunks
                .iter_mut()
                .find(|c| c.id == t.chunk())
                .expect("planned chunk exists");
            match t {
                Task::Move { target, .. } => {
                    assert!(!c.servers.contains(&target.id), "moved onto a holder");
                    c.servers.push(target.id);
                    run.moves += 1;
                    run.move_targets.insert(target.id);
                }
                Task::RemoveSurplus { surplus, keep, .. } => {
                    for k in &keep {
                        assert!(c.servers.contains(&k.id), "kept copy must exist");
                    }
                    assert!(keep.len() >= R, "never below R verified copies");
                    c.servers.retain(|n| *n != surplus.id);
                    run.removals += 1;
                }
                other => panic!("unexpected task {other:?}"),
            }
            run.min_copies = run.min_copies.min(c.servers.len());
        }
    }
    run
}

fn assert_on_target(s: &Snapshot) {
    let ring = ring_of(&s.servers);
    for c in &s.chunks {
        let mut want = ring.place(c.id, R);
        want.sort();
        let mut have = c.servers.clone();
        have.sort();
        assert_eq!(have, want, "chunk {} not on its target set", c.id);
    }
    assert_eq!(plan(s).1.misplaced, 0);
}

fn per_server(s: &Snapshot) -> BTreeMap<NodeId, u64> {
    let mut out = BTreeMap::new();
    for n in s.chunks.iter().flat_map(|c| c.servers.iter()) {
        *out.entry(*n).or_default() += 1;
    }
    out
}

#[test]
fn a_well_placed_cluster_plans_no_moves() {
    let servers = up(1..=5);
    let chunks = placed(&servers, 500);
    let (tasks, summary) = plan(&snapshot(servers, chunks));
    assert!(tasks.is_empty(), "{tasks:?}");
    assert_eq!((summary.misplaced, summary.misplaced_bytes), (0, 0));
}

#[test]
fn adding_a_server_moves_about_a_quarter_and_only_onto_it() {
    let chunks = placed(&up(1..=3), 2000);
    let mut s = snapshot(up(1..=4), chunks);
    let (tasks, summary) = plan(&s);
    let m = moves(&tasks);
    assert!(
        m.iter().all(|(_, _, t)| *t == NodeId(4)),
        "only onto the new server"
    );
    assert_eq!(
        m.len() as u64,
        summary.misplaced,
        "one move per misplaced chunk"
    );
    assert_eq!(summary.misplaced_bytes, summary.misplaced * 1000);
    let ideal = (2000 * R) as f64 / 4.0;
    let run = simulate(&mut s, 10);
    assert!(
        (run.moves as f64) <= ideal * 1.25,
        "moved {} copies, ideal {ideal}",
        run.moves
    );
    assert!((run.moves as f64) >= ideal * 0.8, "moved {}", run.moves);
    assert_eq!(run.move_targets, HashSet::from([NodeId(4)]));
    assert_eq!(run.removals, run.moves, "each move drops one old copy");
    assert!(run.min_copies >= R);
    assert_on_target(&s);
    for (server, n) in per_server(&s) {
        let share = 2000.0 * R as f64 / 4.0;
        assert!(
            (n as f64 - share).abs() < share * 0.1,
            "server {server} holds {n}, share {share}"
        );
    }
}

#[test]
fn a_draining_server_loses_every_copy_without_going_below_r() {
    let chunks = placed(&up(1..=4), 600);
    let mut servers = up(1..=4);
    servers[1].state = ServerState::Draining;
    let on_2 = chunks
        .iter()
        .filter(|c| c.servers.contains(&NodeId(2)))
        .count() as u64;
    let mut s = snapshot(servers, chunks);
    let (tasks, summary) = plan(&s);
    assert_eq!(summary.misplaced, on_2);
    assert!(
        moves(&tasks)
            .iter()
            .all(|(_, src, t)| *src == NodeId(2) && *t != NodeId(2)),
        "read from the draining server, never onto it"
    );
    let run = simulate(&mut s, 10);
    assert_eq!(run.moves, on_2);
    assert!(run.min_copies >= R);
    assert!(s.chunks.iter().all(|c| !c.servers.contains(&NodeId(2))));
    assert_on_target(&s);
}

#[test]
fn weights_are_respected() {
    // With replication 1 a weight-2 server takes twice a weight-1 server's chunks.
    let mut servers = up(1..=3);
    servers[2].weight = 2;
    let ring = ring_of(&servers);
    let mut count: BTreeMap<NodeId, u64> = BTreeMap::new();
    let chunks = placed(&up(1..=3), 6000);
    for c in &chunks {
        *count.entry(ring.place(c.id, 1)[0]).or_default() += 1;
    }
    let ratio = count[&NodeId(3)] as f64 / count[&NodeId(1)] as f64;
    assert!((1.85..2.15).contains(&ratio), "ratio {ratio}");
    // Raising a weight moves copies onto that server only.
    let mut s = snapshot(servers, placed(&up(1..=3), 10));
    s.servers.push(server(4, 3, ServerState::Up));
    s.chunks = placed(&up(1..=4), 1000);
    s.servers[3].weight = 3;
    let (tasks, _) = plan(&s);
    assert!(moves(&tasks)
        .iter()
        .all(|(_, _, t)| *t == NodeId(3) || *t == NodeId(4)));
    simulate(&mut s, 10);
    assert_on_target(&s);
    let held = per_server(&s);
    assert!(held[&NodeId(4)] > held[&NodeId(1)], "{held:?}");
}

#[test]
fn a_weight_of_zero_empties_a_server_like_a_drain() {
    let mut servers = up(1..=4);
    servers[0].weight = 0;
    let mut s = snapshot(servers, placed(&up(1..=4), 300));
    let run = simulate(&mut s, 10);
    assert!(run.moves > 0);
    assert!(run.min_copies >= R);
    assert!(s.chunks.iter().all(|c| !c.servers.contains(&NodeId(1))));
}

#[test]
fn changing_the_ring_twice_mid_rebalance_still_converges() {
    let mut s = snapshot(up(1..=4), placed(&up(1..=3), 1500));
    // Half-way through the first change: a fifth server joins, then server 2 gets weight 3.
    let first = simulate_some(&mut s, 3, 300);
    assert!(first.moves > 0 && plan(&s).1.misplaced > 0, "still moving");
    s.servers.push(server(5, 1, ServerState::Up));
    simulate_some(&mut s, 3, 300);
    assert!(plan(&s).1.misplaced > 0, "still moving");
    s.servers[1].weight = 3;
    let run = simulate(&mut s, 20);
    assert!(run.min_copies >= R);
    assert_on_target(&s);
    assert!(plan(&s).0.is_empty(), "nothing left to do");
}

#[test]
fn repairs_come_before_moves_and_suspect_holders_wait() {
    let mut servers = up(1..=5);
    servers[4].state = ServerState::Suspect;
    let mut chunks = placed(&up(1..=4), 50);
    // One chunk lost a copy (server 9 is gone), one has a copy on the suspect server.
    chunks[0].servers = vec![NodeId(1), NodeId(9)];
    let ring4 = ring_of(&up(1..=4));
    let c1 = ring4.place(chunks[1].id, R);
    chunks[1].servers = vec![c1[0], c1[1], NodeId(5)];
    let (tasks, summary) = plan(&snapshot(servers, chunks));
    assert!(
        matches!(tasks.first(), Some(Task::Copy { .. })),
        "{tasks:?}"
    );
    let first_move = tasks.iter().position(|t| matches!(t, Task::Move { .. }));
    let last_copy = tasks.iter().rposition(|t| matches!(t, Task::Copy { .. }));
    if let (Some(m), Some(c)) = (first_move, last_copy) {
        assert!(c < m, "copies before moves");
    }
    assert!(summary.misplaced >= 1, "the suspect holder's chunk counts");
    assert!(
        moves(&tasks).is_empty(),
        "no move while a holder is suspect: {tasks:?}"
    );
}
