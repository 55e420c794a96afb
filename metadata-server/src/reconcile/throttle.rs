//! The rebalance throttle: one token bucket of bytes per data server, drawn from by every
//! move the server sends (as source) or receives (as target). Pure: time is passed in.

use ferrofs_proto::ids::NodeId;
use std::collections::HashMap;
use std::time::Instant;

/// Burst: a bucket holds at most this many seconds of its rate.
const BURST_SECS: f64 = 1.0;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// May go negative: a chunk larger than the burst still moves, and the server then
    /// waits until it has paid for it.
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Default)]
pub struct Throttle {
    buckets: HashMap<NodeId, Bucket>,
}

impl Throttle {
    fn refill(&mut self, node: NodeId, rate: f64, now: Instant) -> &mut Bucket {
        let cap = rate * BURST_SECS;
        let b = self.buckets.entry(node).or_insert(Bucket {
            tokens: cap,
            at: now,
        });
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + dt * rate).min(cap);
        b.at = now;
        b
    }

    /// Take `bytes` from both servers' buckets if both have tokens left; false (nothing
    /// taken) if either must wait. `rate` is bytes per second per server.
    pub fn try_take(
        &mut self,
        source: NodeId,
        target: NodeId,
        bytes: u64,
        rate: u64,
        now: Instant,
    ) -> bool {
        let rate = rate as f64;
        let ok = self.refill(source, rate, now).tokens > 0.0
            && self.refill(target, rate, now).tokens > 0.0;
        if ok {
            self.refill(source, rate, now).tokens -= bytes as f64;
            self.refill(target, rate, now).tokens -= bytes as f64;
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_server_moves_no_more_than_its_rate() {
        let mut t = Throttle::default();
        let t0 = Instant::now();
        let (a, b, c) = (NodeId(1), NodeId(2), NodeId(3));
        // 1000 B/s, 400 B chunks: the first second's burst allows 3 (1000 -> 600 -> 200 -> -200).
        let mut taken = 0;
        while t.try_take(a, b, 400, 1000, t0) {
            taken += 1;
        }
        assert_eq!(taken, 3);
        // Another pair of servers is not held back by the first pair.
        assert!(t.try_take(c, NodeId(4), 400, 1000, t0));
        // The source is empty: a different target does not help.
        assert!(!t.try_take(a, c, 400, 1000, t0));
        // 10 s later: about 10 s x 1000 B/s more, capped at the burst.
        let mut later = 0;
        let mut now = t0;
        for _ in 0..100 {
            now += Duration::from_millis(100);
            while t.try_take(a, b, 400, 1000, now) {
                later += 1;
            }
        }
        assert!((24..=27).contains(&later), "{later} moves of 400 B in 10 s");
    }
}
