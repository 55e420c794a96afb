//! Prometheus metrics of a mount: requests, errors (by errno) and latency per FUSE
//! operation, and bytes read and written through the mount. Every per-operation handle
//! is made once, at start-up, so recording an operation takes no lock and allocates
//! nothing. Served by the caller (`ferrofs mount --metrics-addr`) through `Scrape`.

use ferrofs_metrics_http::Scrape;
use fuser::Errno;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

/// A FUSE operation, as the `op` label names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Lookup,
    Getattr,
    Setattr,
    Readlink,
    Mknod,
    Mkdir,
    Unlink,
    Rmdir,
    Symlink,
    Rename,
    Link,
    Open,
    Read,
    Write,
    Flush,
    Release,
    Fsync,
    Opendir,
    Readdir,
    Readdirplus,
    Releasedir,
    Fsyncdir,
    Statfs,
    Setxattr,
    Getxattr,
    Listxattr,
    Removexattr,
    Access,
    Create,
    Fallocate,
    Getlk,
    Setlk,
}

impl Op {
    pub(crate) const ALL: [Op; 32] = [
        Op::Lookup,
        Op::Getattr,
        Op::Setattr,
        Op::Readlink,
        Op::Mknod,
        Op::Mkdir,
        Op::Unlink,
        Op::Rmdir,
        Op::Symlink,
        Op::Rename,
        Op::Link,
        Op::Open,
        Op::Read,
        Op::Write,
        Op::Flush,
        Op::Release,
        Op::Fsync,
        Op::Opendir,
        Op::Readdir,
        Op::Readdirplus,
        Op::Releasedir,
        Op::Fsyncdir,
        Op::Statfs,
        Op::Setxattr,
        Op::Getxattr,
        Op::Listxattr,
        Op::Removexattr,
        Op::Access,
        Op::Create,
        Op::Fallocate,
        Op::Getlk,
        Op::Setlk,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Lookup => "lookup",
            Op::Getattr => "getattr",
            Op::Setattr => "setattr",
            Op::Readlink => "readlink",
            Op::Mknod => "mknod",
            Op::Mkdir => "mkdir",
            Op::Unlink => "unlink",
            Op::Rmdir => "rmdir",
            Op::Symlink => "symlink",
            Op::Rename => "rename",
            Op::Link => "link",
            Op::Open => "open",
            Op::Read => "read",
            Op::Write => "write",
            Op::Flush => "flush",
            Op::Release => "release",
            Op::Fsync => "fsync",
            Op::Opendir => "opendir",
            Op::Readdir => "readdir",
            Op::Readdirplus => "readdirplus",
            Op::Releasedir => "releasedir",
            Op::Fsyncdir => "fsyncdir",
            Op::Statfs => "statfs",
            Op::Setxattr => "setxattr",
            Op::Getxattr => "getxattr",
            Op::Listxattr => "listxattr",
            Op::Removexattr => "removexattr",
            Op::Access => "access",
            Op::Create => "create",
            Op::Fallocate => "fallocate",
            Op::Getlk => "getlk",
            Op::Setlk => "setlk",
        }
    }
}

/// The errno names counted one by one; any other is counted as `other`.
fn errno_name(e: Errno) -> &'static str {
    match e.code() {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::EMLINK => "EMLINK",
        libc::ERANGE => "ERANGE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ELOOP => "ELOOP",
        libc::ENODATA => "ENODATA",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ENOTCONN => "ENOTCONN",
        libc::ESTALE => "ESTALE",
        libc::EDQUOT => "EDQUOT",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabel {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabel {
    op: &'static str,
    errno: &'static str,
}

/// The handles of one operation, shared with the registry.
struct OpHandles {
    count: Counter,
    latency: Histogram,
}

/// Every metric of one mount.
pub struct MountMetrics {
    registry: Registry,
    /// Indexed by `Op as usize`.
    ops: Vec<OpHandles>,
    errors: Family<ErrorLabel, Counter>,
    bytes_read: Counter,
    bytes_written: Counter,
}

fn latency_histogram() -> Histogram {
    // 20 µs .. ~5 s
    Histogram::new(exponential_buckets(0.000_02, 2.0, 18))
}

impl Default for MountMetrics {
    fn default() -> Self {
        MountMetrics::new()
    }
}

impl MountMetrics {
    pub fn new() -> MountMetrics {
        let mut r = Registry::with_prefix("ferrofs_mount");
        let count = Family::<OpLabel, Counter>::default();
        let latency = Family::<OpLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let errors = Family::<ErrorLabel, Counter>::default();
        r.register(
            "ops",
            "FUSE operations answered, by operation",
            count.clone(),
        );
        r.register(
            "op_errors",
            "FUSE operations answered with an error, by operation and errno",
            errors.clone(),
        );
        r.register(
            "op_duration_seconds",
            "Time from a FUSE request's arrival to its answer, by operation",
            latency.clone(),
        );
        let bytes_read = Counter::default();
        r.register(
            "read_bytes",
            "Bytes returned to readers of the mount",
            bytes_read.clone(),
        );
        let bytes_written = Counter::default();
        r.register(
            "written_bytes",
            "Bytes accepted from writers to the mount",
            bytes_written.clone(),
        );
        let ops = Op::ALL
            .iter()
            .map(|op| {
                let label = OpLabel { op: op.name() };
                OpHandles {
                    count: count.get_or_create(&label).clone(),
                    latency: latency.get_or_create(&label).clone(),
                }
            })
            .collect();
        MountMetrics {
            registry: r,
            ops,
            errors,
            bytes_read,
            bytes_written,
        }
    }

    fn handles(&self, op: Op) -> Option<&OpHandles> {
        self.ops.get(op as usize)
    }

    /// An operation answered after `started`; `Err` carries the errno it failed with.
    pub(crate) fn record(&self, op: Op, started: Instant, outcome: Result<(), Errno>) {
        if let Some(h) = self.handles(op) {
            h.count.inc();
            h.latency.observe(started.elapsed().as_secs_f64());
        }
        if let Err(e) = outcome {
            let label = ErrorLabel {
                op: op.name(),
                errno: errno_name(e),
            };
            self.errors.get_or_create(&label).inc();
        }
    }

    pub(crate) fn read_bytes(&self, n: usize) {
        self.bytes_read.inc_by(n as u64);
    }

    pub(crate) fn written_bytes(&self, n: u64) {
        self.bytes_written.inc_by(n);
    }

    /// Every metric as OpenMetrics text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        ferrofs_metrics_http::encode(&self.registry)
    }
}

impl Scrape for MountMetrics {
    fn scrape(&self) -> Result<String, std::fmt::Error> {
        self.encode()
    }
}

/// Times one operation from its arrival; `done` records it.
pub(crate) struct OpTimer {
    metrics: Arc<MountMetrics>,
    op: Op,
    started: Instant,
}

impl OpTimer {
    pub(crate) fn start(metrics: &Arc<MountMetrics>, op: Op) -> OpTimer {
        OpTimer {
            metrics: metrics.clone(),
            op,
            started: Instant::now(),
        }
    }

    pub(crate) fn done(self, outcome: Result<(), Errno>) {
        self.metrics.record(self.op, self.started, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_has_its_own_handles_in_order() {
        let m = MountMetrics::new();
        assert_eq!(m.ops.len(), Op::ALL.len());
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i, "{op:?} is out of order in Op::ALL");
        }
        let names: std::collections::BTreeSet<&str> = Op::ALL.iter().map(|o| o.name()).collect();
        assert_eq!(names.len(), Op::ALL.len(), "op names are distinct");
    }

    #[test]
    fn counts_latency_errors_and_bytes() {
        let m = Arc::new(MountMetrics::new());
        OpTimer::start(&m, Op::Write).done(Ok(()));
        OpTimer::start(&m, Op::Write).done(Ok(()));
        OpTimer::start(&m, Op::Lookup).done(Err(Errno::ENOENT));
        OpTimer::start(&m, Op::Mkdir).done(Err(Errno::from_i32(libc::EHWPOISON)));
        m.written_bytes(4096);
        m.read_bytes(100);
        let text = m.encode().expect("encode");
        for want in [
            "ferrofs_mount_ops_total{op=\"write\"} 2",
            "ferrofs_mount_ops_total{op=\"lookup\"} 1",
            "ferrofs_mount_ops_total{op=\"read\"} 0",
            "ferrofs_mount_op_duration_seconds_count{op=\"write\"} 2",
            "ferrofs_mount_op_errors_total{op=\"lookup\",errno=\"ENOENT\"} 1",
            "ferrofs_mount_op_errors_total{op=\"mkdir\",errno=\"other\"} 1",
            "ferrofs_mount_written_bytes_total 4096",
            "ferrofs_mount_read_bytes_total 100",
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
        assert!(!text.contains("errno=\"ENOENT\"} 2"));
    }
}
