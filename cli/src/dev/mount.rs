//! `dev up --mount MNT`: the local cluster's mount process. It is `ferrofs mount MNT
//! --config DIR/client.toml`, recorded in DIR/pids as `mount` with its mount point in
//! DIR/mountpoint and its output in DIR/mount.log. It serves its metrics on a free
//! loopback port (`--metrics-addr`). On the way down it is stopped before the servers
//! (so it can flush), and a mount it leaves behind is cleared.

use super::layout::Layout;
use super::pids::PidEntry;
use super::ports::pick_free_tcp_ports;
use super::processes::{self, Running, STOP_GRACE};
use crate::mounting::check::{self, top_mount};
use crate::mounting::live::wait_live;
use crate::mounting::mountinfo;
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// The name of the mount process in DIR/pids.
pub const MOUNT_NAME: &str = "mount";
/// DIR/mountpoint: the mount point of the running mount, one line.
pub const MOUNTPOINT_FILE: &str = "mountpoint";
const MOUNT_LOG: &str = "mount.log";

/// Create MNT if missing and check that it can be mounted on; done before any server
/// starts so a bad mount point fails fast. Returns the mount-table path.
pub fn prepare(mnt: &Path) -> Result<PathBuf> {
    check::prepare_mount_point(mnt, true)
}

/// A free loopback address for the mount's metrics, apart from the servers' ports.
pub fn pick_metrics_addr(layout: &Layout) -> Result<SocketAddr> {
    let used: BTreeSet<u16> = layout
        .processes()
        .filter_map(|p| p.metrics_addr.map(|a| a.port()))
        .collect();
    let port = pick_free_tcp_ports(1, &used)?
        .first()
        .copied()
        .context("no free TCP port for the mount's metrics")?;
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Start the mount process, serving its metrics on `metrics_addr` (it mounts in the
/// background: see `wait`).
pub fn spawn(layout: &Layout, target: &Path, metrics_addr: SocketAddr) -> Result<Running> {
    let file = layout.dir.join(MOUNTPOINT_FILE);
    std::fs::write(&file, format!("{}\n", target.display()))
        .with_context(|| format!("writing {}", file.display()))?;
    let log = layout.dir.join(MOUNT_LOG);
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .with_context(|| format!("opening {}", log.display()))?;
    let err = out
        .try_clone()
        .with_context(|| format!("opening {}", log.display()))?;
    let exe = std::env::current_exe().context("finding this ferrofs binary")?;
    let mut cmd = Command::new(&exe);
    cmd.arg("--config")
        .arg(layout.client_config_path())
        .arg("mount")
        .arg(target)
        .arg("--metrics-addr")
        .arg(metrics_addr.to_string())
        .current_dir(&layout.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        // Like the servers: a Ctrl-C in the terminal reaches only `dev up`.
        .process_group(0)
        .kill_on_drop(false);
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("starting the mount process ({})", exe.display()))?;
    let running = Running {
        name: MOUNT_NAME.to_string(),
        log,
        child,
    };
    Ok(running)
}

/// Wait until the mount of `running` is live on `target`; fails after `timeout` or
/// when the process exits, with the end of its log.
pub async fn wait(target: &Path, running: &mut Running, timeout: Duration) -> Result<()> {
    wait_live(target, &mut running.child, &running.log, timeout).await
}

/// Stop our own mount child: SIGTERM (it unmounts and flushes), SIGKILL after the
/// grace period, then clear whatever mount is left.
pub async fn stop_child(dir: &Path, running: &mut Running) {
    let killed = processes::stop_children(std::slice::from_mut(running), STOP_GRACE).await;
    if !killed.is_empty() {
        eprintln!("killed the mount process after {}s", STOP_GRACE.as_secs());
    }
    clear_leftover(dir);
}

/// `dev down`: stop mount processes that are not our children, then clear the mount.
pub async fn stop_pids(dir: &Path, entries: &[PidEntry]) {
    let killed = processes::stop_pids(entries, STOP_GRACE).await;
    if !killed.is_empty() {
        eprintln!("killed the mount process after {}s", STOP_GRACE.as_secs());
    }
    clear_leftover(dir);
}

/// Unmount what is still mounted on DIR/mountpoint (a killed or hung mount process),
/// then forget the mount point. Problems are reported, not returned: this runs on the
/// way out.
pub fn clear_leftover(dir: &Path) {
    let file = dir.join(MOUNTPOINT_FILE);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return;
    };
    let target = PathBuf::from(text.trim_end_matches('\n'));
    match mountinfo::read() {
        Ok(table) => {
            if top_mount(&table, &target).is_some_and(|m| m.is_fuse()) {
                if let Err(e) = ferrofs_fuse::unmount(&target) {
                    eprintln!("ferrofs: {e}");
                }
            }
        }
        Err(e) => eprintln!("ferrofs: {e:#}"),
    }
    if let Err(e) = std::fs::remove_file(&file) {
        eprintln!("ferrofs: removing {}: {e}", file.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearing_forgets_a_mount_point_that_is_not_mounted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mnt = dir.path().join("mnt");
        let target = prepare(&mnt).expect("created");
        assert!(mnt.is_dir());
        std::fs::write(
            dir.path().join(MOUNTPOINT_FILE),
            format!("{}\n", target.display()),
        )
        .expect("write");
        clear_leftover(dir.path());
        assert!(!dir.path().join(MOUNTPOINT_FILE).exists());
        assert!(mnt.is_dir(), "the folder itself stays");
        // Nothing recorded: nothing to do.
        clear_leftover(dir.path());
    }
}
