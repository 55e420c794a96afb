//! The ferrofs client library: everything the CLI and the FUSE mount need to talk to
//! a cluster.
//!
//! - metadata requests go to the Raft leader, which is found, cached and re-found after
//!   an election; retries are hidden from callers for up to `failover_timeout`
//!   (`meta_link`, `backoff`);
//! - mutations carry a `RequestId` that stays the same across retries so the metadata
//!   server applies them once;
//! - file data is split into chunks placed on a consistent-hash ring of data servers
//!   (`upload`), read back from one replica chosen by the read policy with fallback to
//!   the others (`read`, `replica`), and verified with blake3.
//!
//! A [`Client`] is cheap to clone; all state is behind an `Arc`. The library reads no
//! environment variables and holds no globals: everything comes from [`ClientConfig`].

mod admin;
mod backoff;
mod client;
mod data_io;
mod data_servers;
mod error;
mod locks;
mod meta_link;
mod namespace;
mod patch;
mod path;
mod read;
mod read_blocks;
mod read_plan;
mod read_stream;
mod replica;
mod rewrite;
mod tasks;
mod truncate;
mod upload;
mod write_stream;

pub use client::Client;
pub use error::ClientError;
pub use locks::{Lock, LockKind};
pub use namespace::Added;
pub use path::{split_path, MAX_SYMLINK_HOPS};
pub use read::MAX_READ_AT_BYTES;

pub use ferrofs_proto::attr::{
    ChunkLocation, ChunkRef, DirEntryPlus, FileAttr, FileKind, SetAttr, TimeChange, Timestamp,
};
pub use ferrofs_proto::config::{ClientConfig, ReadPolicy};
pub use ferrofs_proto::lock::LockOwner;
pub use ferrofs_proto::meta_msg::{
    ClusterMap, ClusterStatus, DataServerInfo, RenameFlags, ServerState, StatFs, XattrMode,
};
pub use ferrofs_proto::{ChunkId, FsError, InodeId, WireError};
