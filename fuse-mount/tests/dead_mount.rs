//! A mount whose process is killed leaves "Transport endpoint is not connected";
//! `unmount` clears it, and mounting again on the same folder clears it too.

mod common;

use anyhow::{bail, Context};
use common::{is_mount_point, wait_for, Mounted};
use ferrofs_fuse::{mount_blocking, MountOptions};
use ferrofs_tests::TestCluster;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHILD_MOUNT: &str = "FERROFS_FUSE_CHILD_MOUNT";
const CHILD_CONFIG: &str = "FERROFS_FUSE_CHILD_CONFIG";

/// Not a test on its own: the mount process that `a_killed_mount_*` starts and kills.
#[test]
#[ignore = "helper process for a_killed_mount_is_cleared"]
fn child_mount_server() -> anyhow::Result<()> {
    let mp = std::env::var(CHILD_MOUNT).context("no mount point given")?;
    let cfg: ferrofs_proto::config::ClientConfig =
        ferrofs_proto::config::load(std::env::var(CHILD_CONFIG)?.as_ref())?;
    let rt = tokio::runtime::Runtime::new()?;
    let client = rt.block_on(ferrofs_client::Client::connect(cfg))?;
    let (_keep, rx) = std::sync::mpsc::channel();
    mount_blocking(
        client,
        rt.handle().clone(),
        mp.as_ref(),
        &MountOptions::default(),
        rx,
    )?;
    Ok(())
}

fn spawn_child(cluster: &TestCluster, mp: &std::path::Path) -> anyhow::Result<Child> {
    let child = Command::new(std::env::current_exe()?)
        .args(["--exact", "child_mount_server", "--ignored", "--nocapture"])
        .env(CHILD_MOUNT, mp)
        .env(CHILD_CONFIG, cluster.client_config())
        .stdin(Stdio::null())
        .spawn()?;
    Ok(child)
}

fn kill_child(mut child: Child) -> anyhow::Result<()> {
    child.kill()?;
    child.wait()?;
    Ok(())
}

#[test]
fn a_killed_mount_is_cleared_by_unmount_and_by_mounting_again() -> anyhow::Result<()> {
    let cluster = TestCluster::start(1, 3)?;
    let dir = tempfile::Builder::new().prefix("ferrofs-dead-").tempdir()?;
    let mp = dir.path().to_path_buf();

    // Phase 1: a mount process writes a file, then dies by SIGKILL.
    let child = spawn_child(&cluster, &mp)?;
    wait_for("the child's mount", Duration::from_secs(20), || {
        is_mount_point(&mp)
    })?;
    std::fs::write(mp.join("survivor"), b"written before the crash")?;
    kill_child(child)?;
    let dead = std::fs::metadata(&mp);
    match dead {
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {}
        other => bail!("expected ENOTCONN from a dead mount, got {other:?}"),
    }
    eprintln!("phase 1: a killed mount leaves ENOTCONN");

    // Phase 2: unmount clears it.
    ferrofs_fuse::unmount(&mp)?;
    assert!(!is_mount_point(&mp));
    assert!(std::fs::metadata(&mp)?.is_dir());
    assert!(matches!(
        ferrofs_fuse::unmount(&mp),
        Err(ferrofs_fuse::MountError::NotMounted { .. })
    ));
    eprintln!("phase 2: unmount clears the dead mount");

    // Phase 3: kill again; mounting on the dead mount clears it first, and the data
    // written before the first crash is there.
    let child = spawn_child(&cluster, &mp)?;
    wait_for("the child's second mount", Duration::from_secs(20), || {
        is_mount_point(&mp)
    })?;
    kill_child(child)?;
    let rt = tokio::runtime::Runtime::new()?;
    let client = rt.block_on(cluster.client())?;
    let (tx, rx) = std::sync::mpsc::channel();
    let (handle, target) = (rt.handle().clone(), mp.clone());
    let serving = std::thread::spawn(move || {
        mount_blocking(client, handle, &target, &MountOptions::default(), rx)
    });
    wait_for("the new mount to serve", Duration::from_secs(20), || {
        std::fs::metadata(mp.join("survivor")).is_ok()
    })?;
    assert_eq!(
        std::fs::read(mp.join("survivor"))?,
        b"written before the crash"
    );
    tx.send(())?;
    match serving.join() {
        Ok(r) => r?,
        Err(_) => bail!("mount thread panicked"),
    }
    assert!(!is_mount_point(&mp));
    eprintln!("phase 3: mounting again over a dead mount works and the data is intact");
    Ok(())
}

#[test]
fn unmount_while_a_file_is_open_detaches_lazily() -> anyhow::Result<()> {
    let mut m = Mounted::start(MountOptions::default())?;
    let mut f = std::fs::File::create(m.path("busy"))?;
    let mp = m.root().to_path_buf();
    // A busy mount cannot be unmounted normally; `unmount` falls back to a lazy
    // detach: the mount point goes at once, the session ends at the last close.
    ferrofs_fuse::unmount(&mp)?;
    assert!(!is_mount_point(&mp), "lazily detached");
    std::io::Write::write_all(&mut f, b"still served")?;
    drop(f);
    m.unmount()?; // returns once the session has ended
    Ok(())
}
