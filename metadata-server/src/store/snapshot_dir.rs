//! The folder of snapshot files: naming, atomic publication (write a temp file,
//! fsync, rename, fsync the folder), finding the latest, and pruning old ones.

use crate::types::SnapshotMeta;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Snapshot files kept after a new one is published.
const KEEP: usize = 2;
const PREFIX: &str = "snap-";
const SUFFIX: &str = ".snap";

/// A snapshot file handed to openraft (and from it to the network or to install).
/// The open file stays readable even if the path is pruned meanwhile.
#[derive(Debug)]
pub struct SnapshotData {
    file: File,
    path: PathBuf,
}

impl SnapshotData {
    pub fn open(path: &Path) -> Result<SnapshotData, io::Error> {
        Ok(SnapshotData {
            file: File::open(path)?,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> Result<u64, io::Error> {
        Ok(self.file.metadata()?.len())
    }

    pub fn is_empty(&self) -> Result<bool, io::Error> {
        Ok(self.len()? == 0)
    }

    pub fn into_file(self) -> File {
        self.file
    }
}

#[derive(Clone, Debug)]
pub struct SnapshotDir {
    dir: PathBuf,
}

fn file_name(meta: &SnapshotMeta) -> String {
    // Index + 1 so that "no log id" sorts first; zero padded so names sort numerically.
    let n = meta
        .last_log_id
        .as_ref()
        .map_or(0, |id| id.index.saturating_add(1));
    format!("{PREFIX}{n:020}{SUFFIX}")
}

/// fsync a folder so a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), io::Error> {
    File::open(dir)?.sync_all()
}

impl SnapshotDir {
    /// Create the folder if needed and remove temp files a crash left behind.
    pub fn open(dir: &Path) -> Result<SnapshotDir, io::Error> {
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(SnapshotDir {
            dir: dir.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// A fresh temp file path in this folder (same file system as the published files).
    pub fn temp_path(&self, kind: &str) -> PathBuf {
        self.dir
            .join(format!("{kind}-{:016x}.tmp", rand::random::<u64>()))
    }

    /// Make `tmp` the published snapshot for `meta`: fsync it, rename it into place,
    /// fsync the folder, then prune older snapshots.
    pub fn publish(&self, tmp: &Path, meta: &SnapshotMeta) -> Result<PathBuf, io::Error> {
        File::open(tmp)?.sync_all()?;
        let dest = self.dir.join(file_name(meta));
        std::fs::rename(tmp, &dest)?;
        sync_dir(&self.dir)?;
        self.prune()?;
        Ok(dest)
    }

    fn published(&self) -> Result<Vec<PathBuf>, io::Error> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with(PREFIX) && name.ends_with(SUFFIX) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names.into_iter().map(|n| self.dir.join(n)).collect())
    }

    /// The newest published snapshot file.
    pub fn latest(&self) -> Result<Option<PathBuf>, io::Error> {
        Ok(self.published()?.pop())
    }

    fn prune(&self) -> Result<(), io::Error> {
        let all = self.published()?;
        let excess = all.len().saturating_sub(KEEP);
        for old in &all[..excess] {
            if let Err(e) = std::fs::remove_file(old) {
                tracing::warn!(path = %old.display(), error = %e, "removing an old snapshot");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TypeConfig;

    fn meta(index: u64) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: Some(openraft::testing::log_id::<TypeConfig>(1, 1, index)),
            last_membership: Default::default(),
        }
    }

    #[test]
    fn latest_is_numeric_and_old_ones_are_pruned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let snaps = SnapshotDir::open(dir.path()).expect("open");
        for index in [9, 10, 100] {
            let tmp = snaps.temp_path("build");
            std::fs::write(&tmp, index.to_string()).expect("write");
            snaps.publish(&tmp, &meta(index)).expect("publish");
        }
        let latest = snaps.latest().expect("list").expect("some");
        assert_eq!(std::fs::read_to_string(latest).expect("read"), "100");
        assert_eq!(snaps.published().expect("list").len(), KEEP);
        std::fs::write(snaps.temp_path("incoming"), b"partial").expect("write");
        let snaps = SnapshotDir::open(dir.path()).expect("reopen");
        let leftovers = std::fs::read_dir(snaps.path())
            .expect("list")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "tmp"))
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
