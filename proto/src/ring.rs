//! Target placement: a weighted consistent-hash ring. Pure: the same members and the
//! same chunk id give the same replica set on every process.

use crate::ids::{ChunkId, NodeId};

/// One server on the ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingMember {
    pub id: NodeId,
    /// Relative share of chunks; 0 takes none.
    pub weight: u32,
    pub zone: String,
}

#[derive(Clone, Debug)]
pub struct Ring {
    members: Vec<RingMember>,
    /// (position, index into `members`), sorted by position.
    points: Vec<(u64, usize)>,
}

fn hash64(parts: &[&[u8]]) -> u64 {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(p);
    }
    let out = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&out.as_bytes()[..8]);
    u64::from_be_bytes(first)
}

impl Ring {
    /// Build a ring with `vnodes_per_weight` points per unit of weight.
    pub fn new(mut members: Vec<RingMember>, vnodes_per_weight: u32) -> Ring {
        members.sort_by_key(|m| m.id);
        members.dedup_by_key(|m| m.id);
        let mut points = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let count = m.weight as u64 * vnodes_per_weight as u64;
            for v in 0..count {
                points.push((hash64(&[&m.id.0.to_be_bytes(), &v.to_be_bytes()]), i));
            }
        }
        points.sort_unstable();
        Ring { members, points }
    }

    pub fn members(&self) -> &[RingMember] {
        &self.members
    }

    /// The first `replicas` distinct servers clockwise from the chunk's hash, in
    /// distinct zones while there are zones left to use.
    pub fn place(&self, chunk: ChunkId, replicas: usize) -> Vec<NodeId> {
        if self.points.is_empty() || replicas == 0 {
            return Vec::new();
        }
        let start_pos = hash64(&[&chunk.to_be_bytes()]);
        let start = self.points.partition_point(|(p, _)| *p < start_pos);
        let walk = || (0..self.points.len()).map(|i| self.points[(start + i) % self.points.len()].1);
        let mut chosen: Vec<usize> = Vec::with_capacity(replicas);
        let mut zones: Vec<&str> = Vec::new();
        // First pass: distinct servers in distinct zones.
        for idx in walk() {
            if chosen.len() == replicas {
                break;
            }
            let m = &self.members[idx];
            if !chosen.contains(&idx) && !zones.contains(&m.zone.as_str()) {
                chosen.push(idx);
                zones.push(&m.zone);
            }
        }
        // Second pass: not enough zones, fill with any distinct server.
        for idx in walk() {
            if chosen.len() == replicas {
                break;
            }
            if !chosen.contains(&idx) {
                chosen.push(idx);
            }
        }
        chosen.into_iter().map(|i| self.members[i].id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn member(id: u64, weight: u32, zone: &str) -> RingMember {
        RingMember { id: NodeId(id), weight, zone: zone.to_string() }
    }

    fn chunks(n: u128) -> impl Iterator<Item = ChunkId> {
        (0..n).map(|i| ChunkId(i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)))
    }

    #[test]
    fn replicas_are_distinct_and_deterministic() {
        let ring = Ring::new((1..=4).map(|i| member(i, 1, "")).collect(), 64);
        for c in chunks(500) {
            let p = ring.place(c, 3);
            assert_eq!(p.len(), 3);
            let mut d = p.clone();
            d.sort();
            d.dedup();
            assert_eq!(d.len(), 3);
            assert_eq!(p, ring.place(c, 3));
        }
    }

    #[test]
    fn adding_a_server_moves_about_one_share_and_only_onto_it() {
        let before = Ring::new((1..=3).map(|i| member(i, 1, "")).collect(), 128);
        let after = Ring::new((1..=4).map(|i| member(i, 1, "")).collect(), 128);
        let (mut moved, mut total) = (0, 0);
        for c in chunks(4000) {
            let (a, b) = (before.place(c, 3), after.place(c, 3));
            for n in &b {
                total += 1;
                if !a.contains(n) {
                    moved += 1;
                    assert_eq!(*n, NodeId(4), "a copy moved onto an old server");
                }
            }
        }
        let ideal = total as f64 / 4.0;
        assert!((moved as f64) < ideal * 1.25, "moved {moved}, ideal {ideal}");
    }

    #[test]
    fn weight_two_gets_about_twice_the_chunks() {
        let ring = Ring::new(vec![member(1, 1, ""), member(2, 1, ""), member(3, 2, "")], 128);
        let mut count: HashMap<NodeId, u32> = HashMap::new();
        for c in chunks(20000) {
            *count.entry(ring.place(c, 1)[0]).or_default() += 1;
        }
        let ratio = count[&NodeId(3)] as f64 / count[&NodeId(1)] as f64;
        assert!((1.7..2.3).contains(&ratio), "ratio {ratio}");
    }

    #[test]
    fn zones_are_distinct_when_enough_exist() {
        let ring = Ring::new(
            vec![member(1, 1, "a"), member(2, 1, "a"), member(3, 1, "b"), member(4, 1, "c")],
            64,
        );
        for c in chunks(300) {
            let p = ring.place(c, 3);
            let zones: Vec<_> = p.iter().map(|n| if n.0 <= 2 { "a" } else { "other" }).collect();
            assert!(zones.iter().filter(|z| **z == "a").count() <= 1);
        }
    }
}
