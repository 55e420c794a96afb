//! Block-wise chunk updates in a running cluster: a few changed bytes of a stored chunk
//! travel as a patch (only the written bytes), every replica builds the new
//! chunk from its copy, and the file reads back changed; what a patch cannot do is
//! refused with `None` (the caller writes the chunk whole) and changes nothing. Servers
//! store a patched chunk as an overlay sharing the old chunk's file: once the collector
//! has deleted the old chunk everywhere, the new one still reads back.

use ferrofs_client::ServerState;
use ferrofs_proto::config::{load, ClientConfig};
use ferrofs_proto::data_msg::{DataRequest, DataResponse};
use ferrofs_proto::ring::Ring;
use ferrofs_tests::damage::has_chunk;
use ferrofs_tests::data::content;
use ferrofs_tests::files::{get_bytes, put_bytes};
use ferrofs_tests::{raw, wait_until, TestCluster};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn small_changes_to_a_stored_chunk_travel_as_patches() -> anyhow::Result<()> {
    let cluster = TestCluster::start_with(1, 3, &["--gc-grace", "1s"])?;
    let client = cluster.client().await?;
    let cfg: ClientConfig = load(&cluster.client_config())?;
    let conn = raw::connector(&cfg)?;
    let cs = client.chunk_size();
    let original = content(7, (2 * cs + 100_000) as usize);
    let ino = put_bytes(&client, "/f", &original).await?.ino;
    let (before, _) = client.chunk_locations(ino, 1, 1).await?;
    let before = before.first().cloned().expect("chunk 1 is stored");

    // Phase 1: two edits inside chunk 1 go out as one patch.
    let (a, b) = (100u64, cs / 2);
    let edits: [(u64, &[u8]); 2] = [(a, b"hello"), (b, &[9u8; 20_000])];
    let patched = client.patch_chunk(ino, 1, cs, &edits, None).await?;
    let (attr, patched_at) = patched.expect("chunk 1 is patched");
    assert_eq!(attr.size, original.len() as u64);
    let mut expect = original.clone();
    for (offset, bytes) in edits {
        let at = (cs + offset) as usize;
        expect[at..at + bytes.len()].copy_from_slice(bytes);
    }
    assert!(
        get_bytes(&client, "/f").await? == expect,
        "the file reads back patched"
    );
    let (after, _) = client.chunk_locations(ino, 1, 1).await?;
    let after = after.first().cloned().expect("chunk 1 is stored");
    assert_ne!(after.chunk.id, before.chunk.id, "a patch makes a new chunk");
    let (mut was, mut now) = (before.servers.clone(), after.servers.clone());
    was.sort();
    now.sort();
    assert_eq!(was, now, "on the servers that held the old one");
    let status = client.status().await?;
    for server in &after.servers {
        let addr = status
            .data_servers
            .iter()
            .find(|d| d.id == *server && d.state == ServerState::Up)
            .map(|d| d.addr.clone())
            .expect("an up server");
        assert!(
            has_chunk(&conn, &addr, after.chunk.id).await,
            "{addr} holds the new chunk"
        );
    }
    assert_eq!(
        patched_at, after,
        "the patch returns where the new chunk is"
    );
    eprintln!(
        "phase 1: chunk {} patched into {}",
        before.chunk.id, after.chunk.id
    );

    // Phase 1b: a writer that still knows chunk 1 as it was before phase 1 patches it
    // from there. Its commit finds another chunk at index 1 and is refused, so the
    // client starts again from the chunk that is there now: both writes survive.
    let late: [(u64, &[u8]); 1] = [(cs / 4, b"late writer")];
    let redone = client
        .patch_chunk(ino, 1, cs, &late, Some(before.clone()))
        .await?;
    let (_, redone_at) = redone.expect("patched from the current chunk");
    assert_ne!(redone_at.chunk.id, after.chunk.id);
    let at = (cs + late[0].0) as usize;
    expect[at..at + late[0].1.len()].copy_from_slice(late[0].1);
    assert!(
        get_bytes(&client, "/f").await? == expect,
        "the file has phase 1's writes and the late writer's"
    );
    // From the location the patch returned, the next patch needs no lookup.
    let next: [(u64, &[u8]); 1] = [(cs / 8, b"next")];
    let again = client
        .patch_chunk(ino, 1, cs, &next, Some(redone_at.clone()))
        .await?;
    assert!(again.is_some(), "patched from the returned location");
    let at = (cs + next[0].0) as usize;
    expect[at..at + next[0].1.len()].copy_from_slice(next[0].1);
    assert!(get_bytes(&client, "/f").await? == expect);
    eprintln!("phase 1b: a patch from an outdated location was redone from the current one");

    // Phase 2: what a patch cannot do is refused and changes nothing: another chunk
    // length than the caller expects, edits past the chunk's end, a hole.
    let last_len = original.len() as u64 - 2 * cs;
    assert!(client
        .patch_chunk(ino, 2, last_len + 1, &[(0, b"x")], None)
        .await?
        .is_none());
    assert!(client
        .patch_chunk(ino, 2, last_len, &[(last_len, b"x")], None)
        .await?
        .is_none());
    assert!(client
        .patch_chunk(ino, 9, cs, &[(0, b"x")], None)
        .await?
        .is_none());
    assert!(
        get_bytes(&client, "/f").await? == expect,
        "refused patches change nothing"
    );
    // The last chunk, shorter than a chunk (but big enough to have block hashes), is
    // patched as well.
    let tail: [(u64, &[u8]); 1] = [(last_len - 3, b"end")];
    assert!(client
        .patch_chunk(ino, 2, last_len, &tail, None)
        .await?
        .is_some());
    let n = expect.len();
    expect[n - 3..].copy_from_slice(b"end");
    assert!(
        get_bytes(&client, "/f").await? == expect,
        "the tail reads back patched"
    );
    eprintln!("phase 2: refusals change nothing; a short last chunk patches too");

    // Phase 3: the collector deletes the chunk that phase 1 patched from every server;
    // the patched chunk, which shares its file, still reads back whole and verified.
    let addrs: Vec<String> = status.data_servers.iter().map(|d| d.addr.clone()).collect();
    wait_until(
        "the old chunk collected",
        Duration::from_secs(60),
        || async {
            for addr in &addrs {
                let asked = DataRequest::HasChunk {
                    id: before.chunk.id,
                };
                let answer = conn.call::<_, DataResponse>(addr, &asked, Duration::from_secs(5));
                if !matches!(answer.await, Ok(DataResponse::Present(false))) {
                    return None;
                }
            }
            Some(())
        },
    )
    .await?;
    assert!(
        get_bytes(&client, "/f").await? == expect,
        "the file reads back after its old chunks were collected"
    );
    eprintln!(
        "phase 3: chunk {} collected, the file reads back",
        before.chunk.id
    );
    Ok(())
}

/// A patched chunk is placed like the chunk it was made from. With more servers than
/// copies, the servers that built it from the old chunk are its ring targets, so the
/// rebalancer has nothing to move: before, every patch made a chunk that had to be
/// copied whole to other servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_patched_chunk_is_already_on_its_ring_targets() -> anyhow::Result<()> {
    const CHUNKS: u64 = 4;
    const COPIES: usize = 2;
    let cluster = TestCluster::start_with(1, 4, &["--replication", "2"])?;
    let client = cluster.client().await?;
    let cs = client.chunk_size();
    let mut expect = content(11, (CHUNKS * cs) as usize);
    let ino = put_bytes(&client, "/g", &expect).await?.ino;
    let status = client.status().await?;
    let ring = Ring::of_up_servers(&status.data_servers, 1);
    assert_eq!(ring.members().len(), 4, "every data server is up");

    for index in 0..CHUNKS {
        // Two patches in a row: the second is made from a patched chunk.
        for round in 0..2u8 {
            let at = u64::from(round) * cs / 3 + 1000;
            let edit = [round + 1; 100];
            let patched = client
                .patch_chunk(ino, index, cs, &[(at, &edit)], None)
                .await?;
            assert!(patched.is_some(), "chunk {index} is patched");
            let at = (index * cs + at) as usize;
            expect[at..at + edit.len()].copy_from_slice(&edit);
        }
        let (located, _) = client.chunk_locations(ino, index, 1).await?;
        let c = located.first().expect("the chunk is stored");
        let (mut holders, mut targets) = (c.servers.clone(), ring.place(c.chunk.id, COPIES));
        holders.sort();
        targets.sort();
        assert_eq!(
            holders, targets,
            "patched chunk {index} ({}) is on its ring targets",
            c.chunk.id
        );
    }
    assert!(
        get_bytes(&client, "/g").await? == expect,
        "the file reads back patched"
    );
    let moved = client.status().await?.rebalance.moves_done;
    assert_eq!(moved, 0, "the rebalancer moved {moved} copies");
    Ok(())
}
