//! FUSE mounts of a test cluster: a `ferrofs mount` process started by the test, waited
//! for until the mount is live, and unmounted when dropped (SIGTERM, then `ferrofs umount`
//! if anything is left), plus the shell helpers the mount tests share.

use crate::cluster::bin;
use crate::TestCluster;
use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a mount may take to appear, and a mount process to exit after SIGTERM.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(30);
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Numbers the log files of the mounts of one test process.
static MOUNTS: AtomicUsize = AtomicUsize::new(0);

/// A running `ferrofs mount MNT --config <cluster>/client.toml` child process.
pub struct MountProcess {
    mountpoint: PathBuf,
    /// The temp dir holding the mount point, when the harness made it.
    owned: Option<tempfile::TempDir>,
    child: Option<Child>,
    log: PathBuf,
    config: PathBuf,
}

impl MountProcess {
    /// Mount `cluster` on a new temp dir.
    pub fn start(cluster: &TestCluster, extra: &[&str]) -> Result<MountProcess> {
        let dir = tempfile::Builder::new().prefix("ferrofs-mnt-").tempdir()?;
        let mp = dir.path().to_path_buf();
        let mut m = Self::start_at(cluster, &mp, extra)?;
        m.owned = Some(dir);
        Ok(m)
    }

    /// Mount `cluster` on the existing folder `mountpoint`.
    pub fn start_at(
        cluster: &TestCluster,
        mountpoint: &Path,
        extra: &[&str],
    ) -> Result<MountProcess> {
        let n = MOUNTS.fetch_add(1, Ordering::SeqCst);
        let log = cluster.dir().join(format!("mount-{n}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let child = Command::new(bin("ferrofs"))
            .arg("--config")
            .arg(cluster.client_config())
            .arg("mount")
            .arg(mountpoint)
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting ferrofs mount")?;
        let mut m = MountProcess {
            mountpoint: mountpoint.to_path_buf(),
            owned: None,
            child: Some(child),
            log,
            config: cluster.client_config(),
        };
        m.wait_live()?;
        Ok(m)
    }

    /// Wait until the mount is listed and answers statfs: a dead mount left there by a
    /// killed process answers ENOTCONN until the new process has replaced it (mount ids
    /// are reused, so they cannot tell the two apart).
    fn wait_live(&mut self) -> Result<()> {
        let deadline = Instant::now() + MOUNT_TIMEOUT;
        loop {
            if is_mounted(&self.mountpoint) && nix::sys::statfs::statfs(&self.mountpoint).is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    bail!(
                        "ferrofs mount exited ({status}) before mounting:\n{}",
                        self.log_tail()
                    );
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "{} not mounted after {MOUNT_TIMEOUT:?}:\n{}",
                    self.mountpoint.display(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// A path inside the mount.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.mountpoint.join(rel)
    }

    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// SIGTERM the mount process and wait for it: it must unmount and exit 0.
    pub fn unmount(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("the mount process is not running");
        };
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let status = wait_child(&mut child, EXIT_TIMEOUT)
            .with_context(|| format!("waiting for the mount process:\n{}", self.log_tail()))?;
        if !status.success() {
            bail!(
                "ferrofs mount exited with {status} after SIGTERM:\n{}",
                self.log_tail()
            );
        }
        if is_mounted(&self.mountpoint) {
            bail!(
                "{} is still mounted after the mount process exited",
                self.mountpoint.display()
            );
        }
        Ok(())
    }

    /// kill -9 the mount process, leaving a dead mount behind.
    pub fn kill9(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("the mount process is not running");
        };
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// `ferrofs umount` on this mount point.
    pub fn ferrofs_umount(&self) -> Result<std::process::Output> {
        Ok(Command::new(bin("ferrofs"))
            .arg("--config")
            .arg(&self.config)
            .arg("umount")
            .arg(&self.mountpoint)
            .stdin(Stdio::null())
            .output()?)
    }

    /// The last lines of the mount process's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for MountProcess {
    fn drop(&mut self) {
        if self.child.is_some() {
            if let Err(e) = self.unmount() {
                eprintln!("unmounting {}: {e:#}", self.mountpoint.display());
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if is_mounted(&self.mountpoint) {
            let _ = self.ferrofs_umount();
        }
        if is_mounted(&self.mountpoint) {
            // Never let TempDir's cleanup delete files through a live mount.
            if let Some(dir) = self.owned.take() {
                eprintln!("leaving {} mounted", dir.keep().display());
            }
        }
    }
}

/// Wait for a child to exit, SIGKILL after `timeout`.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Result<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("pid {} did not exit within {timeout:?}; killed", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `path` is a mount point now (/proc/self/mountinfo, fifth field).
pub fn is_mounted(path: &Path) -> bool {
    !mount_ids(path).is_empty()
}

/// The ids (first field of /proc/self/mountinfo) of the mounts on `path`, oldest first.
pub fn mount_ids(path: &Path) -> Vec<u64> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let want = escape(path);
    info.lines()
        .filter(|l| l.split(' ').nth(4) == Some(want.as_str()))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect()
}

/// Whether `path` appears in /proc/mounts (second field).
pub fn in_proc_mounts(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let want = escape(path);
    mounts
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(want.as_str()))
}

/// The kernel's escaping of mount points in /proc (space, tab, newline, backslash).
fn escape(path: &Path) -> String {
    path.to_string_lossy()
        .replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('\n', "\\012")
}

/// Poll `check` every 20 ms until it holds, or fail after `timeout` with `what`.
pub fn poll_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !check() {
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// `bash -c script` in `cwd`; fails with the script's output unless it exits 0.
/// Returns stdout.
pub fn sh(cwd: &Path, script: &str) -> Result<String> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail; {script}"))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .context("running bash")?;
    if !out.status.success() {
        bail!(
            "`{script}` failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stdout), 40),
            tail(&String::from_utf8_lossy(&out.stderr), 40)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Run `script` and report how long it took.
pub fn timed_sh(cwd: &Path, what: &str, script: &str) -> Result<String> {
    let t = Instant::now();
    let out = sh(cwd, script)?;
    eprintln!("  {what}: {:.1}s", t.elapsed().as_secs_f64());
    Ok(out)
}

/// Regular files below `dir` (symlinks not followed).
pub fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => n += 1,
                _ => {}
            }
        }
    }
    n
}

/// Folders under /usr that together hold at least `min_files` regular files, taken in
/// a fixed order of preference (few big files before many small ones), as paths
/// relative to `/` for `tar -C /`. Fails if the machine has too few.
pub fn source_trees(min_files: usize) -> Result<(Vec<String>, usize)> {
    const CANDIDATES: &[&str] = &[
        "usr/share/doc",
        "usr/share/zoneinfo",
        "usr/include",
        "usr/lib/python3",
        "usr/share/locale",
        "usr/share/man",
        "usr/share/perl",
    ];
    let mut picked = Vec::new();
    let mut total = 0;
    for c in CANDIDATES {
        let p = Path::new("/").join(c);
        if !p.is_dir() {
            continue;
        }
        total += count_files(&p);
        picked.push(c.to_string());
        if total >= min_files {
            return Ok((picked, total));
        }
    }
    bail!("this machine has only {total} files under {CANDIDATES:?}; need {min_files}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_the_kernel() {
        assert_eq!(escape(Path::new("/tmp/a b\\c")), "/tmp/a\\040b\\134c");
        assert!(is_mounted(Path::new("/")));
        assert!(in_proc_mounts(Path::new("/")));
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!is_mounted(dir.path()));
    }

    #[test]
    fn shell_failures_carry_their_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(sh(dir.path(), "echo hi").expect("ok"), "hi\n");
        let err = sh(dir.path(), "echo oops >&2; false")
            .expect_err("fails")
            .to_string();
        assert!(err.contains("oops"), "{err}");
        std::fs::create_dir_all(dir.path().join("a/b")).expect("mkdir");
        std::fs::write(dir.path().join("a/b/f"), b"x").expect("write");
        std::fs::write(dir.path().join("a/g"), b"y").expect("write");
        assert_eq!(count_files(dir.path()), 2);
    }
}
