//! Chunk store tests (real RocksDB in a temp dir).

use super::*;

fn chunk(seed: u8, len: usize) -> (ChunkId, [u8; 32], Vec<u8>) {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    let hash = *blake3::hash(&bytes).as_bytes();
    (ChunkId::random(), hash, bytes)
}

fn open(dir: &Path) -> ChunkStore {
    ChunkStore::open(dir, Some(1 << 30)).expect("open store")
}

#[test]
fn put_get_and_ranges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (id, hash, bytes) = chunk(1, 200_000);
    assert_eq!(
        store.put(id, hash, &bytes).expect("put"),
        PutOutcome::Stored
    );
    assert_eq!(
        store.get(id, 0, u64::MAX).expect("get").as_ref(),
        &bytes[..]
    );
    assert_eq!(
        store.get(id, 10, 20).expect("range").as_ref(),
        &bytes[10..30]
    );
    assert_eq!(
        store.get(id, 199_990, 100).expect("tail").as_ref(),
        &bytes[199_990..]
    );
    assert!(store.get(id, 200_000, 5).expect("at end").is_empty());
    assert!(matches!(
        store.get(id, 200_001, 1),
        Err(StoreError::BadRange { .. })
    ));
    assert!(store.contains(id).expect("contains"));
    assert_eq!(
        store.header(id).expect("header").map(|h| h.len),
        Some(200_000)
    );
    let st = store.stat();
    assert_eq!((st.chunks, st.used), (1, 200_000));
}

#[test]
fn empty_chunk_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (id, hash, bytes) = chunk(2, 0);
    store.put(id, hash, &bytes).expect("put");
    assert!(store.get(id, 0, u64::MAX).expect("get").is_empty());
    store.corrupt_for_test(id).expect("corrupt");
    assert!(matches!(
        store.get(id, 0, u64::MAX),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn missing_chunk_is_not_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    assert!(matches!(
        store.get(ChunkId(5), 0, 1),
        Err(StoreError::NotFound(_))
    ));
    assert!(!store.contains(ChunkId(5)).expect("contains"));
}

#[test]
fn wrong_hash_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (id, _, bytes) = chunk(3, 1000);
    let err = store.put(id, [0u8; 32], &bytes).expect_err("must fail");
    assert!(matches!(err, StoreError::HashMismatch(_)));
    assert!(!store.contains(id).expect("contains"));
    assert_eq!(store.stat().used, 0);
}

#[test]
fn corruption_is_detected_and_quarantined() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (id, hash, bytes) = chunk(4, 100_000);
    store.put(id, hash, &bytes).expect("put");
    store.corrupt_for_test(id).expect("corrupt");
    // Ranged reads verify the whole chunk too, even a range away from the damage.
    assert!(matches!(
        store.get(id, 0, 10),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(store.quarantine(id).expect("quarantine"));
    assert!(store.is_quarantined(id).expect("is_quarantined"));
    assert!(matches!(store.get(id, 0, 10), Err(StoreError::NotFound(_))));
    let st = store.stat();
    assert_eq!((st.chunks, st.used, st.quarantined), (0, 0, 1));
    // A fresh verified copy can be stored again, and delete clears the quarantine.
    assert_eq!(
        store.put(id, hash, &bytes).expect("re-put"),
        PutOutcome::Stored
    );
    assert!(store.delete(id).expect("delete"));
    assert!(!store.is_quarantined(id).expect("is_quarantined"));
    assert_eq!(store.stat().quarantined, 0);
}

#[test]
fn quarantine_leaves_intact_chunks_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (id, hash, bytes) = chunk(5, 1000);
    store.put(id, hash, &bytes).expect("put");
    assert!(!store.quarantine(id).expect("quarantine"));
    assert!(store.contains(id).expect("contains"));
}

#[test]
fn put_is_idempotent_repairs_and_refuses_conflicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (id, hash, bytes) = chunk(6, 70_000);
    assert_eq!(
        store.put(id, hash, &bytes).expect("put"),
        PutOutcome::Stored
    );
    assert_eq!(
        store.put(id, hash, &bytes).expect("again"),
        PutOutcome::AlreadyStored
    );
    store.corrupt_for_test(id).expect("corrupt");
    assert_eq!(
        store.put(id, hash, &bytes).expect("repair"),
        PutOutcome::Repaired
    );
    assert_eq!(
        store.get(id, 0, u64::MAX).expect("get").as_ref(),
        &bytes[..]
    );
    let (_, other_hash, other) = chunk(7, 10);
    assert!(matches!(
        store.put(id, other_hash, &other),
        Err(StoreError::Conflict(_))
    ));
    let st = store.stat();
    assert_eq!((st.chunks, st.used), (1, 70_000));
}

#[test]
fn capacity_is_enforced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ChunkStore::open(dir.path(), Some(150_000)).expect("open");
    let (a, ha, ba) = chunk(8, 100_000);
    let (b, hb, bb) = chunk(9, 100_000);
    store.put(a, ha, &ba).expect("first fits");
    assert!(matches!(
        store.put(b, hb, &bb),
        Err(StoreError::NoSpace { .. })
    ));
    assert!(!store.contains(b).expect("contains"));
    assert_eq!(store.stat().used, 100_000);
    store.delete(a).expect("delete");
    store.put(b, hb, &bb).expect("fits after delete");
}

#[test]
fn too_large_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let big = vec![0u8; (MAX_CHUNK_BYTES + 1) as usize];
    let err = store.put(ChunkId(1), [0; 32], &big).expect_err("too large");
    assert!(matches!(err, StoreError::TooLarge { .. }));
}

#[test]
fn reopen_keeps_data_and_counters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (id, hash, bytes) = chunk(10, 300_000);
    let (bad, bad_hash, bad_bytes) = chunk(11, 5000);
    {
        let store = open(dir.path());
        store.put(id, hash, &bytes).expect("put");
        store.put(bad, bad_hash, &bad_bytes).expect("put");
        store.corrupt_for_test(bad).expect("corrupt");
        store.quarantine(bad).expect("quarantine");
    }
    let store = open(dir.path());
    assert_eq!(
        store.get(id, 0, u64::MAX).expect("get").as_ref(),
        &bytes[..]
    );
    let st = store.stat();
    assert_eq!((st.chunks, st.used, st.quarantined), (1, 300_000, 1));
}

#[test]
fn ids_after_walks_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    for i in 1..=5u128 {
        let bytes = vec![i as u8; 10];
        store
            .put(ChunkId(i), *blake3::hash(&bytes).as_bytes(), &bytes)
            .expect("put");
    }
    assert_eq!(
        store.ids_after(None, 2).expect("first"),
        vec![ChunkId(1), ChunkId(2)]
    );
    let rest = store.ids_after(Some(ChunkId(2)), 10).expect("rest");
    assert_eq!(rest, vec![ChunkId(3), ChunkId(4), ChunkId(5)]);
    assert!(store
        .ids_after(Some(ChunkId(5)), 10)
        .expect("end")
        .is_empty());
}

/// Bytes in the files under `dir` (recursively) whose name ends in `.ext`.
fn size_of(dir: &Path, ext: &str) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)
        .expect("read_dir")
        .filter_map(Result::ok)
    {
        let path = entry.path();
        if path.is_dir() {
            total += size_of(&path, ext);
        } else if ext.is_empty() || path.extension().is_some_and(|x| x == ext) {
            total += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    total
}

#[test]
fn large_chunks_are_files_and_small_ones_stay_in_rocksdb() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut large = Vec::new();
    for i in 0..8u8 {
        let (id, hash, bytes) = chunk(i, 1 << 20);
        store.put(id, hash, &bytes).expect("put");
        large.push((id, bytes));
        let (id, hash, bytes) = chunk(100 + i, 4096);
        store.put(id, hash, &bytes).expect("put small");
    }
    store.flush().expect("flush");
    let files = size_of(&dir.path().join("chunks"), "");
    assert_eq!(files, 8 << 20, "one file of 1 MiB per large chunk");
    let (blob, sst, log) = (
        size_of(dir.path(), "blob"),
        size_of(dir.path(), "sst"),
        size_of(dir.path(), "log"),
    );
    assert_eq!(blob, 0, "no chunk went to RocksDB's blob files");
    assert!(
        sst + log < 1 << 20,
        "RocksDB holds headers and the small chunks only: {sst} + {log} bytes"
    );
    let (id, bytes) = &large[0];
    assert_eq!(
        store.get(*id, 0, u64::MAX).expect("get").as_ref(),
        &bytes[..]
    );
    assert!(store.delete(*id).expect("delete"));
    assert_eq!(
        size_of(&dir.path().join("chunks"), ""),
        7 << 20,
        "a delete removes the file at once"
    );
}

#[test]
fn chunk_files_without_a_header_are_removed_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (id, hash, bytes) = chunk(1, 100_000);
    let orphan = ChunkId(0xabcdef);
    let orphan_path = {
        let store = open(dir.path());
        store.put(id, hash, &bytes).expect("put");
        // What a crash between writing a file and committing its header leaves.
        store.files.write(orphan, &bytes).expect("stray file");
        store.files.path(orphan)
    };
    assert!(orphan_path.exists());
    let store = open(dir.path());
    assert!(!orphan_path.exists(), "the orphan was removed");
    assert_eq!(
        store.get(id, 0, u64::MAX).expect("get").as_ref(),
        &bytes[..]
    );
}

#[test]
fn a_missing_chunk_file_is_corruption_not_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (id, hash, bytes) = chunk(3, 100_000);
    store.put(id, hash, &bytes).expect("put");
    std::fs::remove_file(store.files.path(id)).expect("remove the file");
    assert!(matches!(
        store.get(id, 0, 10),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(store.quarantine(id).expect("quarantine"));
    // A verified copy repairs it.
    assert_eq!(
        store.put(id, hash, &bytes).expect("re-put"),
        PutOutcome::Stored
    );
    assert_eq!(
        store.get(id, 0, u64::MAX).expect("get").as_ref(),
        &bytes[..]
    );
}

#[test]
fn a_reclaim_pass_gives_back_deleted_small_chunks_beside_live_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    // Three SST files (one under RocksDB's automatic compaction trigger) of two 60 KiB
    // chunks each; one chunk of each is deleted, so only a compaction (which reclaim
    // passes run) can give its space back.
    let mut live = Vec::new();
    for file in 0..3u8 {
        let (gone, hash, bytes) = chunk(file * 2, 60 << 10);
        store.put(gone, hash, &bytes).expect("put");
        let (kept, hash, bytes) = chunk(file * 2 + 1, 60 << 10);
        store.put(kept, hash, &bytes).expect("put");
        live.push((kept, bytes));
        store.flush().expect("flush");
        store.delete(gone).expect("delete");
    }
    let before = size_of(dir.path(), "sst");
    assert!(before >= 360 << 10, "three SSTs of 120 KiB: {before} bytes");
    assert!(store.reclaim_deleted("test").expect("reclaim pass"));
    let after = size_of(dir.path(), "sst");
    assert!(
        after + (150 << 10) <= before,
        "the pass gave back the deleted chunks: {before} -> {after} bytes"
    );
    // Nothing was deleted since: the next pass has nothing to do.
    assert!(!store.reclaim_deleted("test").expect("second pass"));
    for (id, bytes) in &live {
        assert_eq!(
            store.get(*id, 0, u64::MAX).expect("live chunk").as_ref(),
            &bytes[..]
        );
    }
}

#[test]
fn ranged_reads_send_only_the_verified_blocks_they_need() {
    use ferrofs_proto::block_hashes::{verify_blocks, BLOCK_BYTES};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (id, hash, bytes) = chunk(7, 200_000);
    store.put(id, hash, &bytes).expect("put");
    let len = bytes.len() as u64;

    let b = store.get_blocks(id, 20_000, 100).expect("blocks");
    assert_eq!((b.block, b.first), (BLOCK_BYTES, 1));
    assert_eq!(b.bytes.as_ref(), &bytes[16_384..32_768]);
    assert_eq!(b.hashes.len(), 13);
    assert_eq!(
        verify_blocks(&hash, len, b.block, &b.hashes, b.first, &b.bytes),
        Ok(())
    );
    let tail = store.get_blocks(id, 199_000, 5_000).expect("tail");
    assert_eq!(tail.bytes.as_ref(), &bytes[12 * 16_384..]);
    assert!(matches!(
        store.get_blocks(id, len, 1),
        Err(StoreError::BadRange { .. })
    ));

    // Rot in the middle block: a range elsewhere still verifies, one over it does not.
    store.corrupt_for_test(id).expect("corrupt");
    assert!(store.get_blocks(id, 0, 100).is_ok());
    assert!(matches!(
        store.get_blocks(id, 100_000, 10),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(store.quarantine(id).expect("quarantine"));
    assert!(matches!(
        store.get_blocks(id, 0, 100),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn damaged_block_hashes_fall_back_to_a_whole_verified_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (id, hash, bytes) = chunk(8, 100_000);
    store.put(id, hash, &bytes).expect("put");
    store.corrupt_block_hashes_for_test(id).expect("damage");
    let b = store.get_blocks(id, 50_000, 10).expect("whole");
    assert_eq!(b.block, 0, "no usable block hashes");
    assert_eq!(b.bytes.as_ref(), &bytes[..]);
    // The chunk itself is intact: nothing to quarantine.
    assert!(!store.quarantine(id).expect("quarantine"));

    // Small chunks (kept in RocksDB) are sent whole too.
    let (small, small_hash, small_bytes) = chunk(9, 1000);
    store.put(small, small_hash, &small_bytes).expect("put");
    let s = store.get_blocks(small, 10, 10).expect("small");
    assert_eq!((s.block, s.bytes.as_ref()), (0, &small_bytes[..]));
}

#[test]
fn a_scrub_check_rewrites_missing_or_damaged_block_hashes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (id, hash, bytes) = chunk(10, 300_000);
    store.put(id, hash, &bytes).expect("put");
    assert!(
        !store.verify_and_refresh_blocks(id).expect("intact"),
        "record already right"
    );

    store.corrupt_block_hashes_for_test(id).expect("damage");
    assert_eq!(store.get_blocks(id, 0, 10).expect("whole").block, 0);
    assert!(store.verify_and_refresh_blocks(id).expect("refreshed"));
    assert_ne!(store.get_blocks(id, 0, 10).expect("blocks").block, 0);

    let (small, small_hash, small_bytes) = chunk(11, 500);
    store.put(small, small_hash, &small_bytes).expect("put");
    assert!(!store.verify_and_refresh_blocks(small).expect("small chunk"));

    store.corrupt_for_test(id).expect("corrupt");
    assert!(matches!(
        store.verify_and_refresh_blocks(id),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn patch_builds_a_new_chunk_from_a_stored_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (base, base_hash, bytes) = chunk(3, 300_000);
    store.put(base, base_hash, &bytes).expect("put");
    // Two writes, neither on a block boundary: only their bytes are sent.
    let mut changed = bytes.clone();
    changed[20_000..20_100].fill(0xab);
    changed[70_000..74_096].fill(0xac);
    let edits: [Edit<'_>; 2] = [(20_000, &[0xab; 100]), (70_000, &[0xac; 4096])];
    let (id, hash) = (ChunkId::random(), *blake3::hash(&changed).as_bytes());

    // A base hash the stored base does not have: refused, nothing stored.
    let other = ChunkId::random();
    assert!(matches!(
        store.patch(base, [7; 32], other, &edits),
        Err(StoreError::Conflict(_))
    ));
    assert!(!store.contains(other).expect("contains"));
    // Bytes past the end of the base, no bytes at all, or an unknown base: refused.
    assert!(matches!(
        store.patch(base, base_hash, other, &[(299_000, &[0; 2000])]),
        Err(StoreError::BadRange { .. })
    ));
    assert!(matches!(
        store.patch(base, base_hash, other, &[(10, &[])]),
        Err(StoreError::BadRange { .. })
    ));
    assert!(matches!(
        store.patch(base, base_hash, other, &[]),
        Err(StoreError::BadRange { .. })
    ));
    assert!(matches!(
        store.patch(ChunkId::random(), base_hash, other, &[(0, &[0; 10])]),
        Err(StoreError::NotFound(_))
    ));
    assert!(!store.contains(other).expect("contains"));

    let patched = store.patch(base, base_hash, id, &edits).expect("patch");
    assert_eq!(patched.outcome, PutOutcome::Stored);
    assert_eq!(patched.hash, hash, "the hash of the whole new chunk");
    assert_eq!(
        store.get(id, 0, u64::MAX).expect("get").as_ref(),
        &changed[..]
    );
    assert_eq!(
        store.get(base, 0, u64::MAX).expect("base").as_ref(),
        &bytes[..]
    );
    // The new chunk has block hashes like any stored chunk: a ranged read verifies.
    let blocks = store.get_blocks(id, 20_000, 100).expect("blocks");
    assert_ne!(blocks.block, 0, "the patched chunk has block hashes");

    // A base whose touched block rotted (the middle byte, in block 9) is refused:
    // nothing stored, and the client sends the whole chunk.
    store.corrupt_for_test(base).expect("corrupt");
    let again = ChunkId::random();
    assert!(store
        .patch(base, base_hash, again, &[(150_000, &[0xcd; 10])])
        .is_err());
    assert!(!store.contains(again).expect("contains"));
}
