use super::fixture::*;
use crate::namespace::{
    add_replica, chunk_locations, configure, garbage, garbage_deleted, live_chunks, remove_replica,
    MAX_GET_CHUNKS,
};
use ferrofs_proto::attr::{FileKind, Timestamp};
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::{ChunkId, InodeId, NodeId};
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse};

fn get_chunks(fs: &Fs, ino: InodeId, first_index: u64, count: u64) -> MetaResponse {
    fs.query(MetaRequest::GetChunks {
        ino,
        first_index,
        count,
    })
}

fn servers_of(fs: &Fs, id: u128) -> Vec<u64> {
    chunk_locations(&fs.store, None, 1000)
        .expect("locations")
        .into_iter()
        .find(|(c, _)| c.0 == id)
        .map(|(_, s)| s.into_iter().map(|n| n.0).collect())
        .unwrap_or_default()
}

#[test]
fn commit_and_get_chunks() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    let a = fs.ok_attr(MetaOp::CommitChunks {
        ino: f,
        chunks: vec![chunk_at(0, 1, &[3, 1]), chunk_at(2, 2, &[2, 2, 4])],
        min_size: 250,
        mtime: Timestamp(77),
    });
    assert_eq!((a.size, a.mtime, a.ctime), (250, Timestamp(77), fs.now()));
    match get_chunks(&fs, f, 0, 10) {
        MetaResponse::Chunks { chunks, size } => {
            assert_eq!(size, 250);
            assert_eq!(chunks.len(), 2, "the hole at index 1 is absent");
            assert_eq!(chunks[0], chunk_at(0, 1, &[1, 3]), "servers sorted");
            assert_eq!(chunks[1], chunk_at(2, 2, &[2, 4]), "servers deduplicated");
        }
        other => panic!("{other:?}"),
    }
    // A range.
    match get_chunks(&fs, f, 1, 1) {
        MetaResponse::Chunks { chunks, .. } => assert!(chunks.is_empty()),
        other => panic!("{other:?}"),
    }
    match get_chunks(&fs, f, 2, 1) {
        MetaResponse::Chunks { chunks, .. } => assert_eq!(chunks.len(), 1),
        other => panic!("{other:?}"),
    }
    // min_size never shrinks a file.
    let a = fs.commit(f, 1, 3, &[1, 2], 10);
    assert_eq!(a.size, 250);
    let c = fs.counts();
    assert_eq!((c.chunks, c.logical_bytes), (3, 250));
    fs.check();
}

#[test]
fn overwriting_a_chunk_makes_the_old_one_garbage() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    fs.commit(f, 0, 10, &[1, 2], 100);
    fs.commit(f, 0, 11, &[3, 4], 100);
    assert_eq!(fs.chunks(f), vec![(0, 11)]);
    assert_eq!(fs.garbage(), vec![10]);
    // Committing the same chunk again only adds locations.
    fs.commit(f, 0, 11, &[5], 100);
    assert_eq!(servers_of(&fs, 11), vec![3, 4, 5]);
    assert_eq!(fs.garbage(), vec![10]);
    fs.check();
}

#[test]
fn commit_errors() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    let d = fs.mkdir(ROOT, "d");
    let commit = |ino, servers: &[u64]| MetaOp::CommitChunks {
        ino,
        chunks: vec![chunk_at(0, 1, servers)],
        min_size: 1,
        mtime: Timestamp(1),
    };
    assert_eq!(fs.err(commit(d, &[1])), FsError::IsDir);
    assert_eq!(fs.err(commit(InodeId(404), &[1])), FsError::NotFound);
    assert!(matches!(fs.err(commit(f, &[])), FsError::Invalid(_)));
    let fifo = fs
        .ok_attr(MetaOp::Create {
            parent: ROOT,
            name: b"p".to_vec(),
            kind: FileKind::Fifo,
            mode: 0o600,
            uid: 0,
            gid: 0,
            exclusive: true,
        })
        .ino;
    assert!(matches!(fs.err(commit(fifo, &[1])), FsError::Invalid(_)));
    let mut huge = chunk_at(0, 1, &[1]);
    huge.chunk.len = ferrofs_proto::limits::MAX_CHUNK_BYTES + 1;
    let op = MetaOp::CommitChunks {
        ino: f,
        chunks: vec![huge],
        min_size: 0,
        mtime: Timestamp(1),
    };
    assert!(matches!(fs.err(op), FsError::Invalid(_)));
    assert_eq!(
        get_chunks(&fs, d, 0, 1),
        MetaResponse::Error(FsError::IsDir)
    );
    assert!(matches!(
        get_chunks(&fs, f, 0, MAX_GET_CHUNKS + 1),
        MetaResponse::Error(FsError::Invalid(_))
    ));
    assert_eq!(
        get_chunks(&fs, InodeId(404), 0, 1),
        MetaResponse::Error(FsError::NotFound)
    );
    fs.check();
}

#[test]
fn under_replication_follows_locations() {
    let mut fs = Fs::new(); // replication 2
    let f = fs.create(ROOT, "f");
    fs.commit(f, 0, 1, &[1], 100);
    fs.commit(f, 1, 2, &[1, 2], 200);
    assert_eq!(fs.counts().under_replicated, 1);
    fs.ok(MetaOp::ReportBadReplica {
        chunk: ChunkId(2),
        server: NodeId(2),
    });
    assert_eq!(servers_of(&fs, 2), vec![1]);
    assert_eq!(fs.counts().under_replicated, 2);
    // Unknown chunk or server: nothing happens.
    fs.ok(MetaOp::ReportBadReplica {
        chunk: ChunkId(999),
        server: NodeId(1),
    });
    fs.ok(MetaOp::ReportBadReplica {
        chunk: ChunkId(2),
        server: NodeId(9),
    });
    assert_eq!(fs.counts().under_replicated, 2);
    let live = fs.mutate(|o| add_replica(o, ChunkId(1), NodeId(7)));
    assert_eq!(live, Ok(true));
    assert_eq!(servers_of(&fs, 1), vec![1, 7]);
    assert_eq!(fs.counts().under_replicated, 1);
    fs.mutate(|o| remove_replica(o, ChunkId(1), NodeId(1)))
        .expect("removed");
    assert_eq!(fs.counts().under_replicated, 2);
    fs.check();
    // A higher replication factor recounts.
    fs.settings.replication = 1;
    let settings = fs.settings.clone();
    fs.mutate(|o| configure(o, &settings)).expect("configured");
    assert_eq!(fs.counts().under_replicated, 0);
    fs.check();
}

#[test]
fn the_chunk_size_is_fixed_once_stored() {
    let mut fs = Fs::new();
    let other = settings(CHUNK * 2, 2);
    let r = fs.mutate(|o| configure(o, &other));
    assert!(matches!(r, Err(FsError::Invalid(_))), "{r:?}");
    match fs.query(MetaRequest::ClusterMap) {
        MetaResponse::Map(m) => assert_eq!(m.chunk_size, CHUNK),
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_lifecycle() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    fs.commit(f, 0, 1, &[1, 2], 100);
    fs.commit(f, 1, 2, &[3], 200);
    fs.ok(MetaOp::Unlink {
        parent: ROOT,
        name: b"f".to_vec(),
    });
    let g = garbage(&fs.store, None, 10).expect("garbage");
    assert_eq!(g.len(), 2);
    assert_eq!(
        garbage(&fs.store, Some(ChunkId(1)), 10)
            .expect("garbage")
            .len(),
        1,
        "paged"
    );
    // A copy made after the chunk died is added to the garbage record.
    assert_eq!(
        fs.mutate(|o| add_replica(o, ChunkId(2), NodeId(4))),
        Ok(false)
    );
    fs.mutate(|o| garbage_deleted(o, ChunkId(1), NodeId(1)))
        .expect("ok");
    assert_eq!(fs.garbage(), vec![1, 2], "server 2 still holds chunk 1");
    fs.mutate(|o| garbage_deleted(o, ChunkId(1), NodeId(2)))
        .expect("ok");
    assert_eq!(fs.garbage(), vec![2]);
    for s in [3, 4, 4] {
        fs.mutate(|o| garbage_deleted(o, ChunkId(2), NodeId(s)))
            .expect("idempotent");
    }
    assert!(fs.garbage().is_empty());
    fs.check();
}

#[test]
fn a_dropped_chunk_committed_again_is_refused_and_stays_garbage() {
    // The GC may already be deleting its copies (gc_race.rs has the whole story).
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    fs.commit(f, 0, 1, &[1], 100);
    fs.commit(f, 0, 2, &[1], 100);
    assert_eq!(fs.garbage(), vec![1]);
    let again = MetaOp::CommitChunks {
        ino: f,
        chunks: vec![chunk_at(1, 1, &[1])],
        min_size: 200,
        mtime: Timestamp(7),
    };
    assert_eq!(fs.err(again), FsError::ChunkCollected(ChunkId(1)));
    assert_eq!(fs.garbage(), vec![1]);
    assert_eq!(fs.chunks(f), vec![(0, 2)]);
    fs.check();
}

fn commit_op(ino: InodeId, chunk: ferrofs_proto::attr::ChunkLocation, size: u64) -> MetaOp {
    MetaOp::CommitChunks {
        ino,
        chunks: vec![chunk],
        min_size: size,
        mtime: Timestamp(9),
    }
}

/// What `df` shows as used with no data servers registered: the inline bytes.
fn inline_used(fs: &Fs) -> u64 {
    match fs.query(MetaRequest::StatFs) {
        MetaResponse::StatFs(s) => s.used,
        other => panic!("{other:?}"),
    }
}

#[test]
fn inline_chunks_keep_their_bytes_in_the_chunk_list_and_need_no_servers() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "small");
    let a = fs.ok_attr(commit_op(f, inline_at(0, 5, b"hello"), 5));
    assert_eq!(a.size, 5);
    match get_chunks(&fs, f, 0, 10) {
        MetaResponse::Chunks { chunks, size } => {
            assert_eq!(size, 5);
            assert_eq!(chunks, vec![inline_at(0, 5, b"hello")]);
        }
        other => panic!("{other:?}"),
    }
    let c = fs.counts();
    assert_eq!((c.chunks, c.under_replicated), (0, 0), "nothing to place");
    assert!(live_chunks(&fs.store, 100).expect("live").is_empty());
    assert!(servers_of(&fs, 5).is_empty());
    // Committed again (a retry) and replaced by another inline chunk: no garbage, ever.
    fs.ok_attr(commit_op(f, inline_at(0, 5, b"hello"), 5));
    assert_eq!(
        inline_used(&fs),
        5,
        "counted once, also when committed again"
    );
    fs.ok_attr(commit_op(f, inline_at(0, 6, b"hello, world"), 12));
    assert_eq!(fs.chunks(f), vec![(0, 6)]);
    assert!(fs.garbage().is_empty());
    assert_eq!(inline_used(&fs), 12, "df counts the inline bytes");
    fs.check();
}

#[test]
fn a_file_moves_between_inline_and_stored_chunks() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "grows");
    fs.ok_attr(commit_op(f, inline_at(0, 1, b"small"), 5));
    assert_eq!(inline_used(&fs), 5);
    // Grown past the inline limit: a stored chunk replaces the inline one.
    fs.commit(f, 0, 2, &[1, 2], CHUNK);
    assert_eq!(inline_used(&fs), 0);
    assert_eq!(fs.chunks(f), vec![(0, 2)]);
    assert!(
        fs.garbage().is_empty(),
        "the inline chunk had no copies to collect"
    );
    assert_eq!(servers_of(&fs, 2), vec![1, 2]);
    // Shrunk again: the stored chunk goes to the garbage list.
    fs.ok_attr(commit_op(f, inline_at(0, 3, b"tiny"), 4));
    assert_eq!(inline_used(&fs), 4);
    assert_eq!(fs.garbage(), vec![2]);
    assert_eq!(fs.counts().chunks, 0);
    // Deleting the file drops the inline chunk with it.
    fs.ok(MetaOp::Unlink {
        parent: ROOT,
        name: b"grows".to_vec(),
    });
    assert_eq!(fs.garbage(), vec![2]);
    assert_eq!(inline_used(&fs), 0);
    fs.check();
}

#[test]
fn bad_inline_chunks_are_refused_and_change_nothing() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    fs.ok_attr(commit_op(f, inline_at(0, 1, b"good"), 4));
    let before = fs.attr(f);
    let mut wrong_hash = inline_at(0, 2, b"data");
    wrong_hash.chunk.hash = [0; 32];
    let mut wrong_len = inline_at(0, 3, b"data");
    wrong_len.chunk.len = 3;
    let mut with_servers = inline_at(0, 4, b"data");
    with_servers.servers = vec![NodeId(1)];
    let big = vec![7u8; ferrofs_proto::limits::MAX_INLINE_BYTES as usize + 1];
    let too_big = inline_at(0, 5, &big);
    for bad in [wrong_hash, wrong_len, with_servers, too_big] {
        let e = fs.err(commit_op(f, bad, 4));
        assert!(matches!(e, FsError::Invalid(_)), "{e:?}");
    }
    assert_eq!(fs.chunks(f), vec![(0, 1)]);
    assert_eq!(fs.attr(f), before);
    fs.check();
}

#[test]
fn a_patch_commits_only_over_the_chunk_it_was_made_from() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    fs.commit(f, 0, 10, &[1, 2, 3], 100);
    let patch = |base: u128, new: u128| MetaOp::CommitPatch {
        ino: f,
        base: ChunkId(base),
        chunk: chunk_at(0, new, &[1, 2, 3]),
        mtime: Timestamp(9),
    };
    // Made from chunk 10, which is still there: committed, 10 becomes garbage.
    let a = fs.ok_attr(patch(10, 11));
    assert_eq!((a.size, a.mtime), (100, Timestamp(9)));
    assert_eq!(fs.garbage(), vec![10]);
    // Another patch made from 10 (a writer that did not see 11): refused, and the
    // fixture checks that a refused op writes nothing.
    assert_eq!(fs.err(patch(10, 12)), FsError::ChunkChanged { index: 0 });
    match get_chunks(&fs, f, 0, 1) {
        MetaResponse::Chunks { chunks, .. } => assert_eq!(chunks[0].chunk.id, ChunkId(11)),
        other => panic!("{other:?}"),
    }
    // A hole has no base to patch; a missing file is missing.
    let hole = MetaOp::CommitPatch {
        ino: f,
        base: ChunkId(11),
        chunk: chunk_at(5, 13, &[1]),
        mtime: Timestamp(9),
    };
    assert_eq!(fs.err(hole), FsError::ChunkChanged { index: 5 });
    let gone = MetaOp::CommitPatch {
        ino: InodeId(999),
        base: ChunkId(11),
        chunk: chunk_at(0, 13, &[1]),
        mtime: Timestamp(9),
    };
    assert_eq!(fs.err(gone), FsError::NotFound);
}

#[test]
fn a_rewritten_chunk_commits_only_over_what_it_was_read_from() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    fs.commit(f, 0, 10, &[1, 2], 100);
    let over = |base: Option<u128>, index: u64, new: u128, min_size: u64| MetaOp::CommitOver {
        ino: f,
        base: base.map(ChunkId),
        chunk: chunk_at(index, new, &[1, 2]),
        min_size,
        mtime: Timestamp(9),
    };
    // Read from chunk 10, which is still there: committed, and the file grows.
    let a = fs.ok_attr(over(Some(10), 0, 11, 150));
    assert_eq!((a.size, a.mtime), (150, Timestamp(9)));
    assert_eq!(fs.garbage(), vec![10]);
    // A writer that read 10 before 11 replaced it: refused, nothing written.
    assert_eq!(
        fs.err(over(Some(10), 0, 12, 150)),
        FsError::ChunkChanged { index: 0 }
    );
    // Written into a hole: only while it still is one.
    fs.ok_attr(over(None, 3, 13, 0));
    assert_eq!(
        fs.err(over(None, 3, 14, 0)),
        FsError::ChunkChanged { index: 3 }
    );
    assert_eq!(fs.chunks(f), vec![(0, 11), (3, 13)]);
    let gone = MetaOp::CommitOver {
        ino: InodeId(999),
        base: None,
        chunk: chunk_at(0, 15, &[1]),
        min_size: 0,
        mtime: Timestamp(9),
    };
    assert_eq!(fs.err(gone), FsError::NotFound);
    fs.check();
}
