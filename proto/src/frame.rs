//! Stream framing: one request per bidirectional QUIC stream. A message is a u32
//! big-endian length followed by that many bytes of postcard; bulk data (chunk
//! bytes, snapshots) follows a header as a raw payload whose length the header states.

use crate::error::WireError;
use crate::limits::MAX_HEADER_BYTES;
use serde::{de::DeserializeOwned, Serialize};

/// Write one length-prefixed message.
pub async fn write_msg<T: Serialize>(
    send: &mut quinn::SendStream,
    msg: &T,
) -> Result<(), WireError> {
    let body = encode(msg)?;
    send.write_all(&(body.len() as u32).to_be_bytes()).await?;
    send.write_all(&body).await?;
    Ok(())
}

/// Read one length-prefixed message, refusing lengths over `MAX_HEADER_BYTES`
/// before allocating.
pub async fn read_msg<T: DeserializeOwned>(recv: &mut quinn::RecvStream) -> Result<T, WireError> {
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len);
    if len > MAX_HEADER_BYTES {
        return Err(WireError::TooLarge {
            len: len as u64,
            limit: MAX_HEADER_BYTES as u64,
        });
    }
    let mut body = vec![0u8; len as usize];
    recv.read_exact(&mut body).await?;
    decode(&body)
}

/// Read exactly `len` payload bytes; the caller has checked `len` against its limit.
/// The stream's chunks are appended to a buffer of the right capacity, so the
/// megabytes of a chunk are not zeroed before being overwritten.
pub async fn read_payload(recv: &mut quinn::RecvStream, len: u64) -> Result<Vec<u8>, WireError> {
    let len = len as usize;
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        match recv.read_chunk(len - buf.len(), true).await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk.bytes),
            Ok(None) => return Err(WireError::Truncated),
            Err(e) => return Err(WireError::Transport(e.to_string())),
        }
    }
    Ok(buf)
}

/// Fill `buf` with exactly `buf.len()` payload bytes (a buffer the caller chose, for
/// example one aligned for direct I/O).
pub async fn read_payload_into(
    recv: &mut quinn::RecvStream,
    buf: &mut [u8],
) -> Result<(), WireError> {
    recv.read_exact(buf).await?;
    Ok(())
}

pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, WireError> {
    let body = postcard::to_stdvec(msg).map_err(|e| WireError::Malformed(e.to_string()))?;
    if body.len() as u64 > MAX_HEADER_BYTES as u64 {
        return Err(WireError::TooLarge {
            len: body.len() as u64,
            limit: MAX_HEADER_BYTES as u64,
        });
    }
    Ok(body)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    postcard::from_bytes(bytes).map_err(|e| WireError::Malformed(e.to_string()))
}
