//! Newtype ids: a bare integer never crosses a function boundary.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A metadata voter or a data server. Never reused after a node is wiped.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct NodeId(pub u64);

/// An inode number. `InodeId::ROOT` is the root directory.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct InodeId(pub u64);

impl InodeId {
    pub const ROOT: InodeId = InodeId(1);
}

/// A chunk: 128 random bits chosen by the writer, so ids never collide and need no
/// round trip to allocate.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct ChunkId(pub u128);

impl ChunkId {
    pub fn random() -> ChunkId {
        ChunkId(rand::random())
    }

    /// What placement hashes: the two 64-bit halves XORed. Random for a random id, so
    /// chunks spread as before; shared by an id and its siblings.
    pub fn placement_key(self) -> u64 {
        (self.0 >> 64) as u64 ^ self.0 as u64
    }

    /// A new random id with this one's placement key: both halves XORed with the same
    /// random mask. A patched chunk gets one, so it is placed where the servers that
    /// built it from the old chunk already are, and nothing has to move.
    pub fn sibling(self) -> ChunkId {
        let mask: u64 = rand::random::<u64>() | 1; // never 0: never the same id
        ChunkId(self.0 ^ ((u128::from(mask) << 64) | u128::from(mask)))
    }

    pub fn to_be_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    pub fn from_be_bytes(bytes: [u8; 16]) -> ChunkId {
        ChunkId(u128::from_be_bytes(bytes))
    }
}

/// One client process (random per process).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct ClientId(pub u64);

/// Identifies one mutating request so a retry after a leader change is applied once.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct RequestId {
    pub client: ClientId,
    pub seq: u64,
}

macro_rules! display_as_number {
    ($($t:ty => $prefix:literal),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    )*};
}
display_as_number!(NodeId => "", InodeId => "", ClientId => "client-");

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.client, self.seq)
    }
}
