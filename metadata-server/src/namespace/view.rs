//! Typed reads over any `KvRead`, shared by operations (through `Tx`) and queries.

use super::keys;
use super::records::{self, Dentry, Inode};
use super::store::{KvRead, StoreError, Table};
use super::tx::{OpError, OpResult};
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::InodeId;
use serde::de::DeserializeOwned;

pub trait View: KvRead {
    fn record<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.get(table, key)? {
            Some(bytes) => Ok(Some(records::decode(table, &bytes)?)),
            None => Ok(None),
        }
    }

    fn inode(&self, ino: InodeId) -> Result<Option<Inode>, StoreError> {
        self.record(Table::Inodes, &keys::inode(ino))
    }

    /// The inode, or `NotFound`.
    fn must_inode(&self, ino: InodeId) -> OpResult<Inode> {
        self.inode(ino)?.ok_or(OpError::Fs(FsError::NotFound))
    }

    /// The inode a directory entry points to; a dangling entry is corruption.
    fn linked_inode(&self, ino: InodeId) -> Result<Inode, StoreError> {
        self.inode(ino)?.ok_or_else(|| StoreError::Corrupt {
            table: Table::Dentries,
            reason: format!("an entry points to missing inode {ino}"),
        })
    }

    /// The directory, or `NotFound` / `NotDir`.
    fn dir(&self, ino: InodeId) -> OpResult<Inode> {
        let inode = self.must_inode(ino)?;
        if !inode.is_dir() {
            return Err(FsError::NotDir.into());
        }
        Ok(inode)
    }

    fn entry(&self, parent: InodeId, name: &[u8]) -> Result<Option<Dentry>, StoreError> {
        self.record(Table::Dentries, &keys::dentry(parent, name))
    }

    fn dir_is_empty(&self, ino: InodeId) -> Result<bool, StoreError> {
        let prefix = keys::ino_prefix(ino);
        Ok(self.scan(Table::Dentries, &prefix, &prefix, 1)?.is_empty())
    }
}

impl<T: KvRead + ?Sized> View for T {}
