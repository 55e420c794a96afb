//! The chunk service over real QUIC with mutual TLS on 127.0.0.1:0.

#[path = "../fixtures/mod.rs"]
mod fixtures;

use ferrofs_proto::data_msg::{DataRequest, DataResponse, PatchEdit};
use ferrofs_proto::frame::{decode, encode};
use ferrofs_proto::limits::{MAX_CHUNK_BYTES, MAX_HEADER_BYTES};
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest};
use ferrofs_proto::tls::ClusterCa;
use ferrofs_proto::{ChunkId, FsError, NodeId};
use fixtures::*;

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn put_get_sizes_and_ranges() {
    let pki = Pki::new();
    let meta = FakeMeta::leader(&pki);
    let mut s = TestServer::start(&pki, 1, &meta.addr).await;
    let c = pki.connector("client");

    let big = pattern(4 * MIB, 1);
    let id = ChunkId::random();
    assert_eq!(put(&c, &s.addr, id, &big).await, DataResponse::Stored);
    let (resp, got) = get(&c, &s.addr, id, 0, u64::MAX).await;
    assert_eq!(
        resp,
        DataResponse::Chunk {
            len: big.len() as u64
        }
    );
    assert!(got == big, "4 MiB chunk read back intact");

    let (_, mid) = get(&c, &s.addr, id, 1_000_000, 12_345).await;
    assert_eq!(mid, big[1_000_000..1_012_345]);
    let (resp, tail) = get(&c, &s.addr, id, 4 * MIB as u64 - 10, 1000).await;
    assert_eq!(
        resp,
        DataResponse::Chunk { len: 10 },
        "ranges are clamped to the end"
    );
    assert_eq!(tail, big[4 * MIB - 10..]);
    let (resp, _) = get(&c, &s.addr, id, 4 * MIB as u64 + 1, 1).await;
    assert!(
        matches!(resp, DataResponse::Error(FsError::Invalid(_))),
        "{resp:?}"
    );

    let empty = ChunkId::random();
    assert_eq!(put(&c, &s.addr, empty, &[]).await, DataResponse::Stored);
    let (resp, got) = get(&c, &s.addr, empty, 0, u64::MAX).await;
    assert_eq!((resp, got.len()), (DataResponse::Chunk { len: 0 }, 0));

    assert_eq!(
        put(&c, &s.addr, id, &big).await,
        DataResponse::Stored,
        "idempotent re-put"
    );
    assert_eq!(
        call(&c, &s.addr, DataRequest::HasChunk { id }).await,
        DataResponse::Present(true)
    );
    let st = call(&c, &s.addr, DataRequest::Stat).await;
    assert_eq!(
        st,
        DataResponse::Stat {
            capacity: 1 << 30,
            used: 4 * MIB as u64,
            chunks: 2
        }
    );

    assert_eq!(
        call(&c, &s.addr, DataRequest::DeleteChunk { id }).await,
        DataResponse::Deleted
    );
    assert_eq!(
        call(&c, &s.addr, DataRequest::HasChunk { id }).await,
        DataResponse::Present(false)
    );
    let (resp, _) = get(&c, &s.addr, id, 0, u64::MAX).await;
    assert_eq!(resp, DataResponse::Error(FsError::NotFound));
    s.stop().await;
}

#[tokio::test]
async fn hash_mismatch_on_put_stores_nothing() {
    let pki = Pki::new();
    let meta = FakeMeta::leader(&pki);
    let mut s = TestServer::start(&pki, 1, &meta.addr).await;
    let c = pki.connector("client");
    let bytes = pattern(100_000, 2);
    let id = ChunkId::random();
    let resp = put_with_hash(&c, &s.addr, id, &bytes, hash(b"something else")).await;
    assert!(
        matches!(resp, DataResponse::Error(FsError::Invalid(_))),
        "{resp:?}"
    );
    assert_eq!(
        call(&c, &s.addr, DataRequest::HasChunk { id }).await,
        DataResponse::Present(false)
    );
    assert_eq!(s.server().store().stat().used, 0);
    s.stop().await;
}

#[tokio::test]
async fn capacity_exhaustion_is_no_space() {
    let pki = Pki::new();
    let meta = FakeMeta::leader(&pki);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = data_config(&pki, 1, dir.path(), &meta.addr);
    cfg.capacity = Some(bytesize::ByteSize::mib(1));
    let mut s = TestServer::start_with(cfg, dir).await;
    let c = pki.connector("client");
    let a = pattern(700_000, 3);
    assert_eq!(
        put(&c, &s.addr, ChunkId::random(), &a).await,
        DataResponse::Stored
    );
    let resp = put(&c, &s.addr, ChunkId::random(), &pattern(700_000, 4)).await;
    assert_eq!(resp, DataResponse::Error(FsError::NoSpace));
    assert_eq!(s.server().store().stat().chunks, 1);
    s.stop().await;
}

/// Each bad request gets an error reply or a closed stream, and the next good
/// request on the same connection is served.
#[tokio::test]
async fn bad_input_never_stops_the_server() {
    let pki = Pki::new();
    let meta = FakeMeta::leader(&pki);
    let mut s = TestServer::start(&pki, 1, &meta.addr).await;
    let c = pki.connector("client");
    let good = |n: u8| pattern(10_000, n);

    let mut framed_garbage = 8u32.to_be_bytes().to_vec();
    framed_garbage.extend_from_slice(&[0xff; 8]);
    let put_header = encode(&DataRequest::PutChunk {
        id: ChunkId(1),
        len: 1000,
        hash: hash(&[0u8; 1000]),
    })
    .expect("encode");
    let mut short_payload = (put_header.len() as u32).to_be_bytes().to_vec();
    short_payload.extend_from_slice(&put_header);
    short_payload.extend_from_slice(&[0u8; 10]);
    let mut unknown_tag = 1u32.to_be_bytes().to_vec();
    unknown_tag.push(42);
    let stat = encode(&DataRequest::Stat).expect("encode");
    let mut truncated = (stat.len() as u32 + 10).to_be_bytes().to_vec();
    truncated.extend_from_slice(&stat);
    let oversized = (MAX_HEADER_BYTES + 1).to_be_bytes().to_vec();
    let huge_put = {
        let h = encode(&DataRequest::PutChunk {
            id: ChunkId(2),
            len: MAX_CHUNK_BYTES + 1,
            hash: [0; 32],
        })
        .expect("encode");
        let mut v = (h.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(&h);
        v
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "garbage",
            b"\x00\x00\x00\x05hello world, not postcard at all".to_vec(),
        ),
        ("framed garbage", framed_garbage),
        ("truncated frame", truncated),
        ("oversized header length", oversized),
        ("unknown enum tag", unknown_tag),
        ("payload shorter than announced", short_payload),
        ("chunk over the limit", huge_put),
        ("half a length prefix", vec![0, 0]),
    ];
    for (i, (name, bytes)) in cases.into_iter().enumerate() {
        let reply = raw(&c, &s.addr, &bytes).await;
        assert!(
            reply.len() >= 4,
            "{name}: expected an error reply, got {reply:?}"
        );
        let len = u32::from_be_bytes(reply[..4].try_into().expect("prefix")) as usize;
        let resp: DataResponse = decode(&reply[4..4 + len]).expect("a decodable reply");
        assert!(
            matches!(resp, DataResponse::Error(FsError::Invalid(_))),
            "{name}: unexpected reply {resp:?}"
        );
        let id = ChunkId::random();
        let data = good(i as u8);
        assert_eq!(
            put(&c, &s.addr, id, &data).await,
            DataResponse::Stored,
            "after {name}"
        );
        assert_eq!(
            get(&c, &s.addr, id, 0, u64::MAX).await.1,
            data,
            "after {name}"
        );
    }
    assert!(
        !s.server().store().contains(ChunkId(1)).expect("contains"),
        "short payload stored"
    );
    s.stop().await;
}

#[tokio::test]
async fn client_from_another_ca_is_refused() {
    let pki = Pki::new();
    let meta = FakeMeta::leader(&pki);
    let mut s = TestServer::start(&pki, 1, &meta.addr).await;

    let stranger = Pki {
        dir: tempfile::tempdir().expect("tempdir"),
        ca: ClusterCa::generate().expect("ca"),
    };
    let bad = stranger.connector("intruder");
    let result = bad
        .call::<_, DataResponse>(&s.addr, &DataRequest::Stat, TIMEOUT)
        .await;
    assert!(
        result.is_err(),
        "a foreign client must not be served: {result:?}"
    );

    let good = pki.connector("client");
    assert!(matches!(
        call(&good, &s.addr, DataRequest::Stat).await,
        DataResponse::Stat { .. }
    ));
    s.stop().await;
}

#[tokio::test]
async fn copy_chunk_between_servers() {
    let pki = Pki::new();
    let meta = FakeMeta::leader(&pki);
    let mut a = TestServer::start(&pki, 1, &meta.addr).await;
    let mut b = TestServer::start(&pki, 2, &meta.addr).await;
    let c = pki.connector("client");
    let bytes = pattern(3 * MIB + 7, 5);
    let id = ChunkId::random();
    assert_eq!(put(&c, &a.addr, id, &bytes).await, DataResponse::Stored);

    let copy = DataRequest::CopyChunkFrom {
        id,
        hash: hash(&bytes),
        source_addr: a.addr.clone(),
    };
    assert_eq!(call(&c, &b.addr, copy.clone()).await, DataResponse::Stored);
    assert_eq!(get(&c, &b.addr, id, 0, u64::MAX).await.1, bytes);
    assert_eq!(
        call(&c, &b.addr, copy).await,
        DataResponse::Stored,
        "copy is idempotent"
    );

    // A wrong expected hash is refused and nothing is stored.
    let other = ChunkId::random();
    let other_bytes = pattern(5000, 6);
    assert_eq!(
        put(&c, &a.addr, other, &other_bytes).await,
        DataResponse::Stored
    );
    let wrong = DataRequest::CopyChunkFrom {
        id: other,
        hash: [7; 32],
        source_addr: a.addr.clone(),
    };
    let resp = call(&c, &b.addr, wrong).await;
    assert!(
        matches!(resp, DataResponse::Error(FsError::DataUnavailable(_))),
        "{resp:?}"
    );
    assert_eq!(
        call(&c, &b.addr, DataRequest::HasChunk { id: other }).await,
        DataResponse::Present(false)
    );

    // A missing source chunk is an error reply, not a hang.
    let missing = DataRequest::CopyChunkFrom {
        id: ChunkId::random(),
        hash: [0; 32],
        source_addr: a.addr.clone(),
    };
    let resp = call(&c, &b.addr, missing).await;
    assert!(
        matches!(resp, DataResponse::Error(FsError::DataUnavailable(_))),
        "{resp:?}"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn ranges_come_as_verified_blocks_and_rot_in_them_is_reported() {
    use ferrofs_proto::block_hashes::verify_blocks;
    let pki = Pki::new();
    let meta = FakeMeta::leader(&pki);
    let mut s = TestServer::start(&pki, 9, &meta.addr).await;
    let c = pki.connector("client");
    let bytes = pattern(MIB, 3);
    let (id, chunk_hash) = (ChunkId::random(), hash(&bytes));
    assert_eq!(put(&c, &s.addr, id, &bytes).await, DataResponse::Stored);

    // A 4 KiB range costs its 16 KiB block, which verifies against the chunk hash.
    let (resp, payload) = get_blocks(&c, &s.addr, id, 100_000, 4096).await;
    let DataResponse::Blocks {
        block,
        first,
        hashes,
        len,
    } = resp
    else {
        panic!("GetBlocks answered {resp:?}");
    };
    assert_eq!((block, first, len, hashes.len()), (16_384, 6, 16_384, 64));
    assert_eq!(payload, bytes[6 * 16_384..7 * 16_384]);
    assert_eq!(
        verify_blocks(&chunk_hash, MIB as u64, block, &hashes, first, &payload),
        Ok(())
    );

    // Rot in the middle of the chunk: a range over it is refused and reported.
    s.server().store().corrupt_for_test(id).expect("corrupt");
    let (resp, payload) = get_blocks(&c, &s.addr, id, (MIB / 2) as u64, 10).await;
    assert!(
        matches!(resp, DataResponse::Error(FsError::DataUnavailable(_))),
        "{resp:?}"
    );
    assert!(payload.is_empty(), "no byte of a corrupt block is sent");
    assert!(s.server().store().is_quarantined(id).expect("quarantined"));
    let reported = |r: &MetaRequest| {
        matches!(r, MetaRequest::Mutate { op: MetaOp::ReportBadReplica { chunk, .. }, .. }
            if *chunk == id)
    };
    wait_until("bad replica report", || meta.count(reported) == 1).await;
    s.stop().await;
}

#[tokio::test]
async fn corrupt_chunk_is_never_served_and_is_reported() {
    let pki = Pki::new();
    let meta = FakeMeta::leader(&pki);
    let mut s = TestServer::start(&pki, 9, &meta.addr).await;
    let c = pki.connector("client");
    let bytes = pattern(MIB, 7);
    let id = ChunkId::random();
    assert_eq!(put(&c, &s.addr, id, &bytes).await, DataResponse::Stored);
    s.server().store().corrupt_for_test(id).expect("corrupt");

    let (resp, payload) = get(&c, &s.addr, id, 0, 16).await;
    match resp {
        DataResponse::Error(FsError::DataUnavailable(m)) => {
            assert!(m.contains("checksum mismatch"), "{m}")
        }
        other => panic!("corrupt chunk answered with {other:?}"),
    }
    assert!(payload.is_empty(), "no byte of a corrupt chunk is sent");
    assert!(s.server().store().is_quarantined(id).expect("quarantined"));
    let reported = |r: &MetaRequest| {
        matches!(r, MetaRequest::Mutate { op: MetaOp::ReportBadReplica { chunk, server }, .. }
            if *chunk == id && *server == NodeId(9))
    };
    wait_until("bad replica report", || meta.count(reported) == 1).await;
    s.stop().await;
}

#[tokio::test]
async fn scrubber_finds_corruption() {
    let pki = Pki::new();
    let meta = FakeMeta::leader(&pki);
    let mut s = TestServer::start(&pki, 3, &meta.addr).await;
    let c = pki.connector("client");
    let ids: Vec<ChunkId> = (0..5).map(|_| ChunkId::random()).collect();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            put(&c, &s.addr, *id, &pattern(200_000, i as u8)).await,
            DataResponse::Stored
        );
    }
    let stats = s.server().scrub_stats().clone();
    wait_until("a clean scrub pass", || stats.chunks() >= 5).await;
    assert_eq!(stats.corrupt(), 0);
    s.server()
        .store()
        .corrupt_for_test(ids[2])
        .expect("corrupt");
    wait_until("the scrubber to find the damage", || stats.corrupt() == 1).await;
    let reported = |r: &MetaRequest| matches!(r, MetaRequest::Mutate { op: MetaOp::ReportBadReplica { chunk, .. }, .. } if *chunk == ids[2]);
    wait_until("bad replica report", || meta.count(reported) == 1).await;
    assert!(s
        .server()
        .store()
        .is_quarantined(ids[2])
        .expect("quarantined"));
    assert_eq!(s.server().store().stat().chunks, 4);
    s.stop().await;
}

#[tokio::test]
async fn restart_keeps_chunks() {
    let pki = Pki::new();
    let meta = FakeMeta::leader(&pki);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = data_config(&pki, 4, dir.path(), &meta.addr);
    let mut s = TestServer::start_with(cfg.clone(), dir).await;
    let c = pki.connector("client");
    let bytes = pattern(2 * MIB, 8);
    let id = ChunkId::random();
    assert_eq!(put(&c, &s.addr, id, &bytes).await, DataResponse::Stored);
    s.stop().await;
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().expect("tempdir"));
    let mut s2 = TestServer::start_with(cfg, dir).await;
    let c = pki.connector("client2");
    assert_eq!(get(&c, &s2.addr, id, 0, u64::MAX).await.1, bytes);
    assert_eq!(s2.server().store().stat().used, 2 * MIB as u64);
    s2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_and_gets() {
    let pki = Pki::new();
    let meta = FakeMeta::leader(&pki);
    let mut s = TestServer::start(&pki, 1, &meta.addr).await;
    let c = pki.connector("client");
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let (c, addr) = (c.clone(), s.addr.clone());
        tasks.push(tokio::spawn(async move {
            let id = ChunkId::random();
            let bytes = pattern(MIB + i as usize, i);
            assert_eq!(put(&c, &addr, id, &bytes).await, DataResponse::Stored);
            assert!(get(&c, &addr, id, 0, u64::MAX).await.1 == bytes);
            bytes.len() as u64
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    let st = s.server().store().stat();
    assert_eq!((st.chunks, st.used), (16, total));
    s.stop().await;
}

#[tokio::test]
async fn quarantined_chunks_are_reported_again_after_a_restart() {
    let pki = Pki::new();
    let meta = FakeMeta::leader(&pki);
    let dir = tempfile::tempdir().expect("tempdir");
    let id = ChunkId::random();
    {
        let store = ferrofs_data::ChunkStore::open(dir.path(), None).expect("open");
        let bytes = pattern(1000, 1);
        store.put(id, hash(&bytes), &bytes).expect("put");
        store.corrupt_for_test(id).expect("corrupt");
        assert!(store.quarantine(id).expect("quarantine"));
    }
    let cfg = data_config(&pki, 6, dir.path(), &meta.addr);
    let mut s = TestServer::start_with(cfg, dir).await;
    let reported = |r: &MetaRequest| {
        matches!(r, MetaRequest::Mutate { op: MetaOp::ReportBadReplica { chunk, server }, .. }
            if *chunk == id && *server == NodeId(6))
    };
    wait_until("report of the earlier quarantine", || {
        meta.count(reported) == 1
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn a_patch_stores_a_new_chunk_only_when_the_result_checks_out() {
    let pki = Pki::new();
    let meta = FakeMeta::leader(&pki);
    let mut s = TestServer::start(&pki, 1, &meta.addr).await;
    let c = pki.connector("client");
    let old = pattern(MIB, 3);
    let base = ChunkId::random();
    assert_eq!(put(&c, &s.addr, base, &old).await, DataResponse::Stored);
    // Two writes, one inside a block and one across a block boundary.
    let mut new = old.clone();
    new[40_000..40_100].fill(7);
    new[65_000..67_000].fill(8);
    let changed = [&new[40_000..40_100], &new[65_000..67_000]].concat();
    let edits = vec![
        PatchEdit {
            offset: 40_000,
            len: 100,
        },
        PatchEdit {
            offset: 65_000,
            len: 2000,
        },
    ];
    let patch = |id, base_hash, edits: Vec<PatchEdit>| DataRequest::PatchChunk {
        base,
        base_hash,
        id,
        edits,
    };
    let edit = |offset, len| vec![PatchEdit { offset, len }];

    // Refused, nothing stored: a base hash that is not the base's, bytes past the
    // end, no edit, an empty edit, an oversized payload, a payload shorter than the
    // edits say, an unknown base.
    let other = ChunkId::random();
    let refusals = [
        (patch(other, hash(&new), edits.clone()), &changed[..]),
        (
            patch(other, hash(&old), edit(MIB as u64 - 8, 100)),
            &changed[..100],
        ),
        (patch(other, hash(&old), Vec::new()), &[][..]),
        (patch(other, hash(&old), edit(0, 0)), &[][..]),
        (
            patch(other, hash(&old), edit(0, MAX_CHUNK_BYTES + 1)),
            &changed[..],
        ),
        (patch(other, hash(&old), edits.clone()), &changed[..50]),
    ];
    for (req, bytes) in refusals {
        let resp = with_payload(&c, &s.addr, &req, bytes).await;
        assert!(matches!(resp, DataResponse::Error(_)), "{req:?}: {resp:?}");
    }
    let unknown = DataRequest::PatchChunk {
        base: ChunkId::random(),
        base_hash: hash(&old),
        id: other,
        edits: edit(0, 4),
    };
    let resp = with_payload(&c, &s.addr, &unknown, b"abcd").await;
    assert_eq!(resp, DataResponse::Error(FsError::NotFound));
    let has = call(&c, &s.addr, DataRequest::HasChunk { id: other }).await;
    assert_eq!(
        has,
        DataResponse::Present(false),
        "no refusal stored anything"
    );

    // Accepted with the new chunk's hash: it reads back whole and in blocks, the old
    // one unchanged.
    let id = ChunkId::random();
    let req = patch(id, hash(&old), edits);
    assert_eq!(
        with_payload(&c, &s.addr, &req, &changed).await,
        DataResponse::Patched { hash: hash(&new) }
    );
    let (_, got) = get(&c, &s.addr, id, 0, u64::MAX).await;
    assert!(got == new, "the patched chunk");
    let (_, got) = get(&c, &s.addr, base, 0, u64::MAX).await;
    assert!(got == old, "the base is untouched");
    let (resp, _) = get_blocks(&c, &s.addr, id, 40_000, 10).await;
    assert!(matches!(resp, DataResponse::Blocks { block, .. } if block > 0));
    s.stop().await;
}
