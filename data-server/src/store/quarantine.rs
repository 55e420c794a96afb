//! Moving a damaged chunk out of the read path.
//!
//! A quarantine record keeps what was stored, for inspection:
//! `header_len: u32 BE | raw header bytes | raw chunk bytes` (read from the chunk
//! file when the header says so; the file is removed).

use super::db::{key, CF_BLOCKS, CF_CHUNKS, CF_HEADERS, CF_QUARANTINE};
use super::error::StoreError;
use super::header::ChunkHeader;
use super::ChunkStore;
use ferrofs_proto::ChunkId;
use rocksdb::WriteBatch;
use std::sync::atomic::Ordering;

fn record(raw_header: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + raw_header.len() + bytes.len());
    out.extend_from_slice(&(raw_header.len() as u32).to_be_bytes());
    out.extend_from_slice(raw_header);
    out.extend_from_slice(bytes);
    out
}

impl ChunkStore {
    /// Move chunk `id` to the quarantine family if its stored record still fails
    /// verification (a concurrent re-put may have repaired it). Returns whether it
    /// was moved.
    pub fn quarantine(&self, id: ChunkId) -> Result<bool, StoreError> {
        let _guard = self.lock(id);
        let db_err = |e| StoreError::from_db(e, 0);
        let raw_header = self
            .db
            .get_cf(self.cf(CF_HEADERS)?, key(id))
            .map_err(db_err)?;
        let Some(raw_header) = raw_header else {
            return Ok(false);
        };
        let header = ChunkHeader::decode(id, &raw_header);
        let bytes = match &header {
            // A read that failed for another reason than damage quarantines nothing.
            Ok(h) => match self.stored_bytes(id, h) {
                Err(StoreError::Corrupt { .. }) => None,
                other => other?,
            },
            // Without a readable header, only RocksDB's copy can be found.
            Err(_) => self
                .db
                .get_cf(self.cf(CF_CHUNKS)?, key(id))
                .map_err(db_err)?
                .map(bytes::Bytes::from),
        }
        .unwrap_or_default();
        if let Ok(h) = &header {
            if h.verify(id, &bytes).is_ok() {
                return Ok(false);
            }
        }
        // Read before the batch deletes an overlay's spans.
        let own = self.own_charge(id, header.as_ref().ok());
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(CF_QUARANTINE)?,
            key(id),
            record(&raw_header, &bytes),
        );
        batch.delete_cf(self.cf(CF_HEADERS)?, key(id));
        batch.delete_cf(self.cf(CF_CHUNKS)?, key(id));
        batch.delete_cf(self.cf(CF_BLOCKS)?, key(id));
        self.write(batch, 0)?;
        let freed = own + self.remove_file_of(id, header.as_ref().ok());
        self.usage.release(freed);
        self.usage.chunk_removed();
        self.quarantined.fetch_add(1, Ordering::AcqRel);
        tracing::warn!(chunk = %id, "chunk failed verification and was quarantined");
        Ok(true)
    }

    /// Every quarantined chunk id (reported again at start-up, so a report lost in a
    /// crash is not lost for good; the leader treats repeats as no-ops).
    pub fn quarantined_ids(&self) -> Result<Vec<ChunkId>, StoreError> {
        let mut out = Vec::new();
        let cf = self.cf(CF_QUARANTINE)?;
        for item in self.db.iterator_cf(cf, rocksdb::IteratorMode::Start) {
            let (k, _) = item.map_err(|e| StoreError::from_db(e, 0))?;
            if let Some(id) = super::db::id_of(&k) {
                out.push(id);
            }
        }
        Ok(out)
    }

    pub fn is_quarantined(&self, id: ChunkId) -> Result<bool, StoreError> {
        let cf = self.cf(CF_QUARANTINE)?;
        let v = self
            .db
            .get_pinned_cf(cf, key(id))
            .map_err(|e| StoreError::from_db(e, 0))?;
        Ok(v.is_some())
    }
}
