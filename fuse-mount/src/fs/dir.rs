//! Directory listing: opendir, readdir, readdirplus, releasedir. A listing is read
//! from the cluster one page at a time as the kernel asks (see `DirStream`).

use super::hidden::is_hidden_name;
use super::Core;
use crate::attr::{file_type, kernel_attr};
use crate::dir_stream::{DirStream, Step};
use crate::error::errno_of;
use crate::xattr_hint::NoXattrHints;
use ferrofs_client::{FileAttr, FileKind, InodeId, Timestamp};
use fuser::{Errno, Generation, INodeNo, ReplyDirectory, ReplyDirectoryPlus};
use std::sync::Arc;
use std::time::Duration;

/// Entries asked of the server per page (a reply holds a few dozen to a few hundred).
const PAGE: u32 = 128;

/// A reply being filled: `add` returns true when the entry did not fit.
pub(crate) trait DirSink {
    fn add(&mut self, offset: u64, name: &[u8], attr: &FileAttr) -> bool;
}

impl DirSink for ReplyDirectory {
    fn add(&mut self, offset: u64, name: &[u8], attr: &FileAttr) -> bool {
        use std::os::unix::ffi::OsStrExt;
        ReplyDirectory::add(
            self,
            INodeNo(attr.ino.0),
            offset,
            file_type(attr.kind),
            std::ffi::OsStr::from_bytes(name),
        )
    }
}

/// readdirplus, with the entry TTL of the mount.
pub(crate) struct PlusSink {
    pub(crate) reply: ReplyDirectoryPlus,
    pub(crate) ttl: Duration,
    pub(crate) xattr_hints: Arc<NoXattrHints>,
}

impl DirSink for PlusSink {
    fn add(&mut self, offset: u64, name: &[u8], attr: &FileAttr) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let k = kernel_attr(attr);
        if name != b"." && name != b".." {
            self.xattr_hints.note(attr);
        }
        let name = std::ffi::OsStr::from_bytes(name);
        self.reply.add(
            INodeNo(attr.ino.0),
            offset,
            name,
            &self.ttl,
            &k,
            Generation(attr.generation),
        )
    }
}

/// Attributes for "." and "..": the kernel uses only the inode number and type.
fn dot_attr(ino: InodeId) -> FileAttr {
    FileAttr {
        ino,
        kind: FileKind::Dir,
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 0,
        nlink: 2,
        atime: Timestamp(0),
        mtime: Timestamp(0),
        ctime: Timestamp(0),
        generation: 0,
        has_xattrs: false,
    }
}

impl Core {
    pub(crate) fn opendir(&self) -> u64 {
        let fh = self.files.next_fh();
        self.dirs
            .lock()
            .insert(fh, Arc::new(tokio::sync::Mutex::new(DirStream::new())));
        fh
    }

    pub(crate) fn releasedir(&self, fh: u64) {
        self.dirs.lock().remove(&fh);
    }

    /// Fill `sink` with the entries after `offset`. Entries of open files show this
    /// mount's unflushed size. A failed page after some entries ends the reply early
    /// (the kernel asks again); before any, it is the error.
    pub(crate) async fn fill_dir<S: DirSink>(
        &self,
        ino: InodeId,
        fh: u64,
        offset: u64,
        sink: &mut S,
    ) -> Result<(), Errno> {
        let stream = self.dirs.lock().get(&fh).cloned().ok_or(Errno::EBADF)?;
        let mut st = stream.lock().await;
        let mut offset = offset;
        if offset == 0 {
            if sink.add(1, b".", &dot_attr(ino)) {
                return Ok(());
            }
            offset = 1;
        }
        if offset == 1 {
            if sink.add(2, b"..", &dot_attr(ino)) {
                return Ok(());
            }
            offset = 2;
        }
        st.seek(offset);
        let mut added = 0usize;
        loop {
            match st.next_step() {
                Step::End => return Ok(()),
                Step::Fetch(after) => match self.client.readdir(ino, after, PAGE).await {
                    Ok((entries, done)) => st.push_page(entries, done),
                    Err(e) => {
                        let errno = errno_of("readdir", &e);
                        return if added > 0 { Ok(()) } else { Err(errno) };
                    }
                },
                Step::Entry(off, entry) => {
                    if is_hidden_name(ino, &entry.name) {
                        st.returned(off, &entry.name);
                        continue;
                    }
                    let attr = self.local_view(entry.attr.clone()).await;
                    if sink.add(off, &entry.name, &attr) {
                        st.unread(off, entry);
                        return Ok(());
                    }
                    st.returned(off, &entry.name);
                    added += 1;
                }
            }
        }
    }
}
