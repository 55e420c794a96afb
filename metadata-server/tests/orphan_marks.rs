//! Orphan marks expire: the leader's housekeeping lists marks older than its retention
//! and drops them through the log, so every voter forgets them.

mod common;

use common::TestCluster;
use ferrofs_meta::server::orphan_mark_sweep::{sweep, RETENTION};
use ferrofs_proto::attr::{ChunkLocation, ChunkRef, FileKind, Timestamp};
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse};
use ferrofs_proto::{ChunkId, FsError, InodeId, NodeId};
use std::time::Duration;

async fn mutate(cluster: &TestCluster, op: MetaOp) -> MetaResponse {
    let req = MetaRequest::Mutate {
        id: cluster.next_request_id(),
        op,
    };
    cluster.call_leader(&req).await
}

/// Commit chunk `id` as the only chunk of file `ino`.
async fn commit(cluster: &TestCluster, ino: InodeId, id: u128) -> MetaResponse {
    let chunk = ChunkLocation {
        index: 0,
        chunk: ChunkRef {
            id: ChunkId(id),
            len: 10,
            hash: [1; 32],
            inline: None,
        },
        servers: vec![NodeId(9)],
    };
    mutate(
        cluster,
        MetaOp::CommitChunks {
            ino,
            chunks: vec![chunk],
            min_size: 10,
            mtime: Timestamp(1),
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn old_orphan_marks_are_dropped_on_every_voter() {
    let mut cluster = TestCluster::start(3).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
    let create = MetaOp::Create {
        parent: InodeId::ROOT,
        name: b"f".to_vec(),
        kind: FileKind::File,
        mode: 0o644,
        uid: 0,
        gid: 0,
        exclusive: true,
    };
    let MetaResponse::Added { attr, .. } = mutate(&cluster, create).await else {
        panic!("create failed");
    };
    // Two orphans reported by data server 9, whose copies the GC then deleted.
    let reported = mutate(
        &cluster,
        MetaOp::ReportOrphans {
            server: NodeId(9),
            chunks: vec![ChunkId(41), ChunkId(42)],
        },
    )
    .await;
    assert_eq!(
        reported,
        MetaResponse::ChunkIds(vec![ChunkId(41), ChunkId(42)])
    );
    for id in [41, 42] {
        let deleted = MetaOp::GarbageDeleted {
            chunk: ChunkId(id),
            server: NodeId(9),
        };
        assert_eq!(mutate(&cluster, deleted).await, MetaResponse::Done);
    }
    assert_eq!(
        commit(&cluster, attr.ino, 41).await,
        MetaResponse::Error(FsError::ChunkCollected(ChunkId(41))),
        "a marked chunk is refused"
    );

    let service = cluster.node(leader).service().clone();
    assert_eq!(sweep(&service, RETENTION).await.expect("sweep"), 0, "young");
    assert_eq!(sweep(&service, Duration::ZERO).await.expect("sweep"), 2);

    // A new leader has applied the expiry too: the marks no longer refuse a commit.
    cluster.stop(leader).await;
    cluster.wait_leader(Duration::from_secs(20)).await;
    let committed = commit(&cluster, attr.ino, 42).await;
    assert!(matches!(committed, MetaResponse::Attr(_)), "{committed:?}");
}
