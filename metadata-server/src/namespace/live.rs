//! The reconciliation loop's view of live chunks: every chunk some file references, with
//! its hash (needed to ask a data server for a verified copy) and where copies are.

use super::keys;
use super::records::{self, Location};
use super::store::{successor, KvRead, StoreError, Table};
use ferrofs_proto::attr::ChunkRef;
use ferrofs_proto::ids::{ChunkId, NodeId};
use std::collections::BTreeMap;

const PAGE: usize = 1024;

/// One live chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveChunk {
    pub id: ChunkId,
    pub hash: [u8; 32],
    pub len: u64,
    /// Servers holding a verified copy (Table::Locations).
    pub servers: Vec<NodeId>,
}

/// Up to `limit` distinct live chunks, found by scanning every file's chunk list (the
/// location table has no hashes). Sorted by chunk id.
pub fn live_chunks(store: &dyn KvRead, limit: usize) -> Result<Vec<LiveChunk>, StoreError> {
    let mut found: BTreeMap<ChunkId, LiveChunk> = BTreeMap::new();
    let mut start = Vec::new();
    loop {
        let page = store.scan(Table::Chunks, &[], &start, PAGE)?;
        for (_, value) in &page {
            if found.len() >= limit {
                return Ok(found.into_values().collect());
            }
            let r: ChunkRef = records::decode(Table::Chunks, value)?;
            // Inline chunks live in the metadata: nothing to place, repair or collect.
            if r.is_inline() || found.contains_key(&r.id) {
                continue;
            }
            let servers = match store.get(Table::Locations, &keys::location(r.id))? {
                Some(bytes) => records::decode::<Location>(Table::Locations, &bytes)?.servers,
                None => Vec::new(),
            };
            found.insert(
                r.id,
                LiveChunk {
                    id: r.id,
                    hash: r.hash,
                    len: r.len,
                    servers,
                },
            );
        }
        match page.last() {
            Some((last, _)) if page.len() == PAGE => start = successor(last),
            _ => return Ok(found.into_values().collect()),
        }
    }
}

/// True if `chunk` is on the garbage list and no file references it: the GC checks this
/// on a fresh linearizable view right before deleting copies.
pub fn is_garbage(store: &dyn KvRead, chunk: ChunkId) -> Result<bool, StoreError> {
    let live = store
        .get(Table::Locations, &keys::location(chunk))?
        .is_some();
    let listed = store.get(Table::Sys, &keys::garbage(chunk))?.is_some();
    Ok(listed && !live)
}
