//! Stored records and their versioned encoding: one format-version byte, then postcard.
//! A record that does not decode is `StoreError::Corrupt`, never a panic.

use super::store::{StoreError, Table};
use ferrofs_proto::attr::{FileAttr, FileKind, Timestamp};
use ferrofs_proto::ids::{InodeId, NodeId};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// The current on-disk format of every namespace record.
pub const FORMAT_V1: u8 = 1;

pub fn encode<T: Serialize>(table: Table, value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![FORMAT_V1];
    postcard::to_io(value, &mut out).map_err(|e| StoreError::Corrupt {
        table,
        reason: format!("encoding a record: {e}"),
    })?;
    Ok(out)
}

pub fn decode<T: DeserializeOwned>(table: Table, bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { table, reason };
    let (version, body) = bytes
        .split_first()
        .ok_or_else(|| corrupt("empty record".to_string()))?;
    if *version != FORMAT_V1 {
        return Err(corrupt(format!("unknown format version {version}")));
    }
    let (value, rest) =
        postcard::take_from_bytes(body).map_err(|e| corrupt(format!("decoding: {e}")))?;
    if !rest.is_empty() {
        return Err(corrupt(format!("{} trailing bytes", rest.len())));
    }
    Ok(value)
}

/// An inode (Table::Inodes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inode {
    pub kind: FileKind,
    /// Permission bits only (07777).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub nlink: u32,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    pub generation: u64,
    /// For a directory, the directory holding it (the root holds itself); used by the
    /// rename ancestor check. For other kinds, the parent it was created in (informative).
    pub parent: InodeId,
    /// Symlink target; empty for other kinds.
    pub target: Vec<u8>,
    /// At least one extended attribute is set (kept by SetXattr / RemoveXattr).
    pub has_xattrs: bool,
}

impl Inode {
    pub fn new(
        kind: FileKind,
        mode: u32,
        uid: u32,
        gid: u32,
        parent: InodeId,
        now: Timestamp,
    ) -> Self {
        Inode {
            kind,
            mode: mode & 0o7777,
            uid,
            gid,
            size: 0,
            nlink: if kind == FileKind::Dir { 2 } else { 1 },
            atime: now,
            mtime: now,
            ctime: now,
            generation: 0,
            parent,
            target: Vec::new(),
            has_xattrs: false,
        }
    }

    pub fn attr(&self, ino: InodeId) -> FileAttr {
        FileAttr {
            ino,
            kind: self.kind,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            size: self.size,
            nlink: self.nlink,
            atime: self.atime,
            mtime: self.mtime,
            ctime: self.ctime,
            generation: self.generation,
            has_xattrs: self.has_xattrs,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }
}

/// A directory entry (Table::Dentries).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dentry {
    pub ino: InodeId,
    pub kind: FileKind,
}

/// Where a live chunk is (Table::Locations).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// How many (file, index) slots reference the chunk; at 0 it becomes garbage.
    pub refs: u64,
    /// Servers holding a verified copy, sorted, without duplicates.
    pub servers: Vec<NodeId>,
}

/// A chunk no file references any more, waiting for GC (Table::Sys, `gc/` prefix).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Garbage {
    /// Servers that may hold a copy and must delete it.
    pub servers: Vec<NodeId>,
}

/// A chunk a data server reported as an orphan (Table::Sys, `orphan/` prefix): stored
/// but never referenced. It stays so that a late commit of the chunk is refused even
/// after the GC deleted every copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orphan {
    /// When it was first reported.
    pub since: Timestamp,
}

/// Incrementally maintained counts (Table::Sys `counters`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Inodes that are not directories (files, symlinks, FIFOs).
    pub files: u64,
    pub dirs: u64,
    /// Distinct live chunks.
    pub chunks: u64,
    /// Live chunks with fewer locations than the replication factor.
    pub under_replicated: u64,
    /// Sum of the sizes of regular files.
    pub logical_bytes: u64,
}

/// Bytes kept inline in chunk records (Table::Sys `inline_use`), counted in `df`'s use.
/// Its own record, not a `Counters` field, so stored counters still decode; a
/// namespace written before it existed counts only inline bytes written since.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineUse {
    pub bytes: u64,
}

/// Cluster-wide layout parameters the namespace needs to apply ops (Table::Sys `layout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub chunk_size: u64,
    pub replication: u32,
}

impl Default for Layout {
    fn default() -> Self {
        let s = ferrofs_proto::config::ClusterSettings::default();
        Layout {
            chunk_size: s.chunk_size.as_u64(),
            replication: s.replication,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_version_byte() {
        let ino = Inode::new(FileKind::File, 0o100644, 1, 2, InodeId::ROOT, Timestamp(5));
        assert_eq!(ino.mode, 0o644, "only permission bits are kept");
        let bytes = encode(Table::Inodes, &ino).expect("encode");
        assert_eq!(bytes[0], FORMAT_V1);
        assert_eq!(decode::<Inode>(Table::Inodes, &bytes).expect("decode"), ino);
    }

    #[test]
    fn bad_records_are_corrupt() {
        let ok = encode(
            Table::Dentries,
            &Dentry {
                ino: InodeId(3),
                kind: FileKind::Dir,
            },
        )
        .expect("encode");
        let mut wrong_version = ok.clone();
        wrong_version[0] = 9;
        let mut trailing = ok.clone();
        trailing.push(0);
        for bad in [vec![], wrong_version, trailing, vec![FORMAT_V1, 0xff, 0xff]] {
            let err = decode::<Dentry>(Table::Dentries, &bad).expect_err("must fail");
            assert!(
                matches!(
                    err,
                    StoreError::Corrupt {
                        table: Table::Dentries,
                        ..
                    }
                ),
                "{err}"
            );
        }
    }
}
