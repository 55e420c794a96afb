//! The folder of a local cluster and the config files in it.
//!
//! ```text
//! DIR/ca/ca.pem, ca.key               the cluster CA
//! DIR/meta-1/meta.toml, tls/, data/, log
//! DIR/data-1/data.toml, tls/, data/, log   (node ids 101, 102, ...)
//! DIR/client/ca.pem, client.pem, client.key
//! DIR/client.toml                     written last: marks a complete layout
//! DIR/pids                            running processes (dev/pids.rs)
//! ```
//! Paths inside the configs are relative to the config's folder, so DIR can move.
//! A later start reads the configs back and reuses ids, ports and data.

use super::ports::{pick_free_tcp_ports, pick_free_udp_ports};
use anyhow::{anyhow, bail, Context, Result};
use ferrofs_proto::config::{
    load, ClientConfig, ClusterSettings, DataConfig, MetaConfig, PeerConfig, RaftTiming, ReadPolicy,
};
use ferrofs_proto::tls::{ClusterCa, TlsPaths};
use ferrofs_proto::NodeId;
use serde::Serialize;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const CA_DIR: &str = "ca";
pub const CLIENT_DIR: &str = "client";
pub const CLIENT_CONFIG: &str = "client.toml";
pub const META_CONFIG: &str = "meta.toml";
pub const DATA_CONFIG: &str = "data.toml";
/// Data server ids start here so they never collide with metadata voter ids.
pub const DATA_ID_BASE: u64 = 100;
pub const DEFAULT_META: u32 = 3;
pub const DEFAULT_DATA: u32 = 3;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const HEADER: &str = "# Written by `ferrofs dev up`. Paths are relative to this file's folder.\n";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Meta,
    Data,
}

impl Role {
    fn prefix(self) -> &'static str {
        match self {
            Role::Meta => "meta",
            Role::Data => "data",
        }
    }

    fn config_file(self) -> &'static str {
        match self {
            Role::Meta => META_CONFIG,
            Role::Data => DATA_CONFIG,
        }
    }

    /// The server binary that runs this role.
    pub fn binary(self) -> &'static str {
        match self {
            Role::Meta => "ferrofs-meta",
            Role::Data => "ferrofs-data",
        }
    }
}

/// One server process of the local cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSpec {
    /// `meta-1`, `data-2`, ...: the folder name and the name in the pids file.
    pub name: String,
    pub role: Role,
    pub id: NodeId,
    pub addr: SocketAddr,
    /// The process's folder.
    pub dir: PathBuf,
    /// Where it serves `/metrics` (and, for a metadata server, the dashboard).
    pub metrics_addr: Option<SocketAddr>,
}

impl ProcessSpec {
    pub fn config_path(&self) -> PathBuf {
        self.dir.join(self.role.config_file())
    }

    /// Where the process's stdout and stderr go.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }
}

/// What `dev up` was asked for; `None` means "keep what exists, else the default".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayoutRequest {
    pub meta: Option<u32>,
    pub data: Option<u32>,
    pub replication: Option<u32>,
}

/// A complete local cluster folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub dir: PathBuf,
    pub meta: Vec<ProcessSpec>,
    pub data: Vec<ProcessSpec>,
    pub replication: u32,
}

impl Layout {
    pub fn client_config_path(&self) -> PathBuf {
        self.dir.join(CLIENT_CONFIG)
    }

    /// Every process, metadata voters first.
    pub fn processes(&self) -> impl Iterator<Item = &ProcessSpec> {
        self.meta.iter().chain(self.data.iter())
    }
}

/// What `prepare` did to the folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prepared {
    Created,
    Reused,
    /// Reused, with this many data servers added.
    Grown(u32),
}

/// Create the cluster folder on first use, or read it back (adding data servers if
/// more are asked for) on a later one.
pub fn prepare(dir: &Path, req: LayoutRequest) -> Result<(Layout, Prepared)> {
    match read(dir)? {
        None => Ok((create(dir, req)?, Prepared::Created)),
        Some(existing) => reuse(existing, req),
    }
}

/// Settings of the local cluster: short Raft timing (fsync here takes ~1.5 ms, far below
/// the election timeout) and quick failure detection.
fn cluster_settings(replication: u32) -> ClusterSettings {
    ClusterSettings {
        replication,
        suspect_after: Duration::from_secs(3),
        down_after: Duration::from_secs(30),
        ..ClusterSettings::default()
    }
}

fn raft_timing() -> RaftTiming {
    RaftTiming {
        heartbeat_interval: Duration::from_millis(100),
        // min = max / 2: see RaftTiming's default in proto/src/config.rs.
        election_timeout_min: Duration::from_millis(500),
        election_timeout_max: Duration::from_millis(1000),
        ..RaftTiming::default()
    }
}

fn relative_tls(folder: &str, name: &str) -> TlsPaths {
    let base = PathBuf::from(folder);
    TlsPaths {
        ca_cert: base.join("ca.pem"),
        cert: base.join(format!("{name}.pem")),
        key: base.join(format!("{name}.key")),
    }
}

fn create(dir: &Path, req: LayoutRequest) -> Result<Layout> {
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} exists and is not a ferrofs dev cluster; use an empty or new folder",
                dir.display()
            );
        }
    }
    let n_meta = req.meta.unwrap_or(DEFAULT_META);
    let n_data = req.data.unwrap_or(DEFAULT_DATA);
    if n_meta == 0 || n_data == 0 {
        bail!("a cluster needs at least one metadata server and one data server");
    }
    let replication = req.replication.unwrap_or(n_data.min(3));
    if replication > n_data {
        bail!(
            "--replication {replication} needs at least {replication} data servers (have {n_data})"
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;

    let ca = ClusterCa::generate().context("creating the cluster CA")?;
    ca.save(&dir.join(CA_DIR))
        .context("saving the cluster CA")?;

    let ports = pick_free_udp_ports((n_meta + n_data) as usize, &BTreeSet::new())?;
    let http = pick_free_tcp_ports((n_meta + n_data) as usize, &BTreeSet::new())?;
    let addr = |i: usize| SocketAddr::new(LOOPBACK, ports[i]);
    let http_addr = |i: usize| SocketAddr::new(LOOPBACK, http[i]);
    let meta: Vec<ProcessSpec> = (0..n_meta as usize)
        .map(|i| spec(&dir, Role::Meta, i as u64 + 1, addr(i), http_addr(i)))
        .collect();
    let data: Vec<ProcessSpec> = (0..n_data as usize)
        .map(|i| {
            let at = n_meta as usize + i;
            spec(&dir, Role::Data, i as u64 + 1, addr(at), http_addr(at))
        })
        .collect();
    let layout = Layout {
        dir,
        meta,
        data,
        replication,
    };

    for m in &layout.meta {
        write_meta(&ca, &layout, m)?;
    }
    for d in &layout.data {
        write_data(&ca, &layout, d)?;
    }
    write_client(&ca, &layout)?;
    Ok(layout)
}

fn reuse(mut layout: Layout, req: LayoutRequest) -> Result<(Layout, Prepared)> {
    let shown = layout.dir.display().to_string();
    if let Some(m) = req.meta {
        if m as usize != layout.meta.len() {
            bail!(
                "{shown} holds a cluster of {} metadata servers; --meta {m} does not match (use a new --dir)",
                layout.meta.len()
            );
        }
    }
    if let Some(r) = req.replication {
        if r != layout.replication {
            bail!(
                "{shown} holds a cluster with replication {}; --replication {r} does not match",
                layout.replication
            );
        }
    }
    let have = layout.data.len() as u32;
    let want = req.data.unwrap_or(have);
    if want < have {
        bail!("{shown} holds {have} data servers; --data can add servers but not remove them");
    }
    if want == have {
        return Ok((layout, Prepared::Reused));
    }
    let ca = ClusterCa::load(&layout.dir.join(CA_DIR)).context("loading the cluster CA")?;
    let used: BTreeSet<u16> = layout.processes().map(|p| p.addr.port()).collect();
    let ports = pick_free_udp_ports((want - have) as usize, &used)?;
    let used_http: BTreeSet<u16> = layout
        .processes()
        .filter_map(|p| p.metrics_addr.map(|a| a.port()))
        .collect();
    let http = pick_free_tcp_ports((want - have) as usize, &used_http)?;
    let last_id = layout
        .data
        .iter()
        .map(|d| d.id.0)
        .max()
        .unwrap_or(DATA_ID_BASE);
    let mut added = Vec::new();
    for (i, (port, http_port)) in ports.into_iter().zip(http).enumerate() {
        let ordinal = last_id.saturating_sub(DATA_ID_BASE) + 1 + i as u64;
        added.push(spec(
            &layout.dir,
            Role::Data,
            ordinal,
            SocketAddr::new(LOOPBACK, port),
            SocketAddr::new(LOOPBACK, http_port),
        ));
    }
    for d in &added {
        write_data(&ca, &layout, d)?;
    }
    layout.data.extend(added);
    Ok((layout, Prepared::Grown(want - have)))
}

fn spec(
    dir: &Path,
    role: Role,
    ordinal: u64,
    addr: SocketAddr,
    metrics_addr: SocketAddr,
) -> ProcessSpec {
    let name = format!("{}-{ordinal}", role.prefix());
    let id = match role {
        Role::Meta => NodeId(ordinal),
        Role::Data => NodeId(DATA_ID_BASE + ordinal),
    };
    ProcessSpec {
        dir: dir.join(&name),
        name,
        role,
        id,
        addr,
        metrics_addr: Some(metrics_addr),
    }
}

fn meta_addrs(layout: &Layout) -> Vec<String> {
    layout.meta.iter().map(|m| m.addr.to_string()).collect()
}

fn write_meta(ca: &ClusterCa, layout: &Layout, m: &ProcessSpec) -> Result<()> {
    ca.issue_to_dir(&m.name, &m.dir.join("tls"))
        .with_context(|| format!("issuing the certificate of {}", m.name))?;
    let cfg = MetaConfig {
        node_id: m.id,
        listen: m.addr,
        advertise_addr: None,
        data_dir: PathBuf::from("data"),
        initial_voters: layout
            .meta
            .iter()
            .map(|p| PeerConfig {
                id: p.id,
                addr: p.addr.to_string(),
            })
            .collect(),
        tls: relative_tls("tls", &m.name),
        raft: raft_timing(),
        cluster: cluster_settings(layout.replication),
        metrics_addr: m.metrics_addr,
        lock_timeout: ferrofs_proto::config::DEFAULT_LOCK_TIMEOUT,
    };
    write_toml(&m.config_path(), &cfg)
}

fn write_data(ca: &ClusterCa, layout: &Layout, d: &ProcessSpec) -> Result<()> {
    ca.issue_to_dir(&d.name, &d.dir.join("tls"))
        .with_context(|| format!("issuing the certificate of {}", d.name))?;
    let cfg = DataConfig {
        node_id: d.id,
        listen: d.addr,
        advertise_addr: None,
        data_dir: PathBuf::from("data"),
        meta_addrs: meta_addrs(layout),
        tls: relative_tls("tls", &d.name),
        zone: String::new(),
        weight: 1,
        capacity: None,
        heartbeat_interval: Duration::from_secs(1),
        scrub_rate: bytesize::ByteSize::mib(16),
        metrics_addr: d.metrics_addr,
        orphan_check_interval: ferrofs_proto::config::default_orphan_check(),
        orphan_grace: ferrofs_proto::config::default_orphan_grace(),
    };
    write_toml(&d.config_path(), &cfg)
}

fn write_client(ca: &ClusterCa, layout: &Layout) -> Result<()> {
    ca.issue_to_dir("client", &layout.dir.join(CLIENT_DIR))
        .context("issuing the client certificate")?;
    let cfg = ClientConfig {
        meta_addrs: meta_addrs(layout),
        tls: relative_tls(CLIENT_DIR, "client"),
        request_timeout: Duration::from_secs(10),
        failover_timeout: Duration::from_secs(30),
        read_policy: ReadPolicy::default(),
        parallel_chunks: 4,
        inline_max_bytes: ferrofs_proto::limits::DEFAULT_INLINE_BYTES,
        // Not here: every mount of this config would ask for the same port. `dev up
        // --mount` gives its mount one with --metrics-addr.
        metrics_addr: None,
    };
    write_toml(&layout.client_config_path(), &cfg)
}

/// Write a config atomically (temp file + rename), creating its folder.
fn write_toml<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let folder = path
        .parent()
        .ok_or_else(|| anyhow!("{} has no folder", path.display()))?;
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let body =
        toml::to_string_pretty(value).with_context(|| format!("encoding {}", path.display()))?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, format!("{HEADER}{body}"))
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Read an existing layout; `None` if DIR holds no cluster (missing, or no configs).
pub fn read(dir: &Path) -> Result<Option<Layout>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let meta = read_role(&dir, Role::Meta)?;
    let data = read_role(&dir, Role::Data)?;
    let has_client = dir.join(CLIENT_CONFIG).is_file();
    if meta.is_empty() && data.is_empty() && !has_client {
        return Ok(None);
    }
    if meta.is_empty() || data.is_empty() || !has_client {
        bail!(
            "{} holds an incomplete cluster (its creation was interrupted?); remove it and run `ferrofs dev up` again",
            dir.display()
        );
    }
    let first = meta[0].config_path();
    let replication = load::<MetaConfig>(&first)?.cluster.replication;
    Ok(Some(Layout {
        dir,
        meta,
        data,
        replication,
    }))
}

/// Folders `<role>-<n>` holding a config, sorted by n, read back into specs.
fn read_role(dir: &Path, role: Role) -> Result<Vec<ProcessSpec>> {
    let prefix = format!("{}-", role.prefix());
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|s| s.strip_prefix(&prefix))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        if entry.path().join(role.config_file()).is_file() {
            found.push((n, entry.path()));
        }
    }
    found.sort();
    let mut specs = Vec::with_capacity(found.len());
    for (n, folder) in found {
        let config = folder.join(role.config_file());
        let (id, addr, metrics_addr) = match role {
            Role::Meta => {
                let c = load::<MetaConfig>(&config)?;
                (c.node_id, c.listen, c.metrics_addr)
            }
            Role::Data => {
                let c = load::<DataConfig>(&config)?;
                (c.node_id, c.listen, c.metrics_addr)
            }
        };
        specs.push(ProcessSpec {
            name: format!("{prefix}{n}"),
            role,
            id,
            addr,
            dir: folder,
            metrics_addr,
        });
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_proto::tls::TlsIdentity;

    fn req(meta: Option<u32>, data: Option<u32>, replication: Option<u32>) -> LayoutRequest {
        LayoutRequest {
            meta,
            data,
            replication,
        }
    }

    #[test]
    fn first_start_writes_configs_that_load() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("cluster");
        let (layout, how) = prepare(&dir, LayoutRequest::default()).expect("create");
        assert_eq!(how, Prepared::Created);
        assert_eq!(layout.meta.len(), 3);
        assert_eq!(layout.data.len(), 3);
        assert_eq!(layout.replication, 3);
        let ids: Vec<u64> = layout.processes().map(|p| p.id.0).collect();
        assert_eq!(ids, vec![1, 2, 3, 101, 102, 103]);
        let ports: BTreeSet<u16> = layout.processes().map(|p| p.addr.port()).collect();
        assert_eq!(ports.len(), 6, "every process has its own port");
        let http: BTreeSet<u16> = layout
            .processes()
            .filter_map(|p| p.metrics_addr.map(|a| a.port()))
            .collect();
        assert_eq!(http.len(), 6, "every process has its own metrics port");

        let m2: MetaConfig = load(&layout.meta[1].config_path()).expect("meta-2 loads");
        assert_eq!(m2.node_id, NodeId(2));
        assert_eq!(m2.metrics_addr, layout.meta[1].metrics_addr);
        assert_eq!(m2.listen, layout.meta[1].addr);
        assert_eq!(m2.data_dir, layout.meta[1].dir.join("data"));
        assert_eq!(m2.initial_voters.len(), 3);
        assert_eq!(m2.raft.heartbeat_interval, Duration::from_millis(100));
        assert_eq!(m2.cluster.suspect_after, Duration::from_secs(3));
        assert_eq!(m2.cluster.down_after, Duration::from_secs(30));
        assert_eq!(m2.cluster.chunk_size, ClusterSettings::default().chunk_size);
        TlsIdentity::load(&m2.tls).expect("meta TLS loads");

        let d1: DataConfig = load(&layout.data[0].config_path()).expect("data-1 loads");
        assert_eq!(d1.node_id, NodeId(101));
        assert_eq!(d1.meta_addrs, meta_addrs(&layout));
        TlsIdentity::load(&d1.tls).expect("data TLS loads");

        let c: ClientConfig = load(&layout.client_config_path()).expect("client loads");
        assert_eq!(c.meta_addrs, meta_addrs(&layout));
        TlsIdentity::load(&c.tls).expect("client TLS loads");
        assert!(layout.dir.join(CA_DIR).join("ca.key").is_file());
    }

    #[test]
    fn later_start_reuses_and_can_add_data_servers() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("c");
        let (first, _) = prepare(&dir, req(Some(1), Some(2), None)).expect("create");
        assert_eq!(
            first.replication, 2,
            "replication defaults to min(3, data servers)"
        );

        let (again, how) = prepare(&dir, LayoutRequest::default()).expect("reuse");
        assert_eq!(how, Prepared::Reused);
        assert_eq!(again, first);

        let (grown, how) = prepare(&dir, req(None, Some(4), None)).expect("grow");
        assert_eq!(how, Prepared::Grown(2));
        let ids: Vec<u64> = grown.data.iter().map(|d| d.id.0).collect();
        assert_eq!(ids, vec![101, 102, 103, 104]);
        let ports: BTreeSet<u16> = grown.processes().map(|p| p.addr.port()).collect();
        assert_eq!(ports.len(), 5);
        let d4: DataConfig = load(&grown.data[3].config_path()).expect("data-4 loads");
        assert_eq!(d4.meta_addrs, meta_addrs(&first));
        assert_eq!(read(&dir).expect("read").expect("exists"), grown);
    }

    #[test]
    fn mismatches_and_foreign_folders_are_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("c");
        let err = prepare(&dir, req(None, Some(2), Some(3)))
            .expect_err("R > data")
            .to_string();
        assert!(err.contains("--replication 3"), "{err}");

        prepare(&dir, req(Some(1), Some(2), None)).expect("create");
        let err = prepare(&dir, req(Some(3), None, None))
            .expect_err("meta count")
            .to_string();
        assert!(err.contains("--meta 3"), "{err}");
        let err = prepare(&dir, req(None, Some(1), None))
            .expect_err("shrink")
            .to_string();
        assert!(
            err.contains("cannot") || err.contains("not remove"),
            "{err}"
        );
        let err = prepare(&dir, req(None, None, Some(1)))
            .expect_err("replication")
            .to_string();
        assert!(err.contains("replication"), "{err}");

        std::fs::remove_file(dir.join(CLIENT_CONFIG)).expect("remove");
        let err = prepare(&dir, LayoutRequest::default())
            .expect_err("incomplete")
            .to_string();
        assert!(err.contains("incomplete"), "{err}");

        let foreign = tmp.path().join("foreign");
        std::fs::create_dir_all(&foreign).expect("mkdir");
        std::fs::write(foreign.join("notes.txt"), "mine").expect("write");
        let err = prepare(&foreign, LayoutRequest::default())
            .expect_err("foreign")
            .to_string();
        assert!(err.contains("not a ferrofs dev cluster"), "{err}");
    }
}
