//! CopyChunkFrom: fetch a chunk from another data server, verify it, store it.

use super::{blocking, Reply, Service};
use ferrofs_proto::data_msg::{DataRequest, DataResponse};
use ferrofs_proto::frame::{read_msg, read_payload, write_msg};
use ferrofs_proto::limits::MAX_CHUNK_BYTES;
use ferrofs_proto::{ChunkId, FsError, WireError};
use std::time::Duration;

/// One copy, connection to last byte.
const COPY_TIMEOUT: Duration = Duration::from_secs(60);

fn unavailable(source: &str, what: impl std::fmt::Display) -> FsError {
    FsError::DataUnavailable(format!("copying from {source}: {what}"))
}

pub(super) async fn handle(
    svc: &Service,
    id: ChunkId,
    hash: [u8; 32],
    source: &str,
) -> Result<Reply, FsError> {
    // Already here and intact: nothing to fetch.
    let store = svc.store.clone();
    if let Ok((h, _)) = blocking(move || store.read_verified(id)).await {
        if h.hash == hash {
            return Ok(Reply::Msg(DataResponse::Stored));
        }
    }
    let fetched = tokio::time::timeout(COPY_TIMEOUT, fetch(svc, id, source)).await;
    let (bytes, _permit) = match fetched {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(unavailable(source, "timed out")),
    };
    let store = svc.store.clone();
    let len = bytes.len() as u64;
    let outcome = blocking(move || store.put(id, hash, &bytes))
        .await
        .map_err(|e| match e {
            crate::store::error::StoreError::HashMismatch(_) => {
                unavailable(source, "received bytes do not match the expected hash")
            }
            other => other.into(),
        })?;
    svc.metrics.add_replicated(len);
    tracing::info!(chunk = %id, source, ?outcome, "chunk copied");
    Ok(Reply::Msg(DataResponse::Stored))
}

async fn fetch<'a>(
    svc: &'a Service,
    id: ChunkId,
    source: &str,
) -> Result<(Vec<u8>, tokio::sync::SemaphorePermit<'a>), FsError> {
    let wire = |e: WireError| unavailable(source, e);
    let (mut send, mut recv) = svc.connector.open(source).await.map_err(|e| {
        svc.connector.forget(source);
        wire(e)
    })?;
    write_msg(
        &mut send,
        &DataRequest::GetChunk {
            id,
            offset: 0,
            len: u64::MAX,
        },
    )
    .await
    .map_err(wire)?;
    send.finish().map_err(|e| wire(e.into()))?;
    let len = match read_msg::<DataResponse>(&mut recv).await.map_err(wire)? {
        DataResponse::Chunk { len } => len,
        DataResponse::Error(e) => return Err(unavailable(source, e)),
        other => return Err(unavailable(source, format!("unexpected reply {other:?}"))),
    };
    if len > MAX_CHUNK_BYTES {
        return Err(unavailable(
            source,
            format!("announced {len} bytes, over the limit"),
        ));
    }
    let permit = svc
        .inflight
        .acquire_many(len as u32)
        .await
        .map_err(|_| FsError::Unavailable("server shutting down".to_string()))?;
    let bytes = read_payload(&mut recv, len).await.map_err(wire)?;
    Ok((bytes, permit))
}
