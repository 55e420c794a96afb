//! Mounting and unmounting: `mount_blocking` serves a mount until it is told to stop
//! or unmounted from outside; `unmount` also clears a mount whose process died
//! ("Transport endpoint is not connected").

use crate::error::MountError;
use crate::fs::FerroFs;
use crate::metrics::MountMetrics;
use crate::options::MountOptions;
use ferrofs_client::Client;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

/// How often the shutdown watcher checks whether the session ended by itself.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// Mount the cluster `client` talks to on `mountpoint` and serve it until `shutdown`
/// receives a message or the file system is unmounted from outside (`umount`,
/// `fusermount3 -u`, `ferrofs umount`). A dropped sender does not stop the mount.
/// On a stop request while files are still open, the mount is detached lazily and
/// this returns once they are closed. Unflushed writes are uploaded before returning.
///
/// Blocks the calling thread, which must not be a runtime worker (call it from a plain
/// thread or `spawn_blocking`); cluster calls run on `runtime`.
pub fn mount_blocking(
    client: Client,
    runtime: tokio::runtime::Handle,
    mountpoint: &Path,
    opts: &MountOptions,
    shutdown: Receiver<()>,
) -> Result<(), MountError> {
    let metrics = Arc::new(MountMetrics::new());
    mount_blocking_with_metrics(client, runtime, mountpoint, opts, shutdown, metrics)
}

/// `mount_blocking`, counting every FUSE operation in `metrics` (which the caller may
/// serve over HTTP while the mount runs).
pub fn mount_blocking_with_metrics(
    client: Client,
    runtime: tokio::runtime::Handle,
    mountpoint: &Path,
    opts: &MountOptions,
    shutdown: Receiver<()>,
    metrics: Arc<MountMetrics>,
) -> Result<(), MountError> {
    prepare_mountpoint(mountpoint)?;
    let fs = FerroFs::new(client, runtime, opts.clone(), metrics);
    let config = opts.fuser_config();
    let mut session =
        fuser::Session::new(fs, mountpoint, &config).map_err(|source| MountError::Mount {
            path: mountpoint.to_path_buf(),
            source,
        })?;
    tracing::info!(mountpoint = %mountpoint.display(), "mounted");
    let mut unmounter = session.unmount_callable();
    let ended = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (ended, path) = (ended.clone(), mountpoint.to_path_buf());
        std::thread::Builder::new()
            .name("ferrofs-umount".into())
            .spawn(move || loop {
                match shutdown.recv_timeout(WATCH_INTERVAL) {
                    Ok(()) => {
                        tracing::info!(mountpoint = %path.display(), "unmounting on request");
                        if let Err(e) = unmounter.unmount() {
                            tracing::warn!(error = %e, "unmount failed; detaching lazily");
                            if let Err(e) = lazy_unmount(&path) {
                                tracing::error!(error = %e, "lazy unmount failed");
                            }
                        }
                        return;
                    }
                    Err(RecvTimeoutError::Timeout) if !ended.load(Ordering::Acquire) => {}
                    Err(RecvTimeoutError::Timeout) => return,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            })
            .map_err(|source| MountError::Io {
                context: "starting the unmount watcher".into(),
                source,
            })?
    };
    let served = match session.run() {
        // After a lazy detach the kernel ends the connection this way once the last open
        // file is closed: the normal end of a detached mount, not a failure.
        Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => Ok(()),
        other => other,
    };
    ended.store(true, Ordering::Release);
    if watcher.join().is_err() {
        tracing::error!("the unmount watcher panicked");
    }
    tracing::info!(mountpoint = %mountpoint.display(), "unmounted");
    served.map_err(|source| MountError::Session {
        path: mountpoint.to_path_buf(),
        source,
    })
}

/// Unmount `mountpoint`: `fusermount3 -u`, then a lazy unmount (MNT_DETACH) if that
/// fails, which also clears a mount whose process was killed.
pub fn unmount(mountpoint: &Path) -> Result<(), MountError> {
    let target = mount_target(mountpoint);
    if !is_mounted(&target)? {
        return Err(MountError::NotMounted { path: target });
    }
    let fusermount = Command::new("fusermount3")
        .arg("-u")
        .arg(&target)
        .stdin(Stdio::null())
        .output();
    match fusermount {
        Ok(out) if out.status.success() => return Ok(()),
        Ok(out) => tracing::debug!(
            status = %out.status,
            stderr = %String::from_utf8_lossy(&out.stderr).trim(),
            "fusermount3 -u failed; detaching lazily"
        ),
        Err(e) => tracing::debug!(error = %e, "fusermount3 not runnable; detaching lazily"),
    }
    lazy_unmount(&target)
}

fn lazy_unmount(target: &Path) -> Result<(), MountError> {
    nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH).map_err(|e| MountError::Unmount {
        path: target.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Check the mount point; clear a dead mount left there by a killed process.
fn prepare_mountpoint(mountpoint: &Path) -> Result<(), MountError> {
    let bad = |reason: String| MountError::BadMountPoint {
        path: mountpoint.to_path_buf(),
        reason,
    };
    match std::fs::metadata(mountpoint) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(bad("not a directory".into())),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            tracing::warn!(mountpoint = %mountpoint.display(), "clearing a dead mount");
            unmount(mountpoint)?;
            match std::fs::metadata(mountpoint) {
                Ok(m) if m.is_dir() => Ok(()),
                Ok(_) => Err(bad("not a directory".into())),
                Err(e) => Err(bad(e.to_string())),
            }
        }
        Err(e) => Err(bad(e.to_string())),
    }
}

/// The absolute path the mount table would show, found without touching the mount
/// itself (which may be dead): the parent is canonicalised, the last name kept.
fn mount_target(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut clean = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other.as_os_str()),
        }
    }
    match (clean.parent(), clean.file_name()) {
        (Some(parent), Some(name)) => match parent.canonicalize() {
            Ok(p) => p.join(name),
            Err(_) => clean,
        },
        _ => clean,
    }
}

/// True if `target` is a mount point in /proc/self/mountinfo.
fn is_mounted(target: &Path) -> Result<bool, MountError> {
    let info =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|source| MountError::Io {
            context: "reading /proc/self/mountinfo".into(),
            source,
        })?;
    let found = mount_points(&info).any(|p| Path::new(&p) == target);
    Ok(found)
}

/// The mount points listed in a mountinfo text (fifth field, octal escapes decoded).
fn mount_points(info: &str) -> impl Iterator<Item = String> + '_ {
    info.lines()
        .filter_map(|line| line.split(' ').nth(4).map(unescape))
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_fields_are_decoded() {
        let info = "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw\n\
                    40 1 0:44 / /tmp/f ro - fuse.ferrofs ferrofs rw,user_id=0\n";
        let points: Vec<String> = mount_points(info).collect();
        assert_eq!(
            points,
            vec!["/mnt/with space".to_string(), "/tmp/f".to_string()]
        );
        assert_eq!(unescape("a\\134b"), "a\\b");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
    }

    #[test]
    fn targets_are_absolute_and_clean() {
        let t = mount_target(Path::new("/tmp/./x/../mnt"));
        assert!(t.is_absolute());
        assert!(t.ends_with("mnt"));
        assert!(!t.to_string_lossy().contains(".."));
        let rel = mount_target(Path::new("some-dir"));
        assert!(rel.is_absolute());
        assert!(rel.ends_with("some-dir"));
    }

    #[test]
    fn the_root_is_mounted_and_a_fresh_dir_is_not() {
        assert!(is_mounted(Path::new("/")).expect("mountinfo"));
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!is_mounted(&mount_target(dir.path())).expect("mountinfo"));
        assert!(matches!(
            unmount(dir.path()),
            Err(MountError::NotMounted { .. })
        ));
    }
}
