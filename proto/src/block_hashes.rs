//! Verified ranges of a chunk. BLAKE3 is a tree hash: the hash of a chunk can be
//! rebuilt from the chaining values ("block hashes") of its aligned power-of-two
//! blocks. A reader that checks a chunk's block hashes against the chunk hash it
//! trusts (from the metadata) can then verify one block without reading the rest,
//! so a 4 KiB read costs one block, not the whole 4 MiB chunk.
//!
//! Data servers compute the block hashes when they store a chunk and keep them
//! beside its header; `GetBlocks` answers with them and the blocks covering a range.

use blake3::hazmat::{left_subtree_len, merge_subtrees_non_root, merge_subtrees_root};
use blake3::hazmat::{ChainingValue, HasherExt, Mode};

/// Block size data servers use for new chunks.
pub const BLOCK_BYTES: u64 = 16 * 1024;
/// Smallest and largest block size a reader accepts from a server.
const MIN_BLOCK_BYTES: u64 = blake3::CHUNK_LEN as u64;
const MAX_BLOCK_BYTES: u64 = 1024 * 1024;

pub type BlockHash = ChainingValue;

/// Why blocks did not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block size {0} is not a power of two between 1 KiB and 1 MiB")]
    BadBlockSize(u64),
    #[error("{got} block hashes for a chunk of {len} bytes in blocks of {block}")]
    WrongCount { got: usize, len: u64, block: u64 },
    #[error("block hashes do not add up to the chunk hash")]
    RootMismatch,
    #[error("blocks from {first} do not fit the chunk ({got} bytes)")]
    BadRange { first: u64, got: usize },
    #[error("block {0} does not match its hash")]
    BlockMismatch(u64),
}

/// Blocks of `block` bytes in a chunk of `len` bytes.
pub fn block_count(len: u64, block: u64) -> u64 {
    len.div_ceil(block)
}

fn check_block_size(block: u64) -> Result<(), BlockError> {
    if block.is_power_of_two() && (MIN_BLOCK_BYTES..=MAX_BLOCK_BYTES).contains(&block) {
        Ok(())
    } else {
        Err(BlockError::BadBlockSize(block))
    }
}

/// Hash of block `index` (1 ..= `block` bytes) of a chunk of more than one block.
fn block_hash(block: u64, index: u64, bytes: &[u8]) -> BlockHash {
    blake3::Hasher::new()
        .set_input_offset(index * block)
        .update(bytes)
        .finalize_non_root()
}

/// The block hashes of a chunk; `None` when it fits in one block (its own hash is
/// then the only check there is, and a reader fetches it whole).
pub fn block_hashes(bytes: &[u8], block: u64) -> Option<Vec<BlockHash>> {
    check_block_size(block).ok()?;
    if bytes.len() as u64 <= block {
        return None;
    }
    Some(
        bytes
            .chunks(block as usize)
            .enumerate()
            .map(|(i, b)| block_hash(block, i as u64, b))
            .collect(),
    )
}

/// The chunk hash rebuilt from its block hashes, following BLAKE3's tree: the left
/// subtree of `len` bytes holds the largest power-of-two number of 1 KiB chunks
/// below the total, which for `len > block` is a whole number of blocks.
pub fn root_of(hashes: &[BlockHash], len: u64, block: u64) -> Result<[u8; 32], BlockError> {
    check_block_size(block)?;
    if len <= block || hashes.len() as u64 != block_count(len, block) {
        return Err(BlockError::WrongCount {
            got: hashes.len(),
            len,
            block,
        });
    }
    fn subtree(hashes: &[BlockHash], len: u64, block: u64) -> BlockHash {
        if len <= block {
            return hashes[0];
        }
        let (left, right) = split(hashes, len, block);
        merge_subtrees_non_root(
            &subtree(left.0, left.1, block),
            &subtree(right.0, right.1, block),
            Mode::Hash,
        )
    }
    type Side<'a> = (&'a [BlockHash], u64);
    fn split(hashes: &[BlockHash], len: u64, block: u64) -> (Side<'_>, Side<'_>) {
        let left_len = left_subtree_len(len);
        let (l, r) = hashes.split_at((left_len / block) as usize);
        ((l, left_len), (r, len - left_len))
    }
    let (left, right) = split(hashes, len, block);
    let root = merge_subtrees_root(
        &subtree(left.0, left.1, block),
        &subtree(right.0, right.1, block),
        Mode::Hash,
    );
    Ok(*root.as_bytes())
}

/// Check that `bytes` are the blocks of a chunk (`len` bytes, hash `hash`) starting
/// at block `first`: the block hashes must rebuild `hash`, and each block must match
/// its block hash. The last block of `bytes` may be short only at the chunk's end.
pub fn verify_blocks(
    hash: &[u8; 32],
    len: u64,
    block: u64,
    hashes: &[BlockHash],
    first: u64,
    bytes: &[u8],
) -> Result<(), BlockError> {
    if &root_of(hashes, len, block)? != hash {
        return Err(BlockError::RootMismatch);
    }
    match_blocks(len, block, hashes, first, bytes)
}

/// The second half of `verify_blocks`, for a holder of `hashes` that already checked
/// them against the chunk hash (`root_of`): each block must match its block hash.
pub fn match_blocks(
    len: u64,
    block: u64,
    hashes: &[BlockHash],
    first: u64,
    bytes: &[u8],
) -> Result<(), BlockError> {
    check_range(len, block, first, bytes)?;
    for (index, b) in numbered_blocks(block, first, bytes) {
        if hashes.get(index as usize) != Some(&block_hash(block, index, b)) {
            return Err(BlockError::BlockMismatch(index));
        }
    }
    Ok(())
}

/// The block hashes of a chunk (`len` bytes) after its blocks from `first` on were
/// replaced by `bytes`: those blocks' hashes are computed again, the others kept.
/// With `root_of` this gives the hash of the changed chunk without the rest of it.
pub fn rehash_blocks(
    hashes: &mut [BlockHash],
    len: u64,
    block: u64,
    first: u64,
    bytes: &[u8],
) -> Result<(), BlockError> {
    check_range(len, block, first, bytes)?;
    if hashes.len() as u64 != block_count(len, block) {
        return Err(BlockError::WrongCount {
            got: hashes.len(),
            len,
            block,
        });
    }
    for (index, b) in numbered_blocks(block, first, bytes) {
        hashes[index as usize] = block_hash(block, index, b);
    }
    Ok(())
}

/// The blocks of `bytes` with their index in the chunk (the first is `first`).
fn numbered_blocks(block: u64, first: u64, bytes: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    (first..).zip(bytes.chunks(block as usize))
}

/// `bytes` are whole blocks of a chunk of `len` bytes starting at block `first`; only
/// the chunk's last block may be short.
fn check_range(len: u64, block: u64, first: u64, bytes: &[u8]) -> Result<(), BlockError> {
    check_block_size(block)?;
    let bad_range = || BlockError::BadRange {
        first,
        got: bytes.len(),
    };
    let start = first.checked_mul(block).ok_or_else(bad_range)?;
    let end = start
        .checked_add(bytes.len() as u64)
        .ok_or_else(bad_range)?;
    if bytes.is_empty() || start >= len || end > len || (end < len && end % block != 0) {
        return Err(bad_range());
    }
    Ok(())
}

/// The blocks covering `offset .. offset + len` of a chunk of `chunk_len` bytes:
/// (first block, byte range of those blocks in the chunk).
pub fn covering(offset: u64, len: u64, chunk_len: u64, block: u64) -> (u64, u64, u64) {
    let first = offset / block;
    let end = offset
        .saturating_add(len)
        .div_ceil(block)
        .saturating_mul(block)
        .min(chunk_len);
    (first, first * block, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn rehashed_blocks_give_the_hash_of_the_changed_chunk() {
        let block = 4096;
        for (len, first, blocks) in [(20_000u64, 1u64, 2u64), (20_000, 4, 1), (65_536, 0, 16)] {
            let old = data(len as usize);
            let mut new = old.clone();
            let start = (first * block) as usize;
            let end = ((first + blocks) * block).min(len) as usize;
            for b in &mut new[start..end] {
                *b ^= 0x5a;
            }
            let mut hashes = block_hashes(&old, block).expect("hashes");
            rehash_blocks(&mut hashes, len, block, first, &new[start..end]).expect("rehash");
            assert_eq!(hashes, block_hashes(&new, block).expect("hashes"));
            assert_eq!(
                &root_of(&hashes, len, block).expect("root"),
                blake3::hash(&new).as_bytes()
            );
        }
        let mut hashes = block_hashes(&data(20_000), block).expect("hashes");
        let before = hashes.clone();
        // Not whole blocks, past the end, or a count that does not fit: refused, unchanged.
        assert!(rehash_blocks(&mut hashes, 20_000, block, 1, &[0; 100]).is_err());
        assert!(rehash_blocks(&mut hashes, 20_000, block, 5, &[0; 10]).is_err());
        assert!(rehash_blocks(&mut hashes[..3], 20_000, block, 1, &[0; 4096]).is_err());
        assert_eq!(hashes, before);
    }

    #[test]
    fn block_hashes_rebuild_the_blake3_hash_for_every_shape() {
        let block = 4096;
        for len in [4097, 8192, 8193, 12288, 20000, 65536, 65537, 1_000_000] {
            let bytes = data(len);
            let hashes = block_hashes(&bytes, block).expect("more than one block");
            assert_eq!(hashes.len() as u64, block_count(len as u64, block));
            let root = root_of(&hashes, len as u64, block).expect("root");
            assert_eq!(&root, blake3::hash(&bytes).as_bytes(), "len {len}");
        }
        let four_mib = data(4 << 20);
        let hashes = block_hashes(&four_mib, BLOCK_BYTES).expect("hashes");
        assert_eq!(
            &root_of(&hashes, four_mib.len() as u64, BLOCK_BYTES).expect("root"),
            blake3::hash(&four_mib).as_bytes()
        );
    }

    #[test]
    fn one_block_chunks_and_bad_block_sizes_have_no_block_hashes() {
        assert!(block_hashes(&data(4096), 4096).is_none());
        assert!(block_hashes(&data(10_000), 3000).is_none());
        assert!(block_hashes(&data(10_000), 512).is_none());
        assert!(root_of(&[[0; 32]; 3], 10_000, 3000).is_err());
    }

    #[test]
    fn blocks_verify_and_any_change_is_caught() {
        let block = 4096;
        let bytes = data(50_000);
        let hash = *blake3::hash(&bytes).as_bytes();
        let hashes = block_hashes(&bytes, block).expect("hashes");
        let len = bytes.len() as u64;
        let (first, from, to) = covering(10_000, 100, len, block);
        assert_eq!((first, from, to), (2, 8192, 12288));
        let blocks = &bytes[from as usize..to as usize];
        assert_eq!(
            verify_blocks(&hash, len, block, &hashes, first, blocks),
            Ok(())
        );
        // The short last block verifies at the end of the chunk.
        let (first, from, to) = covering(49_000, 5000, len, block);
        assert_eq!(to, len);
        let tail = &bytes[from as usize..to as usize];
        assert_eq!(
            verify_blocks(&hash, len, block, &hashes, first, tail),
            Ok(())
        );

        let mut flipped = blocks.to_vec();
        flipped[7] ^= 1;
        assert_eq!(
            verify_blocks(&hash, len, block, &hashes, 2, &flipped),
            Err(BlockError::BlockMismatch(2))
        );
        // Right bytes, claimed at the wrong place.
        assert_eq!(
            verify_blocks(&hash, len, block, &hashes, 3, blocks),
            Err(BlockError::BlockMismatch(3))
        );
        let mut bad_hashes = hashes.clone();
        bad_hashes[0][0] ^= 1;
        assert_eq!(
            verify_blocks(&hash, len, block, &bad_hashes, 2, blocks),
            Err(BlockError::RootMismatch)
        );
        assert!(matches!(
            verify_blocks(&hash, len, block, &hashes, 2, &blocks[..100]),
            Err(BlockError::BadRange { .. })
        ));
        assert!(matches!(
            verify_blocks(&hash, len, block, &hashes, 2, &[]),
            Err(BlockError::BadRange { .. })
        ));
        assert!(matches!(
            verify_blocks(&hash, len, block, &hashes[1..], 2, blocks),
            Err(BlockError::WrongCount { .. })
        ));
    }
}
