//! setattr (chmod, chown, truncate, utimens), fallocate, statfs and access.

use super::entries::Caller;
use super::Core;
use crate::attr::time_change;
use crate::error::OrErrno;
use crate::perm::allowed;
use ferrofs_client::{FileAttr, InodeId, SetAttr};
use fuser::{Errno, TimeOrNow};

/// `statfs` block size.
const STATFS_BLOCK: u64 = 4096;
/// Free inodes reported (the namespace has no fixed inode table).
const FREE_INODES: u64 = 1 << 32;

/// What `statfs` replies.
pub(crate) struct StatFsReply {
    pub(crate) blocks: u64,
    pub(crate) bfree: u64,
    pub(crate) files: u64,
    pub(crate) ffree: u64,
    pub(crate) bsize: u32,
    pub(crate) namelen: u32,
}

/// The changes of one setattr request, as the kernel sends them.
#[derive(Default)]
pub(crate) struct AttrChange {
    pub(crate) mode: Option<u32>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) size: Option<u64>,
    pub(crate) atime: Option<TimeOrNow>,
    pub(crate) mtime: Option<TimeOrNow>,
}

impl AttrChange {
    fn to_setattr(&self) -> SetAttr {
        SetAttr {
            mode: self.mode.map(|m| m & 0o7777),
            uid: self.uid,
            gid: self.gid,
            size: self.size,
            atime: self.atime.map(time_change),
            mtime: self.mtime.map(time_change),
        }
    }
}

impl Core {
    /// Change attributes. An open file's buffered writes are flushed first; a shrink
    /// to the middle of a chunk rewrites that chunk cut at the new size.
    pub(crate) async fn setattr(
        &self,
        ino: InodeId,
        change: AttrChange,
    ) -> Result<fuser::FileAttr, Errno> {
        let attr = self.apply_setattr(ino, change.to_setattr()).await?;
        Ok(self.entry(&self.local_view(attr).await).attr)
    }

    async fn apply_setattr(&self, ino: InodeId, change: SetAttr) -> Result<FileAttr, Errno> {
        if let Some(io) = self.files.io(ino) {
            return io.setattr(change).await;
        }
        // A shrink rewrites the cut chunk first (`Client::truncate_with`).
        self.client
            .truncate_with(ino, change)
            .await
            .or_errno("setattr")
    }

    /// Mode 0 extends the file to `offset + length` if it is shorter (space is not
    /// reserved: chunks are written when data is); FALLOC_FL_KEEP_SIZE alone does
    /// nothing; hole punching and the other modes are not supported.
    pub(crate) async fn fallocate(
        &self,
        ino: InodeId,
        offset: u64,
        length: u64,
        mode: i32,
    ) -> Result<(), Errno> {
        match mode {
            0 => {}
            libc::FALLOC_FL_KEEP_SIZE => return Ok(()),
            _ => return Err(Errno::EOPNOTSUPP),
        }
        let end = offset.checked_add(length).ok_or(Errno::EFBIG)?;
        let attr = self.fresh_attr(ino, "fallocate").await?;
        if end > attr.size {
            let grow = SetAttr {
                size: Some(end),
                ..SetAttr::default()
            };
            self.apply_setattr(ino, grow).await?;
        }
        Ok(())
    }

    /// Cluster capacity and use.
    pub(crate) async fn statfs(&self) -> Result<StatFsReply, Errno> {
        let s = self.client.statfs().await.or_errno("statfs")?;
        Ok(StatFsReply {
            blocks: s.capacity / STATFS_BLOCK,
            bfree: s.capacity.saturating_sub(s.used) / STATFS_BLOCK,
            files: s.files.saturating_add(FREE_INODES),
            ffree: FREE_INODES,
            bsize: STATFS_BLOCK as u32,
            namelen: ferrofs_proto::limits::MAX_NAME_BYTES as u32,
        })
    }

    /// access(2) (the kernel calls it only without `default_permissions`).
    pub(crate) async fn access(
        &self,
        ino: InodeId,
        mask: i32,
        caller: Caller,
    ) -> Result<(), Errno> {
        let attr = self.client.getattr(ino).await.or_errno("access")?;
        if allowed(&attr, caller.uid, caller.gid, mask) {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    }
}
