//! The ferrofs namespace as pure logic over an abstract ordered key-value store: no IO, no
//! async, no RocksDB. Deterministic: every Raft replica applying the same commands to the
//! same state produces the same writes.
//!
//! Layout of the tables (all records carry a one-byte format version, then postcard):
//! - `Inodes`: ino (BE u64) -> inode (kind, mode, owner, size, nlink, times, generation,
//!   parent directory, symlink target).
//! - `Dentries`: parent (BE u64) + name -> (ino, kind). A listing is a prefix scan.
//! - `Chunks`: ino (BE u64) + index (BE u64) -> `ChunkRef`.
//! - `Locations`: ChunkId (BE u128) -> servers with a verified copy + reference count.
//! - `Xattrs`: ino (BE u64) + name -> value.
//! - `Servers`: NodeId (BE u64) -> `DataServerInfo`.
//! - `Sys`: `next_ino`, `counters`, `layout`, and the garbage list `gc/` + ChunkId ->
//!   servers that may still hold a chunk no file references.
//!
//! Known limits, left to other layers:
//! - Truncating to the middle of a chunk keeps that chunk with its `len` unchanged (readers
//!   ignore bytes past the file size). Growing the file again later (SetAttr, or a commit
//!   of a later chunk with a larger `min_size`) would expose the old tail: whoever truncates
//!   to a size that is not a multiple of the chunk size should rewrite the cut chunk.
//! - Unlink destroys an inode at nlink 0 at once; keeping an unlinked-but-open file
//!   readable is the FUSE layer's job (e.g. a hidden rename until the last release).
//! - Retried mutations are deduplicated by the state machine (RequestId), not here.

mod admin;
mod attrs;
mod chunks;
mod create;
mod keys;
mod live;
mod lock_ranges;
mod locks;
mod names;
mod orphans;
mod query;
mod records;
mod remove;
mod rename;
mod replicas;
mod servers;
mod store;
mod tx;
mod view;
mod xattr;

#[cfg(test)]
mod tests;

pub use live::{is_garbage, live_chunks, LiveChunk};
pub use locks::{holders as lock_holders, MAX_EXPIRED_SESSIONS};
pub use query::MAX_GET_CHUNKS;
pub use store::{successor, KvPair, KvRead, MemStore, Overlay, StoreError, Table, Write};

use create::Owner;
use ferrofs_proto::attr::Timestamp;
use ferrofs_proto::config::ClusterSettings;
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::{ChunkId, NodeId};
use ferrofs_proto::meta_msg::{DataServerInfo, MetaOp, MetaRequest, MetaResponse, ServerState};
use tx::{OpError, OpResult, Tx};

/// Inputs the leader fixes before proposing, so apply is deterministic on every replica.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ApplyContext {
    pub now: Timestamp,
}

/// Make sure the root directory (InodeId::ROOT, mode 0o755, uid 0, gid 0) exists. Called by
/// the state machine when applying the very first entry (idempotent).
pub fn ensure_root(store: &mut Overlay<'_>, ctx: &ApplyContext) -> Result<(), StoreError> {
    run(store, ctx.now, create::ensure_root)?
        .map_err(|e| StoreError::Backend(format!("creating the root directory: {e}")))
}

/// Apply one mutation. Namespace errors (ENOENT etc.) come back as MetaResponse::Error(FsError)
/// and leave no writes in `store`; only a StoreError (broken storage) is an Err.
pub fn apply(
    store: &mut Overlay<'_>,
    ctx: &ApplyContext,
    op: &MetaOp,
) -> Result<MetaResponse, StoreError> {
    Ok(run(store, ctx.now, |tx| dispatch(tx, op))?.unwrap_or_else(MetaResponse::Error))
}

fn dispatch(tx: &mut Tx<'_>, op: &MetaOp) -> OpResult<MetaResponse> {
    match op {
        MetaOp::Create {
            parent,
            name,
            kind,
            mode,
            uid,
            gid,
            exclusive,
        } => {
            let owner = Owner {
                mode: *mode,
                uid: *uid,
                gid: *gid,
            };
            create::create(tx, *parent, name, *kind, owner, *exclusive)
        }
        MetaOp::Mkdir {
            parent,
            name,
            mode,
            uid,
            gid,
        } => create::mkdir(
            tx,
            *parent,
            name,
            Owner {
                mode: *mode,
                uid: *uid,
                gid: *gid,
            },
        ),
        MetaOp::Symlink {
            parent,
            name,
            target,
            uid,
            gid,
        } => create::symlink(tx, *parent, name, target, *uid, *gid),
        MetaOp::Link {
            ino,
            new_parent,
            new_name,
        } => create::link(tx, *ino, *new_parent, new_name),
        MetaOp::Unlink { parent, name } => remove::unlink(tx, *parent, name),
        MetaOp::Rmdir { parent, name } => remove::rmdir(tx, *parent, name),
        MetaOp::Rename {
            parent,
            name,
            new_parent,
            new_name,
            flags,
        } => rename::rename(tx, *parent, name, *new_parent, new_name, *flags),
        MetaOp::SetAttr { ino, attr } => attrs::set_attr(tx, *ino, attr),
        MetaOp::SetXattr {
            ino,
            name,
            value,
            mode,
        } => xattr::set(tx, *ino, name, value, *mode),
        MetaOp::RemoveXattr { ino, name } => xattr::remove(tx, *ino, name),
        MetaOp::CommitChunks {
            ino,
            chunks,
            min_size,
            mtime,
        } => chunks::commit(tx, *ino, chunks, *min_size, *mtime),
        MetaOp::CommitPatch {
            ino,
            base,
            chunk,
            mtime,
        } => chunks::commit_over(tx, *ino, Some(*base), chunk, 0, *mtime),
        MetaOp::CommitOver {
            ino,
            base,
            chunk,
            min_size,
            mtime,
        } => chunks::commit_over(tx, *ino, *base, chunk, *min_size, *mtime),
        MetaOp::RegisterDataServer {
            node,
            addr,
            zone,
            capacity,
        } => servers::register(tx, *node, addr, zone, *capacity),
        MetaOp::ReportBadReplica { chunk, server } | MetaOp::RemoveReplica { chunk, server } => {
            replicas::remove_replica(tx, *chunk, *server)
        }
        MetaOp::AddReplica { chunk, server } => {
            replicas::add_replica(tx, *chunk, *server).map(|_| MetaResponse::Done)
        }
        MetaOp::ReportOrphans { server, chunks } => orphans::report(tx, *server, chunks),
        MetaOp::GarbageDeleted { chunk, server } => {
            replicas::garbage_deleted(tx, *chunk, *server).map(|()| MetaResponse::Done)
        }
        MetaOp::SetDataServer {
            node,
            state,
            weight,
        } => admin::set_data_server(tx, *node, *state, *weight),
        MetaOp::RemoveDataServer { node, force } => admin::remove_data_server(tx, *node, *force),
        MetaOp::SetRebalance {
            paused,
            rate_mib_per_sec,
        } => admin::set_rebalance(tx, *paused, *rate_mib_per_sec),
        MetaOp::RegisterDataServerWeighted {
            node,
            addr,
            zone,
            capacity,
            weight,
        } => servers::register_weighted(tx, *node, addr, zone, *capacity, *weight),
        MetaOp::SetLock { ino, lock } => locks::set(tx, *ino, lock),
        MetaOp::Unlock {
            ino,
            owner,
            start,
            end,
        } => locks::unlock(tx, *ino, owner, *start, *end),
        MetaOp::ExpireLockSessions { clients } => locks::expire_sessions(tx, clients),
    }
}

/// Answer a read-only request: Lookup, GetAttr, ReadDir, ReadLink, GetXattr, ListXattr,
/// GetChunks, StatFs (capacity/used come from data servers records in Table::Servers),
/// ClusterMap (needs settings). Anything else -> MetaResponse::Error(FsError::Unsupported).
pub fn query(
    store: &dyn KvRead,
    settings: &ClusterSettings,
    req: &MetaRequest,
) -> Result<MetaResponse, StoreError> {
    match query::query(store, settings, req) {
        Ok(resp) => Ok(resp),
        Err(OpError::Fs(e)) => Ok(MetaResponse::Error(e)),
        Err(OpError::Store(e)) => Err(e),
    }
}

/// Counts for `ferrofs status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NamespaceCounts {
    /// Inodes that are not directories (regular files, symlinks, FIFOs).
    pub files: u64,
    /// Directories, the root included.
    pub dirs: u64,
    /// Distinct live chunks (referenced by at least one file).
    pub chunks: u64,
    /// Live chunks with fewer locations than the stored replication factor (see `configure`).
    pub under_replicated: u64,
    /// Sum of the sizes of regular files.
    pub logical_bytes: u64,
}

/// The counters kept in Table::Sys (read, never computed by scanning).
pub fn counts(store: &dyn KvRead) -> Result<NamespaceCounts, StoreError> {
    let c = tx::load_counters(store)?;
    Ok(NamespaceCounts {
        files: c.files,
        dirs: c.dirs,
        chunks: c.chunks,
        under_replicated: c.under_replicated,
        logical_bytes: c.logical_bytes,
    })
}

/// Data server records (Table::Servers): registration is Raft state.
pub fn data_servers(store: &dyn KvRead) -> Result<Vec<DataServerInfo>, StoreError> {
    servers::all(store)
}

// ---- Additions beyond the fixed contract, for the state machine and the reconciliation
// loop. Each is a deterministic mutation to apply through Raft like `apply`. The outer
// Result is broken storage; the inner one is a refused request (no writes made). ----

/// Store the cluster layout the namespace needs: the chunk size (used to drop chunks on
/// truncate; fixed by the first call, a different one later is refused) and the
/// replication factor (`under_replicated` is counted against it; a change recounts).
/// Until it is called the defaults of `ClusterSettings` apply (4 MiB, 3 copies). Call it
/// with the cluster settings when applying the very first entry, next to `ensure_root`.
pub fn configure(
    store: &mut Overlay<'_>,
    settings: &ClusterSettings,
) -> Result<Result<(), FsError>, StoreError> {
    let (chunk_size, replication) = (settings.chunk_size.as_u64(), settings.replication);
    run(store, Timestamp::default(), |tx| {
        replicas::configure(tx, chunk_size, replication)
    })
}

/// A verified copy of `chunk` now lives on `server`. `Ok(Ok(false))` if no file references
/// the chunk any more: the copy was added to the garbage list instead.
pub fn add_replica(
    store: &mut Overlay<'_>,
    chunk: ChunkId,
    server: NodeId,
) -> Result<Result<bool, FsError>, StoreError> {
    run(store, Timestamp::default(), |tx| {
        replicas::add_replica(tx, chunk, server)
    })
}

/// `server` no longer holds `chunk` (a surplus copy was deleted, or the copy is bad).
pub fn remove_replica(
    store: &mut Overlay<'_>,
    chunk: ChunkId,
    server: NodeId,
) -> Result<Result<(), FsError>, StoreError> {
    run(store, Timestamp::default(), |tx| {
        replicas::remove_replica(tx, chunk, server).map(drop)
    })
}

/// What `statfs` takes from the namespace: the number of files and directories, and the
/// bytes of small files kept inline in chunk records (counted in `df`'s use).
pub fn stat_fs_counts(store: &dyn KvRead) -> Result<(u64, u64), StoreError> {
    let c = tx::load_counters(store)?;
    let inline = tx::load_inline_use(store)?.bytes;
    Ok((c.files.saturating_add(c.dirs), inline))
}

/// Orphan marks made before `before` (see `orphans::old_marks`).
pub fn old_orphan_marks(
    store: &dyn KvRead,
    after: Option<ChunkId>,
    before: Timestamp,
    max: usize,
) -> Result<(Vec<ChunkId>, Option<ChunkId>), StoreError> {
    orphans::old_marks(store, after, before, max)
}

/// Drop the orphan marks of `chunks` made before `before`; the number dropped.
pub fn expire_orphan_marks(
    store: &mut Overlay<'_>,
    now: Timestamp,
    chunks: &[ChunkId],
    before: Timestamp,
) -> Result<Result<usize, FsError>, StoreError> {
    run(store, now, |tx| orphans::expire_marks(tx, chunks, before))
}

/// Up to `limit` chunks no file references, after `after`, with the servers that may hold
/// a copy: the GC deletes them there, then calls `garbage_deleted`.
pub fn garbage(
    store: &dyn KvRead,
    after: Option<ChunkId>,
    limit: usize,
) -> Result<Vec<(ChunkId, Vec<NodeId>)>, StoreError> {
    replicas::garbage(store, after, limit)
}

/// `server` has deleted its copy of garbage chunk `chunk` (idempotent).
pub fn garbage_deleted(
    store: &mut Overlay<'_>,
    chunk: ChunkId,
    server: NodeId,
) -> Result<Result<(), FsError>, StoreError> {
    run(store, Timestamp::default(), |tx| {
        replicas::garbage_deleted(tx, chunk, server)
    })
}

/// Up to `limit` live chunks after `after`, in id order, with their verified locations.
pub fn chunk_locations(
    store: &dyn KvRead,
    after: Option<ChunkId>,
    limit: usize,
) -> Result<Vec<(ChunkId, Vec<NodeId>)>, StoreError> {
    replicas::locations(store, after, limit)
}

/// Change a data server's administrative state (draining, removed, ...) or weight.
/// `Err(FsError::NotFound)` if it never registered.
pub fn update_data_server(
    store: &mut Overlay<'_>,
    node: NodeId,
    state: Option<ServerState>,
    weight: Option<u32>,
) -> Result<Result<DataServerInfo, FsError>, StoreError> {
    run(store, Timestamp::default(), |tx| {
        servers::update(tx, node, state, weight)
    })
}

/// The runtime rebalance settings (defaults until an operator changes them).
pub fn rebalance_settings(
    store: &dyn KvRead,
) -> Result<ferrofs_proto::meta_msg::RebalanceSettings, StoreError> {
    admin::rebalance_settings(store)
}

/// How many chunk locations name each data server (one scan of Table::Locations).
pub fn locations_per_server(
    store: &dyn KvRead,
) -> Result<std::collections::BTreeMap<NodeId, u64>, StoreError> {
    admin::locations_per_server(store)
}

/// Run one operation in a nested overlay: its writes reach `store` only if it succeeds.
fn run<T>(
    store: &mut Overlay<'_>,
    now: Timestamp,
    op: impl FnOnce(&mut Tx<'_>) -> OpResult<T>,
) -> Result<Result<T, FsError>, StoreError> {
    let (writes, value) = {
        let mut tx = Tx::begin(&*store, now)?;
        match op(&mut tx) {
            Ok(value) => (tx.commit()?, value),
            Err(OpError::Fs(e)) => return Ok(Err(e)),
            Err(OpError::Store(e)) => return Err(e),
        }
    };
    store.extend(writes);
    Ok(Ok(value))
}
