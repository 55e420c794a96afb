//! The client library against in-process fake servers over real QUIC + mutual TLS:
//! leader redirects, retries with stable request ids, chunk placement with fallback,
//! replica fallback and verification on reads, holes, and path resolution.

mod fake_data;
mod fake_meta;

use bytes::Bytes;
use fake_data::FakeData;
use fake_meta::FakeMeta;
use ferrofs_client::{
    Client, ClientConfig, ClientError, FileKind, FsError, InodeId, ReadPolicy, SetAttr,
};
use ferrofs_proto::meta_msg::{ClusterMap, DataServerInfo, ServerState};
use ferrofs_proto::tls::{ClusterCa, TlsIdentity, TlsPaths};
use std::time::{Duration, Instant};

const CS: u64 = 4096;

struct Cluster {
    _dir: tempfile::TempDir,
    client_tls: TlsPaths,
    server_id: TlsIdentity,
    meta: FakeMeta,
    data: Vec<FakeData>,
}

fn map_of(data: &[FakeData], replication: u32) -> ClusterMap {
    ClusterMap {
        data_servers: data
            .iter()
            .map(|d| DataServerInfo {
                id: d.id,
                addr: d.addr.clone(),
                zone: String::new(),
                weight: 1,
                capacity: 1 << 30,
                used: 0,
                chunks: 0,
                state: ServerState::Up,
            })
            .collect(),
        replication,
        chunk_size: CS,
        vnodes_per_weight: 32,
    }
}

fn cluster(data_servers: u64, replication: u32) -> Cluster {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = ClusterCa::generate().expect("ca");
    let server_tls = ca.issue_to_dir("server", dir.path()).expect("server cert");
    let client_tls = ca.issue_to_dir("client", dir.path()).expect("client cert");
    let server_id = TlsIdentity::load(&server_tls).expect("server identity");
    let data: Vec<FakeData> = (1..=data_servers)
        .map(|i| FakeData::start(&server_id, i))
        .collect();
    let meta = FakeMeta::start(&server_id, map_of(&data, replication));
    Cluster {
        _dir: dir,
        client_tls,
        server_id,
        meta,
        data,
    }
}

impl Cluster {
    fn config(&self, meta_addrs: Vec<String>) -> ClientConfig {
        ClientConfig {
            meta_addrs,
            tls: self.client_tls.clone(),
            request_timeout: Duration::from_secs(2),
            failover_timeout: Duration::from_secs(5),
            read_policy: ReadPolicy::LeastLoaded,
            parallel_chunks: 4,
            // These tests exercise the data path with small chunks: keep them on the servers.
            inline_max_bytes: 0,
            metrics_addr: None,
        }
    }

    async fn client(&self) -> Client {
        Client::connect(self.config(vec![self.meta.addr.clone()]))
            .await
            .expect("connect")
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 12) as u8)
        .collect()
}

async fn new_file(c: &Client, name: &[u8]) -> InodeId {
    c.create(InodeId::ROOT, name, FileKind::File, 0o644, 0, 0, true)
        .await
        .expect("create")
        .ino
}

/// The chunk list the fake metadata server recorded for a file.
fn chunks_of(cl: &Cluster, ino: InodeId) -> Vec<ferrofs_client::ChunkLocation> {
    cl.meta.state.lock().inodes[&ino]
        .chunks
        .values()
        .cloned()
        .collect()
}

async fn read_all(c: &Client, ino: InodeId) -> Vec<u8> {
    let mut out = Vec::new();
    c.read_file_to(ino, &mut out, &|_| {})
        .await
        .expect("read_file_to");
    out
}

#[tokio::test]
async fn namespace_and_paths() {
    let cl = cluster(1, 1);
    let c = cl.client().await;
    assert_eq!(c.chunk_size(), CS);
    let a = c
        .mkdir(InodeId::ROOT, b"a", 0o755, 0, 0)
        .await
        .expect("mkdir");
    let f = c
        .create(a.ino, b"f", FileKind::File, 0o644, 0, 0, true)
        .await
        .expect("create");
    c.symlink(InodeId::ROOT, b"abs", b"/a", 0, 0)
        .await
        .expect("symlink");
    c.symlink(a.ino, b"rel", b"../a/f", 0, 0)
        .await
        .expect("symlink");
    c.symlink(InodeId::ROOT, b"loop", b"/loop/x", 0, 0)
        .await
        .expect("symlink");

    assert_eq!(c.resolve("/a/f").await.expect("resolve").ino, f.ino);
    assert_eq!(
        c.resolve("/abs/f").await.expect("through symlink").ino,
        f.ino
    );
    assert_eq!(c.resolve("/a/./../a//f").await.expect("dots").ino, f.ino);
    assert_eq!(
        c.resolve("/abs").await.expect("lstat").kind,
        FileKind::Symlink
    );
    assert_eq!(c.resolve_follow("/a/rel").await.expect("stat").ino, f.ino);
    let (parent, name) = c.resolve_parent("/abs/new").await.expect("parent");
    assert_eq!((parent.ino, name), (a.ino, &b"new"[..]));

    let missing = c.resolve("/a/nope").await.expect_err("missing");
    assert_eq!(missing.fs(), Some(&FsError::NotFound));
    assert_eq!(missing.errno(), libc::ENOENT);
    let not_dir = c.resolve("/a/f/x").await.expect_err("file in the middle");
    assert_eq!(not_dir.fs(), Some(&FsError::NotDir));
    let looped = c.resolve("/loop/y").await.expect_err("loop");
    assert!(
        matches!(looped, ClientError::SymlinkLoop { .. }),
        "{looped:?}"
    );

    let exists = c
        .create(a.ino, b"f", FileKind::File, 0o644, 0, 0, true)
        .await
        .expect_err("O_EXCL");
    assert_eq!(exists.fs(), Some(&FsError::Exists));
    let again = c
        .create(a.ino, b"f", FileKind::File, 0o644, 0, 0, false)
        .await
        .expect("open existing");
    assert_eq!(again.ino, f.ino);

    let (page, done) = c.readdir(InodeId::ROOT, None, 2).await.expect("readdir");
    assert_eq!(
        page.iter().map(|e| e.name.clone()).collect::<Vec<_>>(),
        vec![b"a".to_vec(), b"abs".to_vec()]
    );
    assert!(!done);
    let (rest, done) = c
        .readdir(InodeId::ROOT, Some(b"abs".to_vec()), 10)
        .await
        .expect("readdir");
    assert_eq!(rest.len(), 1);
    assert!(done);
}

#[tokio::test]
async fn follows_redirects_to_the_leader() {
    let cl = cluster(1, 1);
    let leader = &cl.meta;
    let follower = FakeMeta::start(&cl.server_id, map_of(&cl.data, 1));
    follower.state.lock().redirect = Some(Some(leader.addr.clone()));
    let silent = FakeMeta::start(&cl.server_id, map_of(&cl.data, 1));
    silent.state.lock().redirect = Some(None);
    let c = Client::connect(cl.config(vec![silent.addr.clone(), follower.addr.clone()]))
        .await
        .expect("connect through followers");
    assert_eq!(c.leader_addr(), Some(leader.addr.clone()));
    c.getattr(InodeId::ROOT).await.expect("getattr");
    assert!(follower.state.lock().requests >= 1);
}

#[tokio::test]
async fn unavailability_is_retried_invisibly() {
    let cl = cluster(1, 1);
    let c = cl.client().await;
    cl.meta.state.lock().unavailable = 4;
    let a = c
        .mkdir(InodeId::ROOT, b"d", 0o755, 0, 0)
        .await
        .expect("mkdir after an election");
    assert_eq!(a.kind, FileKind::Dir);
    assert_eq!(cl.meta.state.lock().unavailable, 0);
}

#[tokio::test]
async fn a_lost_reply_is_retried_with_the_same_request_id() {
    let cl = cluster(1, 1);
    let c = cl.client().await;
    cl.meta.state.lock().drop_replies = 1;
    // Without deduplication the retry would fail with Exists.
    let d = c
        .mkdir(InodeId::ROOT, b"once", 0o755, 0, 0)
        .await
        .expect("mkdir");
    let seen = cl.meta.state.lock().mutations_seen.clone();
    assert_eq!(seen.len(), 2, "one attempt and one retry");
    assert_eq!(seen[0], seen[1], "the retry reuses the request id");
    assert_eq!(c.resolve("/once").await.expect("resolve").ino, d.ino);
    c.mkdir(InodeId::ROOT, b"twice", 0o755, 0, 0)
        .await
        .expect("mkdir");
    let seen = cl.meta.state.lock().mutations_seen.clone();
    assert_ne!(seen[1], seen[2], "a new call gets a new request id");
}

#[tokio::test]
async fn gives_up_after_the_failover_timeout() {
    let cl = cluster(1, 1);
    let mut cfg = cl.config(vec![cl.meta.addr.clone()]);
    cfg.failover_timeout = Duration::from_millis(800);
    let c = Client::connect(cfg).await.expect("connect");
    cl.meta.state.lock().unavailable = u32::MAX;
    let start = Instant::now();
    let err = c.getattr(InodeId::ROOT).await.expect_err("no quorum");
    let took = start.elapsed();
    assert!(matches!(err.fs(), Some(FsError::Unavailable(_))), "{err:?}");
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_skipped() {
    let cl = cluster(1, 1);
    // A bound but silent UDP port: connecting to it times out.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let dead = sock.local_addr().expect("addr").to_string();
    let mut cfg = cl.config(vec![dead, cl.meta.addr.clone()]);
    cfg.request_timeout = Duration::from_millis(300);
    let c = Client::connect(cfg)
        .await
        .expect("connect past a dead server");
    assert_eq!(c.leader_addr(), Some(cl.meta.addr.clone()));
}

#[tokio::test]
async fn streams_a_file_in_and_out() {
    let cl = cluster(3, 2);
    let c = cl.client().await;
    let ino = new_file(&c, b"big").await;
    let content = pattern((CS * 10 + 123) as usize, 7);
    let seen = std::sync::Mutex::new(Vec::new());
    let attr = c
        .write_file_from(ino, &content[..], &|n| seen.lock().expect("lock").push(n))
        .await
        .expect("write");
    assert_eq!(attr.size, content.len() as u64);
    assert_eq!(
        seen.lock().expect("lock").last().copied(),
        Some(content.len() as u64)
    );
    assert_eq!(read_all(&c, ino).await, content);

    // Every chunk is on two distinct servers that really hold it.
    let chunks = chunks_of(&cl, ino);
    assert_eq!(chunks.len(), 11);
    for loc in &chunks {
        assert_eq!(loc.servers.len(), 2);
        assert_ne!(loc.servers[0], loc.servers[1]);
        for s in &loc.servers {
            let d = cl.data.iter().find(|d| d.id == *s).expect("known server");
            assert!(d.state.lock().chunks.contains_key(&loc.chunk.id));
        }
    }

    // Ranged reads across chunk boundaries and past the end.
    let got = c.read_at(ino, CS - 10, 30).await.expect("read_at");
    assert_eq!(got, &content[(CS - 10) as usize..(CS + 20) as usize]);
    let tail = c.read_at(ino, CS * 10, 1000).await.expect("read_at tail");
    assert_eq!(tail, &content[(CS * 10) as usize..]);
    assert!(c
        .read_at(ino, CS * 20, 10)
        .await
        .expect("past end")
        .is_empty());

    // Writing a shorter content replaces the file.
    let short = pattern(100, 9);
    let attr = c
        .write_file_from(ino, &short[..], &|_| {})
        .await
        .expect("rewrite");
    assert_eq!(attr.size, 100);
    assert_eq!(read_all(&c, ino).await, short);
}

#[tokio::test]
async fn a_failing_target_is_replaced_by_the_next_server() {
    let cl = cluster(4, 2);
    let c = cl.client().await;
    cl.data[0].state.lock().fail = true;
    let ino = new_file(&c, b"f").await;
    let content = pattern((CS * 8) as usize, 1);
    c.write_file_from(ino, &content[..], &|_| {})
        .await
        .expect("write despite a failing server");
    for loc in chunks_of(&cl, ino) {
        assert_eq!(loc.servers.len(), 2, "full replication from the fallback");
        assert!(!loc.servers.contains(&cl.data[0].id));
    }
    assert_eq!(read_all(&c, ino).await, content);
}

#[tokio::test]
async fn too_few_servers_store_a_degraded_copy() {
    let cl = cluster(2, 3);
    let c = cl.client().await;
    let ino = new_file(&c, b"f").await;
    let attr = c
        .write_chunks(ino, vec![(0, Bytes::from(pattern(CS as usize, 3)))], CS)
        .await
        .expect("write");
    assert_eq!(attr.size, CS);
    let st = cl.meta.state.lock();
    assert_eq!(st.inodes[&ino].chunks[&0].servers.len(), 2);
}

#[tokio::test]
async fn reads_fall_back_past_failed_and_corrupt_replicas() {
    let cl = cluster(3, 3);
    let c = cl.client().await;
    let ino = new_file(&c, b"f").await;
    let content = pattern((CS * 3) as usize, 5);
    c.write_file_from(ino, &content[..], &|_| {})
        .await
        .expect("write");
    cl.data[0].state.lock().fail = true;
    cl.data[1].state.lock().corrupt = true;
    assert_eq!(
        read_all(&c, ino).await,
        content,
        "whole chunks: verified, bad copy skipped"
    );
    assert!(cl.data[2].state.lock().gets >= 3);

    // A part of a chunk comes verified through its block hashes: the corrupt copy is
    // skipped too.
    let part = c.read_at(ino, CS + 100, 50).await.expect("ranged read");
    assert_eq!(part, content[(CS + 100) as usize..(CS + 150) as usize]);

    // With only a corrupt copy left, whole and ranged reads must fail rather than
    // return bad bytes.
    cl.data[2].state.lock().fail = true;
    for (offset, len) in [(0, CS), (CS + 100, 50)] {
        let err = c
            .read_at(ino, offset, len)
            .await
            .expect_err("only a corrupt copy left");
        assert!(
            matches!(err.fs(), Some(FsError::DataUnavailable(_))),
            "{err:?}"
        );
        assert_eq!(err.errno(), libc::EIO);
    }
}

#[tokio::test]
async fn holes_read_as_zeros() {
    let cl = cluster(1, 1);
    let c = cl.client().await;
    let ino = new_file(&c, b"sparse").await;
    let a = Bytes::from(pattern(CS as usize, 1));
    let b = Bytes::from(pattern(100, 2));
    let attr = c
        .write_chunks(ino, vec![(2, b.clone()), (0, a.clone())], CS * 3)
        .await
        .expect("write");
    assert_eq!(attr.size, CS * 3);
    let all = c.read_at(ino, 0, CS * 3).await.expect("read");
    assert_eq!(&all[..CS as usize], &a[..]);
    assert!(
        all[CS as usize..(CS * 2) as usize].iter().all(|b| *b == 0),
        "missing chunk is a hole"
    );
    assert_eq!(&all[(CS * 2) as usize..(CS * 2 + 100) as usize], &b[..]);
    assert!(
        all[(CS * 2 + 100) as usize..].iter().all(|b| *b == 0),
        "short chunk tail is zeros"
    );
    assert_eq!(read_all(&c, ino).await, all);

    let cut = c
        .setattr(
            ino,
            SetAttr {
                size: Some(10),
                ..SetAttr::default()
            },
        )
        .await
        .expect("truncate");
    assert_eq!(cut.size, 10);
    assert_eq!(c.read_at(ino, 0, 100).await.expect("read"), &a[..10]);

    let too_big = c
        .write_chunks(ino, vec![(0, Bytes::from(vec![0u8; CS as usize + 1]))], 0)
        .await;
    assert_eq!(too_big.expect_err("oversized chunk").errno(), libc::EINVAL);
}

/// Two metadata servers sharing one namespace stand for a quorum: `b` answers
/// NotLeader (naming `a`) until the test promotes it.
fn pair(cl: &Cluster) -> FakeMeta {
    let b = FakeMeta::start(&cl.server_id, map_of(&cl.data, 1));
    b.state.lock().redirect = Some(Some(cl.meta.addr.clone()));
    b
}

#[tokio::test]
async fn a_frozen_leader_is_abandoned_for_the_new_one() {
    let cl = cluster(1, 1);
    let b = pair(&cl);
    let mut cfg = cl.config(vec![cl.meta.addr.clone(), b.addr.clone()]);
    cfg.request_timeout = Duration::from_millis(400);
    let c = Client::connect(cfg).await.expect("connect");
    assert_eq!(c.leader_addr(), Some(cl.meta.addr.clone()));
    // The leader freezes; an election makes `b` the leader.
    cl.meta.state.lock().blackhole = true;
    b.state.lock().redirect = None;
    let start = Instant::now();
    c.mkdir(InodeId::ROOT, b"after", 0o755, 0, 0)
        .await
        .expect("mkdir across the failover");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(c.leader_addr(), Some(b.addr.clone()));
}

#[tokio::test]
async fn a_killed_leader_is_abandoned_for_the_new_one() {
    let cl = cluster(1, 1);
    let b = pair(&cl);
    let c = Client::connect(cl.config(vec![cl.meta.addr.clone(), b.addr.clone()]))
        .await
        .expect("connect");
    assert_eq!(c.leader_addr(), Some(cl.meta.addr.clone()));
    cl.meta.kill();
    // While the election runs, the new leader reports it has no quorum yet.
    {
        let mut st = b.state.lock();
        st.redirect = None;
        st.unavailable = 2;
    }
    c.mkdir(InodeId::ROOT, b"after", 0o755, 0, 0)
        .await
        .expect("mkdir across the failover");
    assert_eq!(c.leader_addr(), Some(b.addr.clone()));
}

#[tokio::test]
async fn a_commit_refused_as_collected_is_uploaded_again_under_new_ids() {
    let cl = cluster(3, 3);
    let c = cl.client().await;
    let ino = new_file(&c, b"f").await;
    let (a, b) = (pattern(CS as usize, 5), pattern(CS as usize / 2, 6));
    cl.meta.state.lock().refuse_commits = 1;
    let attr = c
        .write_chunks(
            ino,
            vec![(0, Bytes::from(a.clone())), (1, Bytes::from(b.clone()))],
            CS + CS / 2,
        )
        .await
        .expect("the write succeeds after one rewrite");
    assert_eq!(attr.size, CS + CS / 2);
    let committed: Vec<_> = chunks_of(&cl, ino).iter().map(|l| l.chunk.id).collect();
    let refused = cl.meta.state.lock().refused.clone();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        committed.iter().all(|id| !refused.contains(id)),
        "a refused chunk id was committed: {committed:?} vs {refused:?}"
    );
    assert_eq!(read_all(&c, ino).await, [a, b].concat());
}
