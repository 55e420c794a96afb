//! Hidden `dev up` options for tests: shorter failure detection, GC and orphan grace,
//! written into the servers' configs before the servers start.

use anyhow::{Context, Result};
use ferrofs_proto::config::{load, DataConfig, MetaConfig, Validate};
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;
use std::time::Duration;

/// The orphan sweep checks this many times per grace.
const ORPHAN_CHECKS_PER_GRACE: u32 = 2;

/// Overrides of the cluster settings; `None` keeps what the config has.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tuning {
    pub down_after: Option<Duration>,
    pub gc_grace: Option<Duration>,
    /// Chunk size of a new cluster (the metadata keeps the first one it starts with).
    pub chunk_size: Option<u64>,
    /// How long data servers wait before reporting an unreferenced chunk as an orphan.
    pub orphan_grace: Option<Duration>,
    /// How long a silent mount keeps its file locks.
    pub lock_timeout: Option<Duration>,
}

impl Tuning {
    fn meta_is_empty(&self) -> bool {
        self.down_after.is_none()
            && self.gc_grace.is_none()
            && self.chunk_size.is_none()
            && self.lock_timeout.is_none()
    }

    /// Apply to one settings block. A short down_after also shortens suspect_after to at
    /// most two thirds of it: servers that die together stop heartbeating up to one
    /// heartbeat apart, and the suspect window between the two is what lets the leader see
    /// the second one as failing when it declares the first down (repair priority counts
    /// only copies on up servers, and copies are read only from up servers). Not shorter:
    /// a suspect server takes no new copies, so a busy test machine's late heartbeat
    /// would degrade writes.
    pub fn apply(&self, cfg: &mut MetaConfig) {
        let c = &mut cfg.cluster;
        if let Some(d) = self.down_after {
            c.down_after = d;
            c.suspect_after = c.suspect_after.min(d - d / 3);
        }
        if let Some(g) = self.gc_grace {
            c.gc_grace = g;
        }
        if let Some(cs) = self.chunk_size {
            c.chunk_size = bytesize::ByteSize::b(cs);
        }
        if let Some(t) = self.lock_timeout {
            cfg.lock_timeout = t;
        }
    }

    /// Apply to a data server's config: the orphan grace, checked twice per grace.
    pub fn apply_data(&self, cfg: &mut DataConfig) {
        if let Some(g) = self.orphan_grace {
            cfg.orphan_grace = g;
            cfg.orphan_check_interval = g / ORPHAN_CHECKS_PER_GRACE;
        }
    }
}

/// Rewrite `path` (a metadata server's config) with `tuning` applied.
pub fn rewrite(path: &Path, tuning: Tuning) -> Result<()> {
    if tuning.meta_is_empty() {
        return Ok(());
    }
    rewrite_with(path, |cfg: &mut MetaConfig| tuning.apply(cfg))
}

/// Rewrite `path` (a data server's config) with `tuning` applied.
pub fn rewrite_data(path: &Path, tuning: Tuning) -> Result<()> {
    if tuning.orphan_grace.is_none() {
        return Ok(());
    }
    rewrite_with(path, |cfg: &mut DataConfig| tuning.apply_data(cfg))
}

fn rewrite_with<C: Serialize + DeserializeOwned + Validate>(
    path: &Path,
    change: impl FnOnce(&mut C),
) -> Result<()> {
    let mut cfg: C = load(path)?;
    change(&mut cfg);
    // `load` made paths absolute; the folder stays where it is, so that is harmless.
    let body =
        toml::to_string_pretty(&cfg).with_context(|| format!("encoding {}", path.display()))?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, body).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_proto::config::ClusterSettings;

    #[test]
    fn short_down_after_leaves_a_suspect_window_before_it() {
        let mut settings = ClusterSettings {
            suspect_after: Duration::from_secs(3),
            ..ClusterSettings::default()
        };
        let t = Tuning {
            down_after: Some(Duration::from_secs(3)),
            gc_grace: Some(Duration::from_secs(1)),
            chunk_size: None,
            orphan_grace: None,
            lock_timeout: None,
        };
        let mut cfg: MetaConfig = toml::from_str(
            "node_id = 1\nlisten = \"127.0.0.1:1\"\ndata_dir = \"d\"\n\
             initial_voters = [{ id = 1, addr = \"127.0.0.1:1\" }]\n\
             tls = { ca_cert = \"a\", cert = \"b\", key = \"c\" }\n",
        )
        .expect("config");
        std::mem::swap(&mut cfg.cluster, &mut settings);
        t.apply(&mut cfg);
        assert_eq!(cfg.cluster.down_after, Duration::from_secs(3));
        assert_eq!(cfg.cluster.suspect_after, Duration::from_secs(2));
        assert_eq!(cfg.cluster.gc_grace, Duration::from_secs(1));
    }
}
