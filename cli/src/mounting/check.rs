//! Checking a mount point before mounting and before unmounting, with one-line errors.

use super::mountinfo::{self, mount_target, MountEntry};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Check MNT for a new mount: it exists (created first if `create`), is a directory
/// and holds no live FUSE mount. A dead mount left by a killed mount process
/// ("Transport endpoint is not connected") is cleared. Returns the path the mount
/// table will show.
pub fn prepare_mount_point(path: &Path, create: bool) -> Result<PathBuf> {
    let shown = path.display();
    if create && !path.exists() && !is_dead_mount(path) {
        std::fs::create_dir_all(path).with_context(|| format!("creating {shown}"))?;
    }
    let target = mount_target(path)?;
    if is_dead_mount(path) {
        tracing::warn!(mountpoint = %shown, "clearing a dead mount");
        ferrofs_fuse::unmount(&target)
            .with_context(|| format!("clearing the dead mount on {shown}"))?;
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!("mount point {shown} is not a directory"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("mount point {shown} does not exist (create it with `mkdir -p {shown}`)")
        }
        Err(e) => bail!("mount point {shown}: {e}"),
    }
    let table = mountinfo::read()?;
    if let Some(top) = top_mount(&table, &target) {
        if top.is_fuse() {
            bail!(
                "{shown} is already mounted ({}); unmount it first with `ferrofs umount {shown}`",
                top.fstype
            );
        }
    }
    Ok(target)
}

/// Check MNT for `ferrofs umount`: it must hold a FUSE mount (live or dead). Returns
/// the mount-table path.
pub fn mounted_fuse_target(path: &Path) -> Result<PathBuf> {
    let shown = path.display();
    let target = mount_target(path)?;
    let table = mountinfo::read()?;
    match top_mount(&table, &target) {
        Some(top) if top.is_fuse() => Ok(target),
        Some(top) => bail!("{shown} is not a ferrofs mount (it is {})", top.fstype),
        None if path.exists() => bail!("{shown} is not mounted"),
        None => bail!("{shown} does not exist"),
    }
}

/// The mount on top of `target`: the last one listed there.
pub fn top_mount(table: &[MountEntry], target: &Path) -> Option<MountEntry> {
    mountinfo::mounts_at(table, target).pop()
}

/// Whether `path` answers ENOTCONN: a FUSE mount whose process has gone. Asked with
/// statfs, which the kernel always forwards to the FUSE daemon: a stat may still be
/// answered from the attribute cache for a second after the daemon died.
pub fn is_dead_mount(path: &Path) -> bool {
    matches!(
        nix::sys::statfs::statfs(path),
        Err(nix::errno::Errno::ENOTCONN)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_non_directory_mount_points_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope");
        let err = prepare_mount_point(&missing, false).expect_err("missing");
        assert!(err.to_string().contains("does not exist"), "{err}");
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").expect("write");
        let err = prepare_mount_point(&file, false).expect_err("a file");
        assert!(err.to_string().contains("is not a directory"), "{err}");
    }

    #[test]
    fn a_plain_directory_is_ready_and_can_be_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = prepare_mount_point(dir.path(), false).expect("ready");
        assert!(target.is_absolute());
        let new = dir.path().join("a/b");
        let target = prepare_mount_point(&new, true).expect("created");
        assert!(new.is_dir());
        assert!(target.ends_with("a/b"));
    }

    #[test]
    fn umount_needs_a_fuse_mount() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = mounted_fuse_target(dir.path()).expect_err("plain dir");
        assert!(err.to_string().contains("is not mounted"), "{err}");
        let err = mounted_fuse_target(&dir.path().join("gone")).expect_err("missing");
        assert!(err.to_string().contains("does not exist"), "{err}");
        let err = mounted_fuse_target(Path::new("/")).expect_err("the root is not ours");
        assert!(err.to_string().contains("is not a ferrofs mount"), "{err}");
    }
}
