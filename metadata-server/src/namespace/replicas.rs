//! Where chunks actually are (Table::Locations), the garbage list the GC drains, and the
//! layout (chunk size, replication) that the counters depend on.

use super::chunks::{merge_servers, store_location};
use super::keys;
use super::records::{self, Garbage, Layout, Location};
use super::store::{successor, KvRead, StoreError, Table};
use super::tx::{stored_layout, OpResult, Tx};
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::{ChunkId, NodeId};
use ferrofs_proto::meta_msg::MetaResponse;

const PAGE: usize = 1024;

/// `ReportBadReplica` (and deletes of surplus copies): `server` no longer holds a good
/// copy of `chunk`. Unknown chunks are ignored (the op is idempotent).
pub fn remove_replica(tx: &mut Tx<'_>, chunk: ChunkId, server: NodeId) -> OpResult<MetaResponse> {
    let old: Option<Location> = tx.read(Table::Locations, &keys::location(chunk))?;
    if let Some(old) = old {
        if old.servers.contains(&server) {
            let mut new = old.clone();
            new.servers.retain(|s| *s != server);
            store_location(tx, chunk, Some(&old), Some(&new))?;
        }
    }
    Ok(MetaResponse::Done)
}

/// A verified copy of `chunk` now exists on `server` (re-replication or rebalance done).
/// Returns false if no file references the chunk any more: the copy is then added to the
/// garbage record so the GC deletes it too.
pub fn add_replica(tx: &mut Tx<'_>, chunk: ChunkId, server: NodeId) -> OpResult<bool> {
    let old: Option<Location> = tx.read(Table::Locations, &keys::location(chunk))?;
    match old {
        Some(old) => {
            let mut new = old.clone();
            merge_servers(&mut new.servers, &[server]);
            store_location(tx, chunk, Some(&old), Some(&new))?;
            Ok(true)
        }
        None => {
            let key = keys::garbage(chunk);
            let mut g: Garbage = tx.read(Table::Sys, &key)?.unwrap_or_default();
            merge_servers(&mut g.servers, &[server]);
            tx.write(Table::Sys, key, &g)?;
            Ok(false)
        }
    }
}

/// `server` deleted its copy of garbage chunk `chunk`; the record goes once no server is
/// left to clean.
pub fn garbage_deleted(tx: &mut Tx<'_>, chunk: ChunkId, server: NodeId) -> OpResult<()> {
    let key = keys::garbage(chunk);
    let Some(mut g) = tx.read::<Garbage>(Table::Sys, &key)? else {
        return Ok(());
    };
    g.servers.retain(|s| *s != server);
    if g.servers.is_empty() {
        tx.kv.delete(Table::Sys, key);
    } else {
        tx.write(Table::Sys, key, &g)?;
    }
    Ok(())
}

/// Up to `limit` garbage chunks after `after`, with the servers that may hold them.
pub fn garbage(
    store: &dyn KvRead,
    after: Option<ChunkId>,
    limit: usize,
) -> Result<Vec<(ChunkId, Vec<NodeId>)>, StoreError> {
    let start = match after {
        Some(id) => successor(&keys::garbage(id)),
        None => keys::SYS_GC_PREFIX.to_vec(),
    };
    let mut out = Vec::new();
    for (key, value) in store.scan(Table::Sys, keys::SYS_GC_PREFIX, &start, limit)? {
        let g: Garbage = records::decode(Table::Sys, &value)?;
        out.push((keys::garbage_id_of(&key)?, g.servers));
    }
    Ok(out)
}

/// Up to `limit` live chunks after `after`, with the servers holding a verified copy
/// (what the reconciliation loop compares with the ring's target placement).
pub fn locations(
    store: &dyn KvRead,
    after: Option<ChunkId>,
    limit: usize,
) -> Result<Vec<(ChunkId, Vec<NodeId>)>, StoreError> {
    let start = match after {
        Some(id) => successor(&keys::location(id)),
        None => Vec::new(),
    };
    let mut out = Vec::new();
    for (key, value) in store.scan(Table::Locations, &[], &start, limit)? {
        let l: Location = records::decode(Table::Locations, &value)?;
        out.push((keys::chunk_id_of(Table::Locations, &key)?, l.servers));
    }
    Ok(out)
}

/// Store the layout. The chunk size is fixed by the first call (files are laid out with
/// it); a later different chunk size is `Invalid`. A replication change recounts the
/// under-replicated chunks (one scan of the location table; a rare admin action).
pub fn configure(tx: &mut Tx<'_>, chunk_size: u64, replication: u32) -> OpResult<()> {
    if chunk_size == 0 || replication == 0 {
        return Err(FsError::Invalid("chunk size and replication must be > 0".to_string()).into());
    }
    let old = stored_layout(&tx.kv)?;
    if let Some(old) = old {
        if old.chunk_size != chunk_size {
            return Err(FsError::Invalid(format!(
                "the chunk size is fixed at {} bytes; cannot change it to {chunk_size}",
                old.chunk_size
            ))
            .into());
        }
        if old.replication == replication {
            return Ok(());
        }
    }
    let layout = Layout {
        chunk_size,
        replication,
    };
    tx.write(Table::Sys, keys::SYS_LAYOUT.to_vec(), &layout)?;
    if tx.layout.replication != replication {
        let under = count_under_replicated(&tx.kv, replication)?;
        tx.counters().under_replicated = under;
    }
    tx.layout = layout;
    Ok(())
}

fn count_under_replicated(store: &dyn KvRead, replication: u32) -> Result<u64, StoreError> {
    let mut under = 0u64;
    let mut start = Vec::new();
    loop {
        let page = store.scan(Table::Locations, &[], &start, PAGE)?;
        for (_, value) in &page {
            let l: Location = records::decode(Table::Locations, value)?;
            if l.servers.len() < replication as usize {
                under += 1;
            }
        }
        match page.last() {
            Some((last, _)) if page.len() == PAGE => start = successor(last),
            _ => return Ok(under),
        }
    }
}
