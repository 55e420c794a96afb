//! A new chunk made from a stored one with some bytes replaced: a client that wrote a
//! few bytes of a chunk sends only those, and each server builds the new chunk from
//! its own copy of the old one and hashes it: as an overlay sharing the old chunk's
//! file where it can (`overlay.rs`), whole otherwise.

use super::blocks::NewBlockHashes;
use super::error::StoreError;
use super::{ChunkStore, PutOutcome, FILE_MIN_BYTES};
use ferrofs_proto::ChunkId;

/// Bytes written at an offset within a chunk.
pub type Edit<'a> = (u64, &'a [u8]);

/// A stored patch: the new chunk's hash (as this server computed it) and what the
/// store did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patched {
    pub hash: [u8; 32],
    pub outcome: PutOutcome,
}

impl ChunkStore {
    /// Store chunk `id`: the stored chunk `base`, which must hash to `base_hash`,
    /// with each edit's bytes written over it in order (within its length). Durable
    /// on return, like `put`. A touched block of the base that rotted gives `Corrupt`
    /// and nothing is stored; the client then sends the whole chunk.
    pub fn patch(
        &self,
        base: ChunkId,
        base_hash: [u8; 32],
        id: ChunkId,
        edits: &[Edit<'_>],
    ) -> Result<Patched, StoreError> {
        let header = self.header(base)?.ok_or(StoreError::NotFound(base))?;
        if header.hash != base_hash {
            // Ids are never reused: the client means another chunk than this one.
            return Err(StoreError::Conflict(base));
        }
        if edits.is_empty() {
            return Err(StoreError::BadRange {
                offset: 0,
                len: header.len,
            });
        }
        for (offset, bytes) in edits {
            let end = offset.checked_add(bytes.len() as u64);
            if bytes.is_empty() || end.is_none_or(|end| end > header.len) {
                return Err(StoreError::BadRange {
                    offset: *offset,
                    len: header.len,
                });
            }
        }
        if let Some(patched) = self.patch_as_overlay(base, &header, id, edits)? {
            return Ok(patched);
        }
        let (_, stored) = self.read_stored(base)?;
        let mut changed = stored.to_vec();
        for (offset, bytes) in edits {
            changed[*offset as usize..][..bytes.len()].copy_from_slice(bytes);
        }
        // Hashed once: the block hashes give the new chunk's hash (no size check: it
        // is the stored base's length).
        let (blocks, hash) = NewBlockHashes::of(&changed, changed.len() as u64 >= FILE_MIN_BYTES);
        let outcome = self.put_hashed(id, hash, &blocks, &changed)?;
        Ok(Patched { hash, outcome })
    }
}
