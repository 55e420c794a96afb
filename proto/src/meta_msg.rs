//! Requests to a metadata server and their responses. Reads are served by the
//! leader (linearizable through read-index); every mutation carries a `RequestId`
//! so a retry after a leader change is applied once.

use crate::attr::{ChunkLocation, DirEntryPlus, FileAttr, FileKind, SetAttr, Timestamp};
use crate::error::FsError;
use crate::ids::{ChunkId, ClientId, InodeId, NodeId, RequestId};
use crate::lock::{FileLock, LockOwner};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaRequest {
    /// Attributes of `name` in directory `parent` -> `Attr`.
    Lookup { parent: InodeId, name: Vec<u8> },
    /// -> `Attr`.
    GetAttr { ino: InodeId },
    /// Entries after `after` (exclusive, in name order), at most `limit` -> `Entries`.
    ReadDir {
        ino: InodeId,
        after: Option<Vec<u8>>,
        limit: u32,
    },
    /// -> `Target`.
    ReadLink { ino: InodeId },
    /// -> `Xattr`.
    GetXattr { ino: InodeId, name: Vec<u8> },
    /// -> `XattrNames`.
    ListXattr { ino: InodeId },
    /// Chunks `first_index .. first_index + count` of a file -> `Chunks`.
    GetChunks {
        ino: InodeId,
        first_index: u64,
        count: u64,
    },
    /// -> `StatFs`.
    StatFs,
    /// -> `Status`.
    ClusterStatus,
    /// Data servers and placement parameters -> `Map`.
    ClusterMap,
    /// A namespace or cluster mutation -> depends on the op.
    Mutate { id: RequestId, op: MetaOp },
    /// A data server's periodic report -> `HeartbeatAck`.
    Heartbeat(HeartbeatInfo),
    /// A Raft RPC between metadata voters, encoded by the metadata server (opaque here)
    /// -> `Raft`.
    Raft(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Change the metadata voters (served by the leader, one change at a time) -> `Done`.
    Membership(crate::membership::MembershipChange),
    /// A data server's sweep for orphans: which of `chunks` (at most
    /// `MAX_ORPHAN_BATCH`) no file references -> `ChunkIds`.
    UnreferencedChunks { chunks: Vec<ChunkId> },
    /// A data server's sweep for stray copies: which of `chunks` (at most
    /// `MAX_ORPHAN_BATCH`) files reference while the metadata does not list `server` as
    /// holding them -> `ChunkIds`.
    StrayChunks {
        server: NodeId,
        chunks: Vec<ChunkId>,
    },
    /// `server` holds copies of `chunks` that files reference but the metadata has not
    /// listed for the sweep's grace (the delete of a surplus copy failed, or an upload
    /// landed after its writer gave up on it). The leader's reconciler checks each copy
    /// against the chunk's hash and records it; the surplus removal then keeps the copies
    /// the ring prefers -> `Done`. Leader only and not durable: copies reported to a
    /// leader that loses office are reported again by a later sweep.
    ReportStrays {
        server: NodeId,
        chunks: Vec<ChunkId>,
    },
    /// The first held lock on `ino` that keeps `lock` from being granted -> `Lock`.
    TestLock { ino: InodeId, lock: FileLock },
    /// A mount that holds locks renews its lock session; a session the leader has not
    /// heard from for the lock timeout loses its locks -> `Done`. Leader only.
    KeepLocks { client: ClientId },
}

/// Most chunk ids one `UnreferencedChunks`, `StrayChunks`, `ReportStrays` or
/// `ReportOrphans` may carry.
pub const MAX_ORPHAN_BATCH: usize = 4096;

/// Flags of `Rename`, as renameat2(2) has them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenameFlags {
    /// Fail with `Exists` if the target exists.
    pub noreplace: bool,
    /// Atomically swap source and target (both must exist).
    pub exchange: bool,
}

/// How `SetXattr` treats an existing attribute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum XattrMode {
    #[default]
    Upsert,
    /// Fail with `Exists` if present.
    Create,
    /// Fail with `NoAttr` if absent.
    Replace,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaOp {
    /// A regular file or FIFO -> `Attr`.
    Create {
        parent: InodeId,
        name: Vec<u8>,
        kind: FileKind,
        mode: u32,
        uid: u32,
        gid: u32,
        /// Fail with `Exists` if the name exists (O_EXCL); otherwise return the existing file.
        exclusive: bool,
    },
    /// -> `Attr`.
    Mkdir {
        parent: InodeId,
        name: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// -> `Attr`.
    Symlink {
        parent: InodeId,
        name: Vec<u8>,
        target: Vec<u8>,
        uid: u32,
        gid: u32,
    },
    /// A hard link to `ino` -> `Attr`.
    Link {
        ino: InodeId,
        new_parent: InodeId,
        new_name: Vec<u8>,
    },
    /// Remove a non-directory entry -> `Done`.
    Unlink { parent: InodeId, name: Vec<u8> },
    /// Remove an empty directory -> `Done`.
    Rmdir { parent: InodeId, name: Vec<u8> },
    /// Atomic rename with the ancestor check -> `Done`.
    Rename {
        parent: InodeId,
        name: Vec<u8>,
        new_parent: InodeId,
        new_name: Vec<u8>,
        flags: RenameFlags,
    },
    /// -> `Attr`.
    SetAttr { ino: InodeId, attr: SetAttr },
    /// -> `Done`.
    SetXattr {
        ino: InodeId,
        name: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
        mode: XattrMode,
    },
    /// -> `Done`.
    RemoveXattr { ino: InodeId, name: Vec<u8> },
    /// Record newly written chunks of a file (replacing those at the same indexes)
    /// and grow the size to at least `min_size` -> `Attr`.
    CommitChunks {
        ino: InodeId,
        chunks: Vec<ChunkLocation>,
        min_size: u64,
        mtime: Timestamp,
    },
    /// A data server announces itself (first start or restart) -> `Done`.
    RegisterDataServer {
        node: NodeId,
        addr: String,
        zone: String,
        capacity: u64,
    },
    /// A replica failed its checksum; drop it from the chunk's locations -> `Done`.
    ReportBadReplica { chunk: ChunkId, server: NodeId },
    /// The reconciliation loop: a verified copy of `chunk` now lives on `server` -> `Done`.
    AddReplica { chunk: ChunkId, server: NodeId },
    /// The reconciliation loop: a surplus copy is about to be deleted -> `Done`.
    RemoveReplica { chunk: ChunkId, server: NodeId },
    /// The GC: `server` deleted its copy of the unreferenced `chunk` -> `Done`.
    GarbageDeleted { chunk: ChunkId, server: NodeId },
    /// Change a data server's administrative state and/or weight (`None` keeps it):
    /// `Draining` takes no new chunks and moves its copies away; `Up` ends a drain
    /// -> `Done`. Setting `Removed` this way is refused: use `RemoveDataServer`.
    SetDataServer {
        node: NodeId,
        state: Option<ServerState>,
        weight: Option<u32>,
    },
    /// Remove a data server for good -> `Done`. Refused unless it is draining and no
    /// chunk location names it, or `force` is set (the leader checks first that the
    /// server is down past the grace period; its copies are then re-replicated).
    RemoveDataServer { node: NodeId, force: bool },
    /// Runtime rebalance settings (`None` keeps the value) -> `Done`.
    SetRebalance {
        paused: Option<bool>,
        rate_mib_per_sec: Option<u32>,
    },
    /// `RegisterDataServer` with the server's configured weight, applied when it first
    /// registers (a known server keeps the weight an operator set) -> `Done`.
    RegisterDataServerWeighted {
        node: NodeId,
        addr: String,
        zone: String,
        capacity: u64,
        weight: u32,
    },
    /// `CommitChunks` of one patched chunk, only if the file's chunk at its index is
    /// still `base` (the chunk the patch was built from); otherwise `ChunkChanged` and
    /// nothing changes. So a writer may patch from a remembered location: a chunk
    /// that another writer replaced meanwhile is never overwritten with a patch of its
    /// old version -> `Attr`.
    CommitPatch {
        ino: InodeId,
        base: ChunkId,
        chunk: ChunkLocation,
        mtime: Timestamp,
    },
    /// `server` holds copies of `chunks` that no file has referenced for the sweep's
    /// grace (a writer died between its upload and its commit, or its commit was
    /// refused). Each one still unreferenced is marked an orphan, so that a late commit
    /// of it is refused (`ChunkCollected`), and goes to the garbage list with `server`
    /// for the GC to delete -> `ChunkIds`: the chunks marked.
    ReportOrphans {
        server: NodeId,
        chunks: Vec<ChunkId>,
    },
    /// `CommitChunks` of `chunk` alone, made only if the file's chunk at its index is
    /// still `base` (`None`: a hole there), otherwise `ChunkChanged`: a chunk rebuilt
    /// from the stored one with some bytes written over it (read-modify-write) must
    /// not undo another writer's change made in between.
    CommitOver {
        ino: InodeId,
        base: Option<ChunkId>,
        chunk: ChunkLocation,
        min_size: u64,
        mtime: Timestamp,
    },
    /// Take `lock` on `ino` (replacing what its owner holds of the range, as `fcntl`
    /// does) -> `Done`, or `WouldBlock` if another owner holds a conflicting lock.
    SetLock { ino: InodeId, lock: FileLock },
    /// Drop what `owner` holds of bytes `start ..= end` of `ino` -> `Done`.
    Unlock {
        ino: InodeId,
        owner: LockOwner,
        start: u64,
        end: u64,
    },
    /// Drop every lock of `clients`: mounts whose lock sessions ran out (proposed by the
    /// leader) -> `Done`.
    ExpireLockSessions { clients: Vec<ClientId> },
}

/// A data server's report, sent every heartbeat interval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatInfo {
    pub node: NodeId,
    pub addr: String,
    pub zone: String,
    pub capacity: u64,
    pub used: u64,
    pub chunks: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerState {
    Up,
    /// Missed a few heartbeats: takes no new chunks.
    Suspect,
    /// Past the grace period: its chunks are re-replicated.
    Down,
    Draining,
    Removed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataServerInfo {
    pub id: NodeId,
    pub addr: String,
    pub zone: String,
    pub weight: u32,
    pub capacity: u64,
    pub used: u64,
    pub chunks: u64,
    pub state: ServerState,
}

/// What a client needs to place and find chunks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMap {
    pub data_servers: Vec<DataServerInfo>,
    pub replication: u32,
    pub chunk_size: u64,
    pub vnodes_per_weight: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoterStatus {
    pub id: NodeId,
    pub addr: String,
    /// "leader", "follower", "learner", or "unreachable".
    pub role: String,
    pub matched_index: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub leader: Option<NodeId>,
    pub term: u64,
    pub commit_index: u64,
    pub voters: Vec<VoterStatus>,
    pub data_servers: Vec<DataServerInfo>,
    pub files: u64,
    pub dirs: u64,
    pub chunks: u64,
    pub under_replicated: u64,
    pub logical_bytes: u64,
    pub replication: u32,
    /// Progress of the leader's reconciliation loop (since it became leader).
    #[serde(default)]
    pub repair: RepairStatus,
    /// Progress of rebalancing (chunks whose copies are not on their target servers).
    #[serde(default)]
    pub rebalance: RebalanceStatus,
}

/// Default rebalance throttle, MiB/s per data server (as source and as target).
pub const DEFAULT_REBALANCE_MIB_PER_SEC: u32 = 50;

/// Runtime rebalance settings, kept in Raft state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebalanceSettings {
    pub paused: bool,
    /// Bytes a data server may send, and receive, for moves per second, in MiB.
    pub rate_mib_per_sec: u32,
}

impl Default for RebalanceSettings {
    fn default() -> Self {
        RebalanceSettings {
            paused: false,
            rate_mib_per_sec: DEFAULT_REBALANCE_MIB_PER_SEC,
        }
    }
}

/// What rebalancing is doing, as the leader's reconciliation loop last counted it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebalanceStatus {
    /// Live chunks whose holders differ from their ring target set.
    #[serde(default)]
    pub chunks_misplaced: u64,
    /// Bytes still to copy onto target servers.
    #[serde(default)]
    pub bytes_left: u64,
    /// Bytes moved per second, recently.
    #[serde(default)]
    pub bytes_per_sec: u64,
    /// Seconds to go at the current rate (`None` while nothing moves).
    #[serde(default)]
    pub eta_secs: Option<u64>,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub rate_mib_per_sec: u32,
    /// Copies moved onto their target server (since this node became leader).
    #[serde(default)]
    pub moves_done: u64,
    /// Bytes of those copies.
    #[serde(default)]
    pub bytes_moved: u64,
    /// Verified chunk locations per data server (the copies it holds).
    #[serde(default)]
    pub locations: Vec<ServerChunks>,
}

/// How many chunk locations name one data server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerChunks {
    pub id: NodeId,
    pub chunks: u64,
}

/// What the reconciliation loop (re-replication and garbage collection) is doing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairStatus {
    /// Copies being made right now.
    #[serde(default)]
    pub in_flight: u64,
    /// New copies made and committed.
    #[serde(default)]
    pub chunks_repaired: u64,
    /// Surplus copies removed.
    #[serde(default)]
    pub surplus_removed: u64,
    /// Unreferenced chunks waiting to be deleted.
    #[serde(default)]
    pub garbage_pending: u64,
    /// Live chunks with fewer copies on servers that are not down than the replication
    /// factor, as the loop last counted them (`under_replicated` counts recorded copies).
    #[serde(default)]
    pub under_replicated_live: u64,
    /// Garbage chunks deleted everywhere.
    #[serde(default)]
    pub garbage_collected: u64,
    /// Bytes of chunk copies the GC deleted (counted for chunks whose size this leader
    /// saw while they were live).
    #[serde(default)]
    pub bytes_reclaimed: u64,
    /// The most recent repairs, oldest first (at most `RECENT_REPAIRS`).
    #[serde(default)]
    pub recent: Vec<RepairRecord>,
    /// Bytes of the missing copies of under-replicated chunks, as the loop last counted.
    #[serde(default)]
    pub bytes_left: u64,
    /// Bytes of copies re-replicated (since this node became leader).
    #[serde(default)]
    pub bytes_repaired: u64,
    /// Bytes re-replicated per second, recently.
    #[serde(default)]
    pub bytes_per_sec: u64,
    /// Seconds to go at the current rate (`None` while nothing is being copied).
    #[serde(default)]
    pub eta_secs: Option<u64>,
}

/// How many recent repairs `RepairStatus::recent` keeps.
pub const RECENT_REPAIRS: usize = 256;

/// One finished copy: which chunk, and how many live copies it had when planned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairRecord {
    pub chunk: ChunkId,
    pub live_copies: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatFs {
    pub capacity: u64,
    pub used: u64,
    pub files: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaResponse {
    Attr(FileAttr),
    Entries {
        entries: Vec<DirEntryPlus>,
        done: bool,
    },
    Target(Vec<u8>),
    Xattr(#[serde(with = "serde_bytes")] Vec<u8>),
    XattrNames(Vec<Vec<u8>>),
    Chunks {
        chunks: Vec<ChunkLocation>,
        size: u64,
    },
    StatFs(StatFs),
    Status(Box<ClusterStatus>),
    Map(ClusterMap),
    HeartbeatAck,
    /// Reply to `MetaRequest::Raft`, encoded by the metadata server.
    Raft(#[serde(with = "serde_bytes")] Vec<u8>),
    Done,
    Error(FsError),
    /// A new directory entry (Create, Mkdir, Symlink, Link): its attributes and its
    /// directory's after the change, so a client can answer the kernel's next getattr of
    /// the directory without asking again.
    Added {
        attr: FileAttr,
        dir: FileAttr,
    },
    /// Chunk ids: the unreferenced ones (`UnreferencedChunks`), the stray copies
    /// (`StrayChunks`) or those marked as orphans (`ReportOrphans`).
    ChunkIds(Vec<ChunkId>),
    /// `TestLock`: the conflicting lock, if any.
    Lock(Option<FileLock>),
}
