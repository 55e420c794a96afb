//! File locks, kept per file in Table::Sys (`lock/` + ino -> every lock on the file), so
//! they hold between mounts and survive a leader change. The mounts' lock sessions (the
//! leader's `server/lock_sessions.rs`) end with `expire_sessions`, which drops every lock
//! of a mount that stopped renewing.

use super::keys;
use super::lock_ranges::{conflict, cut, take};
use super::store::{successor, KvRead, StoreError, Table};
use super::tx::{OpResult, Tx};
use super::view::View;
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::{ClientId, InodeId};
use ferrofs_proto::lock::{FileLock, LockOwner, MAX_LOCKS_PER_FILE};
use ferrofs_proto::meta_msg::MetaResponse;
use std::collections::BTreeSet;

/// Lock records read per scan.
const SCAN_PAGE: usize = 256;
/// Most clients one `ExpireLockSessions` may name.
pub const MAX_EXPIRED_SESSIONS: usize = 1000;

fn check_range(lock: &FileLock) -> Result<(), FsError> {
    if lock.start > lock.end {
        return Err(FsError::Invalid(
            "a lock range ends before it starts".into(),
        ));
    }
    Ok(())
}

fn store(tx: &mut Tx<'_>, ino: InodeId, held: Vec<FileLock>) -> Result<(), StoreError> {
    let key = keys::lock(ino);
    if held.is_empty() {
        tx.kv.delete(Table::Sys, key);
        Ok(())
    } else {
        tx.write(Table::Sys, key, &held)
    }
}

/// `SetLock`: grant `lock`, or `WouldBlock` if another owner holds a conflicting one.
pub fn set(tx: &mut Tx<'_>, ino: InodeId, lock: &FileLock) -> OpResult<MetaResponse> {
    check_range(lock)?;
    tx.must_inode(ino)?;
    let mut held: Vec<FileLock> = tx.read(Table::Sys, &keys::lock(ino))?.unwrap_or_default();
    if conflict(&held, lock).is_some() {
        return Err(FsError::WouldBlock.into());
    }
    take(&mut held, *lock);
    if held.len() > MAX_LOCKS_PER_FILE {
        return Err(FsError::TooManyLocks.into());
    }
    store(tx, ino, held)?;
    Ok(MetaResponse::Done)
}

/// `Unlock`: drop what `owner` holds of `start ..= end` (nothing held is no error).
pub fn unlock(
    tx: &mut Tx<'_>,
    ino: InodeId,
    owner: &LockOwner,
    start: u64,
    end: u64,
) -> OpResult<MetaResponse> {
    let key = keys::lock(ino);
    let Some(mut held) = tx.read::<Vec<FileLock>>(Table::Sys, &key)? else {
        return Ok(MetaResponse::Done);
    };
    let before = held.clone();
    cut(&mut held, owner, start, end.max(start));
    if held != before {
        store(tx, ino, held)?;
    }
    Ok(MetaResponse::Done)
}

/// `TestLock`: the first held lock that conflicts with `lock`.
pub fn test(store: &dyn KvRead, ino: InodeId, lock: &FileLock) -> OpResult<MetaResponse> {
    check_range(lock)?;
    let held: Vec<FileLock> = store
        .record(Table::Sys, &keys::lock(ino))?
        .unwrap_or_default();
    Ok(MetaResponse::Lock(conflict(&held, lock).copied()))
}

/// Call `f` with every file's locks, in inode order.
fn for_each_file(
    store: &dyn KvRead,
    mut f: impl FnMut(InodeId, Vec<FileLock>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut start = keys::SYS_LOCK_PREFIX.to_vec();
    loop {
        let page = store.scan(Table::Sys, keys::SYS_LOCK_PREFIX, &start, SCAN_PAGE)?;
        for (key, value) in &page {
            f(
                keys::lock_ino_of(key)?,
                super::records::decode(Table::Sys, value)?,
            )?;
        }
        match page.last() {
            Some((last, _)) if page.len() == SCAN_PAGE => start = successor(last),
            _ => return Ok(()),
        }
    }
}

/// The clients (mounts) that hold any lock, for the leader's session check.
pub fn holders(store: &dyn KvRead) -> Result<BTreeSet<ClientId>, StoreError> {
    let mut clients = BTreeSet::new();
    for_each_file(store, |_, held| {
        clients.extend(held.iter().map(|l| l.owner.client));
        Ok(())
    })?;
    Ok(clients)
}

/// `ExpireLockSessions`: drop every lock `clients` hold.
pub fn expire_sessions(tx: &mut Tx<'_>, clients: &[ClientId]) -> OpResult<MetaResponse> {
    if clients.len() > MAX_EXPIRED_SESSIONS {
        return Err(FsError::Invalid(format!(
            "{} sessions in one request; at most {MAX_EXPIRED_SESSIONS}",
            clients.len()
        ))
        .into());
    }
    let mut changed = Vec::new();
    for_each_file(&tx.kv, |ino, mut held| {
        let before = held.len();
        held.retain(|l| !clients.contains(&l.owner.client));
        if held.len() != before {
            changed.push((ino, held));
        }
        Ok(())
    })?;
    for (ino, held) in changed {
        store(tx, ino, held)?;
    }
    Ok(MetaResponse::Done)
}
