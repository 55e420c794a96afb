//! Request-id dedup records: the response to the last `WINDOW` requests of each
//! client, so a retried mutation (after a leader change or a lost reply) is answered
//! with the first response and applied once. Records live in the state machine and
//! travel with its snapshots.

use super::codec;
use super::sm_db::{SmView, CF_DEDUP};
use ferrofs_proto::meta_msg::MetaResponse;
use ferrofs_proto::{ClientId, RequestId};
use rocksdb::{ColumnFamily, WriteBatch};
use std::io;

/// Requests remembered per client. A client retries only requests still in flight,
/// and it has far fewer than this in flight at once.
pub const WINDOW: u64 = 64;

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

/// Record `response` for `id` and forget the request that left the window.
pub fn record(
    batch: &mut WriteBatch,
    cf: &ColumnFamily,
    id: RequestId,
    response: &MetaResponse,
) -> Result<(), io::Error> {
    batch.put_cf(cf, key(id.client, id.seq), codec::encode(response)?);
    if let Some(old) = id.seq.checked_sub(WINDOW) {
        batch.delete_cf(cf, key(id.client, old));
    }
    Ok(())
}
