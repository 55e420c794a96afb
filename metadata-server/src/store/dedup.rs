//! Request-id dedup records: the response to the last `WINDOW` requests of each
//! client, so a retried mutation (after a leader change or a lost reply) is answered
//! with the first response and applied once. Records live in the state machine and
//! travel with its snapshots.
//!
//! Each client also has a last-seen time (the apply time of its latest mutation, under
//! seq `LAST_SEEN`). Every CLI run is a new client, so without expiry the records grew
//! with every process that ever wrote; the leader's sweep (`server/dedup_sweep.rs`)
//! lists clients not seen for a day (`stale_clients`) and a log command drops their
//! records (`expire`). A client retries only within its failover timeout (seconds), so
//! a day-old client has nothing left to retry.

use super::codec;
use super::sm_db::{SmView, CF_DEDUP};
use ferrofs_proto::attr::Timestamp;
use ferrofs_proto::meta_msg::MetaResponse;
use ferrofs_proto::{ClientId, RequestId};
use rocksdb::{ColumnFamily, WriteBatch};
use std::io;

/// Requests remembered per client. A client retries only requests still in flight,
/// and it has far fewer than this in flight at once.
pub const WINDOW: u64 = 64;

/// The seq under which a client's last-seen time is kept (requests never reach it).
const LAST_SEEN: u64 = u64::MAX;

fn key(client: ClientId, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&client.0.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The response recorded for `id`, if the request was applied before.
pub fn lookup(view: &SmView<'_>, id: RequestId) -> Result<Option<MetaResponse>, io::Error> {
    match view.get_cf(CF_DEDUP, &key(id.client, id.seq))? {
        Some(bytes) => Ok(Some(codec::decode(&bytes, "dedup record")?)),
        None => Ok(None),
    }
}

#[cfg(test)]
pub(super) fn key_for_tests(client: ClientId, seq: u64) -> [u8; 16] {
    key(client, seq)
}

fn client_of(key: &[u8]) -> Option<ClientId> {
    let head: [u8; 8] = key.get(..8)?.try_into().ok()?;
    Some(ClientId(u64::from_be_bytes(head)))
}

/// Record `response` for `id`, applied at `now`, and forget the request that left the
/// window.
pub fn record(
    batch: &mut WriteBatch,
    cf: &ColumnFamily,
    id: RequestId,
    response: &MetaResponse,
    now: Timestamp,
) -> Result<(), io::Error> {
    batch.put_cf(cf, key(id.client, id.seq), codec::encode(response)?);
    if let Some(old) = id.seq.checked_sub(WINDOW) {
        batch.delete_cf(cf, key(id.client, old));
    }
    batch.put_cf(cf, key(id.client, LAST_SEEN), codec::encode(&now)?);
    Ok(())
}

fn last_seen(view: &SmView<'_>, client: ClientId) -> Result<Option<Timestamp>, io::Error> {
    match view.get_cf(CF_DEDUP, &key(client, LAST_SEEN))? {
        Some(bytes) => Ok(Some(codec::decode(&bytes, "dedup last-seen time")?)),
        None => Ok(None),
    }
}

/// Up to `max` clients with records, from `first` on in id order, that were last seen
/// before `before` or have no last-seen time (records written before there was one),
/// and where the next page starts (`None`: no more clients). One seek per client, not
/// one read per record.
pub fn stale_clients(
    view: &SmView<'_>,
    first: ClientId,
    before: Timestamp,
    max: usize,
) -> Result<(Vec<ClientId>, Option<ClientId>), io::Error> {
    let mut out = Vec::new();
    let mut next = first;
    while out.len() < max {
        let found = view.first_key_from(CF_DEDUP, &key(next, 0))?;
        let Some(client) = found.as_deref().and_then(client_of) else {
            return Ok((out, None));
        };
        if last_seen(view, client)?.is_none_or(|t| t < before) {
            out.push(client);
        }
        let Some(after) = client.0.checked_add(1) else {
            return Ok((out, None));
        };
        next = ClientId(after);
    }
    Ok((out, Some(next)))
}

/// Drop the records of each of `clients` last seen before `before`. A client seen since
/// the leader listed it keeps its records; one without a last-seen time gets `now`, so
/// its clock starts. Deterministic: every replica applies the same deletions.
pub fn expire(
    view: &SmView<'_>,
    batch: &mut WriteBatch,
    cf: &ColumnFamily,
    clients: &[ClientId],
    before: Timestamp,
    now: Timestamp,
) -> Result<usize, io::Error> {
    let mut dropped = 0;
    for &client in clients {
        match last_seen(view, client)? {
            Some(t) if t < before => {
                batch.delete_range_cf(cf, key(client, 0), key(client, LAST_SEEN));
                batch.delete_cf(cf, key(client, LAST_SEEN));
                dropped += 1;
            }
            Some(_) => {}
            None => batch.put_cf(cf, key(client, LAST_SEEN), codec::encode(&now)?),
        }
    }
    Ok(dropped)
}
