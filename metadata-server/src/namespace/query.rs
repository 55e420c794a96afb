//! Read-only requests, answered from a consistent view of the tables.

use super::chunks;
use super::keys;
use super::names::check_name;
use super::records::{self, Dentry, Location};
use super::servers;
use super::store::{successor, KvRead, Table};
use super::tx::{stored_layout, OpResult};
use super::view::View;
use super::xattr;
use ferrofs_proto::attr::{ChunkLocation, DirEntryPlus, FileKind};
use ferrofs_proto::config::ClusterSettings;
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::InodeId;
use ferrofs_proto::limits::MAX_READDIR_ENTRIES;
use ferrofs_proto::meta_msg::{ClusterMap, MetaRequest, MetaResponse, ServerState, StatFs};

/// Most chunk indexes one `GetChunks` may span (a larger range is `Invalid`, never
/// silently cut: a missing chunk would read as a hole).
pub const MAX_GET_CHUNKS: u64 = 16 * 1024;

pub fn query(
    store: &dyn KvRead,
    settings: &ClusterSettings,
    req: &MetaRequest,
) -> OpResult<MetaResponse> {
    match req {
        MetaRequest::Lookup { parent, name } => lookup(store, *parent, name),
        MetaRequest::GetAttr { ino } => Ok(MetaResponse::Attr(store.must_inode(*ino)?.attr(*ino))),
        MetaRequest::ReadDir { ino, after, limit } => {
            read_dir(store, *ino, after.as_deref(), *limit)
        }
        MetaRequest::ReadLink { ino } => {
            let inode = store.must_inode(*ino)?;
            if inode.kind != FileKind::Symlink {
                return Err(FsError::Invalid("not a symbolic link".to_string()).into());
            }
            Ok(MetaResponse::Target(inode.target))
        }
        MetaRequest::GetXattr { ino, name } => xattr::get(store, *ino, name),
        MetaRequest::ListXattr { ino } => xattr::list(store, *ino),
        MetaRequest::GetChunks {
            ino,
            first_index,
            count,
        } => get_chunks(store, *ino, *first_index, *count),
        MetaRequest::StatFs => stat_fs(store),
        MetaRequest::ClusterMap => cluster_map(store, settings),
        MetaRequest::UnreferencedChunks { chunks } => super::orphans::unreferenced(store, chunks),
        MetaRequest::StrayChunks { server, chunks } => {
            super::orphans::strays(store, *server, chunks)
        }
        MetaRequest::TestLock { ino, lock } => super::locks::test(store, *ino, lock),
        _ => Err(FsError::Unsupported.into()),
    }
}

/// `.` and `..` resolve through the directory itself and its parent pointer (the root's
/// `..` is the root), so path walks need no special case.
fn lookup(store: &dyn KvRead, parent: InodeId, name: &[u8]) -> OpResult<MetaResponse> {
    if name == b"." || name == b".." {
        let dir = store.dir(parent)?;
        let ino = if name == b"." { parent } else { dir.parent };
        return Ok(MetaResponse::Attr(store.linked_inode(ino)?.attr(ino)));
    }
    check_name(name)?;
    store.dir(parent)?;
    let entry = store.entry(parent, name)?.ok_or(FsError::NotFound)?;
    Ok(MetaResponse::Attr(
        store.linked_inode(entry.ino)?.attr(entry.ino),
    ))
}

/// Entries after `after` in name order, at most `limit` (0 or more than the maximum means
/// the maximum). `done` when nothing follows.
fn read_dir(
    store: &dyn KvRead,
    ino: InodeId,
    after: Option<&[u8]>,
    limit: u32,
) -> OpResult<MetaResponse> {
    store.dir(ino)?;
    let limit = if limit == 0 {
        MAX_READDIR_ENTRIES
    } else {
        limit.min(MAX_READDIR_ENTRIES)
    };
    let limit = limit as usize;
    let prefix = keys::ino_prefix(ino);
    let start = match after {
        Some(name) => successor(&keys::dentry(ino, name)),
        None => prefix.clone(),
    };
    let page = store.scan(Table::Dentries, &prefix, &start, limit + 1)?;
    let done = page.len() <= limit;
    let mut entries = Vec::with_capacity(page.len().min(limit));
    for (key, value) in page.into_iter().take(limit) {
        let d: Dentry = records::decode(Table::Dentries, &value)?;
        let name = keys::name_of(Table::Dentries, &key)?.to_vec();
        entries.push(DirEntryPlus {
            name,
            attr: store.linked_inode(d.ino)?.attr(d.ino),
        });
    }
    Ok(MetaResponse::Entries { entries, done })
}

fn get_chunks(store: &dyn KvRead, ino: InodeId, first: u64, count: u64) -> OpResult<MetaResponse> {
    let inode = store.must_inode(ino)?;
    match inode.kind {
        FileKind::File => {}
        FileKind::Dir => return Err(FsError::IsDir.into()),
        _ => return Err(FsError::Invalid("only regular files have chunks".to_string()).into()),
    }
    if count > MAX_GET_CHUNKS {
        return Err(FsError::Invalid(format!(
            "GetChunks spans {count} chunks; at most {MAX_GET_CHUNKS} per request"
        ))
        .into());
    }
    let mut out = Vec::new();
    for (index, chunk) in chunks::list(store, ino, first, count)? {
        let loc: Option<Location> = store.record(Table::Locations, &keys::location(chunk.id))?;
        out.push(ChunkLocation {
            index,
            chunk,
            servers: loc.map(|l| l.servers).unwrap_or_default(),
        });
    }
    Ok(MetaResponse::Chunks {
        chunks: out,
        size: inode.size,
    })
}

fn stat_fs(store: &dyn KvRead) -> OpResult<MetaResponse> {
    let (mut capacity, mut used) = (0u64, 0u64);
    for s in servers::all(store)? {
        if s.state != ServerState::Removed {
            capacity = capacity.saturating_add(s.capacity);
            used = used.saturating_add(s.used);
        }
    }
    // Small files live in the metadata, not on data servers: their bytes count too.
    let (files, inline) = super::stat_fs_counts(store)?;
    Ok(MetaResponse::StatFs(StatFs {
        capacity,
        used: used.saturating_add(inline),
        files,
    }))
}

fn cluster_map(store: &dyn KvRead, settings: &ClusterSettings) -> OpResult<MetaResponse> {
    // Files are laid out with the stored chunk size once one is stored.
    let chunk_size = stored_layout(store)?.map_or(settings.chunk_size.as_u64(), |l| l.chunk_size);
    Ok(MetaResponse::Map(ClusterMap {
        data_servers: servers::all(store)?,
        replication: settings.replication,
        chunk_size,
        vnodes_per_weight: settings.vnodes_per_weight,
    }))
}
