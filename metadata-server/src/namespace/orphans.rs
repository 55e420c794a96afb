//! Orphans: chunks a data server stores that no file references, because their writer
//! died between upload and commit or their commit was refused. Data servers find them
//! (`UnreferencedChunks`, a read) and, once one stayed unreferenced for their grace,
//! report it (`ReportOrphans`). The report marks the chunk, so that a late commit of it
//! is refused and the writer uploads its bytes again, and puts it on the garbage list
//! for the GC to delete from the reporting server.
//!
//! A mark is kept for a week after the report (`server/orphan_mark_sweep.rs`) (`old_marks` lists the older
//! ones for the leader's housekeeping, `expire_marks` drops them): only a writer that
//! uploaded a chunk, then stalled for longer than the sweep's grace and that time, could
//! still try to commit it.

use super::chunks::merge_servers;
use super::keys;
use super::records::{Garbage, Location, Orphan};
use super::store::{successor, KvRead, StoreError, Table};
use super::tx::{OpResult, Tx};
use super::view::View;
use ferrofs_proto::attr::Timestamp;
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::{ChunkId, NodeId};
use ferrofs_proto::meta_msg::{MetaResponse, MAX_ORPHAN_BATCH};

/// Marks read per scan of `old_marks`.
const SCAN_PAGE: usize = 1024;

fn check_batch(chunks: &[ChunkId]) -> Result<(), FsError> {
    if chunks.len() > MAX_ORPHAN_BATCH {
        return Err(FsError::Invalid(format!(
            "{} chunk ids in one request; at most {MAX_ORPHAN_BATCH}",
            chunks.len()
        )));
    }
    Ok(())
}

fn referenced(store: &dyn KvRead, chunk: ChunkId) -> Result<bool, StoreError> {
    Ok(store
        .get(Table::Locations, &keys::location(chunk))?
        .is_some())
}

/// `UnreferencedChunks`: those of `chunks` no file references (no location record).
pub fn unreferenced(store: &dyn KvRead, chunks: &[ChunkId]) -> OpResult<MetaResponse> {
    check_batch(chunks)?;
    let mut out = Vec::new();
    for &chunk in chunks {
        if !referenced(store, chunk)? {
            out.push(chunk);
        }
    }
    Ok(MetaResponse::ChunkIds(out))
}

/// `StrayChunks`: those of `chunks` that files reference while their location record
/// does not list `server` (copies the metadata lost track of).
pub fn strays(store: &dyn KvRead, server: NodeId, chunks: &[ChunkId]) -> OpResult<MetaResponse> {
    check_batch(chunks)?;
    let mut out = Vec::new();
    for &chunk in chunks {
        let loc: Option<Location> = store.record(Table::Locations, &keys::location(chunk))?;
        if loc.is_some_and(|l| !l.servers.contains(&server)) {
            out.push(chunk);
        }
    }
    Ok(MetaResponse::ChunkIds(out))
}

/// `ReportOrphans`: mark every chunk of `chunks` still unreferenced and add `server`
/// to its garbage record. Chunks committed meanwhile are left alone. Idempotent.
pub fn report(tx: &mut Tx<'_>, server: NodeId, chunks: &[ChunkId]) -> OpResult<MetaResponse> {
    check_batch(chunks)?;
    let mut marked = Vec::new();
    for &chunk in chunks {
        if tx
            .read::<Location>(Table::Locations, &keys::location(chunk))?
            .is_some()
        {
            continue;
        }
        let mark = keys::orphan(chunk);
        if tx.read::<Orphan>(Table::Sys, &mark)?.is_none() {
            tx.write(Table::Sys, mark, &Orphan { since: tx.now })?;
        }
        let key = keys::garbage(chunk);
        let mut g: Garbage = tx.read(Table::Sys, &key)?.unwrap_or_default();
        merge_servers(&mut g.servers, &[server]);
        tx.write(Table::Sys, key, &g)?;
        marked.push(chunk);
    }
    Ok(MetaResponse::ChunkIds(marked))
}

/// Up to `max` orphan marks made before `before`, after `after` in id order, and where
/// the next page starts (`None`: no more marks).
pub fn old_marks(
    store: &dyn KvRead,
    after: Option<ChunkId>,
    before: Timestamp,
    max: usize,
) -> Result<(Vec<ChunkId>, Option<ChunkId>), StoreError> {
    let mut start = match after {
        Some(id) => successor(&keys::orphan(id)),
        None => keys::SYS_ORPHAN_PREFIX.to_vec(),
    };
    let mut old = Vec::new();
    loop {
        let page = store.scan(Table::Sys, keys::SYS_ORPHAN_PREFIX, &start, SCAN_PAGE)?;
        for (key, value) in &page {
            let mark: Orphan = super::records::decode(Table::Sys, value)?;
            if mark.since < before {
                let id = keys::orphan_id_of(key)?;
                old.push(id);
                if old.len() >= max {
                    return Ok((old, Some(id)));
                }
            }
        }
        match page.last() {
            Some((last, _)) if page.len() == SCAN_PAGE => start = successor(last),
            _ => return Ok((old, None)),
        }
    }
}

/// Drop the orphan marks of `chunks` made before `before` (a mark made since is kept).
/// The number dropped.
pub fn expire_marks(tx: &mut Tx<'_>, chunks: &[ChunkId], before: Timestamp) -> OpResult<usize> {
    check_batch(chunks)?;
    let mut dropped = 0;
    for &chunk in chunks {
        let key = keys::orphan(chunk);
        if tx
            .read::<Orphan>(Table::Sys, &key)?
            .is_some_and(|m| m.since < before)
        {
            tx.kv.delete(Table::Sys, key);
            dropped += 1;
        }
    }
    Ok(dropped)
}

/// Was `chunk` reported as an orphan? Then no commit may reference it.
pub fn is_orphan(tx: &Tx<'_>, chunk: ChunkId) -> Result<bool, StoreError> {
    Ok(tx.kv.get(Table::Sys, &keys::orphan(chunk))?.is_some())
}
