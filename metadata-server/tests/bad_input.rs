//! Garbage, oversized, truncated and unknown requests on the QUIC endpoint get an
//! error (or a closed stream) and never disturb other streams or later requests.

mod common;

use common::{TestCluster, CALL_TIMEOUT};
use ferrofs_proto::frame;
use ferrofs_proto::meta_msg::{MetaRequest, MetaResponse};
use ferrofs_proto::{FsError, InodeId};
use std::time::Duration;

/// Send raw bytes on a fresh stream, finish it, and read the reply (if any).
async fn send_raw(cluster: &TestCluster, id: u64, bytes: &[u8]) -> Option<MetaResponse> {
    let (mut send, mut recv) = cluster.client.open(&cluster.addr(id)).await.expect("open");
    send.write_all(bytes).await.expect("write");
    let _ = send.finish();
    tokio::time::timeout(CALL_TIMEOUT, frame::read_msg::<MetaResponse>(&mut recv))
        .await
        .expect("the server answers or closes in time")
        .ok()
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn assert_invalid(resp: Option<MetaResponse>, what: &str) {
    match resp {
        Some(MetaResponse::Error(FsError::Invalid(_))) => {}
        other => panic!("{what}: expected an Invalid error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_are_refused_and_good_ones_still_served() {
    let cluster = TestCluster::start(1).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
    let good = MetaRequest::GetAttr { ino: InodeId::ROOT };
    assert!(matches!(
        cluster.call(leader, &good).await,
        MetaResponse::Attr(_) | MetaResponse::Added { .. }
    ));

    // A stream that sends half a frame and then stalls must not hold up anyone.
    let (mut stalled, _stalled_recv) = cluster
        .client
        .open(&cluster.addr(leader))
        .await
        .expect("open");
    stalled
        .write_all(&[0, 0, 0, 50, 1, 2])
        .await
        .expect("write");

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", framed(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff])),
        (
            "oversized length prefix",
            vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        ),
        ("truncated frame", {
            let mut f = (100u32).to_be_bytes().to_vec();
            f.extend_from_slice(&[0; 10]);
            f
        }),
        ("unknown enum tag", framed(&[0x7f])),
        ("empty stream", Vec::new()),
        ("raft rpc with garbage inside", {
            let body =
                ferrofs_proto::frame::encode(&MetaRequest::Raft(vec![0xff; 8])).expect("encode");
            framed(&body)
        }),
    ];
    for (what, bytes) in cases {
        let resp = send_raw(&cluster, leader, &bytes).await;
        if what == "raft rpc with garbage inside" {
            assert!(
                matches!(resp, Some(MetaResponse::Raft(_))),
                "{what}: {resp:?}"
            );
        } else {
            assert_invalid(resp, what);
        }
        assert!(
            matches!(
                cluster.call(leader, &good).await,
                MetaResponse::Attr(_) | MetaResponse::Added { .. }
            ),
            "after {what}"
        );
        tracing::info!(what, "refused, and the next good request succeeded");
    }

    let made = cluster.call(leader, &cluster.mkdir("still-works")).await;
    assert!(
        matches!(made, MetaResponse::Attr(_) | MetaResponse::Added { .. }),
        "{made:?}"
    );
    drop(stalled);
    cluster.shutdown().await;
}
