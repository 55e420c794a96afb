//! PatchChunk: a new chunk from a stored one and the changed bytes; limits first, then
//! the payload, then a synced write of the whole new chunk, then `Stored`.

use super::{blocking, Reply, Service};
use crate::store::error::StoreError;
use ferrofs_proto::data_msg::DataResponse;
use ferrofs_proto::frame::read_payload;
use ferrofs_proto::limits::MAX_CHUNK_BYTES;
use ferrofs_proto::{ChunkId, FsError};

/// The request's fields: the stored chunk, the new one, its hash, where the bytes go
/// and how many follow.
pub(super) struct Patch {
    pub(super) base: ChunkId,
    pub(super) id: ChunkId,
    pub(super) hash: [u8; 32],
    pub(super) offset: u64,
    pub(super) len: u64,
}

pub(super) async fn handle(
    svc: &Service,
    recv: &mut quinn::RecvStream,
    p: Patch,
) -> Result<Reply, FsError> {
    if p.len == 0 || p.len > MAX_CHUNK_BYTES {
        return Err(FsError::Invalid(format!(
            "a patch of {} bytes: it must hold 1 to {MAX_CHUNK_BYTES}",
            p.len
        )));
    }
    let store = svc.store.clone();
    let base = p.base;
    let base_len = match blocking(move || store.header(base)).await? {
        Some(h) => h.len,
        None => return Err(FsError::NotFound),
    };
    // Cheap early refusal of what cannot fit even as an overlay (charged its spans);
    // the store's reservation is the authoritative check.
    let st = svc.store.stat();
    if st.used.saturating_add(p.len) > st.capacity {
        return Err(FsError::NoSpace);
    }
    let _permit = svc
        .inflight
        .acquire_many(base_len.min(MAX_CHUNK_BYTES) as u32)
        .await
        .map_err(|_| FsError::Unavailable("server shutting down".to_string()))?;
    let bytes = read_payload(recv, p.len)
        .await
        .map_err(|e| FsError::Invalid(format!("reading payload: {e}")))?;
    let store = svc.store.clone();
    let patched = blocking(move || store.patch(p.base, p.id, p.hash, p.offset, &bytes)).await;
    let outcome = match patched {
        Ok(outcome) => outcome,
        // Damage found in the base is quarantined and reported, as a read's would be.
        Err(e @ StoreError::Corrupt { .. }) => return Err(svc.read_failure(p.base, e).await),
        Err(e) => return Err(e.into()),
    };
    tracing::debug!(chunk = %p.id, base = %p.base, len = p.len, ?outcome, "chunk patched");
    Ok(Reply::Msg(DataResponse::Stored))
}
