//! Keeping an unlinked file alive while it is open here ("silly rename"): its last
//! name moves (or, when a rename replaces it, a new link goes) into the root folder
//! `/.ferrofs-unlinked/`, which readdir and lookup of the root do not show; the last
//! release removes it.

use super::Core;
use crate::error::OrErrno;
use ferrofs_client::{FileAttr, FileKind, FsError, InodeId, RenameFlags};
use fuser::Errno;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The hidden folder's name in the root.
pub(crate) const HIDDEN_DIR: &[u8] = b".ferrofs-unlinked";

#[derive(Default)]
pub(crate) struct HiddenDir {
    /// The folder's inode once found or made; forgotten if using it fails (another
    /// client may have removed it).
    ino: Mutex<Option<InodeId>>,
    seq: AtomicU64,
}

/// True if `name` in `parent` is the hidden folder (invisible to users).
pub(crate) fn is_hidden_name(parent: InodeId, name: &[u8]) -> bool {
    parent == InodeId::ROOT && name == HIDDEN_DIR
}

impl Core {
    /// The hidden folder, made on first use.
    async fn hidden_dir(&self) -> Result<InodeId, Errno> {
        const OP: &str = "hidden folder";
        if let Some(ino) = *self.hidden.ino.lock() {
            return Ok(ino);
        }
        let found = match self.client.lookup(InodeId::ROOT, HIDDEN_DIR).await {
            Ok(a) => a,
            Err(e) if e.fs() == Some(&FsError::NotFound) => {
                match self
                    .client
                    .mkdir(InodeId::ROOT, HIDDEN_DIR, 0o700, 0, 0)
                    .await
                {
                    Ok(a) => a,
                    // Another mount made it meanwhile.
                    Err(e) if e.fs() == Some(&FsError::Exists) => self
                        .client
                        .lookup(InodeId::ROOT, HIDDEN_DIR)
                        .await
                        .or_errno(OP)?,
                    Err(e) => return Err(e).or_errno(OP),
                }
            }
            Err(e) => return Err(e).or_errno(OP),
        };
        if found.kind != FileKind::Dir {
            tracing::error!("/.ferrofs-unlinked exists and is not a folder");
            return Err(Errno::EIO);
        }
        *self.hidden.ino.lock() = Some(found.ino);
        Ok(found.ino)
    }

    fn forget_hidden_dir(&self) {
        *self.hidden.ino.lock() = None;
    }

    fn hidden_name(&self, ino: InodeId) -> Vec<u8> {
        let seq = self.hidden.seq.fetch_add(1, Ordering::Relaxed);
        format!("{}.{}.{}", ino, self.client.client_id().0, seq).into_bytes()
    }

    /// True if removing one name of `attr` would drop an inode that is open here.
    fn must_hide(&self, attr: &FileAttr) -> bool {
        attr.kind != FileKind::Dir && attr.nlink <= 1 && self.files.needs_hiding(attr.ino)
    }

    /// Unlink `name`, or move it into the hidden folder if it is the last name of a
    /// file open here. If hiding fails, the name is unlinked plainly.
    pub(crate) async fn unlink_or_hide(&self, parent: InodeId, name: &[u8]) -> Result<(), Errno> {
        let attr = self.client.lookup(parent, name).await.or_errno("unlink")?;
        if self.must_hide(&attr) {
            if let Ok(dir) = self.hidden_dir().await {
                let hidden = self.hidden_name(attr.ino);
                if self.files.set_hidden(attr.ino, hidden.clone()) {
                    let flags = RenameFlags {
                        noreplace: true,
                        exchange: false,
                    };
                    match self.client.rename(parent, name, dir, &hidden, flags).await {
                        Ok(()) => return Ok(()),
                        Err(e) => {
                            tracing::warn!(ino = %attr.ino, error = %e, "hiding an unlinked open file failed; unlinking it");
                            self.files.clear_hidden(attr.ino);
                            self.forget_hidden_dir();
                        }
                    }
                }
            }
        }
        self.client.unlink(parent, name).await.or_errno("unlink")
    }

    /// Before a rename replaces `new_name`: if that is the last name of a file open
    /// here, give it a hidden link. Returns the hidden name made, to undo on failure.
    pub(crate) async fn hide_replaced(
        &self,
        new_parent: InodeId,
        new_name: &[u8],
    ) -> Option<(InodeId, Vec<u8>)> {
        let target = self.client.lookup(new_parent, new_name).await.ok()?;
        if !self.must_hide(&target) {
            return None;
        }
        let dir = self.hidden_dir().await.ok()?;
        let hidden = self.hidden_name(target.ino);
        if !self.files.set_hidden(target.ino, hidden.clone()) {
            return None;
        }
        match self.client.link(target.ino, dir, &hidden).await {
            Ok(_) => Some((target.ino, hidden)),
            Err(e) => {
                tracing::warn!(ino = %target.ino, error = %e, "linking a replaced open file into the hidden folder failed");
                self.files.clear_hidden(target.ino);
                self.forget_hidden_dir();
                None
            }
        }
    }

    /// Undo `hide_replaced` after the rename failed.
    pub(crate) async fn unhide(&self, ino: InodeId, hidden: &[u8]) {
        self.files.clear_hidden(ino);
        self.remove_hidden(hidden).await;
    }

    /// Remove a hidden name (at the last release).
    pub(crate) async fn remove_hidden(&self, hidden: &[u8]) {
        let Ok(dir) = self.hidden_dir().await else {
            return;
        };
        if let Err(e) = self.client.unlink(dir, hidden).await {
            tracing::warn!(name = %String::from_utf8_lossy(hidden), error = %e, "removing a hidden unlinked file failed");
        }
    }
}
