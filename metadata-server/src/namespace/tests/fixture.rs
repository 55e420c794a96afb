//! A file system over `MemStore` with one-line helpers for the scenarios.

use super::invariants;
use crate::namespace::*;
use ferrofs_proto::attr::{ChunkLocation, ChunkRef, FileAttr, FileKind, Timestamp};
use ferrofs_proto::config::ClusterSettings;
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::{ChunkId, InodeId, NodeId};
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse, RenameFlags};

pub const ROOT: InodeId = InodeId::ROOT;
/// A small chunk size so chunk math is easy to follow.
pub const CHUNK: u64 = 100;

pub struct Fs {
    pub store: MemStore,
    pub settings: ClusterSettings,
    pub clock: i128,
    /// Writes of every successful step, in order (for the determinism test).
    pub log: Vec<Vec<Write>>,
}

impl Fs {
    /// A fresh namespace with the root, chunk size `CHUNK` and replication 2.
    pub fn new() -> Fs {
        let settings = settings(CHUNK, 2);
        let mut fs = Fs {
            store: MemStore::default(),
            settings,
            clock: 1_000,
            log: Vec::new(),
        };
        let ctx = fs.ctx();
        let settings = fs.settings.clone();
        fs.mutate(|o| {
            ensure_root(o, &ctx)?;
            configure(o, &settings).map(|r| r.expect("layout accepted"))
        });
        fs
    }

    pub fn ctx(&mut self) -> ApplyContext {
        self.clock += 1;
        ApplyContext {
            now: Timestamp(self.clock),
        }
    }

    /// The time the last `ctx()` handed out.
    pub fn now(&self) -> Timestamp {
        Timestamp(self.clock)
    }

    /// Run `f` over an overlay of the store and apply its writes.
    pub fn mutate<T>(&mut self, f: impl FnOnce(&mut Overlay<'_>) -> Result<T, StoreError>) -> T {
        let mut overlay = Overlay::new(&self.store);
        let value = f(&mut overlay).expect("storage works");
        let writes = overlay.into_writes();
        self.log.push(writes.clone());
        self.store.apply_writes(writes);
        value
    }

    /// Apply one op; a refused op must leave no writes.
    pub fn apply(&mut self, op: MetaOp) -> MetaResponse {
        let ctx = self.ctx();
        let mut overlay = Overlay::new(&self.store);
        let resp = apply(&mut overlay, &ctx, &op).expect("storage works");
        let writes = overlay.into_writes();
        if let MetaResponse::Error(e) = &resp {
            assert!(
                writes.is_empty(),
                "{op:?} failed with {e:?} but wrote {writes:?}"
            );
        }
        self.log.push(writes.clone());
        self.store.apply_writes(writes);
        resp
    }

    /// Apply an op that must succeed with an `Attr`.
    pub fn ok_attr(&mut self, op: MetaOp) -> FileAttr {
        match self.apply(op.clone()) {
            MetaResponse::Attr(a) | MetaResponse::Added { attr: a, .. } => a,
            other => panic!("{op:?} -> {other:?}"),
        }
    }

    /// Apply an op that must succeed with `Done`.
    pub fn ok(&mut self, op: MetaOp) {
        let resp = self.apply(op.clone());
        assert_eq!(resp, MetaResponse::Done, "{op:?}");
    }

    /// Apply an op that must fail; returns the error.
    pub fn err(&mut self, op: MetaOp) -> FsError {
        match self.apply(op.clone()) {
            MetaResponse::Error(e) => e,
            other => panic!("{op:?} should fail but gave {other:?}"),
        }
    }

    pub fn query(&self, req: MetaRequest) -> MetaResponse {
        query(&self.store, &self.settings, &req).expect("storage works")
    }

    pub fn mkdir(&mut self, parent: InodeId, name: &str) -> InodeId {
        self.ok_attr(MetaOp::Mkdir {
            parent,
            name: name.into(),
            mode: 0o755,
            uid: 1,
            gid: 1,
        })
        .ino
    }

    pub fn create(&mut self, parent: InodeId, name: &str) -> InodeId {
        self.ok_attr(create_op(parent, name, true)).ino
    }

    pub fn lookup(&self, parent: InodeId, name: &str) -> Result<FileAttr, FsError> {
        as_attr(self.query(MetaRequest::Lookup {
            parent,
            name: name.into(),
        }))
    }

    pub fn getattr(&self, ino: InodeId) -> Result<FileAttr, FsError> {
        as_attr(self.query(MetaRequest::GetAttr { ino }))
    }

    pub fn attr(&self, ino: InodeId) -> FileAttr {
        self.getattr(ino).expect("inode exists")
    }

    /// Names in `dir`, read through paginated ReadDir.
    pub fn names(&self, dir: InodeId) -> Vec<String> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            match self.query(MetaRequest::ReadDir {
                ino: dir,
                after: after.clone(),
                limit: 2,
            }) {
                MetaResponse::Entries { entries, done } => {
                    after = entries.last().map(|e| e.name.clone());
                    out.extend(entries.into_iter().map(|e| lossy(&e.name)));
                    if done {
                        return out;
                    }
                }
                other => panic!("readdir -> {other:?}"),
            }
        }
    }

    pub fn rename(
        &mut self,
        parent: InodeId,
        name: &str,
        new_parent: InodeId,
        new_name: &str,
    ) -> MetaResponse {
        self.rename_flags(parent, name, new_parent, new_name, RenameFlags::default())
    }

    pub fn rename_flags(
        &mut self,
        parent: InodeId,
        name: &str,
        new_parent: InodeId,
        new_name: &str,
        flags: RenameFlags,
    ) -> MetaResponse {
        self.apply(MetaOp::Rename {
            parent,
            name: name.into(),
            new_parent,
            new_name: new_name.into(),
            flags,
        })
    }

    /// Commit chunk `id` at `index` of `ino`, held by `servers`.
    pub fn commit(
        &mut self,
        ino: InodeId,
        index: u64,
        id: u128,
        servers: &[u64],
        min_size: u64,
    ) -> FileAttr {
        let mtime = Timestamp(7);
        self.ok_attr(MetaOp::CommitChunks {
            ino,
            chunks: vec![chunk_at(index, id, servers)],
            min_size,
            mtime,
        })
    }

    /// (index, chunk id) of the chunks of `ino`, from GetChunks.
    pub fn chunks(&self, ino: InodeId) -> Vec<(u64, u128)> {
        match self.query(MetaRequest::GetChunks {
            ino,
            first_index: 0,
            count: 1000,
        }) {
            MetaResponse::Chunks { chunks, .. } => chunks
                .into_iter()
                .map(|c| (c.index, c.chunk.id.0))
                .collect(),
            other => panic!("getchunks -> {other:?}"),
        }
    }

    pub fn garbage(&self) -> Vec<u128> {
        garbage(&self.store, None, 10_000)
            .expect("scan")
            .into_iter()
            .map(|(id, _)| id.0)
            .collect()
    }

    pub fn counts(&self) -> NamespaceCounts {
        counts(&self.store).expect("counts")
    }

    /// Check counters and link counts against the raw tables.
    pub fn check(&self) {
        invariants::check(&self.store, self.settings.replication);
    }
}

pub fn create_op(parent: InodeId, name: &str, exclusive: bool) -> MetaOp {
    MetaOp::Create {
        parent,
        name: name.into(),
        kind: FileKind::File,
        mode: 0o644,
        uid: 1,
        gid: 1,
        exclusive,
    }
}

pub fn chunk_at(index: u64, id: u128, servers: &[u64]) -> ChunkLocation {
    ChunkLocation {
        index,
        chunk: ChunkRef {
            id: ChunkId(id),
            len: CHUNK,
            hash: [id as u8; 32],
            inline: None,
        },
        servers: servers.iter().map(|s| NodeId(*s)).collect(),
    }
}

/// Chunk `id` at `index` whose bytes are kept inline.
pub fn inline_at(index: u64, id: u128, bytes: &[u8]) -> ChunkLocation {
    ChunkLocation {
        index,
        chunk: ChunkRef {
            id: ChunkId(id),
            len: bytes.len() as u64,
            hash: *blake3::hash(bytes).as_bytes(),
            inline: Some(bytes.to_vec()),
        },
        servers: Vec::new(),
    }
}

pub fn as_attr(resp: MetaResponse) -> Result<FileAttr, FsError> {
    match resp {
        MetaResponse::Attr(a) | MetaResponse::Added { attr: a, .. } => Ok(a),
        MetaResponse::Error(e) => Err(e),
        other => panic!("expected an attr, got {other:?}"),
    }
}

pub fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// Cluster settings with this chunk size and replication (built through TOML, as the
/// byte-size type is not a dependency of this crate).
pub fn settings(chunk_size: u64, replication: u32) -> ClusterSettings {
    let text = format!("replication = {replication}\nchunk_size = {chunk_size}\n");
    let s: ClusterSettings = toml::from_str(&text).expect("valid settings");
    assert_eq!(s.chunk_size.as_u64(), chunk_size);
    s
}
