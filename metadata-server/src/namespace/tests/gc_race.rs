//! Overwrites racing the garbage collector: the planner, fed from the namespace, never
//! plans the deletion of a chunk a file references, however the two interleave.

use super::fixture::*;
use crate::namespace::{garbage, live_chunks};
use crate::reconcile::plan::{plan, GarbageChunk, Snapshot, Task};
use ferrofs_proto::ids::{ChunkId, NodeId};
use ferrofs_proto::meta_msg::{DataServerInfo, MetaOp, ServerState};

fn servers() -> Vec<DataServerInfo> {
    (1..=3)
        .map(|i| DataServerInfo {
            id: NodeId(i),
            addr: format!("127.0.0.1:{}", 7000 + i),
            zone: String::new(),
            weight: 1,
            capacity: 1 << 30,
            used: 0,
            chunks: 0,
            state: ServerState::Up,
        })
        .collect()
}

/// A snapshot of `fs` in which every garbage chunk is past its grace period.
fn snapshot(fs: &Fs) -> Snapshot {
    Snapshot {
        replication: 3,
        vnodes_per_weight: 1,
        servers: servers(),
        chunks: live_chunks(&fs.store, 10_000).expect("live"),
        garbage: garbage(&fs.store, None, 10_000)
            .expect("garbage")
            .into_iter()
            .map(|(id, servers)| GarbageChunk {
                id,
                servers,
                ripe: true,
            })
            .collect(),
        busy: Default::default(),
        strays: Default::default(),
    }
}

fn collected(tasks: &[Task]) -> Vec<u128> {
    tasks
        .iter()
        .filter_map(|t| match t {
            Task::Collect { chunk, .. } => Some(chunk.0),
            _ => None,
        })
        .collect()
}

fn referenced(fs: &Fs, files: &[ferrofs_proto::ids::InodeId]) -> Vec<u128> {
    files
        .iter()
        .flat_map(|f| fs.chunks(*f))
        .map(|(_, id)| id)
        .collect()
}

#[test]
fn overwrites_interleaved_with_gc_never_collect_a_referenced_chunk() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    let g = fs.create(ROOT, "g");
    fs.commit(f, 0, 1, &[1, 2, 3], 100);
    fs.commit(g, 0, 50, &[1, 2, 3], 100);
    // Each round: plan from a snapshot, overwrite while the plan "runs", then apply the
    // planned collections; every planned chunk must be unreferenced both when planned
    // and when the deletion is committed.
    for round in 0..20u128 {
        let planned = collected(&plan(&snapshot(&fs)).0);
        let live_then = referenced(&fs, &[f, g]);
        for c in &planned {
            assert!(
                !live_then.contains(c),
                "round {round}: planned live chunk {c}"
            );
        }
        // The overwrite races the GC: chunk `1 + round` becomes garbage, a new one is live.
        fs.commit(f, 0, 2 + round, &[1, 2, 3], 100);
        let live_now = referenced(&fs, &[f, g]);
        for c in &planned {
            assert!(
                !live_now.contains(c),
                "round {round}: chunk {c} is live again"
            );
            for s in 1..=3 {
                fs.mutate(|kv| {
                    crate::namespace::garbage_deleted(kv, ChunkId(*c), NodeId(s)).map(drop)
                });
            }
        }
        assert!(referenced(&fs, &[f, g]).contains(&50), "g's chunk survives");
        assert_eq!(fs.chunks(f), vec![(0, 2 + round)]);
    }
    // Only the chunk the last overwrite dropped is left to collect.
    let planned = collected(&plan(&snapshot(&fs)).0);
    assert_eq!(planned, vec![20]);
    fs.apply(MetaOp::Unlink {
        parent: ROOT,
        name: b"g".to_vec(),
    });
    let mut planned = collected(&plan(&snapshot(&fs)).0);
    planned.sort();
    assert_eq!(planned, vec![20, 50]);
    fs.check();
}

#[test]
fn a_late_commit_of_a_chunk_the_gc_is_deleting_is_refused() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    fs.commit(f, 0, 1, &[1, 2, 3], 100);
    // An overwrite drops chunk 1; the GC plans it and deletes the copy on server 1.
    fs.commit(f, 0, 2, &[1, 2, 3], 100);
    assert_eq!(collected(&plan(&snapshot(&fs)).0), vec![1]);
    fs.mutate(|kv| crate::namespace::garbage_deleted(kv, ChunkId(1), NodeId(1)).map(drop));
    // A late commit of chunk 1 (into any file) must not make it live again.
    let g = fs.create(ROOT, "g");
    let late = MetaOp::CommitChunks {
        ino: g,
        chunks: vec![chunk_at(0, 1, &[1, 2, 3])],
        min_size: 100,
        mtime: ferrofs_proto::attr::Timestamp(7),
    };
    assert_eq!(
        fs.err(late.clone()),
        ferrofs_proto::FsError::ChunkCollected(ChunkId(1))
    );
    assert!(fs.chunks(g).is_empty(), "the refused commit changed g");
    assert!(crate::namespace::is_garbage(&fs.store, ChunkId(1)).expect("read"));
    // Once fully collected the record is gone; the GC plans nothing more for it.
    for s in 2..=3 {
        fs.mutate(|kv| crate::namespace::garbage_deleted(kv, ChunkId(1), NodeId(s)).map(drop));
    }
    assert!(collected(&plan(&snapshot(&fs)).0).is_empty());
    // Live chunks are still shared freely.
    fs.commit(g, 0, 2, &[1, 2, 3], 100);
    assert_eq!(fs.chunks(g), vec![(0, 2)]);
    fs.check();
}
