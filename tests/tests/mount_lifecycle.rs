//! Issue 3, acceptance 5 and the commands around mounting: unmounting leaves no stale
//! mount; a kill -9'd mount process leaves a dead mount that `ferrofs umount` clears, after
//! which mounting again works; `ferrofs mount --background` returns once the mount is live;
//! clear one-line errors; and `ferrofs dev up --mount` end to end, detached and in the
//! foreground.

use anyhow::{bail, ensure, Context};
use ferrofs_tests::cluster::{alive, bin};
use ferrofs_tests::mount::{in_proc_mounts, is_mounted, poll_until, wait_child, MountProcess};
use ferrofs_tests::TestCluster;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// Run the CLI and expect failure with one line of error that contains `want`.
fn fails_with(cluster: &TestCluster, args: &[&str], want: &str) -> anyhow::Result<()> {
    let out = cluster.ferrofs(args)?;
    let err = stderr(&out);
    ensure!(
        !out.status.success(),
        "`ferrofs {}` succeeded",
        args.join(" ")
    );
    ensure!(
        err.lines().count() == 1 && err.contains(want),
        "`ferrofs {}` said: {err}",
        args.join(" ")
    );
    Ok(())
}

#[test]
fn unmount_kill9_umount_and_mount_again() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3, 3)?;
    let dir = tempfile::Builder::new().prefix("ferrofs-mnt-").tempdir()?;
    let mnt = dir.path().to_path_buf();
    let m = mnt.to_string_lossy().to_string();

    // Phase 1: a clean unmount (SIGTERM) leaves nothing in /proc/mounts, exit status 0.
    let mut mount = MountProcess::start_at(&cluster, &mnt, &[])?;
    std::fs::write(mnt.join("kept"), b"written through the first mount")?;
    mount.unmount()?;
    ensure!(
        !in_proc_mounts(&mnt),
        "{m} still in /proc/mounts after unmounting"
    );
    ensure!(
        std::fs::read_dir(&mnt)?.next().is_none(),
        "the bare mount point is empty"
    );
    fails_with(&cluster, &["umount", &m], "is not mounted")?;
    eprintln!("phase 1: a clean unmount leaves nothing behind");

    // Phase 2: kill -9 of the mount process leaves a dead mount; `ferrofs umount` clears it.
    let mut mount = MountProcess::start_at(&cluster, &mnt, &[])?;
    mount.kill9()?;
    match std::fs::metadata(&mnt) {
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ENOTCONN as i32) => {}
        other => bail!("expected ENOTCONN from the dead mount, got {other:?}"),
    }
    let out = mount.ferrofs_umount()?;
    ensure!(
        out.status.success(),
        "ferrofs umount of a dead mount: {}",
        stderr(&out)
    );
    ensure!(
        !in_proc_mounts(&mnt),
        "{m} still in /proc/mounts after ferrofs umount"
    );
    ensure!(
        std::fs::metadata(&mnt)?.is_dir(),
        "the mount point is usable again"
    );
    drop(mount);
    eprintln!("phase 2: ferrofs umount clears the mount of a killed process");

    // Phase 3: mounting again works, and the data written before is there.
    let mut mount = MountProcess::start_at(&cluster, &mnt, &[])?;
    ensure!(std::fs::read(mnt.join("kept"))? == b"written through the first mount");
    // Mounting twice on one place is refused with a clear line.
    fails_with(&cluster, &["mount", &m], "is already mounted")?;
    // Phase 4: a second kill -9; this time a new mount clears the dead one by itself.
    mount.kill9()?;
    let mut mount = MountProcess::start_at(&cluster, &mnt, &[])?;
    ensure!(std::fs::read(mnt.join("kept"))? == b"written through the first mount");
    mount.unmount()?;
    ensure!(!in_proc_mounts(&mnt));
    eprintln!("phase 3-4: mounting again works, also straight over a dead mount");

    // Phase 5: --background returns once the mount is live; umount ends its process.
    let log = cluster.dir().join("background.log");
    let out = cluster.ferrofs(&["mount", &m, "--background", "--log", &log.to_string_lossy()])?;
    ensure!(out.status.success(), "mount --background: {}", stderr(&out));
    ensure!(
        is_mounted(&mnt),
        "--background returned before the mount was live"
    );
    ensure!(std::fs::read(mnt.join("kept"))? == b"written through the first mount");
    let pid = background_pid(&mnt).context("finding the background mount process")?;
    let out = cluster.ferrofs(&["umount", &m])?;
    ensure!(out.status.success(), "umount: {}", stderr(&out));
    ensure!(!in_proc_mounts(&mnt));
    poll_until(
        "the background mount process to exit",
        Duration::from_secs(30),
        || !alive(pid),
    )?;
    eprintln!("phase 5: mount --background and ferrofs umount");

    // Phase 6: clear one-line errors.
    let missing = mnt.join("missing");
    fails_with(
        &cluster,
        &["mount", &missing.to_string_lossy()],
        "does not exist",
    )?;
    std::fs::write(mnt.join("file"), b"")?;
    fails_with(
        &cluster,
        &["mount", &mnt.join("file").to_string_lossy()],
        "is not a directory",
    )?;
    fails_with(&cluster, &["umount", &m], "is not mounted")?;
    eprintln!("phase 6: clear errors");
    Ok(())
}

/// The pid of the `ferrofs ... mount MNT --detached-child` process serving `mnt`.
fn background_pid(mnt: &Path) -> Option<i32> {
    let want = mnt.to_string_lossy();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == "--detached-child") && args.iter().any(|a| *a == want) {
            return Some(pid);
        }
    }
    None
}

/// Names and pids in DIR/pids.
fn pids(dir: &Path) -> anyhow::Result<Vec<(String, i32)>> {
    let text = std::fs::read_to_string(dir.join("pids"))?;
    text.lines()
        .map(|l| {
            let (name, pid) = l.split_once(' ').context("a `name pid` line")?;
            Ok((name.to_string(), pid.trim().parse()?))
        })
        .collect()
}

/// A `ferrofs dev up` folder that is brought down (`dev down`) when dropped.
struct DevDir {
    dir: tempfile::TempDir,
}

impl DevDir {
    fn path(&self) -> String {
        self.dir.path().to_string_lossy().to_string()
    }

    fn ferrofs(&self, args: &[&str]) -> anyhow::Result<Output> {
        Ok(Command::new(bin("ferrofs"))
            .arg("--config")
            .arg(self.dir.path().join("client.toml"))
            .args(args)
            .stdin(Stdio::null())
            .output()?)
    }

    fn down(&self) -> anyhow::Result<Output> {
        Ok(Command::new(bin("ferrofs"))
            .args(["dev", "down", "--dir", &self.path()])
            .output()?)
    }
}

impl Drop for DevDir {
    fn drop(&mut self) {
        let _ = self.down();
    }
}

#[test]
fn dev_up_mount_end_to_end() -> anyhow::Result<()> {
    let parent = tempfile::Builder::new()
        .prefix("ferrofs-devmnt-")
        .tempdir()?;
    // MNT does not exist yet: dev up creates it.
    let mnt = parent.path().join("mnt");
    let m = mnt.to_string_lossy().to_string();
    let dev = DevDir {
        dir: tempfile::Builder::new().prefix("ferrofs-dev-").tempdir()?,
    };
    let dir = dev.path();

    // Phase 1: detached, with --mount: the mount is live when dev up returns.
    let out = Command::new(bin("ferrofs"))
        .args([
            "dev", "up", "--dir", &dir, "--meta", "3", "--data", "3", "--detach", "--mount", &m,
        ])
        .stdin(Stdio::null())
        .output()?;
    ensure!(
        out.status.success(),
        "dev up --detach --mount: {}",
        stderr(&out)
    );
    ensure!(
        is_mounted(&mnt),
        "dev up --detach --mount returned without a mount"
    );
    let listed = pids(dev.dir.path())?;
    ensure!(listed.len() == 7, "DIR/pids: {listed:?}");
    ensure!(
        listed.iter().any(|(n, _)| n == "mount"),
        "DIR/pids has no mount entry: {listed:?}"
    );
    std::fs::create_dir(mnt.join("docs"))?;
    std::fs::write(mnt.join("docs/readme.txt"), b"through the dev mount\n")?;
    let out = dev.ferrofs(&["cat", "/docs/readme.txt"])?;
    ensure!(
        out.stdout == b"through the dev mount\n",
        "ferrofs cat: {}",
        stderr(&out)
    );

    // dev down: no mount and no process left.
    let out = dev.down()?;
    ensure!(out.status.success(), "dev down: {}", stderr(&out));
    ensure!(!in_proc_mounts(&mnt), "dev down left {m} mounted");
    for (name, pid) in &listed {
        ensure!(!alive(*pid), "dev down left {name} (pid {pid}) running");
    }
    eprintln!("phase 1: dev up --detach --mount, write, dev down");

    // Phase 2: the same cluster in the foreground with --mount; Ctrl-C unmounts and stops
    // everything, and the data written in phase 1 is still there.
    let mut up = Command::new(bin("ferrofs"))
        .args(["dev", "up", "--dir", &dir, "--mount", &m])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mounted = poll_until(
        "the foreground dev up to mount",
        Duration::from_secs(90),
        || is_mounted(&mnt) && pids(dev.dir.path()).is_ok_and(|p| p.len() == 7),
    );
    if let Err(e) = mounted {
        let _ = up.kill();
        let _ = up.wait();
        return Err(e);
    }
    ensure!(std::fs::read(mnt.join("docs/readme.txt"))? == b"through the dev mount\n");
    let listed = pids(dev.dir.path())?;
    kill(Pid::from_raw(up.id() as i32), Signal::SIGINT)?;
    let status = wait_child(&mut up, Duration::from_secs(60))?;
    ensure!(status.success(), "dev up after Ctrl-C: {status}");
    ensure!(!in_proc_mounts(&mnt), "Ctrl-C left {m} mounted");
    for (name, pid) in &listed {
        ensure!(!alive(*pid), "Ctrl-C left {name} (pid {pid}) running");
    }
    eprintln!("phase 2: foreground dev up --mount, Ctrl-C");
    Ok(())
}
