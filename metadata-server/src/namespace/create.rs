//! Operations that add a directory entry: Create (file, FIFO), Mkdir, Symlink, Link, and
//! the root directory.

use super::names::{check_name, check_target};
use super::records::{Dentry, Inode};
use super::tx::{OpResult, Tx};
use ferrofs_proto::attr::FileKind;
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::InodeId;
use ferrofs_proto::meta_msg::MetaResponse;

/// Owner and permission bits of a new inode.
pub struct Owner {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    /// POSIX set-group-id directories: a new entry takes the directory's group, and a new
    /// directory inside one is set-group-id too. Done here, inside the commit, so a client
    /// needs no extra round trip to read the parent first.
    fn inherit_from(self, dir: &Inode, new_dir: bool) -> Owner {
        if dir.mode & SET_GID == 0 {
            return self;
        }
        Owner {
            mode: if new_dir {
                self.mode | SET_GID
            } else {
                self.mode
            },
            uid: self.uid,
            gid: dir.gid,
        }
    }
}

/// S_ISGID.
const SET_GID: u32 = 0o2000;

/// Create the root directory if it is missing (idempotent).
pub fn ensure_root(tx: &mut Tx<'_>) -> OpResult<()> {
    if tx.inode(InodeId::ROOT)?.is_some() {
        return Ok(());
    }
    let root = Inode::new(FileKind::Dir, 0o755, 0, 0, InodeId::ROOT, tx.now);
    tx.create_inode(InodeId::ROOT, &root)?;
    Ok(())
}

/// `Create` of a regular file or FIFO. Without `exclusive`, an existing regular file is
/// returned as it is (open with O_CREAT).
pub fn create(
    tx: &mut Tx<'_>,
    parent: InodeId,
    name: &[u8],
    kind: FileKind,
    owner: Owner,
    exclusive: bool,
) -> OpResult<MetaResponse> {
    if !matches!(kind, FileKind::File | FileKind::Fifo) {
        return Err(FsError::Invalid("Create makes files and FIFOs only".to_string()).into());
    }
    check_name(name)?;
    let mut dir = tx.dir(parent)?;
    if let Some(existing) = tx.entry(parent, name)? {
        if exclusive || kind == FileKind::Fifo {
            return Err(FsError::Exists.into());
        }
        return match existing.kind {
            FileKind::File => Ok(MetaResponse::Attr(
                tx.must_inode(existing.ino)?.attr(existing.ino),
            )),
            FileKind::Dir => Err(FsError::IsDir.into()),
            _ => Err(FsError::Exists.into()),
        };
    }
    let owner = owner.inherit_from(&dir, false);
    let inode = Inode::new(kind, owner.mode, owner.uid, owner.gid, parent, tx.now);
    let ino = add_entry(tx, parent, &mut dir, name, &inode)?;
    Ok(added(&inode, ino, &dir, parent))
}

/// `Mkdir`: a directory with nlink 2; the parent gains a link ("..").
pub fn mkdir(
    tx: &mut Tx<'_>,
    parent: InodeId,
    name: &[u8],
    owner: Owner,
) -> OpResult<MetaResponse> {
    check_name(name)?;
    let mut dir = tx.dir(parent)?;
    if tx.entry(parent, name)?.is_some() {
        return Err(FsError::Exists.into());
    }
    dir.nlink = dir.nlink.checked_add(1).ok_or_else(too_many_links)?;
    let owner = owner.inherit_from(&dir, true);
    let inode = Inode::new(
        FileKind::Dir,
        owner.mode,
        owner.uid,
        owner.gid,
        parent,
        tx.now,
    );
    let ino = add_entry(tx, parent, &mut dir, name, &inode)?;
    Ok(added(&inode, ino, &dir, parent))
}

/// `Symlink`: the target is stored in the inode; size = target length.
pub fn symlink(
    tx: &mut Tx<'_>,
    parent: InodeId,
    name: &[u8],
    target: &[u8],
    uid: u32,
    gid: u32,
) -> OpResult<MetaResponse> {
    check_name(name)?;
    check_target(target)?;
    let mut dir = tx.dir(parent)?;
    if tx.entry(parent, name)?.is_some() {
        return Err(FsError::Exists.into());
    }
    let gid = if dir.mode & SET_GID != 0 {
        dir.gid
    } else {
        gid
    };
    let mut inode = Inode::new(FileKind::Symlink, 0o777, uid, gid, parent, tx.now);
    inode.target = target.to_vec();
    inode.size = target.len() as u64;
    let ino = add_entry(tx, parent, &mut dir, name, &inode)?;
    Ok(added(&inode, ino, &dir, parent))
}

/// `Link`: a hard link to a non-directory.
pub fn link(
    tx: &mut Tx<'_>,
    ino: InodeId,
    new_parent: InodeId,
    new_name: &[u8],
) -> OpResult<MetaResponse> {
    check_name(new_name)?;
    let mut inode = tx.must_inode(ino)?;
    if inode.is_dir() {
        return Err(FsError::NotPermitted.into());
    }
    let mut dir = tx.dir(new_parent)?;
    if tx.entry(new_parent, new_name)?.is_some() {
        return Err(FsError::Exists.into());
    }
    inode.nlink = inode.nlink.checked_add(1).ok_or_else(too_many_links)?;
    inode.ctime = tx.now;
    tx.put_inode(ino, &inode)?;
    tx.put_entry(
        new_parent,
        new_name,
        &Dentry {
            ino,
            kind: inode.kind,
        },
    )?;
    tx.touch_dir(new_parent, &mut dir)?;
    Ok(added(&inode, ino, &dir, new_parent))
}

/// Allocate an inode for `inode`, store it, link it as `parent/name` and touch the parent.
fn add_entry(
    tx: &mut Tx<'_>,
    parent: InodeId,
    dir: &mut Inode,
    name: &[u8],
    inode: &Inode,
) -> OpResult<InodeId> {
    let ino = tx.alloc_ino()?;
    tx.create_inode(ino, inode)?;
    tx.put_entry(
        parent,
        name,
        &Dentry {
            ino,
            kind: inode.kind,
        },
    )?;
    tx.touch_dir(parent, dir)?;
    Ok(ino)
}

/// The reply to an operation that added `ino` to directory `parent`.
fn added(inode: &Inode, ino: InodeId, dir: &Inode, parent: InodeId) -> MetaResponse {
    MetaResponse::Added {
        attr: inode.attr(ino),
        dir: dir.attr(parent),
    }
}

fn too_many_links() -> FsError {
    FsError::Invalid("too many links".to_string())
}
