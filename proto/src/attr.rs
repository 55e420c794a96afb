//! File attributes and the small records that describe files and chunks.

use crate::ids::{ChunkId, InodeId, NodeId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Fifo,
}

/// A timestamp: nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct Timestamp(pub i128);

impl Timestamp {
    pub fn now() -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_nanos() as i128)
    }

    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000) as i64
    }

    pub fn subsec_nanos(self) -> u32 {
        self.0.rem_euclid(1_000_000_000) as u32
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileAttr {
    pub ino: InodeId,
    pub kind: FileKind,
    /// Permission bits only (07777); the kind is in `kind`.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub nlink: u32,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    /// Bumped when an inode number could be reused; lets FUSE tell incarnations apart.
    pub generation: u64,
    /// The inode has at least one extended attribute. Lets a mount answer "no such
    /// attribute" without a round trip (the kernel asks before every write).
    pub has_xattrs: bool,
}

/// How a time field of SetAttr changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeChange {
    /// Set to the leader's clock at commit time.
    Now,
    Set(Timestamp),
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Truncate or extend; chunks beyond the new size are dropped.
    pub size: Option<u64>,
    pub atime: Option<TimeChange>,
    pub mtime: Option<TimeChange>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: InodeId,
    pub kind: FileKind,
}

/// Entry plus attributes, as `readdirplus` wants them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntryPlus {
    pub name: Vec<u8>,
    pub attr: FileAttr,
}

/// One chunk of a file as recorded in its chunk list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    pub id: ChunkId,
    /// Bytes stored in the chunk (<= chunk size).
    pub len: u64,
    pub hash: [u8; 32],
    /// The chunk's bytes when they live in the metadata instead of on data servers
    /// (small files: at most `limits::MAX_INLINE_BYTES`). An inline chunk has no
    /// replicas, no location record and never reaches the garbage collector.
    // Bytes, not a sequence of u8: the same postcard encoding, copied instead of
    // serialised byte by byte (a 4 KiB file crosses many encodings per commit).
    #[serde(with = "serde_bytes")]
    pub inline: Option<Vec<u8>>,
}

impl ChunkRef {
    pub fn is_inline(&self) -> bool {
        self.inline.is_some()
    }
}

/// A chunk of a file with the data servers that hold a verified copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkLocation {
    /// Index of the chunk inside the file (offset / chunk size).
    pub index: u64,
    pub chunk: ChunkRef,
    pub servers: Vec<NodeId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ChunkRef` as it was before `inline` was marked as bytes.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct ChunkRefAsSequence {
        id: ChunkId,
        len: u64,
        hash: [u8; 32],
        inline: Option<Vec<u8>>,
    }

    /// Marking `inline` as bytes changed the speed, not the format: records and
    /// messages written before read back, and the other way round.
    #[test]
    fn inline_bytes_encode_as_the_sequence_did() {
        for inline in [
            None,
            Some(vec![]),
            Some((0..5000u32).map(|i| i as u8).collect()),
        ] {
            let now = ChunkRef {
                id: ChunkId(7 << 70 | 9),
                len: 5000,
                hash: [3; 32],
                inline: inline.clone(),
            };
            let before = ChunkRefAsSequence {
                id: now.id,
                len: now.len,
                hash: now.hash,
                inline,
            };
            let (a, b) = (
                postcard::to_stdvec(&now).expect("encode"),
                postcard::to_stdvec(&before).expect("encode"),
            );
            assert_eq!(a, b);
            assert_eq!(postcard::from_bytes::<ChunkRef>(&b).expect("decode"), now);
            assert_eq!(
                postcard::from_bytes::<ChunkRefAsSequence>(&a).expect("decode"),
                before
            );
        }
    }
}
