//! Patched chunks stored as overlays of their base's file (real RocksDB and files).

use super::overlay::MAX_OVERLAY_BYTES;
use super::*;

const LEN: usize = 1 << 20;
const BLOCK: usize = 16 * 1024;

fn stored_base(store: &ChunkStore) -> (ChunkId, Vec<u8>) {
    let bytes: Vec<u8> = (0..LEN).map(|i| (i as u8).wrapping_mul(13)).collect();
    let id = ChunkId::random();
    store
        .put(id, *blake3::hash(&bytes).as_bytes(), &bytes)
        .expect("put base");
    (id, bytes)
}

/// Patch `base` (holding `bytes`) with `fill` over block `block`; returns the new
/// chunk and its bytes.
fn patch_block(
    store: &ChunkStore,
    base: ChunkId,
    bytes: &[u8],
    block: usize,
    fill: u8,
) -> (ChunkId, Vec<u8>) {
    let mut changed = bytes.to_vec();
    let at = block * BLOCK;
    changed[at..at + BLOCK].fill(fill);
    let id = ChunkId::random();
    let base_hash = *blake3::hash(bytes).as_bytes();
    let patched = store
        .patch(
            base,
            base_hash,
            id,
            &[(at as u64, &changed[at..at + BLOCK])],
        )
        .expect("patch");
    assert_eq!(&patched.hash, blake3::hash(&changed).as_bytes());
    (id, changed)
}

fn reads_back(store: &ChunkStore, id: ChunkId, want: &[u8]) {
    let got = store.get(id, 0, u64::MAX).expect("a whole, verified read");
    assert!(
        got.as_ref() == want,
        "chunk {id} reads back what was written"
    );
}

fn is_overlay(store: &ChunkStore, id: ChunkId) -> bool {
    store.header(id).expect("header").expect("stored").overlay
}

#[test]
fn a_patch_is_an_overlay_that_reads_whole_and_by_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path());
    let (base, bytes) = stored_base(&store);
    let (id, changed) = patch_block(&store, base, &bytes, 3, 0xee);
    assert!(is_overlay(&store, id));
    reads_back(&store, id, &changed);
    reads_back(&store, base, &bytes);
    // Ranged reads across the patched block, verified block by block.
    let b = store
        .get_blocks(id, 3 * BLOCK as u64 - 100, 200)
        .expect("blocks");
    assert_ne!(b.block, 0);
    let from = (b.first * b.block) as usize;
    assert_eq!(&b.bytes[..], &changed[from..from + b.bytes.len()]);
    assert!(
        !store.verify_and_refresh_blocks(id).expect("scrub"),
        "its block hashes are right"
    );
    assert_eq!(store.stat().chunks, 2);
}

#[test]
fn an_overlay_outlives_its_deleted_base_and_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (id, changed) = {
        let store = open_store(dir.path());
        let (base, bytes) = stored_base(&store);
        let (id, changed) = patch_block(&store, base, &bytes, 0, 1);
        assert!(store.delete(base).expect("delete base"));
        assert!(matches!(
            store.get(base, 0, 1),
            Err(StoreError::NotFound(_))
        ));
        reads_back(&store, id, &changed);
        store.flush().expect("flush");
        (id, changed)
    };
    // Reopening removes orphan files; the overlay's link is not one.
    let store = open_store(dir.path());
    reads_back(&store, id, &changed);
    assert!(store.delete(id).expect("delete overlay"));
    assert_eq!(store.stat().chunks, 0);
}

#[test]
fn patches_of_an_overlay_merge_spans_until_the_chunk_is_written_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path());
    let (mut id, mut bytes) = stored_base(&store);
    let first = id;
    let limit = (MAX_OVERLAY_BYTES as usize) / BLOCK;
    // Every other block, so the spans do not merge into one.
    for n in 0..limit {
        let (next, changed) = patch_block(&store, id, &bytes, 2 * n, n as u8);
        assert!(is_overlay(&store, next), "patch {n} is an overlay");
        // The previous generation goes, as the metadata server's collector would.
        assert!(store.delete(id).expect("delete"));
        (id, bytes) = (next, changed);
        reads_back(&store, id, &bytes);
    }
    assert!(!store.contains(first).expect("contains"));
    // One span more than the limit: written whole, and it reads the same.
    let (whole, changed) = patch_block(&store, id, &bytes, 2 * limit, 0x77);
    assert!(!is_overlay(&store, whole));
    reads_back(&store, whole, &changed);
    // Writing the same block again keeps the spans small: an overlay again.
    let (again, changed_again) = patch_block(&store, id, &bytes, 0, 0x78);
    assert!(is_overlay(&store, again));
    reads_back(&store, again, &changed_again);
}

#[test]
fn rot_outside_the_touched_blocks_is_found_when_the_overlay_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path());
    let (base, bytes) = stored_base(&store);
    let (id, _) = patch_block(&store, base, &bytes, 0, 9);
    // Flips the middle byte of the shared file: the base and the overlay both rot.
    store.corrupt_for_test(id).expect("corrupt");
    assert!(matches!(
        store.get(id, 0, u64::MAX),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.get_blocks(id, (LEN / 2) as u64, 10),
        Err(StoreError::Corrupt { .. })
    ));
    // Quarantining the overlay removes its link and spans, not the base's file.
    assert!(store.quarantine(id).expect("quarantine"));
    assert!(!store.contains(id).expect("contains"));
    assert!(store.contains(base).expect("contains"));
    assert_eq!(
        store.stat().used,
        LEN as u64,
        "the base's file is still charged"
    );
}

#[test]
fn a_retried_patch_is_idempotent_and_a_wrong_hash_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path());
    let (base, bytes) = stored_base(&store);
    let (id, changed) = patch_block(&store, base, &bytes, 5, 5);
    let at = 5 * BLOCK;
    let base_hash = *blake3::hash(&bytes).as_bytes();
    let edit: Edit<'_> = (at as u64, &changed[at..at + BLOCK]);
    let retry = store.patch(base, base_hash, id, &[edit]).expect("retry");
    assert_eq!(retry.outcome, PutOutcome::AlreadyStored);
    assert_eq!(&retry.hash, blake3::hash(&changed).as_bytes());
    let other = ChunkId::random();
    assert!(matches!(
        store.patch(base, [7; 32], other, &[edit]),
        Err(StoreError::Conflict(_))
    ));
    assert!(!store.contains(other).expect("contains"));
    assert_eq!(store.stat().chunks, 2);
}

#[test]
fn a_base_file_cut_short_at_a_block_boundary_is_refused_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path());
    let (base, bytes) = stored_base(&store);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(store.files.path(base))
        .expect("open chunk file");
    file.set_len(4 * BLOCK as u64).expect("truncate");
    // Blocks 3 and 4: the file still holds block 3, intact, and not block 4.
    let at = 3 * BLOCK;
    let mut changed = bytes.clone();
    changed[at..at + 2 * BLOCK].fill(3);
    let id = ChunkId::random();
    let base_hash = *blake3::hash(&bytes).as_bytes();
    assert!(matches!(
        store.patch(
            base,
            base_hash,
            id,
            &[(at as u64, &changed[at..at + 2 * BLOCK])]
        ),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(!store.contains(id).expect("contains"));
}

fn open_store(dir: &Path) -> ChunkStore {
    ChunkStore::open(dir, Some(1 << 30)).expect("open store")
}

/// Space used: a file's bytes are charged once while any chunk has a name for it, and
/// an overlay adds only its spans; a reopen counts the same.
#[test]
fn an_overlay_is_charged_its_spans_and_a_shared_file_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let used = |store: &ChunkStore| store.stat().used;
    let block = BLOCK as u64;
    let (second, changed) = {
        let store = open_store(dir.path());
        let (base, bytes) = stored_base(&store);
        assert_eq!(used(&store), LEN as u64);
        let (first, changed) = patch_block(&store, base, &bytes, 2, 7);
        assert_eq!(
            used(&store),
            LEN as u64 + block,
            "the base, the first's span"
        );
        let (second, changed) = patch_block(&store, first, &changed, 5, 8);
        assert_eq!(
            used(&store),
            LEN as u64 + 3 * block,
            "the base, the first's span, the second's two"
        );
        assert!(store.delete(base).expect("delete base"));
        assert_eq!(
            used(&store),
            LEN as u64 + 3 * block,
            "the overlays still hold the file"
        );
        assert!(store.delete(first).expect("delete the first overlay"));
        assert_eq!(used(&store), LEN as u64 + 2 * block);
        (second, changed)
    };
    let store = open_store(dir.path());
    assert_eq!(
        used(&store),
        LEN as u64 + 2 * block,
        "a reopen counts the file once, for the overlay that has the last name"
    );
    reads_back(&store, second, &changed);
    assert!(store.delete(second).expect("delete the last overlay"));
    assert_eq!(used(&store), 0, "the last name gives the file back");
    assert_eq!(store.stat().chunks, 0);
}

/// A reopen with the base still stored counts the shared file once, for the base.
#[test]
fn a_reopen_counts_a_file_shared_with_its_base_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expect = {
        let store = open_store(dir.path());
        let (base, bytes) = stored_base(&store);
        let (first, changed) = patch_block(&store, base, &bytes, 1, 3);
        patch_block(&store, first, &changed, 9, 4);
        store.stat().used
    };
    assert_eq!(expect, LEN as u64 + 3 * BLOCK as u64);
    let store = open_store(dir.path());
    assert_eq!(store.stat().used, expect);
    assert_eq!(store.stat().chunks, 3);
}

/// A capacity far below what whole copies would take holds many patched versions:
/// only their spans are charged.
#[test]
fn many_patched_versions_fit_where_whole_copies_would_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ChunkStore::open(dir.path(), Some(2 * LEN as u64)).expect("open store");
    let (mut id, mut bytes) = stored_base(&store);
    for round in 0..10 {
        (id, bytes) = patch_block(&store, id, &bytes, round, round as u8);
    }
    assert!(is_overlay(&store, id));
    reads_back(&store, id, &bytes);
    assert_eq!(store.stat().used, LEN as u64 + 55 * BLOCK as u64);
}

/// A damaged overlay replaced by a whole verified copy: the copy is charged whole, the
/// shared file stays charged to the base, and deleting both frees everything.
#[test]
fn replacing_a_damaged_overlay_keeps_the_space_count_right() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path());
    let (base, bytes) = stored_base(&store);
    let (id, changed) = patch_block(&store, base, &bytes, 4, 6);
    store.corrupt_for_test(id).expect("corrupt");
    let outcome = store
        .put(id, *blake3::hash(&changed).as_bytes(), &changed)
        .expect("put a verified copy");
    assert_eq!(outcome, PutOutcome::Repaired);
    assert!(!is_overlay(&store, id));
    reads_back(&store, id, &changed);
    assert_eq!(store.stat().used, 2 * LEN as u64);
    assert!(store.delete(base).expect("delete base"));
    assert!(store.delete(id).expect("delete the copy"));
    assert_eq!(store.stat().used, 0);
}
