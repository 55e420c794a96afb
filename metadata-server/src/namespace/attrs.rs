//! `SetAttr`: mode, owner, size (truncate or extend) and times.

use super::chunks;
use super::tx::{OpResult, Tx};
use ferrofs_proto::attr::{FileKind, SetAttr, TimeChange, Timestamp};
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::InodeId;
use ferrofs_proto::meta_msg::MetaResponse;

pub fn set_attr(tx: &mut Tx<'_>, ino: InodeId, change: &SetAttr) -> OpResult<MetaResponse> {
    let mut inode = tx.must_inode(ino)?;
    if *change == SetAttr::default() {
        return Ok(MetaResponse::Attr(inode.attr(ino)));
    }
    if let Some(size) = change.size {
        match inode.kind {
            FileKind::File => {}
            FileKind::Dir => return Err(FsError::IsDir.into()),
            _ => return Err(FsError::Invalid("only regular files have a size".to_string()).into()),
        }
        if size < inode.size {
            chunks::truncate(tx, ino, size)?;
        }
        tx.set_size(&mut inode, size);
        inode.mtime = tx.now;
    }
    if let Some(mode) = change.mode {
        inode.mode = mode & 0o7777;
    }
    if let Some(uid) = change.uid {
        inode.uid = uid;
    }
    if let Some(gid) = change.gid {
        inode.gid = gid;
    }
    if let Some(t) = change.atime {
        inode.atime = resolve(t, tx.now);
    }
    if let Some(t) = change.mtime {
        inode.mtime = resolve(t, tx.now);
    }
    inode.ctime = tx.now;
    tx.put_inode(ino, &inode)?;
    Ok(MetaResponse::Attr(inode.attr(ino)))
}

fn resolve(change: TimeChange, now: Timestamp) -> Timestamp {
    match change {
        TimeChange::Now => now,
        TimeChange::Set(t) => t,
    }
}
