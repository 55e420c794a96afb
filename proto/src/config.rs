//! Configuration files (TOML). Every field has a default where one makes sense,
//! sizes and durations use human units ("4MiB", "30s"), and `validate()` runs at
//! start-up and names the field that is wrong.

use crate::ids::NodeId;
use crate::limits::{DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES};
use crate::tls::TlsPaths;
use bytesize::ByteSize;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("reading config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config: `{field}` {reason}")]
    Invalid { field: &'static str, reason: String },
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Read, parse, resolve relative paths against the file's folder, and validate.
pub fn load<T: DeserializeOwned + Validate>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut cfg: T = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    cfg.resolve_paths(base);
    cfg.validate()?;
    Ok(cfg)
}

pub trait Validate {
    fn validate(&self) -> Result<(), ConfigError>;
    /// Make relative paths relative to `base` (the config file's folder).
    fn resolve_paths(&mut self, base: &Path);
}

fn resolve(base: &Path, p: &mut PathBuf) {
    if p.is_relative() {
        *p = base.join(&*p);
    }
}

fn resolve_tls(base: &Path, tls: &mut TlsPaths) {
    resolve(base, &mut tls.ca_cert);
    resolve(base, &mut tls.cert);
    resolve(base, &mut tls.key);
}

/// A metadata voter as other nodes reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerConfig {
    pub id: NodeId,
    pub addr: String,
}

/// Raft timing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftTiming {
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub election_timeout_min: Duration,
    #[serde(with = "humantime_serde")]
    pub election_timeout_max: Duration,
    /// Build a snapshot after this many log entries.
    pub snapshot_after_entries: u64,
}

/// Failover time, as openraft 0.10 runs elections: a follower gives the leader a lease of
/// `election_timeout_max` after each heartbeat, and campaigns once the lease plus its own
/// random timeout (`min..max`, resampled per campaign) have passed. So a new leader is
/// elected `max + min .. 2 x max` after the last heartbeat, and a split vote (both
/// survivors campaigning within one round trip of each other) costs one more `min..max`.
/// min = max / 2 makes split votes rare (a round trip is ~1 ms of a 1 s window) and keeps
/// even a split round within 3 x max. Measured: docs/architecture.md.
impl Default for RaftTiming {
    fn default() -> Self {
        RaftTiming {
            heartbeat_interval: Duration::from_millis(250),
            election_timeout_min: Duration::from_millis(1000),
            election_timeout_max: Duration::from_millis(2000),
            snapshot_after_entries: 10_000,
        }
    }
}

/// Cluster-wide placement and failure-detection settings (applied by the leader).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSettings {
    /// Copies of every chunk.
    pub replication: u32,
    pub chunk_size: ByteSize,
    /// Ring points per unit of server weight.
    pub vnodes_per_weight: u32,
    /// A data server that has not sent a heartbeat for this long takes no new chunks.
    #[serde(with = "humantime_serde")]
    pub suspect_after: Duration,
    /// ... and after this long it is down and its chunks are re-replicated.
    #[serde(with = "humantime_serde")]
    pub down_after: Duration,
    /// A chunk no file references is deleted from the data servers this long after the
    /// leader first sees it on the garbage list.
    #[serde(with = "humantime_serde", default = "default_gc_grace")]
    pub gc_grace: Duration,
}

fn default_gc_grace() -> Duration {
    Duration::from_secs(60)
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            replication: 3,
            chunk_size: ByteSize::b(DEFAULT_CHUNK_BYTES),
            vnodes_per_weight: 128,
            suspect_after: Duration::from_secs(4),
            down_after: Duration::from_secs(600),
            gc_grace: default_gc_grace(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaConfig {
    /// This voter's id; unique in the cluster and never reused.
    pub node_id: NodeId,
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Address others use to reach this node (defaults to `listen`).
    #[serde(default)]
    pub advertise_addr: Option<String>,
    /// Folder for the Raft log and state machine.
    pub data_dir: PathBuf,
    /// The voters that form the cluster on first start (this node included).
    /// A node whose log is empty initialises the cluster with them.
    /// Empty = join mode: the node never initialises a cluster; it waits until a leader
    /// adds it (`ferrofs meta add ID ADDR`). Use it for every node added later, and for a
    /// node whose data folder was wiped (re-add it under a new id).
    pub initial_voters: Vec<PeerConfig>,
    pub tls: TlsPaths,
    #[serde(default)]
    pub raft: RaftTiming,
    #[serde(default)]
    pub cluster: ClusterSettings,
    /// HTTP address for metrics and the dashboard, if any.
    #[serde(default)]
    pub metrics_addr: Option<SocketAddr>,
    /// A mount that holds file locks and has not renewed them with the leader for this
    /// long (killed, or cut off) loses them. Mounts renew every second.
    #[serde(with = "humantime_serde", default = "default_lock_timeout")]
    pub lock_timeout: Duration,
}

fn default_lock_timeout() -> Duration {
    DEFAULT_LOCK_TIMEOUT
}

pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// The shortest `lock_timeout`: a few of the mounts' one-second renewals.
pub const MIN_LOCK_TIMEOUT: Duration = Duration::from_secs(3);

impl MetaConfig {
    pub fn advertise(&self) -> String {
        self.advertise_addr
            .clone()
            .unwrap_or_else(|| self.listen.to_string())
    }
}

impl Validate for MetaConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.node_id.0 == 0 {
            return Err(invalid("node_id", "must be greater than 0"));
        }
        if !self.initial_voters.is_empty()
            && !self.initial_voters.iter().any(|p| p.id == self.node_id)
        {
            return Err(invalid(
                "initial_voters",
                "must include this node's node_id",
            ));
        }
        let r = &self.raft;
        if r.election_timeout_min <= r.heartbeat_interval * 2 {
            return Err(invalid(
                "raft.election_timeout_min",
                "must exceed 2 x heartbeat_interval",
            ));
        }
        if r.election_timeout_max <= r.election_timeout_min {
            return Err(invalid(
                "raft.election_timeout_max",
                "must exceed election_timeout_min",
            ));
        }
        if self.lock_timeout < MIN_LOCK_TIMEOUT {
            return Err(invalid("lock_timeout", "must be at least 3s"));
        }
        validate_cluster(&self.cluster)
    }

    fn resolve_paths(&mut self, base: &Path) {
        resolve(base, &mut self.data_dir);
        resolve_tls(base, &mut self.tls);
    }
}

fn validate_cluster(c: &ClusterSettings) -> Result<(), ConfigError> {
    if c.replication == 0 || c.replication > 16 {
        return Err(invalid("cluster.replication", "must be between 1 and 16"));
    }
    let cs = c.chunk_size.as_u64();
    if !(64 * 1024..=MAX_CHUNK_BYTES).contains(&cs) {
        return Err(invalid(
            "cluster.chunk_size",
            "must be between 64KiB and 64MiB",
        ));
    }
    if c.vnodes_per_weight == 0 {
        return Err(invalid(
            "cluster.vnodes_per_weight",
            "must be greater than 0",
        ));
    }
    if c.down_after < c.suspect_after {
        return Err(invalid(
            "cluster.down_after",
            "must be at least suspect_after",
        ));
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// This data server's id; unique in the cluster and never reused.
    pub node_id: NodeId,
    pub listen: SocketAddr,
    #[serde(default)]
    pub advertise_addr: Option<String>,
    /// Folder for the chunk store.
    pub data_dir: PathBuf,
    /// Metadata servers to report to (any of them; the leader is found).
    pub meta_addrs: Vec<String>,
    pub tls: TlsPaths,
    /// Failure domain; copies of a chunk go to distinct zones where possible.
    #[serde(default)]
    pub zone: String,
    /// Relative share of chunks.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Capacity to advertise; defaults to the size of the file system holding data_dir.
    #[serde(default)]
    pub capacity: Option<ByteSize>,
    #[serde(default = "default_heartbeat", with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// Background re-hash rate of the scrubber, per second.
    #[serde(default = "default_scrub_rate")]
    pub scrub_rate: ByteSize,
    #[serde(default)]
    pub metrics_addr: Option<SocketAddr>,
    /// How often the orphan sweep asks the metadata which of this server's chunks no
    /// file references ("0s" turns the sweep off).
    #[serde(default = "default_orphan_check", with = "humantime_serde")]
    pub orphan_check_interval: Duration,
    /// How long a chunk must have been seen unreferenced before it is reported as an
    /// orphan and collected; longer than any writer takes from upload to commit.
    #[serde(default = "default_orphan_grace", with = "humantime_serde")]
    pub orphan_grace: Duration,
}

fn default_weight() -> u32 {
    1
}
fn default_heartbeat() -> Duration {
    Duration::from_secs(1)
}
fn default_scrub_rate() -> ByteSize {
    ByteSize::mib(16)
}
pub fn default_orphan_check() -> Duration {
    Duration::from_secs(10 * 60)
}
pub fn default_orphan_grace() -> Duration {
    Duration::from_secs(60 * 60)
}

impl DataConfig {
    pub fn advertise(&self) -> String {
        self.advertise_addr
            .clone()
            .unwrap_or_else(|| self.listen.to_string())
    }
}

impl Validate for DataConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.node_id.0 == 0 {
            return Err(invalid("node_id", "must be greater than 0"));
        }
        if self.meta_addrs.is_empty() {
            return Err(invalid(
                "meta_addrs",
                "must list at least one metadata server",
            ));
        }
        if self.heartbeat_interval.is_zero() {
            return Err(invalid("heartbeat_interval", "must be greater than 0"));
        }
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        resolve(base, &mut self.data_dir);
        resolve_tls(base, &mut self.tls);
    }
}

/// Which replica serves a read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadPolicy {
    Random,
    RoundRobin,
    #[default]
    LeastLoaded,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Metadata servers (any of them; the leader is found and cached).
    pub meta_addrs: Vec<String>,
    pub tls: TlsPaths,
    /// One attempt of one request.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long elections and failovers are hidden from callers before an error.
    #[serde(default = "default_failover_timeout", with = "humantime_serde")]
    pub failover_timeout: Duration,
    #[serde(default)]
    pub read_policy: ReadPolicy,
    /// Chunk uploads or downloads in flight per file.
    #[serde(default = "default_parallel_chunks")]
    pub parallel_chunks: usize,
    /// Chunks of at most this many bytes (a small file, or a file's small last chunk)
    /// are stored inline in the metadata instead of on data servers: one commit and no
    /// upload. 0 turns inlining off; at most `limits::MAX_INLINE_BYTES`.
    #[serde(default = "default_inline_max_bytes")]
    pub inline_max_bytes: u64,
    /// Where `ferrofs mount` serves its Prometheus metrics (`/metrics`); none if unset.
    /// `ferrofs mount --metrics-addr` overrides it.
    #[serde(default)]
    pub metrics_addr: Option<SocketAddr>,
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_failover_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_parallel_chunks() -> usize {
    4
}
fn default_inline_max_bytes() -> u64 {
    crate::limits::DEFAULT_INLINE_BYTES
}

impl Validate for ClientConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.meta_addrs.is_empty() {
            return Err(invalid(
                "meta_addrs",
                "must list at least one metadata server",
            ));
        }
        if self.parallel_chunks == 0 || self.parallel_chunks > 64 {
            return Err(invalid("parallel_chunks", "must be between 1 and 64"));
        }
        if self.inline_max_bytes > crate::limits::MAX_INLINE_BYTES {
            let most = crate::limits::MAX_INLINE_BYTES;
            return Err(invalid(
                "inline_max_bytes",
                format!("must be at most {most}"),
            ));
        }
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        resolve_tls(base, &mut self.tls);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("c.toml");
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn bad_field_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(
            dir.path(),
            r#"
node_id = 1
listen = "127.0.0.1:7000"
data_dir = "meta"
initial_voters = [{ id = 1, addr = "127.0.0.1:7000" }]
tls = { ca_cert = "ca.pem", cert = "m.pem", key = "m.key" }
[cluster]
replication = 0
"#,
        );
        let err = load::<MetaConfig>(&p).expect_err("must fail").to_string();
        assert!(err.contains("cluster.replication"), "{err}");
    }

    #[test]
    fn human_units_and_relative_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(
            dir.path(),
            r#"
node_id = 4
listen = "127.0.0.1:7100"
data_dir = "data"
meta_addrs = ["127.0.0.1:7000"]
tls = { ca_cert = "ca.pem", cert = "d.pem", key = "d.key" }
capacity = "10GiB"
heartbeat_interval = "500ms"
"#,
        );
        let cfg = load::<DataConfig>(&p).expect("valid");
        assert_eq!(cfg.capacity, Some(ByteSize::gib(10)));
        assert_eq!(cfg.heartbeat_interval, Duration::from_millis(500));
        assert_eq!(cfg.data_dir, dir.path().join("data"));
    }

    #[test]
    fn unknown_field_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(dir.path(), "meta_addrs = [\"a:1\"]\nbogus = 1\ntls = { ca_cert = \"a\", cert = \"b\", key = \"c\" }\n");
        let err = load::<ClientConfig>(&p).expect_err("must fail").to_string();
        assert!(err.contains("bogus"), "{err}");
    }
}
