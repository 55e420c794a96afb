//! Prometheus metrics of a data server: requests and latency per kind, bytes read,
//! written and replicated (counted as requests finish), and store, scrub and
//! heartbeat figures (sampled at scrape time). Served at `/metrics` by `http`.

use crate::heartbeat::HeartbeatStats;
use crate::scrub::ScrubStats;
use crate::store::StoreStat;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Label of per-request metrics: the request kind (`put`, `get`, ...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabel {
    pub op: &'static str,
}

/// Counters mirrored from atomics kept elsewhere (scrubber, heartbeats).
struct Mirrored {
    chunks_scrubbed: Counter,
    bytes_scrubbed: Counter,
    corrupt_found: Counter,
    scrub_passes: Counter,
    heartbeats_acked: Counter,
    heartbeats_failed: Counter,
}

/// Every metric of one data server.
pub struct DataMetrics {
    registry: Registry,
    requests: Family<OpLabel, Counter>,
    request_errors: Family<OpLabel, Counter>,
    latency: Family<OpLabel, Histogram>,
    bytes_read: Counter,
    bytes_written: Counter,
    bytes_replicated: Counter,
    chunks: Gauge,
    used: Gauge,
    capacity: Gauge,
    quarantined: Gauge,
    registered: Gauge,
    orphans_reported: Counter,
    orphan_suspects: Gauge,
    strays_reported: Counter,
    /// Held while mirroring so two scrapes never add the same delta twice.
    mirrored: Mutex<Mirrored>,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~1.6 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

fn gauge_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Raise `counter` to `value` (the source only grows).
fn mirror(counter: &Counter, value: u64) {
    let delta = value.saturating_sub(counter.get());
    if delta > 0 {
        counter.inc_by(delta);
    }
}

impl Default for DataMetrics {
    fn default() -> Self {
        DataMetrics::new()
    }
}

impl DataMetrics {
    pub fn new() -> DataMetrics {
        let mut r = Registry::with_prefix("ferrofs_data");
        let requests = Family::<OpLabel, Counter>::default();
        let request_errors = Family::<OpLabel, Counter>::default();
        let latency = Family::<OpLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        r.register("requests", "Requests served, by kind", requests.clone());
        r.register(
            "request_errors",
            "Requests answered with an error, by kind",
            request_errors.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from a request's header to its reply, by kind",
            latency.clone(),
        );
        let counter = |r: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            r.register(name, help, c.clone());
            c
        };
        let gauge = |r: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            r.register(name, help, g.clone());
            g
        };
        let bytes_read = counter(&mut r, "read_bytes", "Chunk bytes sent to readers");
        let bytes_written = counter(&mut r, "written_bytes", "Chunk bytes received by puts");
        let bytes_replicated = counter(
            &mut r,
            "replicated_bytes",
            "Chunk bytes copied in from other data servers",
        );
        let chunks = gauge(&mut r, "chunks", "Chunks stored");
        let used = gauge(&mut r, "used_bytes", "Bytes used by stored chunks");
        let capacity = gauge(&mut r, "capacity_bytes", "Capacity advertised");
        let quarantined = gauge(&mut r, "quarantined_chunks", "Chunks held in quarantine");
        let registered = gauge(
            &mut r,
            "registered",
            "1 once the metadata leader accepted this server",
        );
        let orphans_reported = counter(
            &mut r,
            "orphans_reported",
            "Unreferenced chunks reported as orphans for the GC to delete",
        );
        let orphan_suspects = gauge(
            &mut r,
            "orphan_suspects",
            "Chunks the last sweep found unreferenced, still within the grace",
        );
        let strays_reported = counter(
            &mut r,
            "strays_reported",
            "Unlisted copies of referenced chunks reported to the leader for recording",
        );
        let mirrored = Mirrored {
            chunks_scrubbed: counter(&mut r, "scrub_chunks", "Chunks verified by the scrubber"),
            bytes_scrubbed: counter(&mut r, "scrub_bytes", "Bytes verified by the scrubber"),
            corrupt_found: counter(
                &mut r,
                "corrupt_chunks_found",
                "Chunks the scrubber found corrupt",
            ),
            scrub_passes: counter(&mut r, "scrub_passes", "Complete scrub passes"),
            heartbeats_acked: counter(&mut r, "heartbeats_acked", "Heartbeats acknowledged"),
            heartbeats_failed: counter(
                &mut r,
                "heartbeats_failed",
                "Heartbeats that reached no leader",
            ),
        };
        DataMetrics {
            registry: r,
            requests,
            request_errors,
            latency,
            bytes_read,
            bytes_written,
            bytes_replicated,
            chunks,
            used,
            capacity,
            quarantined,
            registered,
            orphans_reported,
            orphan_suspects,
            strays_reported,
            mirrored: Mutex::new(mirrored),
        }
    }

    /// Count one request and its duration.
    pub fn observe_request(&self, op: &'static str, elapsed: Duration, ok: bool) {
        let label = OpLabel { op };
        self.requests.get_or_create(&label).inc();
        if !ok {
            self.request_errors.get_or_create(&label).inc();
        }
        self.latency
            .get_or_create(&label)
            .observe(elapsed.as_secs_f64());
    }

    pub fn add_read(&self, bytes: u64) {
        self.bytes_read.inc_by(bytes);
    }

    pub fn add_written(&self, bytes: u64) {
        self.bytes_written.inc_by(bytes);
    }

    pub fn add_replicated(&self, bytes: u64) {
        self.bytes_replicated.inc_by(bytes);
    }

    pub fn add_orphans_reported(&self, n: u64) {
        self.orphans_reported.inc_by(n);
    }

    pub fn set_orphan_suspects(&self, n: u64) {
        self.orphan_suspects.set(gauge_i64(n));
    }

    pub fn add_strays_reported(&self, n: u64) {
        self.strays_reported.inc_by(n);
    }

    /// Sample the store, the scrubber and the heartbeat loop.
    pub fn refresh(&self, store: &StoreStat, scrub: &ScrubStats, heartbeat: &HeartbeatStats) {
        self.chunks.set(gauge_i64(store.chunks));
        self.used.set(gauge_i64(store.used));
        self.capacity.set(gauge_i64(store.capacity));
        self.quarantined.set(gauge_i64(store.quarantined));
        self.registered
            .set(i64::from(heartbeat.registered.load(Ordering::Acquire)));
        let m = self.mirrored.lock().unwrap_or_else(PoisonError::into_inner);
        mirror(&m.chunks_scrubbed, scrub.chunks());
        mirror(
            &m.bytes_scrubbed,
            scrub.bytes_scrubbed.load(Ordering::Acquire),
        );
        mirror(&m.corrupt_found, scrub.corrupt());
        mirror(&m.scrub_passes, scrub.passes());
        mirror(
            &m.heartbeats_acked,
            heartbeat.heartbeats_acked.load(Ordering::Acquire),
        );
        mirror(
            &m.heartbeats_failed,
            heartbeat.heartbeats_failed.load(Ordering::Acquire),
        );
    }

    /// The registry in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        ferrofs_metrics_http::encode(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bytes_and_requests() {
        let m = DataMetrics::new();
        m.observe_request("put", Duration::from_millis(4), true);
        m.observe_request("get", Duration::from_millis(1), false);
        m.add_written(4096);
        m.add_read(100);
        m.add_replicated(7);
        let text = m.encode().expect("encode");
        assert!(
            text.contains("ferrofs_data_requests_total{op=\"put\"} 1"),
            "{text}"
        );
        assert!(text.contains("ferrofs_data_request_errors_total{op=\"get\"} 1"));
        assert!(text.contains("ferrofs_data_written_bytes_total 4096"));
        assert!(text.contains("ferrofs_data_read_bytes_total 100"));
        assert!(text.contains("ferrofs_data_replicated_bytes_total 7"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn mirrors_scrub_and_heartbeat_counters_without_double_counting() {
        let m = DataMetrics::new();
        let store = StoreStat {
            capacity: 1000,
            used: 10,
            chunks: 2,
            quarantined: 1,
        };
        let scrub = ScrubStats::default();
        let hb = HeartbeatStats::default();
        scrub.corrupt_found.store(3, Ordering::Release);
        hb.heartbeats_failed.store(5, Ordering::Release);
        m.refresh(&store, &scrub, &hb);
        m.refresh(&store, &scrub, &hb);
        let text = m.encode().expect("encode");
        assert!(
            text.contains("ferrofs_data_corrupt_chunks_found_total 3"),
            "{text}"
        );
        assert!(text.contains("ferrofs_data_heartbeats_failed_total 5"));
        assert!(text.contains("ferrofs_data_capacity_bytes 1000"));
        assert!(text.contains("ferrofs_data_quarantined_chunks 1"));
    }
}
