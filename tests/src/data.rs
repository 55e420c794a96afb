//! Deterministic test content: files are generated from a seed so a test can check
//! what it reads back without keeping the bytes.

use rand::{RngCore, SeedableRng};

/// `len` pseudo-random bytes derived from `seed`.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut buf = vec![0u8; len];
    rng.fill_bytes(&mut buf);
    buf
}

pub fn hash(bytes: &[u8]) -> blake3::Hash {
    blake3::hash(bytes)
}
