//! Names: lookup, getattr, mkdir, mknod, symlink, link, readlink, unlink, rmdir, rename.

use super::hidden::is_hidden_name;
use super::{Core, Entry};
use crate::dir_scan::{Answer, Listing, MAX_SCAN_ENTRIES};
use crate::error::OrErrno;
use ferrofs_client::{Client, FileAttr, FileKind, InodeId, RenameFlags};
use fuser::Errno;
use std::time::Instant;

/// Every entry of a directory, page by page; `None` if it has more than
/// `MAX_SCAN_ENTRIES` or a page fails (the lookups then simply ask the cluster).
async fn list_whole(client: &Client, dir: InodeId) -> Option<Vec<(Vec<u8>, FileAttr)>> {
    let mut entries = Vec::new();
    let mut after = None;
    loop {
        let (page, done) = client.readdir(dir, after, u32::MAX).await.ok()?;
        after = page.last().map(|e| e.name.clone());
        entries.extend(page.into_iter().map(|e| (e.name, e.attr)));
        if entries.len() > MAX_SCAN_ENTRIES {
            return None;
        }
        if done || after.is_none() {
            return Some(entries);
        }
    }
}

/// Who makes a new entry, from the request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caller {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// Refuse to touch the hidden folder by name.
fn visible(parent: InodeId, name: &[u8]) -> Result<(), Errno> {
    if is_hidden_name(parent, name) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

impl Core {
    pub(crate) async fn lookup(&self, parent: InodeId, name: &[u8]) -> Result<Entry, Errno> {
        if is_hidden_name(parent, name) {
            return Err(Errno::ENOENT);
        }
        let attr = match self.scans.lookup(parent, name, Instant::now()) {
            Answer::Found(attr) => attr,
            Answer::Missing => return Err(Errno::ENOENT),
            Answer::Ask { fetch } => {
                if fetch {
                    self.fetch_listing(parent);
                }
                self.client.lookup(parent, name).await.or_errno("lookup")?
            }
        };
        Ok(self.entry(&self.local_view(attr).await))
    }

    /// Fetch the listing of `parent` in the background for the scan cache.
    fn fetch_listing(&self, parent: InodeId) {
        let (client, scans) = (self.client.clone(), self.scans.clone());
        self.rt.spawn(async move {
            let changes = scans.changes.current();
            let listing = list_whole(&client, parent)
                .await
                .map(|entries| Listing::new(changes, Instant::now(), entries));
            scans.fetched(parent, listing, Instant::now());
        });
    }

    pub(crate) async fn getattr(&self, ino: InodeId) -> Result<fuser::FileAttr, Errno> {
        if let Some(dir) = self.dir_attrs.get(ino, Instant::now()) {
            return Ok(self.entry(&dir).attr);
        }
        Ok(self.entry(&self.fresh_attr(ino, "getattr").await?).attr)
    }

    pub(crate) async fn mkdir(
        &self,
        parent: InodeId,
        name: &[u8],
        mode: u32,
        caller: Caller,
    ) -> Result<Entry, Errno> {
        visible(parent, name)?;
        // A set-group-id parent's group (and bit) is applied by the metadata server.
        let before = self.dir_attrs.before_change();
        let new = self
            .client
            .mkdir_entry(parent, name, mode & 0o7777, caller.uid, caller.gid)
            .await
            .or_errno("mkdir")?;
        if let Some(dir) = new.dir {
            self.dir_attrs.record(dir, before, Instant::now());
        }
        Ok(self.entry(&new.attr))
    }

    /// Regular files and FIFOs; device nodes are refused (EPERM), sockets are not
    /// supported (EOPNOTSUPP).
    pub(crate) async fn mknod(
        &self,
        parent: InodeId,
        name: &[u8],
        mode: u32,
        caller: Caller,
    ) -> Result<Entry, Errno> {
        visible(parent, name)?;
        let kind = match mode & libc::S_IFMT {
            libc::S_IFIFO => FileKind::Fifo,
            0 | libc::S_IFREG => FileKind::File,
            libc::S_IFCHR | libc::S_IFBLK => return Err(Errno::EPERM),
            _ => return Err(Errno::EOPNOTSUPP),
        };
        let attr = self
            .client
            .create(
                parent,
                name,
                kind,
                mode & 0o7777,
                caller.uid,
                caller.gid,
                true,
            )
            .await
            .or_errno("mknod")?;
        Ok(self.entry(&attr))
    }

    pub(crate) async fn symlink(
        &self,
        parent: InodeId,
        name: &[u8],
        target: &[u8],
        caller: Caller,
    ) -> Result<Entry, Errno> {
        visible(parent, name)?;
        // A set-group-id parent's group is applied by the metadata server.
        let attr = self
            .client
            .symlink(parent, name, target, caller.uid, caller.gid)
            .await
            .or_errno("symlink")?;
        Ok(self.entry(&attr))
    }

    pub(crate) async fn link(
        &self,
        ino: InodeId,
        new_parent: InodeId,
        new_name: &[u8],
    ) -> Result<Entry, Errno> {
        visible(new_parent, new_name)?;
        let attr = self
            .client
            .link(ino, new_parent, new_name)
            .await
            .or_errno("link")?;
        Ok(self.entry(&self.local_view(attr).await))
    }

    pub(crate) async fn readlink(&self, ino: InodeId) -> Result<Vec<u8>, Errno> {
        self.client.readlink(ino).await.or_errno("readlink")
    }

    pub(crate) async fn unlink(&self, parent: InodeId, name: &[u8]) -> Result<(), Errno> {
        if is_hidden_name(parent, name) {
            return Err(Errno::ENOENT);
        }
        self.unlink_or_hide(parent, name).await
    }

    pub(crate) async fn rmdir(&self, parent: InodeId, name: &[u8]) -> Result<(), Errno> {
        if is_hidden_name(parent, name) {
            return Err(Errno::ENOENT);
        }
        self.client.rmdir(parent, name).await.or_errno("rmdir")
    }

    /// renameat2: plain (replacing), RENAME_NOREPLACE or RENAME_EXCHANGE. A replaced
    /// file that is open here stays readable until its last close.
    pub(crate) async fn rename(
        &self,
        parent: InodeId,
        name: &[u8],
        new_parent: InodeId,
        new_name: &[u8],
        flags: fuser::RenameFlags,
    ) -> Result<(), Errno> {
        if is_hidden_name(parent, name) {
            return Err(Errno::ENOENT);
        }
        visible(new_parent, new_name)?;
        if flags.contains(fuser::RenameFlags::RENAME_WHITEOUT) {
            return Err(Errno::EINVAL);
        }
        let noreplace = flags.contains(fuser::RenameFlags::RENAME_NOREPLACE);
        let exchange = flags.contains(fuser::RenameFlags::RENAME_EXCHANGE);
        if noreplace && exchange {
            return Err(Errno::EINVAL);
        }
        let hidden = if noreplace || exchange {
            None
        } else {
            self.hide_replaced(new_parent, new_name).await
        };
        let result = self
            .client
            .rename(
                parent,
                name,
                new_parent,
                new_name,
                RenameFlags {
                    noreplace,
                    exchange,
                },
            )
            .await
            .or_errno("rename");
        if let (Err(_), Some((ino, hidden))) = (&result, &hidden) {
            self.unhide(*ino, hidden).await;
        }
        result
    }
}
