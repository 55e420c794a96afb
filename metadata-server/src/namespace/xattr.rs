//! Extended attributes: (ino, name) -> value in Table::Xattrs.

use super::keys;
use super::names::{check_xattr_name, check_xattr_value};
use super::records;
use super::store::{successor, KvRead, StoreError, Table};
use super::tx::{OpError, OpResult, Tx};
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::InodeId;
use ferrofs_proto::meta_msg::{MetaResponse, XattrMode};

/// Largest total of a listing (names plus a NUL each), as Linux's XATTR_LIST_MAX.
pub const MAX_XATTR_LIST_BYTES: usize = 64 * 1024;
const PAGE: usize = 256;

pub fn set(
    tx: &mut Tx<'_>,
    ino: InodeId,
    name: &[u8],
    value: &[u8],
    mode: XattrMode,
) -> OpResult<MetaResponse> {
    check_xattr_name(name)?;
    check_xattr_value(value)?;
    let mut inode = tx.must_inode(ino)?;
    let key = keys::xattr(ino, name);
    let exists = tx.kv.get(Table::Xattrs, &key)?.is_some();
    match (mode, exists) {
        (XattrMode::Create, true) => return Err(FsError::Exists.into()),
        (XattrMode::Replace, false) => return Err(FsError::NoAttr.into()),
        _ => {}
    }
    if !exists {
        let listed = list_bytes(&tx.kv, ino)?;
        if listed + name.len() + 1 > MAX_XATTR_LIST_BYTES {
            return Err(FsError::Invalid("too many extended attributes".to_string()).into());
        }
    }
    tx.write(Table::Xattrs, key, &value.to_vec())?;
    inode.has_xattrs = true;
    inode.ctime = tx.now;
    tx.put_inode(ino, &inode)?;
    Ok(MetaResponse::Done)
}

pub fn remove(tx: &mut Tx<'_>, ino: InodeId, name: &[u8]) -> OpResult<MetaResponse> {
    check_xattr_name(name)?;
    let mut inode = tx.must_inode(ino)?;
    let key = keys::xattr(ino, name);
    if tx.kv.get(Table::Xattrs, &key)?.is_none() {
        return Err(FsError::NoAttr.into());
    }
    tx.kv.delete(Table::Xattrs, key);
    inode.has_xattrs = list_bytes(&tx.kv, ino)? > 0;
    inode.ctime = tx.now;
    tx.put_inode(ino, &inode)?;
    Ok(MetaResponse::Done)
}

/// `GetXattr` -> `Xattr(value)`.
pub fn get(store: &dyn KvRead, ino: InodeId, name: &[u8]) -> OpResult<MetaResponse> {
    check_xattr_name(name)?;
    if store.get(Table::Inodes, &keys::inode(ino))?.is_none() {
        return Err(FsError::NotFound.into());
    }
    match store.get(Table::Xattrs, &keys::xattr(ino, name))? {
        Some(bytes) => Ok(MetaResponse::Xattr(records::decode(Table::Xattrs, &bytes)?)),
        None => Err(OpError::Fs(FsError::NoAttr)),
    }
}

/// `ListXattr` -> `XattrNames` in name order.
pub fn list(store: &dyn KvRead, ino: InodeId) -> OpResult<MetaResponse> {
    if store.get(Table::Inodes, &keys::inode(ino))?.is_none() {
        return Err(FsError::NotFound.into());
    }
    let mut names = Vec::new();
    for_each_name(store, ino, |name| names.push(name.to_vec()))?;
    Ok(MetaResponse::XattrNames(names))
}

/// Bytes a listing of `ino` takes (names plus a NUL each).
fn list_bytes(store: &dyn KvRead, ino: InodeId) -> Result<usize, StoreError> {
    let mut total = 0usize;
    for_each_name(store, ino, |name| total += name.len() + 1)?;
    Ok(total)
}

fn for_each_name(
    store: &dyn KvRead,
    ino: InodeId,
    mut f: impl FnMut(&[u8]),
) -> Result<(), StoreError> {
    let prefix = keys::ino_prefix(ino);
    let mut start = prefix.clone();
    loop {
        let page = store.scan(Table::Xattrs, &prefix, &start, PAGE)?;
        for (key, _) in &page {
            f(keys::name_of(Table::Xattrs, key)?);
        }
        match page.last() {
            Some((last, _)) if page.len() == PAGE => start = successor(last),
            _ => return Ok(()),
        }
    }
}
