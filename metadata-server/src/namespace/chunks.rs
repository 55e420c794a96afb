//! Chunk lists of files: committing written chunks, reference counting, dropping chunks
//! on truncate or delete (they go to the garbage list), and their effect on the counters.

use super::keys;
use super::records::{Garbage, Location};
use super::store::{successor, KvRead, StoreError, Table};
use super::tx::{OpResult, Tx};
use ferrofs_proto::attr::{ChunkLocation, ChunkRef, FileKind, Timestamp};
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::{ChunkId, InodeId, NodeId};
use ferrofs_proto::limits::{MAX_CHUNK_BYTES, MAX_INLINE_BYTES};
use ferrofs_proto::meta_msg::MetaResponse;

/// Chunks read per page when a whole range is dropped.
const PAGE: usize = 1024;

/// `CommitChunks`: replace the chunks at the given indexes, record their locations, grow
/// the size to at least `min_size`, set mtime to `mtime` and ctime to now.
pub fn commit(
    tx: &mut Tx<'_>,
    ino: InodeId,
    chunks: &[ChunkLocation],
    min_size: u64,
    mtime: Timestamp,
) -> OpResult<MetaResponse> {
    let mut inode = tx.must_inode(ino)?;
    match inode.kind {
        FileKind::File => {}
        FileKind::Dir => return Err(FsError::IsDir.into()),
        _ => return Err(FsError::Invalid("only regular files have chunks".to_string()).into()),
    }
    for c in chunks {
        if c.chunk.len > MAX_CHUNK_BYTES {
            return Err(
                FsError::Invalid(format!("chunk {} is {} bytes", c.chunk.id, c.chunk.len)).into(),
            );
        }
        if let Some(bytes) = &c.chunk.inline {
            check_inline(&c.chunk, bytes, &c.servers)?;
            continue;
        }
        if c.servers.is_empty() {
            return Err(FsError::Invalid(format!("chunk {} has no location", c.chunk.id)).into());
        }
        refuse_garbage(tx, c.chunk.id)?;
    }
    for c in chunks {
        let key = keys::chunk(ino, c.index);
        let old: Option<ChunkRef> = tx.read(Table::Chunks, &key)?;
        tx.count_inline(inline_len(Some(&c.chunk)), inline_len(old.as_ref()))?;
        match old {
            // Inline bytes live in the chunk record itself: no location, no references.
            old if c.chunk.is_inline() => {
                if let Some(old) = old.filter(|o| o.id != c.chunk.id) {
                    release(tx, old.id)?;
                }
            }
            Some(old) if old.id == c.chunk.id => add_servers(tx, c.chunk.id, &c.servers)?,
            old => {
                retain(tx, c.chunk.id, &c.servers)?;
                if let Some(old) = old {
                    release(tx, old.id)?;
                }
            }
        }
        tx.write(Table::Chunks, key, &c.chunk)?;
    }
    if min_size > inode.size {
        tx.set_size(&mut inode, min_size);
    }
    inode.mtime = mtime;
    inode.ctime = tx.now;
    tx.put_inode(ino, &inode)?;
    Ok(MetaResponse::Attr(inode.attr(ino)))
}

/// Bytes a chunk record keeps inline (0 for a chunk on data servers).
fn inline_len(chunk: Option<&ChunkRef>) -> u64 {
    chunk
        .and_then(|c| c.inline.as_ref())
        .map_or(0, |b| b.len() as u64)
}

/// `CommitOver` (and `CommitPatch`, with a base and no growth): `CommitChunks` of
/// `chunk` alone, only if the file's chunk at its index is still `base` (`None`: none).
pub fn commit_over(
    tx: &mut Tx<'_>,
    ino: InodeId,
    base: Option<ChunkId>,
    chunk: &ChunkLocation,
    min_size: u64,
    mtime: Timestamp,
) -> OpResult<MetaResponse> {
    let current: Option<ChunkRef> = tx.read(Table::Chunks, &keys::chunk(ino, chunk.index))?;
    if current.map(|c| c.id) != base {
        // A missing inode answers as it would for `CommitChunks`.
        tx.must_inode(ino)?;
        return Err(FsError::ChunkChanged { index: chunk.index }.into());
    }
    commit(tx, ino, std::slice::from_ref(chunk), min_size, mtime)
}

/// Drop every chunk of `ino` that lies entirely at or beyond `size` (all of them for 0).
/// A partially cut last chunk stays, its `len` unchanged: bytes past the file size are
/// absent to readers.
pub fn truncate(tx: &mut Tx<'_>, ino: InodeId, size: u64) -> Result<(), StoreError> {
    let chunk_size = tx.layout.chunk_size.max(1);
    let first = size.div_ceil(chunk_size);
    let prefix = keys::ino_prefix(ino);
    let mut start = keys::chunk(ino, first);
    loop {
        let page = tx.kv.scan(Table::Chunks, &prefix, &start, PAGE)?;
        let Some((last, _)) = page.last() else { break };
        start = successor(last);
        let full = page.len() == PAGE;
        for (key, value) in page {
            let chunk: ChunkRef = super::records::decode(Table::Chunks, &value)?;
            tx.count_inline(0, inline_len(Some(&chunk)))?;
            tx.kv.delete(Table::Chunks, key);
            release(tx, chunk.id)?;
        }
        if !full {
            break;
        }
    }
    Ok(())
}

/// An inline chunk must be small, hold exactly its recorded bytes and name no servers.
fn check_inline(chunk: &ChunkRef, bytes: &[u8], servers: &[NodeId]) -> OpResult<()> {
    let invalid =
        |why: String| Err(FsError::Invalid(format!("inline chunk {}: {why}", chunk.id)).into());
    if bytes.len() as u64 > MAX_INLINE_BYTES {
        return invalid(format!(
            "{} bytes, more than {MAX_INLINE_BYTES}",
            bytes.len()
        ));
    }
    if bytes.len() as u64 != chunk.len {
        return invalid(format!("{} bytes but length {}", bytes.len(), chunk.len));
    }
    if !servers.is_empty() {
        return invalid("names data servers".to_string());
    }
    if *blake3::hash(bytes).as_bytes() != chunk.hash {
        return invalid("bytes do not match the hash".to_string());
    }
    Ok(())
}

/// A chunk on the garbage list must not come back: the GC may have deleted some of its
/// copies already (it re-checks the list before each delete, but a delete in flight
/// cannot be recalled). Nor may a reported orphan, whose copies may all be gone. The
/// writer uploads the bytes again under a new id instead.
fn refuse_garbage(tx: &mut Tx<'_>, chunk: ChunkId) -> OpResult<()> {
    if super::orphans::is_orphan(tx, chunk)? {
        return Err(FsError::ChunkCollected(chunk).into());
    }
    let live = tx
        .read::<Location>(Table::Locations, &keys::location(chunk))?
        .is_some();
    if !live
        && tx
            .read::<Garbage>(Table::Sys, &keys::garbage(chunk))?
            .is_some()
    {
        return Err(FsError::ChunkCollected(chunk).into());
    }
    Ok(())
}

/// One more reference to `chunk`, held by `servers`.
fn retain(tx: &mut Tx<'_>, chunk: ChunkId, servers: &[NodeId]) -> Result<(), StoreError> {
    let key = keys::location(chunk);
    let old: Option<Location> = tx.read(Table::Locations, &key)?;
    let mut new = old.clone().unwrap_or_default();
    new.refs = new.refs.saturating_add(1);
    merge_servers(&mut new.servers, servers);
    if old.is_none() {
        // A chunk committed again after it was dropped is live again.
        tx.kv.delete(Table::Sys, keys::garbage(chunk));
    }
    store_location(tx, chunk, old.as_ref(), Some(&new))
}

/// Record more servers for a chunk that is already referenced.
fn add_servers(tx: &mut Tx<'_>, chunk: ChunkId, servers: &[NodeId]) -> Result<(), StoreError> {
    let key = keys::location(chunk);
    let old: Option<Location> = tx.read(Table::Locations, &key)?;
    let mut new = old.clone().unwrap_or(Location {
        refs: 1,
        servers: Vec::new(),
    });
    merge_servers(&mut new.servers, servers);
    store_location(tx, chunk, old.as_ref(), Some(&new))
}

/// One reference fewer; at zero the chunk moves to the garbage list with its servers.
pub fn release(tx: &mut Tx<'_>, chunk: ChunkId) -> Result<(), StoreError> {
    let key = keys::location(chunk);
    let Some(old) = tx.read::<Location>(Table::Locations, &key)? else {
        return Ok(());
    };
    if old.refs > 1 {
        let new = Location {
            refs: old.refs - 1,
            servers: old.servers.clone(),
        };
        return store_location(tx, chunk, Some(&old), Some(&new));
    }
    let garbage = Garbage {
        servers: old.servers.clone(),
    };
    tx.write(Table::Sys, keys::garbage(chunk), &garbage)?;
    store_location(tx, chunk, Some(&old), None)
}

/// Write (or delete) a location record and keep `chunks` / `under_replicated` right.
pub fn store_location(
    tx: &mut Tx<'_>,
    chunk: ChunkId,
    old: Option<&Location>,
    new: Option<&Location>,
) -> Result<(), StoreError> {
    let replication = tx.layout.replication as usize;
    let under = |l: Option<&Location>| l.is_some_and(|l| l.servers.len() < replication);
    let c = tx.counters();
    match (old.is_some(), new.is_some()) {
        (false, true) => c.chunks = c.chunks.saturating_add(1),
        (true, false) => c.chunks = c.chunks.saturating_sub(1),
        _ => {}
    }
    match (under(old), under(new)) {
        (false, true) => c.under_replicated = c.under_replicated.saturating_add(1),
        (true, false) => c.under_replicated = c.under_replicated.saturating_sub(1),
        _ => {}
    }
    let key = keys::location(chunk);
    match new {
        Some(l) => tx.write(Table::Locations, key, l),
        None => {
            tx.kv.delete(Table::Locations, key);
            Ok(())
        }
    }
}

/// Add `more` to a sorted, duplicate-free server list.
pub fn merge_servers(servers: &mut Vec<NodeId>, more: &[NodeId]) {
    servers.extend_from_slice(more);
    servers.sort_unstable();
    servers.dedup();
}

/// The chunks of `ino` with indexes in `first .. first + count`, in index order.
pub fn list(
    store: &dyn KvRead,
    ino: InodeId,
    first: u64,
    count: u64,
) -> Result<Vec<(u64, ChunkRef)>, StoreError> {
    let end = first.saturating_add(count);
    let prefix = keys::ino_prefix(ino);
    let limit = usize::try_from(count).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    for (key, value) in store.scan(Table::Chunks, &prefix, &keys::chunk(ino, first), limit)? {
        let index = keys::chunk_index_of(&key)?;
        if index >= end {
            break;
        }
        out.push((index, super::records::decode(Table::Chunks, &value)?));
    }
    Ok(out)
}
