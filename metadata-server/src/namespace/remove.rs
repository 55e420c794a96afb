//! Operations that remove a directory entry (Unlink, Rmdir) and the end of an inode's
//! life: its xattrs and chunk list go with it, its chunks to the garbage list.

use super::chunks;
use super::keys;
use super::names::check_name;
use super::records::Inode;
use super::store::{successor, KvRead, StoreError, Table};
use super::tx::{OpResult, Tx};
use ferrofs_proto::attr::FileKind;
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::InodeId;
use ferrofs_proto::meta_msg::MetaResponse;

const PAGE: usize = 1024;

/// `Unlink`: remove a non-directory entry.
pub fn unlink(tx: &mut Tx<'_>, parent: InodeId, name: &[u8]) -> OpResult<MetaResponse> {
    check_name(name)?;
    let mut dir = tx.dir(parent)?;
    let entry = tx.entry(parent, name)?.ok_or(FsError::NotFound)?;
    if entry.kind == FileKind::Dir {
        return Err(FsError::IsDir.into());
    }
    tx.delete_entry(parent, name);
    drop_link(tx, entry.ino)?;
    tx.touch_dir(parent, &mut dir)?;
    Ok(MetaResponse::Done)
}

/// `Rmdir`: remove an empty directory.
pub fn rmdir(tx: &mut Tx<'_>, parent: InodeId, name: &[u8]) -> OpResult<MetaResponse> {
    check_name(name)?;
    let mut dir = tx.dir(parent)?;
    let entry = tx.entry(parent, name)?.ok_or(FsError::NotFound)?;
    if entry.kind != FileKind::Dir {
        return Err(FsError::NotDir.into());
    }
    let child = tx.linked_inode(entry.ino)?;
    if !tx.dir_is_empty(entry.ino)? {
        return Err(FsError::NotEmpty.into());
    }
    tx.delete_entry(parent, name);
    destroy(tx, entry.ino, &child)?;
    dir.nlink = dir.nlink.saturating_sub(1);
    tx.touch_dir(parent, &mut dir)?;
    Ok(MetaResponse::Done)
}

/// One link of a non-directory is gone: its ctime changes, and at nlink 0 it is destroyed.
pub fn drop_link(tx: &mut Tx<'_>, ino: InodeId) -> Result<(), StoreError> {
    let mut inode = tx.linked_inode(ino)?;
    inode.nlink = inode.nlink.saturating_sub(1);
    inode.ctime = tx.now;
    if inode.nlink == 0 {
        destroy(tx, ino, &inode)
    } else {
        tx.put_inode(ino, &inode)
    }
}

/// Delete an inode with its xattrs and chunk list (chunks become garbage) and uncount it.
pub fn destroy(tx: &mut Tx<'_>, ino: InodeId, inode: &Inode) -> Result<(), StoreError> {
    tx.kv.delete(Table::Inodes, keys::inode(ino));
    delete_xattrs(tx, ino)?;
    chunks::truncate(tx, ino, 0)?;
    let size = inode.size;
    let c = tx.counters();
    if inode.is_dir() {
        c.dirs = c.dirs.saturating_sub(1);
    } else {
        c.files = c.files.saturating_sub(1);
    }
    if inode.kind == FileKind::File {
        c.logical_bytes = c.logical_bytes.saturating_sub(size);
    }
    Ok(())
}

fn delete_xattrs(tx: &mut Tx<'_>, ino: InodeId) -> Result<(), StoreError> {
    let prefix = keys::ino_prefix(ino);
    let mut start = prefix.clone();
    loop {
        let page = tx.kv.scan(Table::Xattrs, &prefix, &start, PAGE)?;
        let Some((last, _)) = page.last() else { break };
        start = successor(last);
        let full = page.len() == PAGE;
        for (key, _) in page {
            tx.kv.delete(Table::Xattrs, key);
        }
        if !full {
            break;
        }
    }
    Ok(())
}
