//! A single-process stand-in for the metadata quorum: an in-memory namespace with
//! knobs to answer NotLeader, Unavailable, or to apply a mutation and lose the reply.

use ferrofs_proto::attr::{ChunkLocation, DirEntryPlus, FileAttr, FileKind, Timestamp};
use ferrofs_proto::endpoint::{serve_streams, server_endpoint};
use ferrofs_proto::frame::{read_msg, write_msg};
use ferrofs_proto::meta_msg::{ClusterMap, MetaOp, MetaRequest, MetaResponse, StatFs};
use ferrofs_proto::tls::TlsIdentity;
use ferrofs_proto::{FsError, InodeId, RequestId};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub struct Node {
    pub attr: FileAttr,
    pub children: BTreeMap<Vec<u8>, InodeId>,
    pub target: Vec<u8>,
    pub chunks: BTreeMap<u64, ChunkLocation>,
}

pub struct MetaState {
    next_ino: u64,
    pub inodes: HashMap<InodeId, Node>,
    applied: HashMap<RequestId, MetaResponse>,
    /// Every Mutate received, duplicates included.
    pub mutations_seen: Vec<RequestId>,
    /// Answer every request with NotLeader carrying this hint.
    pub redirect: Option<Option<String>>,
    /// Answer this many requests with Unavailable.
    pub unavailable: u32,
    /// Apply this many mutations but reset the stream instead of replying.
    pub drop_replies: u32,
    pub map: ClusterMap,
    pub requests: u64,
    /// Accept requests but never answer (a frozen or partitioned leader).
    pub blackhole: bool,
}

fn attr(ino: u64, kind: FileKind, mode: u32) -> FileAttr {
    let now = Timestamp::now();
    FileAttr {
        ino: InodeId(ino),
        kind,
        mode,
        uid: 0,
        gid: 0,
        size: 0,
        nlink: 1,
        atime: now,
        mtime: now,
        ctime: now,
        generation: 1,
        has_xattrs: false,
    }
}

impl MetaState {
    fn new(map: ClusterMap) -> MetaState {
        let mut inodes = HashMap::new();
        let root = Node {
            attr: attr(1, FileKind::Dir, 0o755),
            children: BTreeMap::new(),
            target: Vec::new(),
            chunks: BTreeMap::new(),
        };
        inodes.insert(InodeId::ROOT, root);
        MetaState {
            next_ino: 2,
            inodes,
            applied: HashMap::new(),
            mutations_seen: Vec::new(),
            redirect: None,
            unavailable: 0,
            drop_replies: 0,
            map,
            requests: 0,
            blackhole: false,
        }
    }

    fn node(&self, ino: InodeId) -> Result<&Node, FsError> {
        self.inodes.get(&ino).ok_or(FsError::NotFound)
    }

    fn dir(&self, ino: InodeId) -> Result<&Node, FsError> {
        let n = self.node(ino)?;
        if n.attr.kind != FileKind::Dir {
            return Err(FsError::NotDir);
        }
        Ok(n)
    }

    fn add(
        &mut self,
        parent: InodeId,
        name: Vec<u8>,
        kind: FileKind,
        mode: u32,
        target: Vec<u8>,
    ) -> Result<FileAttr, FsError> {
        if self.dir(parent)?.children.contains_key(&name) {
            return Err(FsError::Exists);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let mut a = attr(ino, kind, mode);
        a.size = target.len() as u64;
        let node = Node {
            attr: a.clone(),
            children: BTreeMap::new(),
            target,
            chunks: BTreeMap::new(),
        };
        self.inodes.insert(InodeId(ino), node);
        if let Some(p) = self.inodes.get_mut(&parent) {
            p.children.insert(name, InodeId(ino));
        }
        Ok(a)
    }

    fn read(&self, req: MetaRequest) -> Result<MetaResponse, FsError> {
        Ok(match req {
            MetaRequest::Lookup { parent, name } => {
                let ino = *self
                    .dir(parent)?
                    .children
                    .get(&name)
                    .ok_or(FsError::NotFound)?;
                MetaResponse::Attr(self.node(ino)?.attr.clone())
            }
            MetaRequest::GetAttr { ino } => MetaResponse::Attr(self.node(ino)?.attr.clone()),
            MetaRequest::ReadDir { ino, after, limit } => {
                let d = self.dir(ino)?;
                let mut entries = Vec::new();
                let mut done = true;
                for (name, child) in &d.children {
                    if after.as_ref().is_some_and(|a| name <= a) {
                        continue;
                    }
                    if entries.len() == limit as usize {
                        done = false;
                        break;
                    }
                    entries.push(DirEntryPlus {
                        name: name.clone(),
                        attr: self.node(*child)?.attr.clone(),
                    });
                }
                MetaResponse::Entries { entries, done }
            }
            MetaRequest::ReadLink { ino } => MetaResponse::Target(self.node(ino)?.target.clone()),
            MetaRequest::GetChunks {
                ino,
                first_index,
                count,
            } => {
                let n = self.node(ino)?;
                let chunks = n
                    .chunks
                    .range(first_index..first_index + count)
                    .map(|(_, c)| c.clone())
                    .collect();
                MetaResponse::Chunks {
                    chunks,
                    size: n.attr.size,
                }
            }
            MetaRequest::StatFs => MetaResponse::StatFs(StatFs {
                capacity: 1 << 40,
                used: 0,
                files: self.inodes.len() as u64,
            }),
            MetaRequest::ClusterMap => MetaResponse::Map(self.map.clone()),
            _ => return Err(FsError::Unsupported),
        })
    }

    fn apply(&mut self, op: MetaOp) -> Result<MetaResponse, FsError> {
        Ok(match op {
            MetaOp::Create {
                parent,
                name,
                kind,
                mode,
                exclusive,
                ..
            } => {
                let existing = self.dir(parent)?.children.get(&name).copied();
                match existing {
                    Some(_) if exclusive => return Err(FsError::Exists),
                    Some(ino) => MetaResponse::Attr(self.node(ino)?.attr.clone()),
                    None => MetaResponse::Attr(self.add(parent, name, kind, mode, Vec::new())?),
                }
            }
            MetaOp::Mkdir {
                parent, name, mode, ..
            } => MetaResponse::Attr(self.add(parent, name, FileKind::Dir, mode, Vec::new())?),
            MetaOp::Symlink {
                parent,
                name,
                target,
                ..
            } => MetaResponse::Attr(self.add(parent, name, FileKind::Symlink, 0o777, target)?),
            MetaOp::Unlink { parent, name } => {
                self.dir(parent)?;
                let p = self.inodes.get_mut(&parent).ok_or(FsError::NotFound)?;
                p.children.remove(&name).ok_or(FsError::NotFound)?;
                MetaResponse::Done
            }
            MetaOp::SetAttr { ino, attr } => {
                let n = self.inodes.get_mut(&ino).ok_or(FsError::NotFound)?;
                if let Some(size) = attr.size {
                    n.attr.size = size;
                    let cs = self.map.chunk_size;
                    n.chunks.retain(|i, _| i * cs < size);
                }
                MetaResponse::Attr(n.attr.clone())
            }
            MetaOp::CommitChunks {
                ino,
                chunks,
                min_size,
                mtime,
            } => {
                let n = self.inodes.get_mut(&ino).ok_or(FsError::NotFound)?;
                if n.attr.kind != FileKind::File {
                    return Err(FsError::IsDir);
                }
                for c in chunks {
                    n.chunks.insert(c.index, c);
                }
                n.attr.size = n.attr.size.max(min_size);
                n.attr.mtime = mtime;
                MetaResponse::Attr(n.attr.clone())
            }
            _ => return Err(FsError::Unsupported),
        })
    }
}

pub struct FakeMeta {
    pub addr: String,
    pub state: Arc<Mutex<MetaState>>,
    endpoint: quinn::Endpoint,
}

/// What the handler does with one request.
enum Reply {
    Send(MetaResponse),
    Drop,
    Hang,
}

fn handle(state: &Mutex<MetaState>, req: MetaRequest) -> Reply {
    let mut s = state.lock();
    s.requests += 1;
    if s.blackhole {
        return Reply::Hang;
    }
    if let Some(hint) = &s.redirect {
        return Reply::Send(MetaResponse::Error(FsError::NotLeader {
            leader_addr: hint.clone(),
        }));
    }
    if s.unavailable > 0 {
        s.unavailable -= 1;
        return Reply::Send(MetaResponse::Error(FsError::Unavailable("election".into())));
    }
    match req {
        MetaRequest::Mutate { id, op } => {
            s.mutations_seen.push(id);
            let resp = match s.applied.get(&id) {
                Some(r) => r.clone(),
                None => {
                    let r = s.apply(op).unwrap_or_else(MetaResponse::Error);
                    s.applied.insert(id, r.clone());
                    r
                }
            };
            if s.drop_replies > 0 {
                s.drop_replies -= 1;
                return Reply::Drop;
            }
            Reply::Send(resp)
        }
        other => Reply::Send(s.read(other).unwrap_or_else(MetaResponse::Error)),
    }
}

impl FakeMeta {
    pub fn start(identity: &TlsIdentity, map: ClusterMap) -> FakeMeta {
        let endpoint =
            server_endpoint("127.0.0.1:0".parse().expect("addr"), identity).expect("endpoint");
        let addr = endpoint.local_addr().expect("local addr").to_string();
        let state = Arc::new(Mutex::new(MetaState::new(map)));
        let st = state.clone();
        tokio::spawn(serve_streams(
            endpoint.clone(),
            move |_conn, mut send, mut recv| {
                let st = st.clone();
                async move {
                    let Ok(req) = read_msg::<MetaRequest>(&mut recv).await else {
                        return;
                    };
                    match handle(&st, req) {
                        Reply::Send(resp) => {
                            if write_msg(&mut send, &resp).await.is_ok() {
                                let _ = send.finish();
                            }
                        }
                        Reply::Drop => {
                            let _ = send.reset(quinn::VarInt::from_u32(1));
                        }
                        Reply::Hang => std::future::pending::<()>().await,
                    }
                }
            },
        ));
        FakeMeta {
            addr,
            state,
            endpoint,
        }
    }

    /// Close the endpoint: connections are torn down, new ones refused.
    pub fn kill(&self) {
        self.endpoint.close(quinn::VarInt::from_u32(0), b"killed");
    }
}
