//! PutChunk: limits first, then the payload, then a synced write, then `Stored`.

use super::{blocking, Reply, Service};
use crate::store::AlignedBuf;
use ferrofs_proto::data_msg::DataResponse;
use ferrofs_proto::frame::read_payload_into;
use ferrofs_proto::limits::MAX_CHUNK_BYTES;
use ferrofs_proto::{ChunkId, FsError, WireError};

pub(super) async fn handle(
    svc: &Service,
    recv: &mut quinn::RecvStream,
    id: ChunkId,
    len: u64,
    hash: [u8; 32],
) -> Result<Reply, FsError> {
    if len > MAX_CHUNK_BYTES {
        return Err(FsError::Invalid(format!(
            "chunk of {len} bytes exceeds the limit of {MAX_CHUNK_BYTES}"
        )));
    }
    // Cheap early refusal; the store's reservation is the authoritative check.
    let st = svc.store.stat();
    if st.used.saturating_add(len) > st.capacity {
        let store = svc.store.clone();
        if !blocking(move || store.contains(id)).await? {
            return Err(FsError::NoSpace);
        }
    }
    let _permit = svc
        .inflight
        .acquire_many(len as u32)
        .await
        .map_err(|_| FsError::Unavailable("server shutting down".to_string()))?;
    // Received straight into a buffer the store can write to disk without a copy.
    let mut bytes = AlignedBuf::zeroed(len as usize);
    read_payload_into(recv, bytes.as_mut())
        .await
        .map_err(|e| match e {
            WireError::Truncated => FsError::Invalid("payload shorter than announced".to_string()),
            other => FsError::Invalid(format!("reading payload: {other}")),
        })?;
    let store = svc.store.clone();
    let outcome = blocking(move || store.put(id, hash, bytes.as_ref())).await?;
    tracing::debug!(chunk = %id, len, ?outcome, "chunk stored");
    Ok(Reply::Msg(DataResponse::Stored))
}
