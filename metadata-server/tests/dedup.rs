//! A mutation retried with the same RequestId is applied once and answered with the
//! first response, also after a leader change.

mod common;

use common::{lookup, TestCluster};
use ferrofs_meta::server::dedup_sweep::{sweep, RETENTION};
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse};
use ferrofs_proto::{FsError, InodeId};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_request_id_is_applied_once() {
    let mut cluster = TestCluster::start(3).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;

    let mkdir = cluster.mkdir("once");
    let first = cluster.call(leader, &mkdir).await;
    let MetaResponse::Added {
        attr: first_attr, ..
    } = &first
    else {
        panic!("expected Added, got {first:?}")
    };
    tracing::info!("phase 1: the first attempt created the directory");

    let retry = cluster.call(leader, &mkdir).await;
    assert_eq!(retry, first, "a retry gets the first response, not Exists");
    tracing::info!("phase 2: a retry on the same leader is answered from the dedup record");

    let fresh = cluster.call(leader, &cluster.mkdir("once")).await;
    assert_eq!(
        fresh,
        MetaResponse::Error(FsError::Exists),
        "a new request id is a new request"
    );

    // The dedup record is Raft state: a new leader answers the retry alike.
    cluster.stop(leader).await;
    cluster.wait_leader(Duration::from_secs(20)).await;
    let after_failover = cluster.call_leader(&mkdir).await;
    assert_eq!(after_failover, first);
    tracing::info!("phase 3: a retry after a leader change is answered alike");

    let listing = cluster
        .call_leader(&MetaRequest::ReadDir {
            ino: InodeId::ROOT,
            after: None,
            limit: 100,
        })
        .await;
    let MetaResponse::Entries { entries, .. } = listing else {
        panic!("expected Entries, got {listing:?}")
    };
    let names: Vec<&[u8]> = entries.iter().map(|e| e.name.as_slice()).collect();
    assert_eq!(
        names,
        vec![&b"once"[..]],
        "exactly one directory was created"
    );
    match cluster.call_leader(&lookup("once")).await {
        MetaResponse::Attr(a) => assert_eq!(a.ino, first_attr.ino),
        other => panic!("expected Attr, got {other:?}"),
    }

    // A refused request is remembered too: the retry does not turn into a success.
    let rmdir = MetaRequest::Mutate {
        id: cluster.next_request_id(),
        op: MetaOp::Rmdir {
            parent: InodeId::ROOT,
            name: b"missing".to_vec(),
        },
    };
    let refused = cluster.call_leader(&rmdir).await;
    assert_eq!(refused, MetaResponse::Error(FsError::NotFound));
    assert_eq!(cluster.call_leader(&rmdir).await, refused);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leaders_sweep_drops_the_records_of_idle_clients_on_every_voter() {
    let mut cluster = TestCluster::start(3).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
    let mkdir = cluster.mkdir("swept");
    let first = cluster.call(leader, &mkdir).await;
    assert!(matches!(first, MetaResponse::Added { .. }), "{first:?}");
    assert_eq!(cluster.call(leader, &mkdir).await, first, "deduplicated");

    // A day's retention is what the loop uses; none lists this client as idle now.
    let service = cluster.node(leader).service().clone();
    let swept = sweep(&service, RETENTION).await.expect("sweep");
    assert_eq!(swept, 0);
    assert_eq!(cluster.call(leader, &mkdir).await, first, "kept");

    // With no retention every client is idle: its records go through the log.
    let swept = sweep(&service, Duration::ZERO).await.expect("sweep");
    assert!(swept >= 1, "the test client was listed");
    // Every voter applied it: a new leader also treats the retry as a new request.
    cluster.stop(leader).await;
    cluster.wait_leader(Duration::from_secs(20)).await;
    assert_eq!(
        cluster.call_leader(&mkdir).await,
        MetaResponse::Error(FsError::Exists),
        "the retry is a new request once its client's records are gone"
    );
}
