//! A new chunk made from a stored one with some bytes replaced: a client that changed
//! a few blocks of a chunk sends only those, and each server builds the new chunk from
//! its own copy of the old one: as an overlay sharing the old chunk's file where it
//! can (`overlay.rs`), whole otherwise.

use super::error::StoreError;
use super::{ChunkStore, PutOutcome};
use ferrofs_proto::ChunkId;

impl ChunkStore {
    /// Store chunk `id`: the stored chunk `base` with `bytes` written over it at
    /// `offset` (within its length). The result must hash to `hash`: touched blocks
    /// of the base that rotted give `Corrupt` or `HashMismatch` and nothing is stored;
    /// the client then sends the whole chunk.
    pub fn patch(
        &self,
        base: ChunkId,
        id: ChunkId,
        hash: [u8; 32],
        offset: u64,
        bytes: &[u8],
    ) -> Result<PutOutcome, StoreError> {
        let header = self.header(base)?.ok_or(StoreError::NotFound(base))?;
        let end = offset
            .checked_add(bytes.len() as u64)
            .filter(|end| *end <= header.len)
            .ok_or(StoreError::BadRange {
                offset,
                len: header.len,
            })?;
        if let Some(outcome) = self.patch_as_overlay(base, &header, id, hash, offset, bytes)? {
            return Ok(outcome);
        }
        let (_, stored) = self.read_stored(base)?;
        let mut changed = stored.to_vec();
        changed[offset as usize..end as usize].copy_from_slice(bytes);
        self.put(id, hash, &changed)
    }
}
