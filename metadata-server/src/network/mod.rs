//! Raft RPCs between metadata voters over the cluster's QUIC endpoints.

mod client;
pub mod rpc;
pub mod serve;

pub use client::{Network, PeerClient};
