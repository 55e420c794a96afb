//! Leader discovery, registration and heartbeats against fake metadata endpoints.

#[path = "../fixtures/mod.rs"]
mod fixtures;

use ferrofs_data::meta_link::MetaLink;
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse};
use ferrofs_proto::{FsError, NodeId};
use fixtures::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn is_register(r: &MetaRequest) -> bool {
    matches!(
        r,
        MetaRequest::Mutate {
            op: MetaOp::RegisterDataServerWeighted { .. },
            ..
        }
    )
}

fn is_heartbeat(r: &MetaRequest) -> bool {
    matches!(r, MetaRequest::Heartbeat(_))
}

/// A follower that points at `leader`.
fn follower(pki: &Pki, leader: Option<String>) -> FakeMeta {
    FakeMeta::start(pki, move |_| {
        MetaResponse::Error(FsError::NotLeader {
            leader_addr: leader.clone(),
        })
    })
}

#[tokio::test]
async fn follows_redirects_and_caches_the_leader() {
    let pki = Pki::new();
    let leader = FakeMeta::leader(&pki);
    let f1 = follower(&pki, Some(leader.addr.clone()));
    let f2 = follower(&pki, None);
    // An address nobody listens on, a follower that knows nothing, then one that redirects.
    let dead = "127.0.0.1:9".to_string();
    let link = MetaLink::new(
        pki.connector("data-1"),
        vec![dead, f2.addr.clone(), f1.addr.clone()],
        Duration::from_millis(500),
    );
    let resp = link
        .call(&MetaRequest::StatFs)
        .await
        .expect("a leader answers");
    assert_eq!(resp, MetaResponse::Done);
    assert_eq!(link.leader(), Some(leader.addr.clone()));
    assert_eq!(f1.count(|_| true), 1);

    // Cached: the next call goes straight to the leader.
    link.call(&MetaRequest::StatFs).await.expect("answer");
    assert_eq!(f1.count(|_| true), 1);
    assert_eq!(leader.count(|_| true), 2);
}

#[tokio::test]
async fn no_leader_is_an_error_not_a_hang() {
    let pki = Pki::new();
    let f = follower(&pki, None);
    let link = MetaLink::new(
        pki.connector("data-1"),
        vec![f.addr.clone()],
        Duration::from_millis(500),
    );
    let err = link
        .call(&MetaRequest::StatFs)
        .await
        .expect_err("no leader");
    assert!(err.to_string().contains("not the leader"), "{err}");
}

#[tokio::test]
async fn registers_then_heartbeats_through_a_redirect() {
    let pki = Pki::new();
    let leader = FakeMeta::leader(&pki);
    let f = follower(&pki, Some(leader.addr.clone()));
    let mut s = TestServer::start(&pki, 7, &f.addr).await;
    wait_until("three heartbeats", || leader.count(is_heartbeat) >= 3).await;
    assert_eq!(leader.count(is_register), 1);
    let seen = leader.seen.lock().expect("lock").clone();
    let first = seen.first().expect("a request");
    match first {
        MetaRequest::Mutate {
            op:
                MetaOp::RegisterDataServerWeighted {
                    node,
                    addr,
                    capacity,
                    weight: 1,
                    ..
                },
            ..
        } => {
            assert_eq!(*node, NodeId(7));
            assert_eq!(addr, &s.addr, "the bound address is advertised");
            assert_eq!(*capacity, 1 << 30);
        }
        other => panic!("first request was {other:?}"),
    }
    let stats = s.server().heartbeat_stats().clone();
    assert!(stats.registered.load(Ordering::Acquire));
    assert_eq!(s.server().meta_leader(), Some(leader.addr.clone()));
    s.stop().await;
}

#[tokio::test]
async fn registration_is_retried_and_renewed() {
    let pki = Pki::new();
    // Refuse the first registration (no quorum), then accept; later forget the server.
    let refused_once = Arc::new(AtomicBool::new(false));
    let forget = Arc::new(AtomicBool::new(false));
    let (r, fg) = (refused_once.clone(), forget.clone());
    let meta = FakeMeta::start(&pki, move |req| match req {
        MetaRequest::Mutate { .. } if !r.swap(true, Ordering::AcqRel) => {
            MetaResponse::Error(FsError::Unavailable("electing".into()))
        }
        MetaRequest::Mutate { .. } => MetaResponse::Done,
        MetaRequest::Heartbeat(_) if fg.swap(false, Ordering::AcqRel) => {
            MetaResponse::Error(FsError::NotFound)
        }
        MetaRequest::Heartbeat(_) => MetaResponse::HeartbeatAck,
        _ => MetaResponse::Error(FsError::Unsupported),
    });
    let mut s = TestServer::start(&pki, 8, &meta.addr).await;
    wait_until("registration after a refusal", || {
        meta.count(is_register) == 2
    })
    .await;
    wait_until("heartbeats", || meta.count(is_heartbeat) >= 1).await;
    // Both register attempts carried the same request id (a retry, not a new request).
    let ids: Vec<_> = meta
        .seen
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|r| match r {
            MetaRequest::Mutate { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(ids[0], ids[1]);
    forget.store(true, Ordering::Release);
    wait_until("re-registration after NotFound", || {
        meta.count(is_register) == 3
    })
    .await;
    s.stop().await;
}
