//! One namespace operation in progress: a nested overlay (dropped on a namespace error, so
//! a failed op leaves no writes), the leader's clock, the layout and the counters.

use super::keys;
use super::records::{self, Counters, Dentry, InlineUse, Inode, Layout};
use super::store::{KvRead, Overlay, StoreError, Table, Write};
use super::view::View;
use ferrofs_proto::attr::{FileKind, Timestamp};
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::InodeId;

/// Why an operation failed: the caller's mistake (an `FsError` answer) or broken storage.
#[derive(Debug)]
pub enum OpError {
    Fs(FsError),
    Store(StoreError),
}

impl From<FsError> for OpError {
    fn from(e: FsError) -> Self {
        OpError::Fs(e)
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        OpError::Store(e)
    }
}

pub type OpResult<T> = Result<T, OpError>;

/// The first inode number handed out after the root.
const FIRST_INO: u64 = 2;

pub struct Tx<'s> {
    pub kv: Overlay<'s>,
    pub now: Timestamp,
    pub layout: Layout,
    counters: Counters,
    counters_at_start: Counters,
    /// Inline bytes before and after this op, read on first use only.
    inline_use: Option<(InlineUse, InlineUse)>,
}

impl<'s> Tx<'s> {
    pub fn begin(base: &'s dyn KvRead, now: Timestamp) -> Result<Self, StoreError> {
        let counters = load_counters(base)?;
        let layout = load_layout(base)?;
        Ok(Tx {
            kv: Overlay::new(base),
            now,
            layout,
            counters,
            counters_at_start: counters,
            inline_use: None,
        })
    }

    /// The writes of a successful operation, counters included.
    pub fn commit(mut self) -> Result<Vec<Write>, StoreError> {
        if self.counters != self.counters_at_start {
            let bytes = records::encode(Table::Sys, &self.counters)?;
            self.kv.put(Table::Sys, keys::SYS_COUNTERS.to_vec(), bytes);
        }
        if let Some((_, now)) = self.inline_use.filter(|(start, now)| start != now) {
            let bytes = records::encode(Table::Sys, &now)?;
            self.kv
                .put(Table::Sys, keys::SYS_INLINE_USE.to_vec(), bytes);
        }
        Ok(self.kv.into_writes())
    }

    /// Inline bytes stored change by `added - removed`.
    pub fn count_inline(&mut self, added: u64, removed: u64) -> Result<(), StoreError> {
        if added == removed {
            return Ok(());
        }
        let (start, mut now) = match self.inline_use {
            Some(pair) => pair,
            None => {
                let stored = load_inline_use(&self.kv)?;
                (stored, stored)
            }
        };
        now.bytes = now.bytes.saturating_add(added).saturating_sub(removed);
        self.inline_use = Some((start, now));
        Ok(())
    }

    pub fn counters(&mut self) -> &mut Counters {
        &mut self.counters
    }

    // ---- records (reads go through `View` on `self.kv`) ----

    pub fn read<T: serde::de::DeserializeOwned>(
        &self,
        table: Table,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        self.kv.record(table, key)
    }

    pub fn write<T: serde::Serialize>(
        &mut self,
        table: Table,
        key: Vec<u8>,
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = records::encode(table, value)?;
        self.kv.put(table, key, bytes);
        Ok(())
    }

    // ---- inodes ----

    pub fn inode(&self, ino: InodeId) -> Result<Option<Inode>, StoreError> {
        self.kv.inode(ino)
    }

    /// The inode, or `NotFound`.
    pub fn must_inode(&self, ino: InodeId) -> OpResult<Inode> {
        self.kv.must_inode(ino)
    }

    /// The inode a directory entry points to; a dangling entry is corruption.
    pub fn linked_inode(&self, ino: InodeId) -> Result<Inode, StoreError> {
        self.kv.linked_inode(ino)
    }

    /// The directory, or `NotFound` / `NotDir`.
    pub fn dir(&self, ino: InodeId) -> OpResult<Inode> {
        self.kv.dir(ino)
    }

    pub fn put_inode(&mut self, ino: InodeId, inode: &Inode) -> Result<(), StoreError> {
        self.write(Table::Inodes, keys::inode(ino), inode)
    }

    /// A fresh inode number (never reused).
    pub fn alloc_ino(&mut self) -> Result<InodeId, StoreError> {
        let next: u64 = self
            .read(Table::Sys, keys::SYS_NEXT_INO)?
            .unwrap_or(FIRST_INO);
        let following = next.checked_add(1).ok_or_else(|| StoreError::Corrupt {
            table: Table::Sys,
            reason: "inode numbers exhausted".to_string(),
        })?;
        self.write(Table::Sys, keys::SYS_NEXT_INO.to_vec(), &following)?;
        Ok(InodeId(next))
    }

    /// Store a new inode and count it.
    pub fn create_inode(&mut self, ino: InodeId, inode: &Inode) -> Result<(), StoreError> {
        let c = &mut self.counters;
        if inode.is_dir() {
            c.dirs = c.dirs.saturating_add(1);
        } else {
            c.files = c.files.saturating_add(1);
        }
        if inode.kind == FileKind::File {
            c.logical_bytes = c.logical_bytes.saturating_add(inode.size);
        }
        self.put_inode(ino, inode)
    }

    /// Change a file's size, keeping `logical_bytes` right (the caller stores the inode).
    pub fn set_size(&mut self, inode: &mut Inode, size: u64) {
        if inode.kind == FileKind::File {
            let c = &mut self.counters;
            c.logical_bytes = c
                .logical_bytes
                .saturating_sub(inode.size)
                .saturating_add(size);
        }
        inode.size = size;
    }

    // ---- directory entries ----

    pub fn entry(&self, parent: InodeId, name: &[u8]) -> Result<Option<Dentry>, StoreError> {
        self.kv.entry(parent, name)
    }

    pub fn put_entry(
        &mut self,
        parent: InodeId,
        name: &[u8],
        d: &Dentry,
    ) -> Result<(), StoreError> {
        self.write(Table::Dentries, keys::dentry(parent, name), d)
    }

    pub fn delete_entry(&mut self, parent: InodeId, name: &[u8]) {
        self.kv.delete(Table::Dentries, keys::dentry(parent, name));
    }

    pub fn dir_is_empty(&self, ino: InodeId) -> Result<bool, StoreError> {
        self.kv.dir_is_empty(ino)
    }

    /// Bump a directory's mtime and ctime (an entry was added or removed).
    pub fn touch_dir(&mut self, ino: InodeId, dir: &mut Inode) -> Result<(), StoreError> {
        dir.mtime = self.now;
        dir.ctime = self.now;
        self.put_inode(ino, dir)
    }
}

pub fn load_counters(store: &dyn KvRead) -> Result<Counters, StoreError> {
    Ok(store
        .record(Table::Sys, keys::SYS_COUNTERS)?
        .unwrap_or_default())
}

pub fn load_inline_use(store: &dyn KvRead) -> Result<InlineUse, StoreError> {
    Ok(store
        .record(Table::Sys, keys::SYS_INLINE_USE)?
        .unwrap_or_default())
}

/// The stored layout, if `configure` ran.
pub fn stored_layout(store: &dyn KvRead) -> Result<Option<Layout>, StoreError> {
    store.record(Table::Sys, keys::SYS_LAYOUT)
}

pub fn load_layout(store: &dyn KvRead) -> Result<Layout, StoreError> {
    Ok(stored_layout(store)?.unwrap_or_default())
}
