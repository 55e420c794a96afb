//! Orphans: a data server's chunks that no file references are found by a read, marked
//! by `ReportOrphans`, put on the garbage list, and never committed afterwards.

use super::fixture::*;
use crate::namespace::{expire_orphan_marks, garbage, garbage_deleted, old_orphan_marks};
use ferrofs_proto::attr::Timestamp;
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::{ChunkId, NodeId};
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse, MAX_ORPHAN_BATCH};

fn ids(raw: &[u128]) -> Vec<ChunkId> {
    raw.iter().map(|&i| ChunkId(i)).collect()
}

fn unreferenced(fs: &Fs, raw: &[u128]) -> MetaResponse {
    fs.query(MetaRequest::UnreferencedChunks { chunks: ids(raw) })
}

fn report(fs: &mut Fs, server: u64, raw: &[u128]) -> MetaResponse {
    fs.apply(MetaOp::ReportOrphans {
        server: NodeId(server),
        chunks: ids(raw),
    })
}

fn garbage_servers(fs: &Fs, id: u128) -> Vec<u64> {
    garbage(&fs.store, None, 1000)
        .expect("garbage")
        .into_iter()
        .find(|(c, _)| c.0 == id)
        .map(|(_, s)| s.into_iter().map(|n| n.0).collect())
        .unwrap_or_default()
}

#[test]
fn only_chunks_without_a_file_are_unreferenced() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    fs.commit(f, 0, 1, &[1, 2], 100);
    fs.commit(f, 1, 2, &[1, 2], 200);
    // 2 is dropped by a rewrite of index 1; 3 was never committed.
    fs.commit(f, 1, 4, &[1], 200);
    assert_eq!(
        unreferenced(&fs, &[1, 2, 3, 4]),
        MetaResponse::ChunkIds(ids(&[2, 3]))
    );
}

#[test]
fn stray_copies_are_referenced_chunks_on_servers_not_listed() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    fs.commit(f, 0, 1, &[1, 2], 100);
    fs.commit(f, 1, 2, &[2, 3], 200);
    let strays = |fs: &Fs, server: u64| {
        fs.query(MetaRequest::StrayChunks {
            server: NodeId(server),
            chunks: ids(&[1, 2, 7]),
        })
    };
    // Chunk 7 is unreferenced: an orphan, never a stray.
    assert_eq!(strays(&fs, 1), MetaResponse::ChunkIds(ids(&[2])));
    assert_eq!(strays(&fs, 2), MetaResponse::ChunkIds(vec![]));
    assert_eq!(strays(&fs, 4), MetaResponse::ChunkIds(ids(&[1, 2])));
    let too_many = MetaRequest::StrayChunks {
        server: NodeId(1),
        chunks: (0..=MAX_ORPHAN_BATCH as u128).map(ChunkId).collect(),
    };
    assert!(matches!(
        fs.query(too_many),
        MetaResponse::Error(FsError::Invalid(_))
    ));
}

#[test]
fn a_reported_orphan_goes_to_the_gc_and_is_never_committed_after() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    fs.commit(f, 0, 1, &[1, 2], 100);
    // Chunk 1 is referenced: left alone, although reported.
    assert_eq!(
        report(&mut fs, 2, &[1, 9]),
        MetaResponse::ChunkIds(ids(&[9]))
    );
    assert_eq!(garbage_servers(&fs, 9), vec![2]);
    assert!(garbage_servers(&fs, 1).is_empty());
    // Another holder of 9 reports it too: added to the same garbage record.
    assert_eq!(report(&mut fs, 3, &[9]), MetaResponse::ChunkIds(ids(&[9])));
    assert_eq!(garbage_servers(&fs, 9), vec![2, 3]);
    // The GC deletes both copies; the garbage record goes, the mark stays.
    fs.mutate(|o| garbage_deleted(o, ChunkId(9), NodeId(2)))
        .expect("ok");
    fs.mutate(|o| garbage_deleted(o, ChunkId(9), NodeId(3)))
        .expect("ok");
    assert!(fs.garbage().is_empty());
    // The writer that uploaded 9 commits it only now: refused, nothing written.
    let late = MetaOp::CommitChunks {
        ino: f,
        chunks: vec![chunk_at(1, 9, &[2, 3])],
        min_size: 200,
        mtime: Timestamp(8),
    };
    assert_eq!(fs.err(late), FsError::ChunkCollected(ChunkId(9)));
    let late_patch = MetaOp::CommitPatch {
        ino: f,
        base: ChunkId(1),
        chunk: chunk_at(0, 9, &[1, 2]),
        mtime: Timestamp(8),
    };
    assert_eq!(fs.err(late_patch), FsError::ChunkCollected(ChunkId(9)));
    assert_eq!(fs.chunks(f), vec![(0, 1)]);
    fs.check();
}

#[test]
fn a_chunk_committed_before_the_report_is_kept() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    // Seen unreferenced by the sweep's read, then committed before the report.
    assert_eq!(unreferenced(&fs, &[5]), MetaResponse::ChunkIds(ids(&[5])));
    fs.commit(f, 0, 5, &[1], 100);
    assert_eq!(report(&mut fs, 1, &[5]), MetaResponse::ChunkIds(vec![]));
    assert!(fs.garbage().is_empty());
    assert_eq!(fs.chunks(f), vec![(0, 5)]);
    fs.check();
}

#[test]
fn an_oversized_batch_is_refused_and_changes_nothing() {
    let mut fs = Fs::new();
    let many: Vec<u128> = (1..=MAX_ORPHAN_BATCH as u128 + 1).collect();
    assert!(matches!(
        unreferenced(&fs, &many),
        MetaResponse::Error(FsError::Invalid(_))
    ));
    assert!(matches!(
        report(&mut fs, 1, &many),
        MetaResponse::Error(FsError::Invalid(_))
    ));
    assert!(fs.garbage().is_empty());
}

#[test]
fn marks_older_than_the_cutoff_are_listed_a_page_at_a_time_and_dropped() {
    let mut fs = Fs::new();
    report(&mut fs, 1, &[5, 6, 7]);
    let cutoff = Timestamp(fs.now().0 + 1);
    report(&mut fs, 1, &[8]); // made after the cutoff: young
    let old = |fs: &Fs, after: Option<u128>, max: usize| {
        let (ids, next) =
            old_orphan_marks(&fs.store, after.map(ChunkId), cutoff, max).expect("scan");
        (
            ids.into_iter().map(|c| c.0).collect::<Vec<_>>(),
            next.map(|c| c.0),
        )
    };
    assert_eq!(old(&fs, None, 10), (vec![5, 6, 7], None));
    assert_eq!(old(&fs, None, 2), (vec![5, 6], Some(6)));
    assert_eq!(old(&fs, Some(6), 2), (vec![7], None));

    // The leader listed 5 and 8 (8 only by mistake): only the old mark goes.
    let now = fs.now();
    let dropped = fs.mutate(|o| expire_orphan_marks(o, now, &ids(&[5, 8]), cutoff));
    assert_eq!(dropped, Ok(1));
    assert_eq!(old(&fs, None, 10), (vec![6, 7], None));
    // Marks 6, 7 and 8 still refuse a late commit; 5's may commit again after a week.
    let f = fs.create(ROOT, "f");
    let late = |chunk| MetaOp::CommitChunks {
        ino: f,
        chunks: vec![chunk_at(0, chunk, &[1, 2])],
        min_size: 100,
        mtime: Timestamp(9),
    };
    assert_eq!(fs.err(late(8)), FsError::ChunkCollected(ChunkId(8)));
    assert_eq!(fs.err(late(6)), FsError::ChunkCollected(ChunkId(6)));
}
