//! Applying one log entry to the state-machine database: the namespace logic runs
//! over an `Overlay` of the live view, then its writes, the dedup record,
//! `last_applied` and (for membership entries) `last_membership` go to RocksDB in
//! ONE write batch, so the data and the log id that covers it never disagree.

use super::codec;
use super::dedup;
use super::sm_db::{SmDb, SmView, CF_DEDUP, CF_SM_META, KEY_LAST_APPLIED, KEY_LAST_MEMBERSHIP};
use crate::namespace::{self, ApplyContext, Overlay, StoreError};
use crate::types::{Entry, LogCommand, MetaCommand, StoredMembership};
use ferrofs_proto::meta_msg::MetaResponse;
use ferrofs_proto::FsError;
use openraft::entry::RaftEntry;
use openraft::EntryPayload;
use rocksdb::WriteBatch;
use std::io;

/// Set once the namespace is initialised (root directory, cluster layout).
pub const KEY_ROOT_READY: &[u8] = b"root_ready";

/// Apply `entry` and return the response for its proposer. The batch is written
/// without fsync; the caller syncs once per group of entries before answering.
pub fn apply_entry(sm: &SmDb, entry: &Entry) -> Result<MetaResponse, io::Error> {
    let log_id = entry.log_id();
    let meta_cf = sm.cf(CF_SM_META)?;
    let mut batch = WriteBatch::default();
    let response = match entry.payload {
        EntryPayload::Blank => MetaResponse::Done,
        EntryPayload::Membership(ref m) => {
            let stored = StoredMembership::new(Some(log_id), m.clone());
            batch.put_cf(meta_cf, KEY_LAST_MEMBERSHIP, codec::encode(&stored)?);
            MetaResponse::Done
        }
        EntryPayload::Normal(LogCommand::Init {
            ref ctx,
            ref settings,
        }) => {
            let view = SmView::live(sm);
            let mut overlay = Overlay::new(&view);
            let configured = namespace::ensure_root(&mut overlay, ctx)
                .and_then(|()| namespace::configure(&mut overlay, settings));
            match configured {
                Ok(outcome) => {
                    write_overlay(sm, &mut batch, overlay)?;
                    batch.put_cf(meta_cf, KEY_ROOT_READY, [1u8]);
                    match outcome {
                        Ok(()) => MetaResponse::Done,
                        Err(e) => {
                            tracing::warn!(error = %e, "the cluster layout was not changed");
                            MetaResponse::Error(e)
                        }
                    }
                }
                Err(e) => store_failure(e)?,
            }
        }
        EntryPayload::Normal(LogCommand::Meta(ref cmd)) => apply_command(sm, cmd, &mut batch)?,
        EntryPayload::Normal(LogCommand::ExpireDedup {
            ref clients,
            before,
            now,
        }) => {
            let view = SmView::live(sm);
            let dropped = dedup::expire(&view, &mut batch, sm.cf(CF_DEDUP)?, clients, before, now)?;
            tracing::debug!(dropped, "dedup records of idle clients dropped");
            MetaResponse::Done
        }
        EntryPayload::Normal(LogCommand::ExpireOrphanMarks {
            ref chunks,
            before,
            now,
        }) => {
            let view = SmView::live(sm);
            let mut overlay = Overlay::new(&view);
            match namespace::expire_orphan_marks(&mut overlay, now, chunks, before) {
                Ok(Ok(dropped)) => {
                    write_overlay(sm, &mut batch, overlay)?;
                    tracing::debug!(dropped, "old orphan marks dropped");
                    MetaResponse::Done
                }
                Ok(Err(e)) => MetaResponse::Error(e),
                Err(e) => store_failure(e)?,
            }
        }
    };
    batch.put_cf(meta_cf, KEY_LAST_APPLIED, codec::encode(&log_id)?);
    sm.db().write(batch).map_err(super::io_err)?;
    Ok(response)
}

fn apply_command(
    sm: &SmDb,
    cmd: &MetaCommand,
    batch: &mut WriteBatch,
) -> Result<MetaResponse, io::Error> {
    let view = SmView::live(sm);
    if let Some(id) = cmd.request_id {
        if let Some(first) = dedup::lookup(&view, id)? {
            tracing::debug!(request = %id, "duplicate request answered from the dedup record");
            return Ok(first);
        }
    }
    let root_ready = view.get_cf(CF_SM_META, KEY_ROOT_READY)?.is_some();
    let mut overlay = Overlay::new(&view);
    let outcome = ensure_root_if(root_ready, &mut overlay, &cmd.ctx)
        .and_then(|()| namespace::apply(&mut overlay, &cmd.ctx, &cmd.op));
    let response = match outcome {
        Ok(MetaResponse::Error(e)) => MetaResponse::Error(e), // a refused op changes nothing
        Ok(response) => {
            write_overlay(sm, batch, overlay)?;
            if !root_ready {
                batch.put_cf(sm.cf(CF_SM_META)?, KEY_ROOT_READY, [1u8]);
            }
            response
        }
        Err(e) => store_failure(e)?,
    };
    if let Some(id) = cmd.request_id {
        dedup::record(batch, sm.cf(CF_DEDUP)?, id, &response, cmd.ctx.now)?;
    }
    Ok(response)
}

fn ensure_root_if(
    root_ready: bool,
    overlay: &mut Overlay<'_>,
    ctx: &ApplyContext,
) -> Result<(), StoreError> {
    if root_ready {
        Ok(())
    } else {
        namespace::ensure_root(overlay, ctx)
    }
}

fn write_overlay(sm: &SmDb, batch: &mut WriteBatch, overlay: Overlay<'_>) -> Result<(), io::Error> {
    for (table, key, value) in overlay.into_writes() {
        let cf = sm.cf(table.name())?;
        match value {
            Some(v) => batch.put_cf(cf, key, v),
            None => batch.delete_cf(cf, key),
        }
    }
    Ok(())
}

/// A backend read failure is this node's problem: stop applying (openraft treats it
/// as fatal). A corrupt record is the same on every replica, so answering the
/// request with an internal error keeps the replicas identical and the cluster up.
fn store_failure(e: StoreError) -> Result<MetaResponse, io::Error> {
    match e {
        StoreError::Backend(msg) => Err(io::Error::other(format!(
            "reading the state machine: {msg}"
        ))),
        StoreError::Corrupt { table, reason } => {
            tracing::error!(?table, %reason, "corrupt record while applying");
            Ok(MetaResponse::Error(FsError::Internal(format!(
                "corrupt record in {table:?}: {reason}"
            ))))
        }
    }
}
