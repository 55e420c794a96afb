//! Block hashes of chunk files and reads of the blocks covering a range.
//!
//! A chunk file's block hashes (`ferrofs_proto::block_hashes`) are computed when the
//! chunk is stored and committed in the same batch as its header. A ranged read then
//! costs the blocks it covers: each is checked against its block hash before it is
//! sent, and the reader checks them again against the chunk hash. Chunks without a
//! usable record (small chunks, chunks stored by older builds, a damaged record) are
//! read and verified whole, as before.
//!
//! Record: `block size: u32 BE | block hash × blocks`.

use super::db::{key, CF_BLOCKS};
use super::error::StoreError;
use super::header::ChunkHeader;
use super::ChunkStore;
use bytes::Bytes;
use ferrofs_proto::block_hashes::{covering, match_blocks, root_of};
use ferrofs_proto::block_hashes::{BlockHash, BLOCK_BYTES};
use ferrofs_proto::ChunkId;
use rocksdb::WriteBatch;

/// The blocks of a chunk that cover a requested range.
#[derive(Debug)]
pub struct Blocks {
    /// Block size; 0 when `bytes` is the whole chunk, verified whole.
    pub block: u64,
    /// Index of the first block in `bytes`.
    pub first: u64,
    /// Every block hash of the chunk (empty when `block` is 0).
    pub hashes: Vec<BlockHash>,
    pub bytes: Bytes,
}

/// Block hashes of chunks about to be stored: `Some` for chunks that go to a file
/// and span more than one block.
pub(super) struct NewBlockHashes(pub(super) Option<Vec<BlockHash>>);

impl NewBlockHashes {
    /// The hashes of `bytes` and the chunk hash they add up to.
    pub(super) fn of(bytes: &[u8], in_file: bool) -> (NewBlockHashes, [u8; 32]) {
        let hashes = in_file
            .then(|| ferrofs_proto::block_hashes::block_hashes(bytes, BLOCK_BYTES))
            .flatten();
        let root = hashes
            .as_ref()
            .and_then(|h| root_of(h, bytes.len() as u64, BLOCK_BYTES).ok())
            .unwrap_or_else(|| *blake3::hash(bytes).as_bytes());
        (NewBlockHashes(hashes), root)
    }

    /// Add the record (or the removal of an old one) to the batch storing the chunk.
    pub(super) fn add_to(
        &self,
        store: &ChunkStore,
        id: ChunkId,
        batch: &mut WriteBatch,
    ) -> Result<(), StoreError> {
        let cf = store.cf(CF_BLOCKS)?;
        match &self.0 {
            Some(hashes) => batch.put_cf(cf, key(id), encode_block_hashes(BLOCK_BYTES, hashes)),
            None => batch.delete_cf(cf, key(id)),
        }
        Ok(())
    }
}

/// A block-hash record: the block size, then every block hash.
pub(super) fn encode_block_hashes(block: u64, hashes: &[BlockHash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + hashes.len() * 32);
    out.extend_from_slice(&(block as u32).to_be_bytes());
    for h in hashes {
        out.extend_from_slice(h);
    }
    out
}

fn decode(raw: &[u8]) -> Option<(u64, Vec<BlockHash>)> {
    let (size, rest) = raw.split_first_chunk::<4>()?;
    if !rest.len().is_multiple_of(32) {
        return None;
    }
    let hashes = rest
        .chunks_exact(32)
        .map(|c| c.try_into().ok())
        .collect::<Option<Vec<BlockHash>>>()?;
    Some((u64::from(u32::from_be_bytes(*size)), hashes))
}

impl ChunkStore {
    /// The blocks of chunk `id` covering `offset .. offset + len` (`len` may run past
    /// the end), each verified against the chunk's block hashes; the whole chunk,
    /// verified, when it has none.
    pub fn get_blocks(&self, id: ChunkId, offset: u64, len: u64) -> Result<Blocks, StoreError> {
        let header = self.header(id)?.ok_or(StoreError::NotFound(id))?;
        if offset >= header.len {
            return Err(StoreError::BadRange {
                offset,
                len: header.len,
            });
        }
        if let Some((block, hashes)) = self.usable_block_hashes(id, &header)? {
            let (first, from, to) = covering(offset, len, header.len, block);
            let bytes = self
                .files
                .read_range(id, from, to - from)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => StoreError::Corrupt {
                        id,
                        reason: "chunk file missing".to_string(),
                    },
                    _ => StoreError::Io(e),
                })?;
            let bytes = self.with_spans(id, &header, from, bytes)?;
            // The block hashes were checked against the chunk hash just above.
            return match match_blocks(header.len, block, &hashes, first, &bytes) {
                Ok(()) => Ok(Blocks {
                    block,
                    first,
                    hashes,
                    bytes,
                }),
                Err(e) => Err(StoreError::Corrupt {
                    id,
                    reason: format!("blocks at {from}..{to}: {e}"),
                }),
            };
        }
        let (_, bytes) = self.read_verified(id)?;
        Ok(Blocks {
            block: 0,
            first: 0,
            hashes: Vec::new(),
            bytes,
        })
    }

    /// Verify a stored chunk whole (the scrubber's check) and make sure a chunk file's
    /// block-hash record matches it: a missing record (a chunk stored by an older
    /// build) or a damaged one is written again, so the chunk's ranged reads stop
    /// falling back to whole reads. Returns whether the record was (re)written.
    pub fn verify_and_refresh_blocks(&self, id: ChunkId) -> Result<bool, StoreError> {
        let (header, bytes) = self.read_stored(id)?;
        if !header.in_file {
            header.verify(id, &bytes)?;
            return Ok(false);
        }
        let (blocks, root) = NewBlockHashes::of(&bytes, true);
        if root != header.hash {
            let reason = "checksum mismatch".to_string();
            return Err(StoreError::Corrupt { id, reason });
        }
        let Some(hashes) = &blocks.0 else {
            return Ok(false);
        };
        let record = encode_block_hashes(BLOCK_BYTES, hashes);
        let cf = self.cf(CF_BLOCKS)?;
        let stored = self
            .db
            .get_pinned_cf(cf, key(id))
            .map_err(|e| StoreError::from_db(e, 0))?;
        if stored.as_deref() == Some(&record[..]) {
            return Ok(false);
        }
        let _guard = self.lock(id);
        if self.header(id)? != Some(header) {
            return Ok(false); // replaced or deleted meanwhile
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(cf, key(id), record);
        self.write(batch, 0)?;
        Ok(true)
    }

    /// The stored block hashes of a chunk file if they add up to its hash. A record
    /// that does not (damaged) is ignored: the chunk is then read whole and verified,
    /// which tells rot in the chunk from rot in the record.
    pub(super) fn usable_block_hashes(
        &self,
        id: ChunkId,
        header: &ChunkHeader,
    ) -> Result<Option<(u64, Vec<BlockHash>)>, StoreError> {
        if !header.in_file {
            return Ok(None);
        }
        let raw = self
            .db
            .get_pinned_cf(self.cf(CF_BLOCKS)?, key(id))
            .map_err(|e| StoreError::from_db(e, 0))?;
        let Some(raw) = raw else { return Ok(None) };
        // `root_of` checks the block size and count before any arithmetic with them.
        let usable = decode(&raw).filter(|(block, hashes)| {
            root_of(hashes, header.len, *block).ok() == Some(header.hash)
        });
        if usable.is_none() {
            tracing::warn!(chunk = %id, "block hashes unusable; reading the chunk whole");
        }
        Ok(usable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_ones_are_refused() {
        let hashes = vec![[1u8; 32], [2u8; 32]];
        let raw = encode_block_hashes(BLOCK_BYTES, &hashes);
        assert_eq!(decode(&raw), Some((BLOCK_BYTES, hashes)));
        assert_eq!(decode(&raw[..raw.len() - 1]), None);
        assert_eq!(decode(&raw[..3]), None);
    }

    #[test]
    fn a_record_with_a_zero_block_size_is_unusable_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ChunkStore::open(dir.path(), Some(1 << 30)).expect("open");
        let bytes = vec![5u8; 100_000];
        let (id, hash) = (ChunkId::random(), *blake3::hash(&bytes).as_bytes());
        store.put(id, hash, &bytes).expect("put");
        let mut batch = WriteBatch::default();
        batch.put_cf(
            store.cf(CF_BLOCKS).expect("cf"),
            key(id),
            encode_block_hashes(0, &[[0; 32]; 7]),
        );
        store.write(batch, 0).expect("write");
        let b = store.get_blocks(id, 10, 10).expect("whole read");
        assert_eq!((b.block, b.bytes.len()), (0, 100_000));
    }
}
