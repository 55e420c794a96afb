//! File locks held by the metadata quorum (`ferrofs_proto::lock`), so that they hold
//! between mounts. A mount that holds any must renew its lock session (`keep_locks`)
//! well within the cluster's lock timeout, or the leader drops them.

use crate::client::Client;
use crate::error::ClientError;
use crate::namespace::done;
use ferrofs_proto::lock::{FileLock, LockOwner};
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse};
use ferrofs_proto::InodeId;

pub use ferrofs_proto::lock::{FileLock as Lock, LockKind};

impl Client {
    /// The lock owner `owner` (the kernel's id) of this client.
    pub fn lock_owner(&self, owner: u64) -> LockOwner {
        LockOwner {
            client: self.client_id(),
            owner,
        }
    }

    /// Take `lock` on `ino`; `FsError::WouldBlock` if another owner holds a conflicting
    /// lock (the caller decides whether to wait).
    pub async fn set_lock(&self, ino: InodeId, lock: FileLock) -> Result<(), ClientError> {
        const OP: &str = "setlk";
        done(OP, self.mutate(OP, MetaOp::SetLock { ino, lock }).await?)
    }

    /// Drop what `owner` holds of bytes `start ..= end` of `ino`.
    pub async fn unlock(
        &self,
        ino: InodeId,
        owner: LockOwner,
        start: u64,
        end: u64,
    ) -> Result<(), ClientError> {
        const OP: &str = "unlock";
        let op = MetaOp::Unlock {
            ino,
            owner,
            start,
            end,
        };
        done(OP, self.mutate(OP, op).await?)
    }

    /// The first held lock that keeps `lock` from being granted, if any.
    pub async fn test_lock(
        &self,
        ino: InodeId,
        lock: FileLock,
    ) -> Result<Option<FileLock>, ClientError> {
        const OP: &str = "getlk";
        match self
            .meta_read(OP, MetaRequest::TestLock { ino, lock })
            .await?
        {
            MetaResponse::Lock(held) => Ok(held),
            other => Err(ClientError::protocol(OP, other)),
        }
    }

    /// Renew this client's lock session with the leader.
    pub async fn keep_locks(&self) -> Result<(), ClientError> {
        const OP: &str = "keep locks";
        let req = MetaRequest::KeepLocks {
            client: self.client_id(),
        };
        done(OP, self.meta_read(OP, req).await?)
    }
}
