//! PatchChunk: a new chunk from a stored one and the bytes written over it; limits
//! first, then the payload, then a synced write of the new chunk, then `Patched` with
//! the hash this server computed for it.

use super::{blocking, Reply, Service};
use crate::store::error::StoreError;
use crate::store::Edit;
use ferrofs_proto::data_msg::{DataResponse, PatchEdit};
use ferrofs_proto::frame::read_payload;
use ferrofs_proto::limits::MAX_CHUNK_BYTES;
use ferrofs_proto::{ChunkId, FsError};

/// The request's fields: the stored chunk and its hash, the new chunk, and where
/// the payload's bytes go.
pub(super) struct Patch {
    pub(super) base: ChunkId,
    pub(super) base_hash: [u8; 32],
    pub(super) id: ChunkId,
    pub(super) edits: Vec<PatchEdit>,
}

/// The payload's length: the edits' lengths, each at least 1, adding up to at most a
/// chunk.
fn payload_len(edits: &[PatchEdit]) -> Result<u64, FsError> {
    let none_empty = edits.iter().all(|e| e.len > 0);
    match PatchEdit::total(edits) {
        Some(n) if none_empty && n > 0 && n <= MAX_CHUNK_BYTES => Ok(n),
        _ => Err(FsError::Invalid(format!(
            "a patch of {} edits: each must write at least 1 byte, all together at most \
             {MAX_CHUNK_BYTES}",
            edits.len()
        ))),
    }
}

pub(super) async fn handle(
    svc: &Service,
    recv: &mut quinn::RecvStream,
    p: Patch,
) -> Result<Reply, FsError> {
    let len = payload_len(&p.edits)?;
    let store = svc.store.clone();
    let base = p.base;
    let base_len = match blocking(move || store.header(base)).await? {
        Some(h) => h.len,
        None => return Err(FsError::NotFound),
    };
    // Cheap early refusal of what cannot fit even as an overlay (charged its spans);
    // the store's reservation is the authoritative check.
    let st = svc.store.stat();
    if st.used.saturating_add(len) > st.capacity {
        return Err(FsError::NoSpace);
    }
    let _permit = svc
        .inflight
        .acquire_many(base_len.min(MAX_CHUNK_BYTES) as u32)
        .await
        .map_err(|_| FsError::Unavailable("server shutting down".to_string()))?;
    let bytes = read_payload(recv, len)
        .await
        .map_err(|e| FsError::Invalid(format!("reading payload: {e}")))?;
    let store = svc.store.clone();
    let (base_hash, id) = (p.base_hash, p.id);
    let edits = p.edits;
    let patched = blocking(move || {
        let mut at = 0usize;
        let split: Vec<Edit<'_>> = edits
            .iter()
            .map(|e| {
                let piece = &bytes[at..at + e.len as usize];
                at += e.len as usize;
                (e.offset, piece)
            })
            .collect();
        store.patch(base, base_hash, id, &split)
    })
    .await;
    let patched = match patched {
        Ok(patched) => patched,
        // Damage found in the base is quarantined and reported, as a read's would be.
        Err(e @ StoreError::Corrupt { .. }) => return Err(svc.read_failure(base, e).await),
        Err(e) => return Err(e.into()),
    };
    tracing::debug!(chunk = %id, %base, len, outcome = ?patched.outcome, "chunk patched");
    Ok(Reply::Msg(DataResponse::Patched { hash: patched.hash }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(offset: u64, len: u64) -> PatchEdit {
        PatchEdit { offset, len }
    }

    #[test]
    fn the_payload_is_the_edits_and_empty_or_oversized_ones_are_refused() {
        assert_eq!(payload_len(&[edit(0, 10), edit(100, 5)]).ok(), Some(15));
        assert!(payload_len(&[]).is_err(), "no edit");
        assert!(
            payload_len(&[edit(0, 10), edit(20, 0)]).is_err(),
            "an empty edit"
        );
        assert!(payload_len(&[edit(0, MAX_CHUNK_BYTES), edit(0, 1)]).is_err());
        assert!(payload_len(&[edit(0, u64::MAX), edit(0, u64::MAX)]).is_err());
    }
}
