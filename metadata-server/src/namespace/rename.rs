//! `Rename`: one atomic operation with renameat2 semantics (replace, noreplace, exchange)
//! and the ancestor check that keeps a directory from moving into itself.

use super::names::check_name;
use super::records::{Dentry, Inode};
use super::remove::{destroy, drop_link};
use super::store::{StoreError, Table};
use super::tx::{OpResult, Tx};
use ferrofs_proto::attr::FileKind;
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::InodeId;
use ferrofs_proto::meta_msg::{MetaResponse, RenameFlags};

/// Longest parent chain walked before the tree is declared corrupt.
const MAX_DEPTH: u32 = 1 << 20;

/// Both parent directories, loaded once even when they are the same inode.
struct Parents {
    src: (InodeId, Inode),
    dst: Option<(InodeId, Inode)>,
}

impl Parents {
    fn load(tx: &Tx<'_>, parent: InodeId, new_parent: InodeId) -> OpResult<Parents> {
        let src = (parent, tx.dir(parent)?);
        let dst = if new_parent == parent {
            None
        } else {
            Some((new_parent, tx.dir(new_parent)?))
        };
        Ok(Parents { src, dst })
    }

    fn dst(&mut self) -> &mut Inode {
        match &mut self.dst {
            Some((_, d)) => d,
            None => &mut self.src.1,
        }
    }

    /// A directory moves from one parent to the other: its ".." link moves with it.
    fn move_dir_link(&mut self, towards_dst: bool) {
        let Some((_, dst)) = &mut self.dst else {
            return;
        };
        let src = &mut self.src.1;
        let (from, to) = if towards_dst { (src, dst) } else { (dst, src) };
        from.nlink = from.nlink.saturating_sub(1);
        to.nlink = to.nlink.saturating_add(1);
    }

    fn save(mut self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        tx.touch_dir(self.src.0, &mut self.src.1)?;
        if let Some((ino, mut dir)) = self.dst {
            tx.touch_dir(ino, &mut dir)?;
        }
        Ok(())
    }
}

pub fn rename(
    tx: &mut Tx<'_>,
    parent: InodeId,
    name: &[u8],
    new_parent: InodeId,
    new_name: &[u8],
    flags: RenameFlags,
) -> OpResult<MetaResponse> {
    if flags.noreplace && flags.exchange {
        return Err(FsError::Invalid("noreplace and exchange together".to_string()).into());
    }
    check_name(name)?;
    check_name(new_name)?;
    let mut parents = Parents::load(tx, parent, new_parent)?;
    let src = tx.entry(parent, name)?.ok_or(FsError::NotFound)?;
    let dst = tx.entry(new_parent, new_name)?;
    if flags.exchange {
        let dst = dst.ok_or(FsError::NotFound)?;
        return exchange(
            tx,
            parents,
            (parent, name, src),
            (new_parent, new_name, dst),
        );
    }
    if let Some(d) = &dst {
        if flags.noreplace {
            return Err(FsError::Exists.into());
        }
        if d.ino == src.ino {
            // The same entry, or two hard links to one file: nothing to do.
            return Ok(MetaResponse::Done);
        }
    }
    let src_is_dir = src.kind == FileKind::Dir;
    if src_is_dir {
        check_not_ancestor(tx, src.ino, new_parent)?;
    }
    if let Some(d) = &dst {
        match (src_is_dir, d.kind == FileKind::Dir) {
            (false, true) => return Err(FsError::IsDir.into()),
            (true, false) => return Err(FsError::NotDir.into()),
            (true, true) if !tx.dir_is_empty(d.ino)? => return Err(FsError::NotEmpty.into()),
            _ => {}
        }
    }
    // Remove what is replaced.
    if let Some(d) = &dst {
        if d.kind == FileKind::Dir {
            let victim = tx.linked_inode(d.ino)?;
            destroy(tx, d.ino, &victim)?;
            let dir = parents.dst();
            dir.nlink = dir.nlink.saturating_sub(1);
        } else {
            drop_link(tx, d.ino)?;
        }
    }
    let mut moved = tx.linked_inode(src.ino)?;
    if src_is_dir {
        parents.move_dir_link(true);
    }
    moved.parent = new_parent;
    moved.ctime = tx.now;
    tx.put_inode(src.ino, &moved)?;
    tx.delete_entry(parent, name);
    tx.put_entry(new_parent, new_name, &src)?;
    parents.save(tx)?;
    Ok(MetaResponse::Done)
}

fn exchange(
    tx: &mut Tx<'_>,
    mut parents: Parents,
    (parent, name, a): (InodeId, &[u8], Dentry),
    (new_parent, new_name, b): (InodeId, &[u8], Dentry),
) -> OpResult<MetaResponse> {
    if a.ino == b.ino {
        return Ok(MetaResponse::Done);
    }
    let a_dir = a.kind == FileKind::Dir;
    let b_dir = b.kind == FileKind::Dir;
    if a_dir {
        check_not_ancestor(tx, a.ino, new_parent)?;
    }
    if b_dir {
        check_not_ancestor(tx, b.ino, parent)?;
    }
    if a_dir != b_dir {
        parents.move_dir_link(a_dir);
    }
    let mut a_inode = tx.linked_inode(a.ino)?;
    let mut b_inode = tx.linked_inode(b.ino)?;
    a_inode.parent = new_parent;
    b_inode.parent = parent;
    a_inode.ctime = tx.now;
    b_inode.ctime = tx.now;
    tx.put_inode(a.ino, &a_inode)?;
    tx.put_inode(b.ino, &b_inode)?;
    tx.put_entry(parent, name, &b)?;
    tx.put_entry(new_parent, new_name, &a)?;
    parents.save(tx)?;
    Ok(MetaResponse::Done)
}

/// `Invalid` if directory `moving` is `dest` or one of its ancestors.
fn check_not_ancestor(tx: &Tx<'_>, moving: InodeId, dest: InodeId) -> OpResult<()> {
    let mut at = dest;
    for _ in 0..MAX_DEPTH {
        if at == moving {
            return Err(FsError::Invalid("cannot move a directory into itself".to_string()).into());
        }
        if at == InodeId::ROOT {
            return Ok(());
        }
        let inode = tx.linked_inode(at)?;
        if inode.parent == at {
            return Ok(());
        }
        at = inode.parent;
    }
    Err(StoreError::Corrupt {
        table: Table::Inodes,
        reason: format!("parent chain of {dest} does not reach the root"),
    }
    .into())
}
