//! Key encodings. Integers are big-endian so the byte order of keys is the numeric
//! order, which makes directory listings and chunk ranges plain prefix scans.

use super::store::{StoreError, Table};
use ferrofs_proto::ids::{ChunkId, InodeId, NodeId};

pub fn inode(ino: InodeId) -> Vec<u8> {
    ino.0.to_be_bytes().to_vec()
}

/// Prefix of everything keyed by an inode first (entries of a directory, chunks, xattrs).
pub fn ino_prefix(ino: InodeId) -> Vec<u8> {
    ino.0.to_be_bytes().to_vec()
}

fn ino_and_bytes(ino: InodeId, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + rest.len());
    k.extend_from_slice(&ino.0.to_be_bytes());
    k.extend_from_slice(rest);
    k
}

pub fn dentry(parent: InodeId, name: &[u8]) -> Vec<u8> {
    ino_and_bytes(parent, name)
}

pub fn xattr(ino: InodeId, name: &[u8]) -> Vec<u8> {
    ino_and_bytes(ino, name)
}

pub fn chunk(ino: InodeId, index: u64) -> Vec<u8> {
    ino_and_bytes(ino, &index.to_be_bytes())
}

pub fn location(chunk: ChunkId) -> Vec<u8> {
    chunk.to_be_bytes().to_vec()
}

pub fn server(node: NodeId) -> Vec<u8> {
    node.0.to_be_bytes().to_vec()
}

/// Table::Sys keys.
pub const SYS_NEXT_INO: &[u8] = b"next_ino";
pub const SYS_COUNTERS: &[u8] = b"counters";
/// Bytes of small files kept inline in chunk records (`records::InlineUse`).
pub const SYS_INLINE_USE: &[u8] = b"inline_use";
pub const SYS_LAYOUT: &[u8] = b"layout";
/// Prefix of the garbage list: `gc/` + ChunkId (BE u128) -> servers that may hold it.
pub const SYS_GC_PREFIX: &[u8] = b"gc/";
/// Prefix of the orphan marks: `orphan/` + ChunkId (BE u128) -> `Orphan`.
pub const SYS_ORPHAN_PREFIX: &[u8] = b"orphan/";
/// Prefix of the file locks: `lock/` + ino (BE u64) -> every lock on the file.
pub const SYS_LOCK_PREFIX: &[u8] = b"lock/";
/// Runtime rebalance settings (`RebalanceSettings`).
pub const SYS_REBALANCE: &[u8] = b"rebalance";

pub fn garbage(chunk: ChunkId) -> Vec<u8> {
    let mut k = SYS_GC_PREFIX.to_vec();
    k.extend_from_slice(&chunk.to_be_bytes());
    k
}

pub fn orphan(chunk: ChunkId) -> Vec<u8> {
    let mut k = SYS_ORPHAN_PREFIX.to_vec();
    k.extend_from_slice(&chunk.to_be_bytes());
    k
}

pub fn lock(ino: InodeId) -> Vec<u8> {
    let mut k = SYS_LOCK_PREFIX.to_vec();
    k.extend_from_slice(&ino.0.to_be_bytes());
    k
}

pub fn lock_ino_of(key: &[u8]) -> Result<InodeId, StoreError> {
    let bytes: [u8; 8] = key
        .strip_prefix(SYS_LOCK_PREFIX)
        .and_then(|rest| rest.try_into().ok())
        .ok_or_else(|| corrupt(Table::Sys, "lock", key))?;
    Ok(InodeId(u64::from_be_bytes(bytes)))
}

fn corrupt(table: Table, what: &str, key: &[u8]) -> StoreError {
    StoreError::Corrupt {
        table,
        reason: format!("bad {what} key of {} bytes", key.len()),
    }
}

/// The name part of a dentry or xattr key.
pub fn name_of(table: Table, key: &[u8]) -> Result<&[u8], StoreError> {
    key.get(8..).ok_or_else(|| corrupt(table, "name", key))
}

pub fn chunk_index_of(key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key
        .get(8..16)
        .and_then(|b| b.try_into().ok())
        .filter(|_| key.len() == 16)
        .ok_or_else(|| corrupt(Table::Chunks, "chunk", key))?;
    Ok(u64::from_be_bytes(bytes))
}

pub fn chunk_id_of(table: Table, key: &[u8]) -> Result<ChunkId, StoreError> {
    let bytes: [u8; 16] = key
        .try_into()
        .map_err(|_| corrupt(table, "chunk id", key))?;
    Ok(ChunkId::from_be_bytes(bytes))
}

pub fn garbage_id_of(key: &[u8]) -> Result<ChunkId, StoreError> {
    let rest = key
        .strip_prefix(SYS_GC_PREFIX)
        .ok_or_else(|| corrupt(Table::Sys, "gc", key))?;
    chunk_id_of(Table::Sys, rest)
}

pub fn orphan_id_of(key: &[u8]) -> Result<ChunkId, StoreError> {
    let rest = key
        .strip_prefix(SYS_ORPHAN_PREFIX)
        .ok_or_else(|| corrupt(Table::Sys, "orphan", key))?;
    chunk_id_of(Table::Sys, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_is_numeric_order() {
        assert!(chunk(InodeId(5), 2) < chunk(InodeId(5), 256));
        assert!(chunk(InodeId(5), u64::MAX) < chunk(InodeId(6), 0));
        assert!(dentry(InodeId(1), b"zzz") < dentry(InodeId(2), b"a"));
        assert!(location(ChunkId(1)) < location(ChunkId(1 << 100)));
    }

    #[test]
    fn keys_round_trip() {
        assert_eq!(chunk_index_of(&chunk(InodeId(9), 77)).expect("index"), 77);
        assert_eq!(
            name_of(Table::Dentries, &dentry(InodeId(9), b"foo")).expect("name"),
            b"foo"
        );
        let id = ChunkId(0xdead_beef_u128 << 64);
        assert_eq!(
            chunk_id_of(Table::Locations, &location(id)).expect("id"),
            id
        );
        assert_eq!(garbage_id_of(&garbage(id)).expect("gc id"), id);
    }

    #[test]
    fn malformed_keys_are_corrupt_not_panics() {
        assert!(chunk_index_of(b"short").is_err());
        assert!(chunk_index_of(&[0u8; 17]).is_err());
        assert!(name_of(Table::Xattrs, b"1234").is_err());
        assert!(chunk_id_of(Table::Locations, b"x").is_err());
        assert!(garbage_id_of(b"gc/short").is_err());
        assert!(garbage_id_of(b"xx").is_err());
    }
}
