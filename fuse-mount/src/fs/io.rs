//! Open files: create, open, read, write, flush, fsync, release.

use super::entries::Caller;
use super::hidden::is_hidden_name;
use super::{Core, Entry};
use crate::error::OrErrno;
use crate::file_io::FileIo;
use crate::open_files::Handle;
use ferrofs_client::{FileKind, InodeId, SetAttr};
use fuser::Errno;
use std::sync::Arc;
use std::time::Instant;

/// A read within this distance of the previous read's end counts as sequential
/// (the kernel's parallel read-ahead requests arrive a little out of order).
const SEQUENTIAL_SLACK: u64 = 2 << 20;

impl Core {
    /// Create and open a regular file (O_EXCL makes an existing name EEXIST).
    pub(crate) async fn create(
        &self,
        parent: InodeId,
        name: &[u8],
        mode: u32,
        flags: i32,
        caller: Caller,
    ) -> Result<(Entry, u64), Errno> {
        if is_hidden_name(parent, name) {
            return Err(Errno::EPERM);
        }
        // A set-group-id parent's group is applied by the metadata server.
        let (mode, gid) = (mode & 0o7777, caller.gid);
        let exclusive = flags & libc::O_EXCL != 0;
        let before = self.dir_attrs.before_change();
        let new = self
            .client
            .create_entry(
                parent,
                name,
                FileKind::File,
                mode,
                caller.uid,
                gid,
                exclusive,
            )
            .await
            .or_errno("create")?;
        if let Some(dir) = new.dir {
            self.dir_attrs.record(dir, before, Instant::now());
        }
        let attr = new.attr;
        let fh = self.open_attr(attr.ino, attr.size, None).await;
        if flags & libc::O_TRUNC != 0 && attr.size > 0 {
            // An existing file (create without O_EXCL raced with another creator).
            if let Err(e) = self.truncate_open(attr.ino).await {
                self.release(fh).await;
                return Err(e);
            }
            let attr = self.fresh_attr(attr.ino, "create").await?;
            return Ok((self.entry(&attr), fh));
        }
        Ok((self.entry(&self.local_view(attr).await), fh))
    }

    /// Open: attributes are fetched again and cached chunks dropped (close-to-open).
    /// O_TRUNC arrives here (FUSE_ATOMIC_O_TRUNC) and truncates after any buffered
    /// writes of other handles.
    pub(crate) async fn open(&self, ino: InodeId, flags: i32) -> Result<u64, Errno> {
        let seen = self.files.io(ino).map(|io| io.epoch());
        let attr = self.client.getattr(ino).await.or_errno("open")?;
        match attr.kind {
            FileKind::Dir => return Err(Errno::EISDIR),
            FileKind::File => {}
            // FIFOs are opened by the kernel itself; a symlink is never opened.
            _ => return Err(Errno::EINVAL),
        }
        let fh = self.open_attr(ino, attr.size, seen).await;
        let writes = flags & libc::O_ACCMODE != libc::O_RDONLY;
        if flags & libc::O_TRUNC != 0 && writes {
            if let Err(e) = self.truncate_open(ino).await {
                self.release(fh).await;
                return Err(e);
            }
        }
        Ok(fh)
    }

    /// A handle on `ino`, whose fresh size was fetched at commit epoch `seen` of its
    /// open state (None if it was not open then).
    async fn open_attr(&self, ino: InodeId, size: u64, seen: Option<u64>) -> u64 {
        let (fh, io, existed) = self.files.open(ino, || self.new_file_io(ino, size));
        if existed {
            io.reopened(size, seen).await;
        }
        fh
    }

    async fn truncate_open(&self, ino: InodeId) -> Result<(), Errno> {
        let io = self.files.io(ino).ok_or(Errno::EBADF)?;
        io.setattr(SetAttr {
            size: Some(0),
            ..SetAttr::default()
        })
        .await?;
        Ok(())
    }

    /// Note a read request of handle `fh` in the order the kernel sent it. Returns the
    /// handle (`EBADF` if unknown) and whether the read continues that handle's
    /// sequential reading (`Handle::note_read`). Called on the FUSE thread before the
    /// request's task is spawned: tasks may start out of order.
    pub(crate) fn note_read(
        &self,
        fh: u64,
        offset: u64,
        size: u32,
    ) -> Result<(Arc<Handle<FileIo>>, bool), Errno> {
        let h = self.files.handle(fh).ok_or(Errno::EBADF)?;
        let sequential = h.note_read(offset, size, SEQUENTIAL_SLACK);
        Ok((h, sequential))
    }

    pub(crate) async fn write(&self, fh: u64, offset: u64, data: &[u8]) -> Result<u32, Errno> {
        let h = self.files.handle(fh).ok_or(Errno::EBADF)?;
        let n = u32::try_from(data.len()).map_err(|_| Errno::EINVAL)?;
        h.io.write(offset, data).await?;
        Ok(n)
    }

    /// flush (every close) and fsync: upload and commit before returning.
    pub(crate) async fn flush(&self, fh: u64) -> Result<(), Errno> {
        let h = self.files.handle(fh).ok_or(Errno::EBADF)?;
        h.io.flush().await
    }

    /// The last release of a file flushes it (writes through a shared mapping may
    /// come after the last close) and removes its hidden name, if it has one.
    pub(crate) async fn release(&self, fh: u64) {
        let Some(released) = self.files.release(fh) else {
            return;
        };
        let (handle, Some(last)) = (released.handle, released.last) else {
            return;
        };
        if let Err(e) = last.io.flush().await {
            tracing::error!(ino = %handle.ino, errno = e.code(), "flushing at the last close failed; unflushed writes are lost");
        }
        if let Some(hidden) = last.hidden {
            self.remove_hidden(&hidden).await;
            self.scans.changes.bump();
        }
    }

    /// Flush every open file (at unmount).
    pub(crate) async fn flush_all(&self) {
        for (ino, io) in self.files.all_io() {
            if let Err(e) = io.flush().await {
                tracing::error!(%ino, errno = e.code(), "flushing at unmount failed; unflushed writes are lost");
            }
        }
    }
}
