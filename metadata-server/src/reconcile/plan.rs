//! The reconciliation planner: a pure function from what the leader knows (servers with
//! their liveness, live chunks with their copies, the garbage list) to the tasks that bring
//! actual placement back to the target. No IO; tested by what it emits.

use crate::namespace::LiveChunk;
use ferrofs_proto::ids::{ChunkId, NodeId};
use ferrofs_proto::meta_msg::{DataServerInfo, ServerState};
use ferrofs_proto::ring::Ring;
use std::collections::{HashMap, HashSet};

/// A garbage chunk and whether its grace period has passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GarbageChunk {
    pub id: ChunkId,
    /// Servers that may still hold a copy.
    pub servers: Vec<NodeId>,
    /// Seen on the garbage list for at least the grace period.
    pub ripe: bool,
}

/// Everything the planner looks at.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub replication: usize,
    pub vnodes_per_weight: u32,
    /// Registered data servers with their liveness state.
    pub servers: Vec<DataServerInfo>,
    pub chunks: Vec<LiveChunk>,
    pub garbage: Vec<GarbageChunk>,
    /// Chunks with a task still running: planned again only once it ends.
    pub busy: HashSet<ChunkId>,
    /// Servers reported to hold unlisted (stray) copies, by chunk.
    pub strays: HashMap<ChunkId, Vec<NodeId>>,
}

/// A data server as a task addresses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub id: NodeId,
    pub addr: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Task {
    /// Ask `target` to copy the chunk from `source`, then record the new copy.
    Copy {
        chunk: ChunkId,
        hash: [u8; 32],
        len: u64,
        source: Peer,
        target: Peer,
        /// Copies on up servers when planned (the priority: fewest first).
        live: u32,
    },
    /// Strike removed servers from the chunk's record: its location, or with `garbage`
    /// its garbage entry. A removed server never comes back under its id, so no copy
    /// there can be read or deleted, and its entries would otherwise stay for ever.
    Forget {
        chunk: ChunkId,
        servers: Vec<NodeId>,
        garbage: bool,
    },
    /// Verify that every server in `keep` holds the chunk, then drop `surplus`'s copy
    /// (location first, through Raft, then DeleteChunk).
    RemoveSurplus {
        chunk: ChunkId,
        surplus: Peer,
        keep: Vec<Peer>,
    },
    /// Delete an unreferenced chunk on every server that may hold it.
    Collect { chunk: ChunkId, servers: Vec<Peer> },
    /// A stray copy: `target` holds the chunk but is not listed. Ask it to copy the
    /// chunk from `source` (which it answers at once when its copy matches `hash`) and
    /// record it; a later round's surplus removal then drops the copy the ring wants
    /// least, through the verified path.
    Adopt {
        chunk: ChunkId,
        hash: [u8; 32],
        source: Peer,
        target: Peer,
    },
    /// Rebalance: a chunk with enough copies is not on its ring target set. Ask `target`
    /// (a target server without a copy) to copy it from `source` and record the new copy;
    /// a later round's surplus removal then drops the copy the ring no longer wants.
    Move {
        chunk: ChunkId,
        hash: [u8; 32],
        len: u64,
        source: Peer,
        target: Peer,
    },
}

impl Task {
    pub fn chunk(&self) -> ChunkId {
        match self {
            Task::Copy { chunk, .. }
            | Task::RemoveSurplus { chunk, .. }
            | Task::Collect { chunk, .. }
            | Task::Move { chunk, .. }
            | Task::Adopt { chunk, .. }
            | Task::Forget { chunk, .. } => *chunk,
        }
    }
}

/// A copy on a server in this state still counts (only Down and Removed lose copies).
fn holds_live_copy(state: ServerState) -> bool {
    !matches!(state, ServerState::Down | ServerState::Removed)
}

/// What the planner found besides the tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanSummary {
    /// Live chunks with fewer live copies than the replication factor.
    pub under_replicated: u64,
    /// Live chunks without any live copy (nothing to copy from).
    pub unrecoverable: u64,
    /// Bytes of the copies under-replicated chunks lack.
    pub under_replicated_bytes: u64,
    /// Garbage chunks waiting (ripe or not).
    pub garbage_pending: u64,
    /// Live chunks with enough copies that are not all on their ring target set.
    pub misplaced: u64,
    /// Bytes still to copy onto target servers for those chunks.
    pub misplaced_bytes: u64,
}

/// A holder in this state answers: it may give up its copy once the others are
/// verified, and it deletes its garbage.
fn may_drop_copy(state: ServerState) -> bool {
    matches!(state, ServerState::Up | ServerState::Draining)
}

/// The removed servers among `servers`: a `Forget` task for them, if any.
fn forget_removed(
    chunk: ChunkId,
    servers: &[NodeId],
    garbage: bool,
    state: &impl Fn(NodeId) -> ServerState,
) -> Option<Task> {
    let removed: Vec<NodeId> = servers
        .iter()
        .copied()
        .filter(|n| state(*n) == ServerState::Removed)
        .collect();
    (!removed.is_empty()).then_some(Task::Forget {
        chunk,
        servers: removed,
        garbage,
    })
}

/// The tasks to run now: copies first, fewest live copies first; then striking removed
/// servers from records; then adoptions of stray copies; then surplus removals; then
/// rebalance moves; then garbage collection. Chunks in `busy` are skipped (but counted). Targets come from the ring over the eligible servers: up, weight > 0 (a
/// draining server takes nothing and its copies count as misplaced).
pub fn plan(s: &Snapshot) -> (Vec<Task>, PlanSummary) {
    let by_id: HashMap<NodeId, &DataServerInfo> = s.servers.iter().map(|d| (d.id, d)).collect();
    let peer = |id: NodeId| {
        by_id.get(&id).map(|d| Peer {
            id,
            addr: d.addr.clone(),
        })
    };
    let state = |id: NodeId| by_id.get(&id).map_or(ServerState::Down, |d| d.state);
    let ring = Ring::of_up_servers(&s.servers, s.vnodes_per_weight);
    let mut summary = PlanSummary::default();
    let mut copies: Vec<Task> = Vec::new();
    let mut surplus: Vec<Task> = Vec::new();
    let mut moves: Vec<Task> = Vec::new();
    let mut adoptions: Vec<Task> = Vec::new();
    let mut forgets: Vec<Task> = Vec::new();
    for c in &s.chunks {
        let live: Vec<NodeId> = c
            .servers
            .iter()
            .copied()
            .filter(|n| holds_live_copy(state(*n)))
            .collect();
        if live.len() < s.replication {
            summary.under_replicated += 1;
            summary.under_replicated_bytes += c.len * (s.replication - live.len()) as u64;
            if live.is_empty() {
                summary.unrecoverable += 1;
            }
        }
        let misplacement = (live.len() >= s.replication)
            .then(|| misplaced(&ring, c, s.replication))
            .filter(|missing| !missing.is_empty());
        if let Some(missing) = &misplacement {
            summary.misplaced += 1;
            summary.misplaced_bytes += c.len * missing.len() as u64;
        }
        if s.busy.contains(&c.id) {
            continue;
        }
        if let Some(forget) = forget_removed(c.id, &c.servers, false, &state) {
            forgets.push(forget);
            continue;
        }
        // A fully replicated chunk with stray copies: record them first; surplus removal
        // and moves see the recorded copies next round.
        if live.len() >= s.replication {
            let planned = adoptions.len();
            adoptions.extend(adopt(s, c, &live, &state, &peer));
            if adoptions.len() > planned {
                continue;
            }
        }
        if live.len() < s.replication {
            let Some(source) = up_holder(&live, &state, &peer) else {
                continue;
            };
            let wanted = s.replication - live.len();
            // Priority: copies on servers that are up. A suspect server's copy is not lost
            // yet, but it may be soon; counting only up servers keeps the most endangered
            // chunks first even while a second failing server is still suspect.
            let up_copies = live
                .iter()
                .filter(|n| state(**n) == ServerState::Up)
                .count();
            let targets = ring
                .place(c.id, ring.members().len())
                .into_iter()
                .filter(|n| !c.servers.contains(n))
                .take(wanted);
            for t in targets.filter_map(peer) {
                copies.push(Task::Copy {
                    chunk: c.id,
                    hash: c.hash,
                    len: c.len,
                    source: source.clone(),
                    target: t,
                    live: u32::try_from(up_copies).unwrap_or(u32::MAX),
                });
            }
        } else if live.len() > s.replication && live.iter().all(|n| may_drop_copy(state(*n))) {
            // Keep the copies the ring prefers; drop the least preferred one (a draining
            // server is not in the ring: its copy goes first).
            let order = ring.place(c.id, ring.members().len());
            let rank = |n: &NodeId| order.iter().position(|o| o == n).unwrap_or(usize::MAX);
            let mut ranked = live.clone();
            ranked.sort_by_key(rank);
            if let Some(drop) = ranked.pop().and_then(peer) {
                surplus.push(Task::RemoveSurplus {
                    chunk: c.id,
                    surplus: drop,
                    keep: ranked.into_iter().filter_map(peer).collect(),
                });
            }
        } else if let Some(missing) = misplacement {
            // Exactly the replication factor: move only while every holder answers
            // (a suspect holder may be about to come back or go down: wait and see).
            if !live.iter().all(|n| may_drop_copy(state(*n))) {
                continue;
            }
            let target_set = ring.place(c.id, s.replication);
            // Read from the copy that will be dropped: it leaves the target servers' load
            // alone. Fall back to any up holder.
            let source = live
                .iter()
                .copied()
                .find(|n| !target_set.contains(n))
                .or_else(|| live.iter().copied().find(|n| state(*n) == ServerState::Up))
                .and_then(peer);
            if let (Some(source), Some(target)) = (source, missing.first().copied().and_then(peer))
            {
                moves.push(Task::Move {
                    chunk: c.id,
                    hash: c.hash,
                    len: c.len,
                    source,
                    target,
                });
            }
        }
    }
    copies.sort_by_key(|t| match t {
        Task::Copy { live, chunk, .. } => (*live, *chunk),
        other => (u32::MAX, other.chunk()),
    });
    let mut tasks = copies;
    tasks.extend(forgets);
    tasks.extend(adoptions);
    tasks.extend(surplus);
    tasks.extend(moves);
    for g in &s.garbage {
        summary.garbage_pending += 1;
        if s.busy.contains(&g.id) {
            continue;
        }
        if let Some(forget) = forget_removed(g.id, &g.servers, true, &state) {
            tasks.push(forget);
            continue;
        }
        // Servers that do not answer keep their entry until they are back.
        let servers: Vec<Peer> = g
            .servers
            .iter()
            .copied()
            .filter(|n| may_drop_copy(state(*n)))
            .filter_map(peer)
            .collect();
        if !g.ripe || servers.is_empty() {
            continue;
        }
        tasks.push(Task::Collect {
            chunk: g.id,
            servers,
        });
    }
    (tasks, summary)
}

/// The first holder that is up: where copies are read from.
fn up_holder(
    live: &[NodeId],
    state: &impl Fn(NodeId) -> ServerState,
    peer: &impl Fn(NodeId) -> Option<Peer>,
) -> Option<Peer> {
    live.iter()
        .copied()
        .find(|n| state(*n) == ServerState::Up)
        .and_then(peer)
}

/// Adoptions of `c`'s stray copies on up servers, read from an up holder.
fn adopt(
    s: &Snapshot,
    c: &LiveChunk,
    live: &[NodeId],
    state: &impl Fn(NodeId) -> ServerState,
    peer: &impl Fn(NodeId) -> Option<Peer>,
) -> Vec<Task> {
    let Some(strays) = s.strays.get(&c.id) else {
        return Vec::new();
    };
    let Some(source) = up_holder(live, state, peer) else {
        return Vec::new();
    };
    strays
        .iter()
        .copied()
        .filter(|n| !c.servers.contains(n) && state(*n) == ServerState::Up)
        .filter_map(peer)
        .map(|target| Task::Adopt {
            chunk: c.id,
            hash: c.hash,
            source: source.clone(),
            target,
        })
        .collect()
}

/// The ring's target servers for `c` that hold no copy (empty: well placed).
fn misplaced(ring: &Ring, c: &LiveChunk, replication: usize) -> Vec<NodeId> {
    ring.place(c.id, replication)
        .into_iter()
        .filter(|n| !c.servers.contains(n))
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::reconcile) fn server(id: u64, state: ServerState) -> DataServerInfo {
        DataServerInfo {
            id: NodeId(id),
            addr: format!("127.0.0.1:{}", 7000 + id),
            zone: String::new(),
            weight: 1,
            capacity: 1 << 30,
            used: 0,
            chunks: 0,
            state,
        }
    }

    fn chunk(id: u128, servers: &[u64]) -> LiveChunk {
        LiveChunk {
            id: ChunkId(id),
            hash: [id as u8; 32],
            len: 100,
            servers: servers.iter().map(|s| NodeId(*s)).collect(),
        }
    }

    fn snapshot(servers: Vec<DataServerInfo>, chunks: Vec<LiveChunk>) -> Snapshot {
        Snapshot {
            replication: 3,
            vnodes_per_weight: 1,
            servers,
            chunks,
            ..Snapshot::default()
        }
    }

    fn copies(tasks: &[Task]) -> Vec<(ChunkId, NodeId, NodeId, u32)> {
        tasks
            .iter()
            .filter_map(|t| match t {
                Task::Copy {
                    chunk,
                    source,
                    target,
                    live,
                    ..
                } => Some((*chunk, source.id, target.id, *live)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_healthy_cluster_needs_nothing() {
        let s = snapshot(
            (1..=3).map(|i| server(i, ServerState::Up)).collect(),
            vec![chunk(1, &[1, 2, 3]), chunk(2, &[1, 2, 3])],
        );
        let (tasks, summary) = plan(&s);
        assert!(tasks.is_empty(), "{tasks:?}");
        assert_eq!(summary, PlanSummary::default());
    }

    #[test]
    fn copies_of_a_down_server_go_to_up_servers_that_lack_them() {
        let mut servers: Vec<_> = (1..=4).map(|i| server(i, ServerState::Up)).collect();
        servers[0].state = ServerState::Down;
        let s = snapshot(servers, vec![chunk(1, &[1, 2, 3]), chunk(2, &[2, 3, 4])]);
        let (tasks, summary) = plan(&s);
        let c = copies(&tasks);
        assert_eq!(c.len(), 1, "{tasks:?}");
        let (id, source, target, live) = c[0];
        assert_eq!((id, target, live), (ChunkId(1), NodeId(4), 2));
        assert!([NodeId(2), NodeId(3)].contains(&source));
        assert_eq!(summary.under_replicated, 1);
        assert_eq!(
            summary.under_replicated_bytes, 100,
            "one missing copy of 100 bytes"
        );
    }

    #[test]
    fn suspect_copies_are_not_lost_and_suspects_take_nothing() {
        let mut servers: Vec<_> = (1..=5).map(|i| server(i, ServerState::Up)).collect();
        servers[0].state = ServerState::Suspect;
        servers[4].state = ServerState::Suspect;
        let s = snapshot(servers, vec![chunk(1, &[1, 2, 3]), chunk(2, &[2, 3])]);
        let (tasks, _) = plan(&s);
        let c = copies(&tasks);
        assert_eq!(c.len(), 1, "{tasks:?}");
        assert_eq!((c[0].0, c[0].2), (ChunkId(2), NodeId(4)), "only Up targets");
    }

    #[test]
    fn fewest_live_copies_are_repaired_first() {
        let mut servers: Vec<_> = (1..=5).map(|i| server(i, ServerState::Up)).collect();
        servers[0].state = ServerState::Down;
        servers[1].state = ServerState::Down;
        let chunks = vec![
            chunk(1, &[1, 3, 4]),
            chunk(2, &[1, 2, 5]),
            chunk(3, &[2, 4, 5]),
            chunk(4, &[1, 2, 3]),
        ];
        let (tasks, summary) = plan(&snapshot(servers, chunks));
        let lives: Vec<u32> = copies(&tasks).iter().map(|c| c.3).collect();
        assert_eq!(lives, vec![1, 1, 1, 1, 2, 2], "{tasks:?}");
        assert_eq!(copies(&tasks)[0].0, ChunkId(2));
        assert_eq!(summary.under_replicated, 4);
        for (_, source, target, _) in copies(&tasks) {
            assert!(source.0 >= 3 && target.0 >= 3, "{source} -> {target}");
            assert_ne!(source, target);
        }
    }

    #[test]
    fn a_suspect_copy_lowers_the_priority_but_is_not_replaced_yet() {
        let mut servers: Vec<_> = (1..=5).map(|i| server(i, ServerState::Up)).collect();
        servers[0].state = ServerState::Down;
        servers[1].state = ServerState::Suspect;
        let chunks = vec![chunk(1, &[1, 3, 4]), chunk(2, &[1, 2, 5])];
        let c = copies(&plan(&snapshot(servers, chunks)).0);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(
            (c[0].0, c[0].3),
            (ChunkId(2), 1),
            "one copy on an up server: first"
        );
        assert_eq!((c[1].0, c[1].3), (ChunkId(1), 2));
    }

    #[test]
    fn a_chunk_without_live_copies_is_reported_not_planned() {
        let mut servers: Vec<_> = (1..=4).map(|i| server(i, ServerState::Up)).collect();
        servers[0].state = ServerState::Down;
        let (tasks, summary) = plan(&snapshot(servers, vec![chunk(9, &[1])]));
        assert!(tasks.is_empty());
        assert_eq!(summary.unrecoverable, 1);
    }

    #[test]
    fn busy_chunks_are_skipped() {
        let mut servers: Vec<_> = (1..=4).map(|i| server(i, ServerState::Up)).collect();
        servers[0].state = ServerState::Down;
        let mut s = snapshot(servers, vec![chunk(1, &[1, 2, 3])]);
        s.busy.insert(ChunkId(1));
        assert!(plan(&s).0.is_empty());
    }

    #[test]
    fn a_returning_server_leaves_one_surplus_copy_to_remove_after_verifying_the_rest() {
        let servers: Vec<_> = (1..=4).map(|i| server(i, ServerState::Up)).collect();
        let (tasks, _) = plan(&snapshot(servers, vec![chunk(1, &[1, 2, 3, 4])]));
        assert_eq!(tasks.len(), 1);
        let Task::RemoveSurplus { surplus, keep, .. } = &tasks[0] else {
            panic!("{tasks:?}");
        };
        assert_eq!(keep.len(), 3);
        assert!(!keep.contains(surplus));
    }

    #[test]
    fn no_surplus_removal_while_a_holder_is_not_up() {
        let mut servers: Vec<_> = (1..=5).map(|i| server(i, ServerState::Up)).collect();
        servers[4].state = ServerState::Suspect;
        let (tasks, _) = plan(&snapshot(servers, vec![chunk(1, &[1, 2, 3, 5])]));
        assert!(tasks.is_empty(), "{tasks:?}");
    }

    #[test]
    fn only_ripe_garbage_is_collected() {
        let servers: Vec<_> = (1..=3).map(|i| server(i, ServerState::Up)).collect();
        let mut s = snapshot(servers, vec![]);
        s.garbage = vec![
            GarbageChunk {
                id: ChunkId(1),
                servers: vec![NodeId(1), NodeId(2)],
                ripe: true,
            },
            GarbageChunk {
                id: ChunkId(2),
                servers: vec![NodeId(3)],
                ripe: false,
            },
        ];
        let (tasks, summary) = plan(&s);
        assert_eq!(summary.garbage_pending, 2);
        assert_eq!(tasks.len(), 1);
        assert!(
            matches!(&tasks[0], Task::Collect { chunk, servers } if *chunk == ChunkId(1) && servers.len() == 2)
        );
    }

    #[test]
    fn garbage_on_a_draining_server_is_collected_and_a_down_one_waits() {
        let mut servers: Vec<_> = (1..=3).map(|i| server(i, ServerState::Up)).collect();
        servers[0].state = ServerState::Draining;
        servers[1].state = ServerState::Down;
        let mut s = snapshot(servers, vec![]);
        s.garbage = vec![GarbageChunk {
            id: ChunkId(1),
            servers: vec![NodeId(1), NodeId(2)],
            ripe: true,
        }];
        let (tasks, _) = plan(&s);
        let [Task::Collect { servers, .. }] = tasks.as_slice() else {
            panic!("{tasks:?}");
        };
        let ids: Vec<NodeId> = servers.iter().map(|p| p.id).collect();
        assert_eq!(ids, vec![NodeId(1)]);
    }

    #[test]
    fn removed_servers_are_struck_from_garbage_and_locations() {
        let mut servers: Vec<_> = (1..=5).map(|i| server(i, ServerState::Up)).collect();
        servers[3].state = ServerState::Removed;
        let mut s = snapshot(servers, vec![chunk(1, &[1, 2, 3, 4])]);
        s.garbage = vec![
            GarbageChunk {
                id: ChunkId(2),
                servers: vec![NodeId(4), NodeId(5)],
                ripe: false,
            },
            GarbageChunk {
                id: ChunkId(3),
                servers: vec![NodeId(4)],
                ripe: true,
            },
        ];
        let (tasks, summary) = plan(&s);
        assert_eq!(summary.garbage_pending, 2);
        let forgets: Vec<(ChunkId, Vec<NodeId>, bool)> = tasks
            .iter()
            .filter_map(|t| match t {
                Task::Forget {
                    chunk,
                    servers,
                    garbage,
                } => Some((*chunk, servers.clone(), *garbage)),
                _ => None,
            })
            .collect();
        assert_eq!(
            forgets,
            vec![
                (ChunkId(1), vec![NodeId(4)], false),
                (ChunkId(2), vec![NodeId(4)], true),
                (ChunkId(3), vec![NodeId(4)], true),
            ]
        );
        // One task per chunk a round: the rest of each chunk's work waits for the next.
        assert_eq!(tasks.len(), 3, "{tasks:?}");
    }
}
