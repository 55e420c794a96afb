//! Prometheus metrics of a metadata server: Raft state, requests per kind, and (on
//! the leader) the cluster as the leader sees it. Served at `/metrics` by `http`.

use ferrofs_proto::meta_msg::{DataServerInfo, MetaRequest, RepairStatus, ServerState};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Label of per-request metrics: the request kind (`lookup`, `create`, ...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabel {
    pub op: &'static str,
}

/// Label of the role gauge: `leader`, `candidate`, `follower`, `learner`, `shutdown`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabel {
    pub role: &'static str,
}

/// Label of the data-server gauge: `up`, `suspect`, `down`, `draining`, `removed`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

/// The Raft roles, each exported as a 0/1 gauge.
pub const ROLES: [&str; 5] = ["leader", "candidate", "follower", "learner", "shutdown"];
const STATES: [&str; 5] = ["up", "suspect", "down", "draining", "removed"];

/// Raft facts sampled from openraft's metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RaftSample {
    pub term: u64,
    pub role: &'static str,
    pub commit_index: u64,
    pub applied_index: u64,
    pub leader: Option<u64>,
}

/// Namespace counters replicated by Raft (every voter has them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NamespaceSample {
    pub files: u64,
    pub dirs: u64,
    pub chunks: u64,
    pub under_replicated: u64,
    pub logical_bytes: u64,
}

/// Every metric of one metadata server.
pub struct MetaMetrics {
    registry: Registry,
    requests: Family<OpLabel, Counter>,
    request_errors: Family<OpLabel, Counter>,
    latency: Family<OpLabel, Histogram>,
    term: Gauge,
    role: Family<RoleLabel, Gauge>,
    commit_index: Gauge,
    applied_index: Gauge,
    leader_changes: Counter,
    /// The last leader seen; 0 for none (node ids start at 1).
    last_leader: AtomicU64,
    data_servers: Family<StateLabel, Gauge>,
    capacity: Gauge,
    used: Gauge,
    files: Gauge,
    dirs: Gauge,
    chunks: Gauge,
    under_replicated: Gauge,
    logical_bytes: Gauge,
    /// The leader's reconciliation loop, by figure (`in_flight`, `repaired`, ...).
    repair: Family<FigureLabel, Gauge>,
    /// Rebalancing, by figure (`chunks_misplaced`, `bytes_left`, ...).
    rebalance: Family<FigureLabel, Gauge>,
}

/// Label of the repair gauge: which figure of the reconciliation loop.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FigureLabel {
    pub figure: &'static str,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~1.6 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

fn gauge_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Default for MetaMetrics {
    fn default() -> Self {
        MetaMetrics::new()
    }
}

impl MetaMetrics {
    pub fn new() -> MetaMetrics {
        let mut registry = Registry::with_prefix("ferrofs_meta");
        let requests = Family::<OpLabel, Counter>::default();
        let request_errors = Family::<OpLabel, Counter>::default();
        let latency = Family::<OpLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let m = MetaMetrics {
            registry: Registry::default(),
            requests,
            request_errors,
            latency,
            term: Gauge::default(),
            role: Family::default(),
            commit_index: Gauge::default(),
            applied_index: Gauge::default(),
            leader_changes: Counter::default(),
            last_leader: AtomicU64::new(0),
            data_servers: Family::default(),
            capacity: Gauge::default(),
            used: Gauge::default(),
            files: Gauge::default(),
            dirs: Gauge::default(),
            chunks: Gauge::default(),
            under_replicated: Gauge::default(),
            logical_bytes: Gauge::default(),
            repair: Family::default(),
            rebalance: Family::default(),
        };
        let r = &mut registry;
        r.register("requests", "Requests served, by kind", m.requests.clone());
        r.register(
            "request_errors",
            "Requests answered with an error, by kind",
            m.request_errors.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from a request's header to its response, by kind",
            m.latency.clone(),
        );
        r.register("raft_term", "Current Raft term", m.term.clone());
        r.register(
            "raft_role",
            "1 for this node's current Raft role, 0 for the others",
            m.role.clone(),
        );
        r.register(
            "raft_commit_index",
            "Highest log index known committed",
            m.commit_index.clone(),
        );
        r.register(
            "raft_applied_index",
            "Highest log index applied to the state machine",
            m.applied_index.clone(),
        );
        r.register(
            "raft_leader_changes",
            "Times this node saw a new leader",
            m.leader_changes.clone(),
        );
        r.register(
            "data_servers",
            "Data servers by state (leader only)",
            m.data_servers.clone(),
        );
        r.register(
            "cluster_capacity_bytes",
            "Capacity of data servers not down (leader only)",
            m.capacity.clone(),
        );
        r.register(
            "cluster_used_bytes",
            "Bytes used on data servers not down (leader only)",
            m.used.clone(),
        );
        r.register("files", "Files in the namespace", m.files.clone());
        r.register("dirs", "Directories in the namespace", m.dirs.clone());
        r.register("chunks", "Chunks referenced by files", m.chunks.clone());
        r.register(
            "chunks_under_replicated",
            "Chunks with fewer copies than the replication factor",
            m.under_replicated.clone(),
        );
        r.register(
            "logical_bytes",
            "Sum of file sizes",
            m.logical_bytes.clone(),
        );
        r.register(
            "repair",
            "Reconciliation loop figures since this node became leader (leader only)",
            m.repair.clone(),
        );
        r.register(
            "rebalance",
            "Rebalancing figures: chunks misplaced, bytes left, bytes per second, moves done \
             since this node became leader, paused (leader only)",
            m.rebalance.clone(),
        );
        MetaMetrics { registry, ..m }
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

    /// Record the Raft state; a new known leader counts as a leader change.
    pub fn observe_raft(&self, s: &RaftSample) {
        self.term.set(gauge_i64(s.term));
        for role in ROLES {
            let v = i64::from(role == s.role);
            self.role.get_or_create(&RoleLabel { role }).set(v);
        }
        self.commit_index.set(gauge_i64(s.commit_index));
        self.applied_index.set(gauge_i64(s.applied_index));
        if let Some(leader) = s.leader {
            if self.last_leader.swap(leader, Ordering::AcqRel) != leader {
                self.leader_changes.inc();
            }
        }
    }

    pub fn observe_namespace(&self, n: &NamespaceSample) {
        self.files.set(gauge_i64(n.files));
        self.dirs.set(gauge_i64(n.dirs));
        self.chunks.set(gauge_i64(n.chunks));
        self.under_replicated.set(gauge_i64(n.under_replicated));
        self.logical_bytes.set(gauge_i64(n.logical_bytes));
    }

    /// The leader's view of the data servers; `None` on a follower (which has no
    /// liveness view), clearing the leader-only metrics.
    pub fn observe_servers(&self, servers: Option<&[DataServerInfo]>) {
        let Some(servers) = servers else {
            self.data_servers.clear();
            self.capacity.set(0);
            self.used.set(0);
            return;
        };
        for state in STATES {
            let n = servers
                .iter()
                .filter(|s| state_name(s.state) == state)
                .count();
            self.data_servers
                .get_or_create(&StateLabel { state })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let serving = servers
            .iter()
            .filter(|s| !matches!(s.state, ServerState::Down | ServerState::Removed));
        let (cap, used) = serving.fold((0u64, 0u64), |(c, u), s| {
            (c.saturating_add(s.capacity), u.saturating_add(s.used))
        });
        self.capacity.set(gauge_i64(cap));
        self.used.set(gauge_i64(used));
    }

    /// The leader's reconciliation figures; `None` on a follower clears them.
    pub fn observe_repair(&self, repair: Option<&RepairStatus>) {
        let Some(r) = repair else {
            self.repair.clear();
            return;
        };
        let figures = [
            ("in_flight", r.in_flight),
            ("chunks_repaired", r.chunks_repaired),
            ("surplus_removed", r.surplus_removed),
            ("garbage_pending", r.garbage_pending),
            ("garbage_collected", r.garbage_collected),
            ("bytes_reclaimed", r.bytes_reclaimed),
            ("under_replicated_live", r.under_replicated_live),
            ("bytes_left", r.bytes_left),
            ("bytes_repaired", r.bytes_repaired),
            ("bytes_per_second", r.bytes_per_sec),
        ];
        for (figure, v) in figures {
            self.repair
                .get_or_create(&FigureLabel { figure })
                .set(gauge_i64(v));
        }
    }

    /// The leader's rebalance figures; `None` on a follower clears them.
    pub fn observe_rebalance(&self, rebalance: Option<&ferrofs_proto::meta_msg::RebalanceStatus>) {
        let Some(r) = rebalance else {
            self.rebalance.clear();
            return;
        };
        let figures = [
            ("chunks_misplaced", r.chunks_misplaced),
            ("bytes_left", r.bytes_left),
            ("bytes_per_second", r.bytes_per_sec),
            ("moves_done", r.moves_done),
            ("bytes_moved", r.bytes_moved),
            ("paused", u64::from(r.paused)),
            ("rate_mib_per_second", u64::from(r.rate_mib_per_sec)),
        ];
        for (figure, v) in figures {
            self.rebalance
                .get_or_create(&FigureLabel { figure })
                .set(gauge_i64(v));
        }
    }

    /// The registry in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        ferrofs_metrics_http::encode(&self.registry)
    }
}

/// A data server state as the metrics and the dashboard name it.
pub fn state_name(s: ServerState) -> &'static str {
    match s {
        ServerState::Up => "up",
        ServerState::Suspect => "suspect",
        ServerState::Down => "down",
        ServerState::Draining => "draining",
        ServerState::Removed => "removed",
    }
}

/// The request kind used as the `op` label.
pub fn request_kind(req: &MetaRequest) -> &'static str {
    match req {
        MetaRequest::Lookup { .. } => "lookup",
        MetaRequest::GetAttr { .. } => "getattr",
        MetaRequest::ReadDir { .. } => "readdir",
        MetaRequest::ReadLink { .. } => "readlink",
        MetaRequest::GetXattr { .. } => "getxattr",
        MetaRequest::ListXattr { .. } => "listxattr",
        MetaRequest::GetChunks { .. } => "get_chunks",
        MetaRequest::StatFs => "statfs",
        MetaRequest::ClusterStatus => "cluster_status",
        MetaRequest::ClusterMap => "cluster_map",
        MetaRequest::Mutate { op, .. } => crate::types::op_name(op),
        MetaRequest::Heartbeat(_) => "heartbeat",
        MetaRequest::Raft(_) => "raft",
        MetaRequest::UnreferencedChunks { .. } => "unreferenced_chunks",
        MetaRequest::StrayChunks { .. } => "stray_chunks",
        MetaRequest::ReportStrays { .. } => "report_strays",
        MetaRequest::TestLock { .. } => "test_lock",
        MetaRequest::KeepLocks { .. } => "keep_locks",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_proto::NodeId;

    fn server(id: u64, state: ServerState, capacity: u64) -> DataServerInfo {
        DataServerInfo {
            id: NodeId(id),
            addr: format!("127.0.0.1:{id}"),
            zone: "z".to_string(),
            weight: 1,
            capacity,
            used: capacity / 2,
            chunks: 1,
            state,
        }
    }

    #[test]
    fn encodes_requests_roles_and_servers() {
        let m = MetaMetrics::new();
        m.observe_request("lookup", Duration::from_millis(2), true);
        m.observe_request("lookup", Duration::from_millis(3), false);
        m.observe_raft(&RaftSample {
            term: 7,
            role: "leader",
            commit_index: 40,
            applied_index: 39,
            leader: Some(1),
        });
        m.observe_servers(Some(&[
            server(1, ServerState::Up, 100),
            server(2, ServerState::Down, 100),
        ]));
        let text = m.encode().expect("encode");
        assert!(
            text.contains("ferrofs_meta_requests_total{op=\"lookup\"} 2"),
            "{text}"
        );
        assert!(text.contains("ferrofs_meta_request_errors_total{op=\"lookup\"} 1"));
        assert!(text.contains("ferrofs_meta_raft_term 7"));
        assert!(text.contains("ferrofs_meta_raft_role{role=\"leader\"} 1"));
        assert!(text.contains("ferrofs_meta_raft_role{role=\"follower\"} 0"));
        assert!(text.contains("ferrofs_meta_data_servers{state=\"up\"} 1"));
        assert!(text.contains("ferrofs_meta_data_servers{state=\"down\"} 1"));
        assert!(text.contains("ferrofs_meta_cluster_capacity_bytes 100"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn counts_leader_changes_once_per_new_leader() {
        let m = MetaMetrics::new();
        let mut s = RaftSample {
            leader: Some(1),
            role: "follower",
            ..RaftSample::default()
        };
        m.observe_raft(&s);
        m.observe_raft(&s);
        s.leader = None;
        m.observe_raft(&s);
        s.leader = Some(2);
        m.observe_raft(&s);
        assert_eq!(m.leader_changes.get(), 2);
    }

    #[test]
    fn follower_clears_leader_only_metrics() {
        let m = MetaMetrics::new();
        m.observe_servers(Some(&[server(1, ServerState::Up, 10)]));
        m.observe_repair(Some(&RepairStatus {
            in_flight: 2,
            ..RepairStatus::default()
        }));
        let text = m.encode().expect("encode");
        assert!(
            text.contains("ferrofs_meta_repair{figure=\"in_flight\"} 2"),
            "{text}"
        );
        m.observe_servers(None);
        m.observe_repair(None);
        m.observe_rebalance(Some(&ferrofs_proto::meta_msg::RebalanceStatus {
            bytes_left: 4096,
            ..Default::default()
        }));
        let text = m.encode().expect("encode");
        assert!(
            text.contains("ferrofs_meta_rebalance{figure=\"bytes_left\"} 4096"),
            "{text}"
        );
        let text = m.encode().expect("encode");
        assert!(!text.contains("ferrofs_meta_data_servers{"), "{text}");
        assert!(!text.contains("ferrofs_meta_repair{"), "{text}");
    }

    #[test]
    fn names_mutations_by_op() {
        let req = MetaRequest::Mutate {
            id: ferrofs_proto::RequestId::default(),
            op: ferrofs_proto::meta_msg::MetaOp::Unlink {
                parent: ferrofs_proto::InodeId(1),
                name: b"x".to_vec(),
            },
        };
        assert_eq!(request_kind(&req), "unlink");
        assert_eq!(request_kind(&MetaRequest::StatFs), "statfs");
    }
}
