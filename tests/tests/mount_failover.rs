//! Issue 3, acceptance 4: the metadata leader is killed (kill -9) while `tar x` unpacks
//! into the mount. tar finishes without an error, the tree equals its source, and the
//! killed node is restarted and catches up.

use anyhow::{anyhow, bail, ensure};
use ferrofs_tests::leader::{meta_name, MetaProbe};
use ferrofs_tests::mount::{count_files, sh, wait_child, MountProcess};
use ferrofs_tests::{wait_until, TestCluster};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Trees tar may unpack, the first with enough files: about a thousand small files, so
/// the kill lands mid-way and the test stays short.
const SOURCES: &[&str] = &["usr/share/zoneinfo", "usr/share/perl", "usr/include"];
/// Files tar must have written before the leader is killed.
const BEFORE_KILL: usize = 300;

/// A child process killed if the test fails while it runs (it would keep the mount busy).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn leader_killed_during_tar_x() -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let mut cluster = TestCluster::start(3, 3)?;
    let probe = {
        let _in_runtime = rt.enter();
        MetaProbe::new(&cluster)?
    };
    let mount = MountProcess::start(&cluster, &[])?;
    let mnt = mount.path().to_path_buf();
    let local = tempfile::Builder::new()
        .prefix("ferrofs-local-")
        .tempdir_in("/var/tmp")?;
    let tarball = local.path().join("src.tar");
    let (source, files) = SOURCES
        .iter()
        .map(|s| (*s, count_files(&Path::new("/").join(s))))
        .find(|(_, n)| *n >= 3 * BEFORE_KILL)
        .ok_or_else(|| anyhow!("none of {SOURCES:?} has {} files", 3 * BEFORE_KILL))?;
    sh(
        local.path(),
        &format!("tar -C / -cf {} {source}", tarball.display()),
    )?;

    // Phase 1: tar x runs; once it is well under way, the leader dies.
    std::fs::create_dir(mnt.join("x"))?;
    let mut tar = KillOnDrop(
        Command::new("tar")
            .arg("-C")
            .arg(mnt.join("x"))
            .arg("-xf")
            .arg(&tarball)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?,
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    while count_files(&mnt.join("x")) < BEFORE_KILL {
        if tar.0.try_wait()?.is_some() {
            bail!("tar ended before {BEFORE_KILL} files were written; the kill would be too late");
        }
        if Instant::now() > deadline {
            bail!("tar wrote fewer than {BEFORE_KILL} files in 300 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let leader = rt
        .block_on(probe.status())?
        .leader
        .ok_or_else(|| anyhow!("no leader"))?;
    cluster.kill9(&meta_name(leader))?;
    let at_kill = count_files(&mnt.join("x"));
    eprintln!(
        "phase 1: killed leader {leader} with {at_kill} of {files} files of /{source} unpacked"
    );
    ensure!(
        tar.0.try_wait()?.is_none(),
        "tar must still be running when the leader dies"
    );

    // Phase 2: tar finishes cleanly and the tree equals its source.
    let status = wait_child(&mut tar.0, Duration::from_secs(900))?;
    let mut stderr = String::new();
    if let Some(mut e) = tar.0.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut stderr)?;
    }
    ensure!(
        status.success() && stderr.is_empty(),
        "tar: {status}: {stderr}"
    );
    sh(
        &mnt,
        &format!("diff -r --no-dereference /{source} x/{source}"),
    )?;
    ensure!(count_files(&mnt.join("x")) == files);
    let new_leader = rt.block_on(probe.status())?.leader;
    eprintln!("phase 2: tar finished without error, diff -r is clean; leader now {new_leader:?}");

    // Phase 3: the killed node comes back and catches up.
    cluster.restart(&meta_name(leader))?;
    rt.block_on(wait_until(
        "the restarted node to catch up",
        Duration::from_secs(60),
        || async {
            let s = probe.status().await.ok()?;
            let v = s.voters.iter().find(|v| v.id == leader)?;
            (v.matched_index? >= s.commit_index.saturating_sub(5) && v.role != "unreachable")
                .then_some(())
        },
    ))?;
    eprintln!("phase 3: node {leader} restarted and caught up");
    drop(mount);
    Ok(())
}
