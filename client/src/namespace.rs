//! Metadata operations by inode: one method per request, each checking that the
//! reply is the kind the request names.

use crate::client::{unexpected, Client};
use crate::error::ClientError;
use crate::path::check_name;
use ferrofs_proto::attr::{DirEntryPlus, FileAttr, FileKind, SetAttr};
use ferrofs_proto::limits::{MAX_PATH_BYTES, MAX_READDIR_ENTRIES, MAX_XATTR_VALUE_BYTES};
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse, RenameFlags, XattrMode};
use ferrofs_proto::{FsError, InodeId};

fn attr(op: &'static str, resp: MetaResponse) -> Result<FileAttr, ClientError> {
    match resp {
        MetaResponse::Attr(a) | MetaResponse::Added { attr: a, .. } => Ok(a),
        other => unexpected(op, other),
    }
}

/// A new entry's attributes and, when the reply has them, its directory's after the change.
#[derive(Clone, Debug)]
pub struct Added {
    pub attr: FileAttr,
    pub dir: Option<FileAttr>,
}

fn added(op: &'static str, resp: MetaResponse) -> Result<Added, ClientError> {
    match resp {
        MetaResponse::Added { attr, dir } => Ok(Added {
            attr,
            dir: Some(dir),
        }),
        MetaResponse::Attr(attr) => Ok(Added { attr, dir: None }),
        other => unexpected(op, other),
    }
}

/// A mutation that answers `Done`.
pub(crate) fn done(op: &'static str, resp: MetaResponse) -> Result<(), ClientError> {
    match resp {
        MetaResponse::Done => Ok(()),
        other => unexpected(op, other),
    }
}

fn xattr_name(op: &'static str, name: &[u8]) -> Result<(), ClientError> {
    if name.is_empty() || name.len() > 255 {
        return Err(ClientError::fs_err(op, FsError::NameTooLong));
    }
    Ok(())
}

impl Client {
    pub async fn lookup(&self, parent: InodeId, name: &[u8]) -> Result<FileAttr, ClientError> {
        const OP: &str = "lookup";
        check_name(OP, name)?;
        let req = MetaRequest::Lookup {
            parent,
            name: name.to_vec(),
        };
        attr(OP, self.meta_read(OP, req).await?)
    }

    pub async fn getattr(&self, ino: InodeId) -> Result<FileAttr, ClientError> {
        const OP: &str = "getattr";
        attr(OP, self.meta_read(OP, MetaRequest::GetAttr { ino }).await?)
    }

    /// Up to `limit` entries (with attributes) after `after`, in name order, and
    /// whether the listing is complete. Page through big directories with the last
    /// name returned.
    pub async fn readdir(
        &self,
        ino: InodeId,
        after: Option<Vec<u8>>,
        limit: u32,
    ) -> Result<(Vec<DirEntryPlus>, bool), ClientError> {
        const OP: &str = "readdir";
        let limit = limit.clamp(1, MAX_READDIR_ENTRIES);
        match self
            .meta_read(OP, MetaRequest::ReadDir { ino, after, limit })
            .await?
        {
            MetaResponse::Entries { entries, done } => Ok((entries, done)),
            other => unexpected(OP, other),
        }
    }

    pub async fn mkdir(
        &self,
        parent: InodeId,
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<FileAttr, ClientError> {
        Ok(self.mkdir_entry(parent, name, mode, uid, gid).await?.attr)
    }

    /// `mkdir` that also returns the parent's attributes after the change.
    pub async fn mkdir_entry(
        &self,
        parent: InodeId,
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<Added, ClientError> {
        const OP: &str = "mkdir";
        check_name(OP, name)?;
        let op = MetaOp::Mkdir {
            parent,
            name: name.to_vec(),
            mode,
            uid,
            gid,
        };
        added(OP, self.mutate(OP, op).await?)
    }

    /// Create a regular file or FIFO. With `exclusive`, an existing name is `Exists`;
    /// without, the existing file is returned.
    #[allow(clippy::too_many_arguments)]
    pub async fn create(
        &self,
        parent: InodeId,
        name: &[u8],
        kind: FileKind,
        mode: u32,
        uid: u32,
        gid: u32,
        exclusive: bool,
    ) -> Result<FileAttr, ClientError> {
        let new = self
            .create_entry(parent, name, kind, mode, uid, gid, exclusive)
            .await?;
        Ok(new.attr)
    }

    /// `create` that also returns the parent's attributes after the change (none when an
    /// existing file was opened: the directory did not change).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_entry(
        &self,
        parent: InodeId,
        name: &[u8],
        kind: FileKind,
        mode: u32,
        uid: u32,
        gid: u32,
        exclusive: bool,
    ) -> Result<Added, ClientError> {
        const OP: &str = "create";
        check_name(OP, name)?;
        let op = MetaOp::Create {
            parent,
            name: name.to_vec(),
            kind,
            mode,
            uid,
            gid,
            exclusive,
        };
        added(OP, self.mutate(OP, op).await?)
    }

    pub async fn symlink(
        &self,
        parent: InodeId,
        name: &[u8],
        target: &[u8],
        uid: u32,
        gid: u32,
    ) -> Result<FileAttr, ClientError> {
        const OP: &str = "symlink";
        check_name(OP, name)?;
        if target.is_empty() || target.contains(&0) {
            return Err(ClientError::fs_err(
                OP,
                FsError::Invalid("empty or NUL in symlink target".into()),
            ));
        }
        if target.len() > MAX_PATH_BYTES {
            return Err(ClientError::fs_err(OP, FsError::NameTooLong));
        }
        let op = MetaOp::Symlink {
            parent,
            name: name.to_vec(),
            target: target.to_vec(),
            uid,
            gid,
        };
        attr(OP, self.mutate(OP, op).await?)
    }

    pub async fn link(
        &self,
        ino: InodeId,
        new_parent: InodeId,
        new_name: &[u8],
    ) -> Result<FileAttr, ClientError> {
        const OP: &str = "link";
        check_name(OP, new_name)?;
        let op = MetaOp::Link {
            ino,
            new_parent,
            new_name: new_name.to_vec(),
        };
        attr(OP, self.mutate(OP, op).await?)
    }

    pub async fn unlink(&self, parent: InodeId, name: &[u8]) -> Result<(), ClientError> {
        const OP: &str = "unlink";
        check_name(OP, name)?;
        done(
            OP,
            self.mutate(
                OP,
                MetaOp::Unlink {
                    parent,
                    name: name.to_vec(),
                },
            )
            .await?,
        )
    }

    pub async fn rmdir(&self, parent: InodeId, name: &[u8]) -> Result<(), ClientError> {
        const OP: &str = "rmdir";
        check_name(OP, name)?;
        done(
            OP,
            self.mutate(
                OP,
                MetaOp::Rmdir {
                    parent,
                    name: name.to_vec(),
                },
            )
            .await?,
        )
    }

    pub async fn rename(
        &self,
        parent: InodeId,
        name: &[u8],
        new_parent: InodeId,
        new_name: &[u8],
        flags: RenameFlags,
    ) -> Result<(), ClientError> {
        const OP: &str = "rename";
        check_name(OP, name)?;
        check_name(OP, new_name)?;
        let op = MetaOp::Rename {
            parent,
            name: name.to_vec(),
            new_parent,
            new_name: new_name.to_vec(),
            flags,
        };
        done(OP, self.mutate(OP, op).await?)
    }

    /// Change attributes; a `size` truncates or extends the file.
    pub async fn setattr(
        &self,
        ino: InodeId,
        attr_change: SetAttr,
    ) -> Result<FileAttr, ClientError> {
        const OP: &str = "setattr";
        attr(
            OP,
            self.mutate(
                OP,
                MetaOp::SetAttr {
                    ino,
                    attr: attr_change,
                },
            )
            .await?,
        )
    }

    pub async fn readlink(&self, ino: InodeId) -> Result<Vec<u8>, ClientError> {
        const OP: &str = "readlink";
        match self.meta_read(OP, MetaRequest::ReadLink { ino }).await? {
            MetaResponse::Target(t) => Ok(t),
            other => unexpected(OP, other),
        }
    }

    pub async fn getxattr(&self, ino: InodeId, name: &[u8]) -> Result<Vec<u8>, ClientError> {
        const OP: &str = "getxattr";
        xattr_name(OP, name)?;
        match self
            .meta_read(
                OP,
                MetaRequest::GetXattr {
                    ino,
                    name: name.to_vec(),
                },
            )
            .await?
        {
            MetaResponse::Xattr(v) => Ok(v),
            other => unexpected(OP, other),
        }
    }

    pub async fn setxattr(
        &self,
        ino: InodeId,
        name: &[u8],
        value: &[u8],
        mode: XattrMode,
    ) -> Result<(), ClientError> {
        const OP: &str = "setxattr";
        xattr_name(OP, name)?;
        if value.len() > MAX_XATTR_VALUE_BYTES {
            return Err(ClientError::fs_err(
                OP,
                FsError::Invalid("xattr value too large".into()),
            ));
        }
        let op = MetaOp::SetXattr {
            ino,
            name: name.to_vec(),
            value: value.to_vec(),
            mode,
        };
        done(OP, self.mutate(OP, op).await?)
    }

    pub async fn listxattr(&self, ino: InodeId) -> Result<Vec<Vec<u8>>, ClientError> {
        const OP: &str = "listxattr";
        match self.meta_read(OP, MetaRequest::ListXattr { ino }).await? {
            MetaResponse::XattrNames(n) => Ok(n),
            other => unexpected(OP, other),
        }
    }

    pub async fn removexattr(&self, ino: InodeId, name: &[u8]) -> Result<(), ClientError> {
        const OP: &str = "removexattr";
        xattr_name(OP, name)?;
        done(
            OP,
            self.mutate(
                OP,
                MetaOp::RemoveXattr {
                    ino,
                    name: name.to_vec(),
                },
            )
            .await?,
        )
    }
}
