//! Everything two ferrofs processes must agree on: typed ids, request and response
//! messages, the stream framing, QUIC/TLS endpoint setup, the placement ring and the
//! configuration files.

pub mod attr;
pub mod block_hashes;
pub mod config;
pub mod data_msg;
pub mod endpoint;
pub mod error;
pub mod frame;
pub mod ids;
pub mod limits;
pub mod lock;
pub mod membership;
pub mod meta_msg;
pub mod ring;
pub mod tls;

pub use error::{FsError, WireError};
pub use ids::{ChunkId, ClientId, InodeId, NodeId, RequestId};
