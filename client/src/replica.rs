//! Which replica serves a read: the order in which a chunk's servers are tried, per
//! `ReadPolicy`, from the requests in flight and a latency average per server.

use ferrofs_proto::config::ReadPolicy;
use ferrofs_proto::NodeId;
use parking_lot::Mutex;
use rand::seq::SliceRandom;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Weight of the newest sample in the latency average.
const EWMA_ALPHA: f64 = 0.2;
/// Latency charged to a server whose request failed, so least-loaded avoids it for a while.
const FAILURE_PENALTY: Duration = Duration::from_secs(2);

/// Load of one data server as this client sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Load {
    pub(crate) in_flight: u32,
    /// Recent latency average in microseconds (0 when never measured).
    pub(crate) ewma_us: f64,
}

/// Least-loaded order: fewest requests in flight, then lowest latency average, then
/// the original order (stable).
pub(crate) fn least_loaded_order(servers: &[NodeId], load: impl Fn(NodeId) -> Load) -> Vec<NodeId> {
    let mut keyed: Vec<(u32, f64, usize, NodeId)> = servers
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let l = load(*id);
            (l.in_flight, l.ewma_us, i, *id)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
    keyed.into_iter().map(|k| k.3).collect()
}

/// Round-robin order: the list rotated by `turn`.
pub(crate) fn round_robin_order(servers: &[NodeId], turn: usize) -> Vec<NodeId> {
    let mut v = servers.to_vec();
    if !v.is_empty() {
        let n = v.len();
        v.rotate_left(turn % n);
    }
    v
}

pub(crate) struct ReplicaLoads {
    policy: ReadPolicy,
    loads: Mutex<HashMap<NodeId, Load>>,
    turn: AtomicUsize,
}

impl ReplicaLoads {
    pub(crate) fn new(policy: ReadPolicy) -> ReplicaLoads {
        ReplicaLoads {
            policy,
            loads: Mutex::new(HashMap::new()),
            turn: AtomicUsize::new(0),
        }
    }

    /// The order in which to try `servers` for one read.
    pub(crate) fn order(&self, servers: &[NodeId]) -> Vec<NodeId> {
        match self.policy {
            ReadPolicy::Random => {
                let mut v = servers.to_vec();
                v.shuffle(&mut rand::rng());
                v
            }
            ReadPolicy::RoundRobin => {
                round_robin_order(servers, self.turn.fetch_add(1, Ordering::Relaxed))
            }
            ReadPolicy::LeastLoaded => {
                let loads = self.loads.lock();
                least_loaded_order(servers, |id| loads.get(&id).copied().unwrap_or_default())
            }
        }
    }

    /// Count a request to `server` as in flight until the returned guard is finished
    /// or dropped (a dropped guard counts as a failure).
    pub(crate) fn start(&self, server: NodeId) -> InFlight<'_> {
        self.loads.lock().entry(server).or_default().in_flight += 1;
        InFlight {
            loads: self,
            server,
            started: Instant::now(),
            done: false,
        }
    }

    fn finish(&self, server: NodeId, latency: Duration) {
        let mut loads = self.loads.lock();
        let l = loads.entry(server).or_default();
        l.in_flight = l.in_flight.saturating_sub(1);
        let sample = latency.as_micros() as f64;
        l.ewma_us = if l.ewma_us == 0.0 {
            sample
        } else {
            l.ewma_us + EWMA_ALPHA * (sample - l.ewma_us)
        };
    }

    #[cfg(test)]
    fn load(&self, server: NodeId) -> Load {
        self.loads.lock().get(&server).copied().unwrap_or_default()
    }
}

/// One request in flight to one server.
pub(crate) struct InFlight<'a> {
    loads: &'a ReplicaLoads,
    server: NodeId,
    started: Instant,
    done: bool,
}

impl InFlight<'_> {
    /// The request succeeded: record its latency.
    pub(crate) fn succeeded(mut self) {
        self.done = true;
        self.loads.finish(self.server, self.started.elapsed());
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.loads
                .finish(self.server, self.started.elapsed().max(FAILURE_PENALTY));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u64]) -> Vec<NodeId> {
        v.iter().map(|i| NodeId(*i)).collect()
    }

    #[test]
    fn least_loaded_prefers_fewer_in_flight_then_lower_latency() {
        let servers = ids(&[1, 2, 3]);
        let load = |id: NodeId| match id.0 {
            1 => Load {
                in_flight: 2,
                ewma_us: 10.0,
            },
            2 => Load {
                in_flight: 1,
                ewma_us: 900.0,
            },
            _ => Load {
                in_flight: 1,
                ewma_us: 100.0,
            },
        };
        assert_eq!(least_loaded_order(&servers, load), ids(&[3, 2, 1]));
    }

    #[test]
    fn least_loaded_keeps_the_given_order_on_ties() {
        let servers = ids(&[5, 4, 6]);
        assert_eq!(
            least_loaded_order(&servers, |_| Load::default()),
            ids(&[5, 4, 6])
        );
    }

    #[test]
    fn round_robin_rotates_through_every_replica() {
        let servers = ids(&[1, 2, 3]);
        let firsts: Vec<u64> = (0..6)
            .map(|t| round_robin_order(&servers, t)[0].0)
            .collect();
        assert_eq!(firsts, vec![1, 2, 3, 1, 2, 3]);
        assert_eq!(round_robin_order(&servers, 1), ids(&[2, 3, 1]));
        assert!(round_robin_order(&[], 3).is_empty());
    }

    #[test]
    fn random_order_is_a_permutation() {
        let r = ReplicaLoads::new(ReadPolicy::Random);
        let mut seen_first = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut o = r.order(&ids(&[1, 2, 3]));
            seen_first.insert(o[0]);
            o.sort();
            assert_eq!(o, ids(&[1, 2, 3]));
        }
        assert_eq!(
            seen_first.len(),
            3,
            "every replica should come first sometimes"
        );
    }

    #[test]
    fn in_flight_requests_and_failures_steer_least_loaded() {
        let r = ReplicaLoads::new(ReadPolicy::LeastLoaded);
        let busy = r.start(NodeId(1));
        assert_eq!(r.load(NodeId(1)).in_flight, 1);
        assert_eq!(r.order(&ids(&[1, 2]))[0], NodeId(2));
        busy.succeeded();
        assert_eq!(r.load(NodeId(1)).in_flight, 0);
        drop(r.start(NodeId(2))); // a failure: penalised latency
        assert!(r.load(NodeId(2)).ewma_us >= FAILURE_PENALTY.as_micros() as f64);
        assert_eq!(r.order(&ids(&[2, 1]))[0], NodeId(1));
    }
}
