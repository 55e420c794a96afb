//! A ferrofs cluster of real processes mounted through `mount_blocking` on a temp dir,
//! served by a thread of the test process; unmounted and stopped on drop.

#![allow(dead_code)]

use anyhow::{bail, Context, Result};
use ferrofs_fuse::{mount_blocking, MountError, MountOptions};
use ferrofs_tests::TestCluster;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const MIB: u64 = 1 << 20;

pub struct Mounted {
    pub cluster: TestCluster,
    pub rt: tokio::runtime::Runtime,
    pub client: ferrofs_client::Client,
    guard: MountGuard,
}

/// One mount on a temp dir, served by a thread; unmounted on drop.
pub struct MountGuard {
    dir: tempfile::TempDir,
    stop: Option<mpsc::Sender<()>>,
    serving: Option<JoinHandle<Result<(), MountError>>>,
}

impl MountGuard {
    /// Mount with `client` (allow_other is always on so that commands can run as
    /// `nobody`) and wait until the mount point is listed.
    pub fn mount(
        client: ferrofs_client::Client,
        rt: tokio::runtime::Handle,
        opts: MountOptions,
    ) -> Result<MountGuard> {
        let dir = tempfile::Builder::new().prefix("ferrofs-mnt-").tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let (tx, rx) = mpsc::channel();
        let mp = dir.path().to_path_buf();
        let opts = MountOptions {
            allow_other: true,
            ..opts
        };
        let serving = std::thread::Builder::new()
            .name("mount".into())
            .spawn(move || mount_blocking(client, rt, &mp, &opts, rx))?;
        let mut g = MountGuard {
            dir,
            stop: Some(tx),
            serving: Some(serving),
        };
        let mp = g.dir.path().to_path_buf();
        let serving = &g.serving;
        wait_for("the mount", Duration::from_secs(20), || {
            is_mount_point(&mp) || serving.as_ref().is_none_or(|s| s.is_finished())
        })?;
        if !is_mount_point(&mp) {
            let err = g.serving.take().map(|s| s.join());
            bail!("mount_blocking ended early: {err:?}");
        }
        eprintln!("mounted on {}", mp.display());
        Ok(g)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Ask the mount to stop and wait for it; returns what `mount_blocking` returned.
    pub fn unmount(&mut self) -> Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.serving.take() {
            Some(s) => match s.join() {
                Ok(r) => Ok(r?),
                Err(_) => bail!("the mount thread panicked"),
            },
            None => Ok(()),
        }
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        let mp = self.dir.path().to_path_buf();
        if self.unmount().is_err() || is_mount_point(&mp) {
            let _ = ferrofs_fuse::unmount(&mp);
        }
    }
}

/// True if `path` is listed as a mount point in /proc/self/mountinfo.
pub fn is_mount_point(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let want = path.to_string_lossy().replace(' ', "\\040");
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

/// Poll `check` every 20 ms until it holds, or fail after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !check() {
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

impl Mounted {
    /// A 1 metadata + 3 data server cluster mounted with `opts`.
    pub fn start(opts: MountOptions) -> Result<Mounted> {
        let cluster = TestCluster::start(1, 3)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()?;
        let client = rt.block_on(cluster.client())?;
        let guard = MountGuard::mount(client.clone(), rt.handle().clone(), opts)?;
        Ok(Mounted {
            cluster,
            rt,
            client,
            guard,
        })
    }

    /// Another mount of the same cluster, through its own client connection.
    pub fn mount_again(&self, opts: MountOptions) -> Result<MountGuard> {
        let client = self.rt.block_on(self.cluster.client())?;
        MountGuard::mount(client, self.rt.handle().clone(), opts)
    }

    pub fn root(&self) -> &Path {
        self.guard.root()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.guard.path(rel)
    }

    /// `sh -c script` in the mount's root, as root.
    pub fn sh(&self, script: &str) -> Result<Output> {
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(self.root())
            .output()
            .context("running sh")
    }

    /// `sh -c script` in the mount's root, as user and group 65534 (nobody).
    pub fn sh_nobody(&self, script: &str) -> Result<Output> {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "sh",
                "-c",
                script,
            ])
            .current_dir(self.root())
            .output()
            .context("running setpriv")
    }

    /// Like `sh`, failing with its output unless it exits 0; returns stdout.
    pub fn ok(&self, script: &str) -> Result<String> {
        check(self.sh(script)?, script)
    }

    pub fn ok_nobody(&self, script: &str) -> Result<String> {
        check(self.sh_nobody(script)?, script)
    }

    /// Ask the mount to stop and wait for it; returns what `mount_blocking` returned.
    pub fn unmount(&mut self) -> Result<()> {
        self.guard.unmount()
    }
}

pub fn check(out: Output, script: &str) -> Result<String> {
    if !out.status.success() {
        bail!(
            "`{script}` failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The errno of a failed std::fs call.
pub fn errno<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.raw_os_error().unwrap_or(0),
    }
}
