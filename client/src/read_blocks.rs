//! A range of a chunk from the blocks a data server sent for it: the block hashes
//! must add up to the chunk's hash (from the metadata) and each block must match its
//! block hash before any byte is returned (`ferrofs_proto::block_hashes`).

use crate::data_io::{BlocksReply, DataFail};
use crate::upload::INLINE_HASH_BYTES;
use ferrofs_proto::attr::ChunkRef;
use ferrofs_proto::block_hashes::{verify_blocks, BlockError};

/// Bytes `offset .. offset + len` of `chunk` (inside it), verified; big replies are
/// hashed on a blocking thread.
pub(crate) async fn verified_range(
    reply: BlocksReply,
    chunk: &ChunkRef,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, DataFail> {
    let (hash, chunk_len) = (chunk.hash, chunk.len);
    let check = move |r: BlocksReply| {
        cut(
            check_blocks(&r, &hash, chunk_len).map(|start| (r, start))?,
            offset,
            len,
        )
    };
    if reply.bytes.len() <= INLINE_HASH_BYTES {
        check(reply)
    } else {
        tokio::task::spawn_blocking(move || check(reply))
            .await
            .map_err(|e| DataFail::BadReply(format!("hashing task failed: {e}")))?
    }
}

/// Verify the reply; the chunk offset of its first byte.
fn check_blocks(r: &BlocksReply, hash: &[u8; 32], chunk_len: u64) -> Result<u64, DataFail> {
    if r.block == 0 {
        if r.bytes.len() as u64 != chunk_len {
            return Err(DataFail::BadReply(format!(
                "server sent {} bytes of a {chunk_len}-byte chunk",
                r.bytes.len()
            )));
        }
        return match blake3::hash(&r.bytes).as_bytes() == hash {
            true => Ok(0),
            false => Err(DataFail::Checksum),
        };
    }
    match verify_blocks(hash, chunk_len, r.block, &r.hashes, r.first, &r.bytes) {
        Ok(()) => Ok(r.first * r.block),
        Err(BlockError::RootMismatch | BlockError::BlockMismatch(_)) => Err(DataFail::Checksum),
        Err(e) => Err(DataFail::BadReply(e.to_string())),
    }
}

/// The requested range out of verified bytes that start at chunk offset `start`.
fn cut((r, start): (BlocksReply, u64), offset: u64, len: u64) -> Result<Vec<u8>, DataFail> {
    let end = start + r.bytes.len() as u64;
    if offset < start || offset.saturating_add(len) > end {
        return Err(DataFail::BadReply(format!(
            "blocks {start}..{end} do not cover {offset}+{len}"
        )));
    }
    let from = (offset - start) as usize;
    let mut bytes = r.bytes;
    if from == 0 && len as usize == bytes.len() {
        return Ok(bytes);
    }
    bytes.truncate(from + len as usize);
    Ok(bytes.split_off(from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_proto::ChunkId;

    fn chunk(bytes: &[u8]) -> ChunkRef {
        ChunkRef {
            id: ChunkId(7),
            len: bytes.len() as u64,
            hash: *blake3::hash(bytes).as_bytes(),
            inline: None,
        }
    }

    #[tokio::test]
    async fn ranges_come_from_verified_blocks_only() {
        let data: Vec<u8> = (0..40_000u32).map(|i| (i % 253) as u8).collect();
        let c = chunk(&data);
        let got = verified_range(BlocksReply::for_test(&data, 5000, 3000), &c, 5000, 3000).await;
        assert_eq!(got.expect("verified"), data[5000..8000].to_vec());

        let mut bad = BlocksReply::for_test(&data, 5000, 3000);
        bad.bytes[10] ^= 1;
        assert!(matches!(
            verified_range(bad, &c, 5000, 3000).await,
            Err(DataFail::Checksum)
        ));
        let mut bad_hashes = BlocksReply::for_test(&data, 5000, 3000);
        bad_hashes.hashes[9][0] ^= 1;
        assert!(matches!(
            verified_range(bad_hashes, &c, 5000, 3000).await,
            Err(DataFail::Checksum)
        ));
        // Blocks that verify but do not cover what was asked for.
        let elsewhere = BlocksReply::for_test(&data, 20_000, 100);
        assert!(matches!(
            verified_range(elsewhere, &c, 5000, 3000).await,
            Err(DataFail::BadReply(_))
        ));
    }

    #[tokio::test]
    async fn a_whole_chunk_reply_is_hashed_whole() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 7) as u8).collect();
        let c = chunk(&data);
        let whole = |bytes: Vec<u8>| BlocksReply {
            block: 0,
            first: 0,
            hashes: Vec::new(),
            bytes,
        };
        let got = verified_range(whole(data.clone()), &c, 100, 50).await;
        assert_eq!(got.expect("verified"), data[100..150].to_vec());
        let mut bad = data.clone();
        bad[0] ^= 1;
        assert!(matches!(
            verified_range(whole(bad), &c, 100, 50).await,
            Err(DataFail::Checksum)
        ));
        assert!(matches!(
            verified_range(whole(data[..500].to_vec()), &c, 100, 50).await,
            Err(DataFail::BadReply(_))
        ));
    }
}
