//! The versioned per-chunk header kept beside the chunk bytes.
//!
//! Layout (41 bytes): `version: u8 | blake3: [u8; 32] | len: u64 BE`. Version 1: the
//! bytes are in RocksDB's `chunks` family; version 2: they are in a chunk file
//! (`chunk_file.rs`); version 3: a chunk file holds an older chunk's bytes and the
//! `chunks` family the spans written over them (`overlay.rs`). A reader that meets an
//! unknown version refuses the record instead of guessing.

use crate::store::error::StoreError;
use ferrofs_proto::ChunkId;

/// The bytes are stored in RocksDB.
pub const HEADER_VERSION_INLINE: u8 = 1;
/// The bytes are stored in a chunk file.
pub const HEADER_VERSION_FILE: u8 = 2;
/// A chunk file with spans written over it (an overlay).
pub const HEADER_VERSION_OVERLAY: u8 = 3;
/// Encoded size of a header (both versions).
pub const HEADER_LEN: usize = 1 + 32 + 8;

/// What the store knows about one chunk besides its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkHeader {
    /// blake3 of the whole chunk.
    pub hash: [u8; 32],
    /// Length of the chunk in bytes.
    pub len: u64,
    /// The bytes are in a chunk file rather than in RocksDB.
    pub in_file: bool,
    /// The chunk file holds a base, and RocksDB the spans that make this chunk of it
    /// (only with `in_file`).
    pub overlay: bool,
}

impl ChunkHeader {
    /// The header of `bytes`.
    pub fn of(bytes: &[u8]) -> ChunkHeader {
        ChunkHeader {
            hash: *blake3::hash(bytes).as_bytes(),
            len: bytes.len() as u64,
            in_file: false,
            overlay: false,
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = match (self.in_file, self.overlay) {
            (true, true) => HEADER_VERSION_OVERLAY,
            (true, false) => HEADER_VERSION_FILE,
            (false, _) => HEADER_VERSION_INLINE,
        };
        out[1..33].copy_from_slice(&self.hash);
        out[33..41].copy_from_slice(&self.len.to_be_bytes());
        out
    }

    /// Decode a stored header of chunk `id`; a wrong length or version is corruption.
    pub fn decode(id: ChunkId, bytes: &[u8]) -> Result<ChunkHeader, StoreError> {
        if bytes.len() != HEADER_LEN {
            return Err(StoreError::Corrupt {
                id,
                reason: format!("header of {} bytes, expected {HEADER_LEN}", bytes.len()),
            });
        }
        let (in_file, overlay) = match bytes[0] {
            HEADER_VERSION_INLINE => (false, false),
            HEADER_VERSION_FILE => (true, false),
            HEADER_VERSION_OVERLAY => (true, true),
            v => {
                return Err(StoreError::Corrupt {
                    id,
                    reason: format!("unknown header version {v}"),
                })
            }
        };
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&bytes[1..33]);
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[33..41]);
        Ok(ChunkHeader {
            hash,
            len: u64::from_be_bytes(len),
            in_file,
            overlay,
        })
    }

    /// Check `bytes` against this header: length first, then the hash of the whole chunk.
    pub fn verify(&self, id: ChunkId, bytes: &[u8]) -> Result<(), StoreError> {
        if bytes.len() as u64 != self.len {
            return Err(StoreError::Corrupt {
                id,
                reason: format!("stored {} bytes, header says {}", bytes.len(), self.len),
            });
        }
        if blake3::hash(bytes).as_bytes() != &self.hash {
            return Err(StoreError::Corrupt {
                id,
                reason: "checksum mismatch".to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_verify() {
        let id = ChunkId(7);
        let h = ChunkHeader::of(b"hello");
        let back = ChunkHeader::decode(id, &h.encode()).expect("decodes");
        assert_eq!(back, h);
        let in_file = ChunkHeader { in_file: true, ..h };
        assert_eq!(
            ChunkHeader::decode(id, &in_file.encode()).expect("v2"),
            in_file
        );
        let overlay = ChunkHeader {
            overlay: true,
            ..in_file
        };
        assert_eq!(
            ChunkHeader::decode(id, &overlay.encode()).expect("v3"),
            overlay
        );
        assert!(back.verify(id, b"hello").is_ok());
        assert!(matches!(
            back.verify(id, b"hellO"),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            back.verify(id, b"hell"),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn unknown_version_and_bad_length_are_corruption() {
        let id = ChunkId(7);
        let mut raw = ChunkHeader::of(b"x").encode();
        raw[0] = 9;
        assert!(matches!(
            ChunkHeader::decode(id, &raw),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            ChunkHeader::decode(id, &raw[..5]),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
