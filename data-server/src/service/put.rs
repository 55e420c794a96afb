//! PutChunk: limits first, then the payload, then a synced write, then `Stored`.

use super::{blocking, Reply, Service};
use crate::store::AlignedBuf;
use ferrofs_proto::data_msg::DataResponse;
use ferrofs_proto::limits::MAX_CHUNK_BYTES;
use ferrofs_proto::{ChunkId, FsError};

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
    let mut fill = AlignedBuf::filling(len as usize);
    while fill.remaining() > 0 {
        match recv.read_chunk(fill.remaining(), true).await {
            Ok(Some(piece)) if fill.push(&piece.bytes) => {}
            Ok(Some(_)) => return Err(FsError::Invalid("payload longer than announced".into())),
            Ok(None) => return Err(FsError::Invalid("payload shorter than announced".into())),
            Err(e) => return Err(FsError::Invalid(format!("reading payload: {e}"))),
        }
    }
    let bytes = fill
        .finish()
        .ok_or_else(|| FsError::Invalid("payload shorter than announced".into()))?;
    let store = svc.store.clone();
    let outcome = blocking(move || store.put(id, hash, bytes.as_ref())).await?;
    tracing::debug!(chunk = %id, len, ?outcome, "chunk stored");
    Ok(Reply::Msg(DataResponse::Stored))
}
