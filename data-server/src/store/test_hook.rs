//! Deliberate damage, for integrity tests: the only way to make bit rot on demand.

use super::db::{key, CF_BLOCKS, CF_CHUNKS, CF_HEADERS};
use super::error::StoreError;
use super::ChunkStore;
use ferrofs_proto::ChunkId;
use rocksdb::WriteBatch;

impl ChunkStore {
    /// Flip one byte of the stored chunk `id` (the middle byte; for an empty chunk,
    /// a byte of its recorded hash) without touching anything else. Test use only:
    /// the next read or scrub must detect it.
    pub fn corrupt_for_test(&self, id: ChunkId) -> Result<(), StoreError> {
        let _guard = self.lock(id);
        let db_err = |e| StoreError::from_db(e, 0);
        if self.header(id)?.is_some_and(|h| h.in_file && h.len > 0) {
            return Ok(self.files.corrupt_for_test(id)?);
        }
        let mut bytes = self
            .db
            .get_cf(self.cf(CF_CHUNKS)?, key(id))
            .map_err(db_err)?
            .ok_or(StoreError::NotFound(id))?;
        let mut batch = WriteBatch::default();
        if bytes.is_empty() {
            let mut header = self
                .db
                .get_cf(self.cf(CF_HEADERS)?, key(id))
                .map_err(db_err)?
                .ok_or(StoreError::NotFound(id))?;
            if let Some(b) = header.get_mut(1) {
                *b ^= 0xff;
            }
            batch.put_cf(self.cf(CF_HEADERS)?, key(id), header);
        } else {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
            batch.put_cf(self.cf(CF_CHUNKS)?, key(id), bytes);
        }
        self.write(batch, 0)
    }

    /// Flip a byte of chunk `id`'s first block hash. Test use only.
    pub fn corrupt_block_hashes_for_test(&self, id: ChunkId) -> Result<(), StoreError> {
        let _guard = self.lock(id);
        let cf = self.cf(CF_BLOCKS)?;
        let mut raw = self
            .db
            .get_cf(cf, key(id))
            .map_err(|e| StoreError::from_db(e, 0))?
            .ok_or(StoreError::NotFound(id))?;
        if let Some(b) = raw.get_mut(4) {
            *b ^= 0xff;
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(cf, key(id), raw);
        self.write(batch, 0)
    }
}
