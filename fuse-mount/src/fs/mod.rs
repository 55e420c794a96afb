//! The file system behind the mount. `dispatch` implements fuser's `Filesystem`: each
//! request is moved onto the tokio runtime and answered from there, so a slow cluster
//! call never blocks the other requests. The operations themselves are methods of
//! `Core`, one file per area, each returning `Result<_, Errno>`.

mod attrs;
mod dir;
mod dispatch;
mod entries;
mod hidden;
mod io;
mod locks;
mod xattr;

use crate::attr::kernel_attr;
use crate::budget::{Budget, Budgets};
use crate::dir_attrs::DirAttrs;
use crate::dir_scan::{Changes, ScanCache};
use crate::dir_stream::DirStream;
use crate::error::OrErrno;
use crate::file_io::FileIo;
use crate::held_locks::HeldLocks;
use crate::lock_wakeups::LockWakeups;
use crate::metrics::MountMetrics;
use crate::open_files::OpenFiles;
use crate::options::MountOptions;
use crate::xattr_hint::NoXattrHints;
use ferrofs_client::{Client, FileAttr, InodeId};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::runtime::Handle;

pub(crate) use dispatch::FerroFs;

/// Bytes the read-ahead caches of one mount may hold together.
const READ_CACHE_BUDGET: u64 = 256 << 20;

/// An entry reply: the kernel's attributes and the inode's generation.
pub(crate) struct Entry {
    pub(crate) attr: fuser::FileAttr,
    pub(crate) generation: u64,
}

impl Entry {
    fn of(attr: &FileAttr) -> Entry {
        Entry {
            attr: kernel_attr(attr),
            generation: attr.generation,
        }
    }
}

/// Everything the operations share.
pub(crate) struct Core {
    pub(crate) client: Client,
    pub(crate) rt: Handle,
    pub(crate) opts: MountOptions,
    pub(crate) files: OpenFiles<FileIo>,
    pub(crate) dirs: parking_lot::Mutex<HashMap<u64, Arc<tokio::sync::Mutex<DirStream>>>>,
    pub(crate) budgets: Budgets,
    pub(crate) hidden: hidden::HiddenDir,
    pub(crate) xattr_hints: Arc<NoXattrHints>,
    pub(crate) metrics: Arc<MountMetrics>,
    /// Directory listings answering scans of lookups (see `dir_scan`).
    pub(crate) scans: Arc<ScanCache>,
    /// Directories' attributes from this mount's own creates (see `dir_attrs`).
    pub(crate) dir_attrs: DirAttrs,
    /// Files and lock owners this mount may hold cluster locks for.
    pub(crate) held_locks: Arc<HeldLocks>,
    /// Wakes this mount's blocked lock calls when a lock is released here.
    pub(crate) lock_wakeups: LockWakeups,
}

impl Core {
    pub(crate) fn new(
        client: Client,
        rt: Handle,
        opts: MountOptions,
        metrics: Arc<MountMetrics>,
    ) -> Core {
        Core {
            client,
            rt,
            files: OpenFiles::default(),
            dirs: parking_lot::Mutex::new(HashMap::new()),
            budgets: Budgets {
                read: Budget::new(READ_CACHE_BUDGET),
                write: Budget::new(opts.write_buffer),
            },
            hidden: hidden::HiddenDir::default(),
            xattr_hints: Arc::new(NoXattrHints::new(opts.attr_ttl)),
            scans: Arc::new(ScanCache::new(opts.entry_ttl, Arc::new(Changes::default()))),
            dir_attrs: DirAttrs::new(opts.attr_ttl),
            held_locks: Arc::default(),
            lock_wakeups: LockWakeups::default(),
            opts,
            metrics,
        }
    }

    /// The entry reply for attributes just received from the cluster.
    pub(crate) fn entry(&self, attr: &FileAttr) -> Entry {
        self.xattr_hints.note(attr);
        Entry::of(attr)
    }

    /// Attributes as this mount sees them: an open file's unflushed writes count, and
    /// a file kept alive under a hidden name does not count that name as a link.
    pub(crate) async fn local_view(&self, attr: FileAttr) -> FileAttr {
        self.local_view_at(attr, None).await
    }

    /// `local_view` of attributes fetched at commit epoch `seen` of the open file.
    async fn local_view_at(&self, mut attr: FileAttr, seen: Option<u64>) -> FileAttr {
        if let Some(io) = self.files.io(attr.ino) {
            io.overlay_attr(&mut attr, seen).await;
            if self.files.is_hidden(attr.ino) {
                attr.nlink = attr.nlink.saturating_sub(1);
            }
        }
        attr
    }

    /// Fresh attributes of `ino` as this mount sees them.
    pub(crate) async fn fresh_attr(
        &self,
        ino: InodeId,
        op: &'static str,
    ) -> Result<FileAttr, fuser::Errno> {
        let seen = self.files.io(ino).map(|io| io.epoch());
        let attr = self.client.getattr(ino).await.or_errno(op)?;
        Ok(self.local_view_at(attr, seen).await)
    }

    fn new_file_io(&self, ino: InodeId, size: u64) -> FileIo {
        FileIo::new(
            self.client.clone(),
            self.rt.clone(),
            ino,
            size,
            self.budgets.clone(),
            self.scans.changes.clone(),
        )
    }
}
