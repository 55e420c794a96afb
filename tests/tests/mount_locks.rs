//! File locks across two mounts of one cluster: `fcntl` byte-range locks and `flock`
//! taken through mount A conflict with those taken through mount B, `F_GETLK` on one
//! mount reports the other's lock, closing a file releases its locks for the other
//! mount, a blocking `F_SETLKW` on one mount is granted when the other releases, a
//! process blocked in `F_SETLKW` can be killed, and the locks of a killed mount process
//! are dropped by the cluster after the lock timeout, while those of live mounts outlive a
//! killed metadata leader.
//!
//! Locks belong to processes, so every holder is its own child process: a python3
//! "lock agent" that runs one command per stdin line and answers one line on stdout.

use anyhow::{ensure, Context, Result};
use ferrofs_tests::leader::{meta_name, MetaProbe};
use ferrofs_tests::lock_agent::{open, Agent, KILLED_WAITER_EXITS, REPLY};
use ferrofs_tests::metrics::meta_requests;
use ferrofs_tests::mount::{poll_until, MountProcess};
use ferrofs_tests::TestCluster;
use std::time::{Duration, Instant};

/// The lock timeout the test clusters run with (`ferrofs dev up --lock-timeout`): five
/// of the mounts' one-second renewals, so a busy test machine's late renewal does not
/// end a live mount's session.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// Scheduling slack on top of the lock timeout for a dead mount's locks to go.
const DEAD_MOUNT_SLACK: Duration = Duration::from_secs(12);

/// A cluster with a short lock timeout, mounted twice, with `files` created (empty).
fn two_mounts(files: &[&str]) -> Result<(TestCluster, MountProcess, MountProcess)> {
    let timeout = format!("{}s", LOCK_TIMEOUT.as_secs());
    let cluster = TestCluster::start_with(3, 3, &["--lock-timeout", &timeout])?;
    let a = MountProcess::start(&cluster, &[])?;
    let b = MountProcess::start(&cluster, &[])?;
    for f in files {
        std::fs::write(a.join(f), b"locked file\n")?;
    }
    Ok((cluster, a, b))
}

#[test]
fn fcntl_locks_conflict_across_mounts_until_the_holder_closes() -> Result<()> {
    let (_cluster, a, b) = two_mounts(&["ranges"])?;
    let mut pa = Agent::start("A1 (mount A)")?;
    let mut pa2 = Agent::start("A2 (mount A)")?;
    let mut pb = Agent::start("B1 (mount B)")?;
    open(&mut pa, "f", &a.join("ranges"))?;
    open(&mut pa2, "f", &a.join("ranges"))?;
    open(&mut pb, "f", &b.join("ranges"))?;

    // Phase 1: A1 write-locks bytes 0-99 and read-locks 200-299; B1 conflicts with the
    // write lock whatever it asks for, shares the read lock, and locks the bytes between.
    pa.ok("setlk f w 0 100")?;
    pa.ok("setlk f r 200 100")?;
    pb.refused("setlk f w 50 10")?;
    pb.refused("setlk f r 0 1")?;
    pb.refused("setlk f r 99 1")?;
    pb.ok("setlk f w 100 50")?;
    pb.ok("setlk f r 250 10")?;
    pb.refused("setlk f w 250 10")?; // upgrading its read lock conflicts with A1's
    pb.ok("setlk f w 1000 0")?; // from 1000 to the end of the file
    pa.refused("setlk f w 149 1")?;
    pa.refused("setlk f r 5000000 1")?;
    pa.ok("setlk f w 150 50")?;
    pa2.refused("setlk f r 120 1")?;
    eprintln!("phase 1: conflicts and sharing across mounts");

    // Phase 2: F_GETLK on each mount reports the other mount's locks (type and range),
    // and a process on the holder's own mount also gets the holder's pid.
    ensure!(pb.conflict("f", "w", 0, 50)? == "w 0 100");
    ensure!(pb.conflict("f", "w", 220, 10)? == "r 200 100");
    ensure!(pb.conflict("f", "r", 220, 10)? == "unlocked");
    ensure!(pb.conflict("f", "w", 160, 10)? == "w 150 50");
    ensure!(pb.conflict("f", "w", 400, 100)? == "unlocked");
    ensure!(pa.conflict("f", "r", 120, 10)? == "w 100 50");
    ensure!(pa.conflict("f", "r", 1 << 40, 1)? == "w 1000 0");
    let got = pa2.getlk("f", "w", 10, 10)?;
    ensure!(
        got == format!("w 0 100 {}", pa.pid),
        "A2's F_GETLK of A1's lock answered {got:?} (A1 is pid {})",
        pa.pid
    );
    eprintln!("phase 2: F_GETLK sees the other mount's locks");

    // Phase 3: A1 closes another descriptor of the file: all its locks on it go at once
    // (close returned, so the unlock is done), and B1 takes their ranges.
    open(&mut pa, "g", &a.join("ranges"))?;
    pa.ok("close g")?;
    pb.ok("setlk f w 0 100")?;
    pb.ok("setlk f w 200 100")?;
    pa.refused("setlk f r 10 1")?;
    pa2.refused("setlk f w 299 1")?;
    ensure!(pa.conflict("f", "r", 150, 50)? == "unlocked");
    eprintln!("phase 3: closing any descriptor released A1's locks for mount B");

    // Phase 4: B1 exits; its locks go with it and A2 locks the whole file.
    pb.exit()?;
    pa2.ok("setlk f w 0 0")?;
    pa.refused("setlk f r 0 1")?;
    eprintln!("phase 4: B1's exit released its locks for mount A");
    Ok(())
}

#[test]
fn setlkw_waits_for_the_other_mount_and_a_killed_waiter_dies() -> Result<()> {
    let (cluster, a, b) = two_mounts(&["wait"])?;
    let mut pa = Agent::start("A1 (mount A)")?;
    let mut pb = Agent::start("B1 (mount B)")?;
    open(&mut pa, "f", &a.join("wait"))?;
    open(&mut pb, "f", &b.join("wait"))?;

    // Phase 1: B1 waits in F_SETLKW for A1's write lock and gets it once A1 unlocks.
    // While it waits, its mount polls the lock table with reads, not with refused
    // SetLock commits (one per poll, ten a second, before).
    pa.ok("setlk f w 0 0")?;
    let set_locks_before = meta_requests(&cluster, "set_lock")?;
    let polls_before = meta_requests(&cluster, "test_lock")?;
    pb.send("setlkw f w 10 10")?;
    pb.blocks_in(nix::libc::SYS_fcntl)?;
    poll_until(
        "B1's mount to poll the lock table",
        Duration::from_secs(30),
        || meta_requests(&cluster, "test_lock").is_ok_and(|n| n >= polls_before + 5.0),
    )?;
    pa.ok("setlk f u 0 0")?;
    let t = Instant::now();
    let got = pb.recv(REPLY)?;
    let granted_after = t.elapsed();
    ensure!(got == "ok", "B1's F_SETLKW answered {got:?}");
    let set_locks = meta_requests(&cluster, "set_lock")? - set_locks_before;
    ensure!(
        set_locks <= 3.0,
        "B1's wait sent {set_locks} SetLock requests; it should poll with reads"
    );
    pa.refused("setlk f w 15 1")?;
    pa.ok("setlk f w 20 10")?;
    pa.ok("setlk f u 0 0")?;
    eprintln!(
        "phase 1: B1's F_SETLKW was granted {granted_after:?} after A1 unlocked; \
         {set_locks} SetLock requests"
    );

    // Phase 2: the same the other way round, released by closing the file.
    let mut pa2 = Agent::start("A2 (mount A)")?;
    open(&mut pa2, "f", &a.join("wait"))?;
    pa2.send("setlkw f r 0 100")?;
    pa2.blocks_in(nix::libc::SYS_fcntl)?;
    pb.ok("close f")?;
    let got = pa2.recv(REPLY)?;
    ensure!(got == "ok", "A2's F_SETLKW answered {got:?}");
    eprintln!("phase 2: A2's F_SETLKW was granted when B1 closed the file");

    // Phase 3: a process waiting in F_SETLKW for another mount's lock dies on SIGKILL,
    // and leaves no lock behind once the holder is gone.
    open(&mut pb, "f", &b.join("wait"))?;
    pb.refused("setlk f w 50 1")?;
    pa2.ok("close f")?;
    pb.ok("setlk f w 0 0")?;
    let mut waiter = Agent::start("A3 (mount A)")?;
    open(&mut waiter, "f", &a.join("wait"))?;
    waiter.send("setlkw f w 0 0")?;
    waiter.blocks_in(nix::libc::SYS_fcntl)?;
    let took = waiter.kill_within(KILLED_WAITER_EXITS)?;
    eprintln!("phase 3: the killed waiter was gone after {took:?}");
    pb.ok("close f")?;
    let mut after = Agent::start("A4 (mount A)")?;
    open(&mut after, "f", &a.join("wait"))?;
    let took = after.ok_within("setlk f w 0 0", Duration::from_secs(10))?;
    eprintln!("phase 3: the file was free {took:?} after B1 closed it");
    Ok(())
}

#[test]
fn flock_conflicts_across_mounts_until_the_holder_closes() -> Result<()> {
    let (_cluster, a, b) = two_mounts(&["flocked"])?;
    let mut pa = Agent::start("A1 (mount A)")?;
    let mut pb = Agent::start("B1 (mount B)")?;
    open(&mut pa, "f", &a.join("flocked"))?;
    open(&mut pb, "f", &b.join("flocked"))?;

    // Phase 1: A1's exclusive flock refuses B1's flocks, and (a whole-file lock, as on
    // NFS) B1's fcntl locks too.
    pa.ok("flock f ex")?;
    pb.refused("flock f ex nb")?;
    pb.refused("flock f sh nb")?;
    pb.refused("setlk f r 100 1")?;
    eprintln!("phase 1: A1's exclusive flock refuses mount B");

    // Phase 2: A1 closes the file; B1's non-blocking flock then succeeds (the kernel
    // releases flocks after close returns, so poll).
    pa.ok("close f")?;
    let took = pb.ok_within("flock f ex nb", Duration::from_secs(10))?;
    eprintln!("phase 2: B1 got the flock {took:?} after A1 closed the file");

    // Phase 3: shared flocks share across mounts; an explicit unlock is immediate.
    open(&mut pa, "f", &a.join("flocked"))?;
    pa.refused("flock f sh nb")?;
    pb.ok("flock f sh")?; // downgrade
    pa.ok("flock f sh nb")?;
    pb.refused("flock f ex nb")?;
    pa.ok("flock f un")?;
    pb.ok("flock f ex nb")?;
    pa.refused("flock f sh nb")?;
    pb.ok("flock f un")?;
    pa.ok("flock f ex nb")?;
    eprintln!("phase 3: shared flocks share, unlocks are seen at once");
    Ok(())
}

#[test]
fn a_killed_mount_loses_its_locks_after_the_lock_timeout() -> Result<()> {
    let (_cluster, mut a, b) = two_mounts(&["posix", "whole"])?;
    let mut pa = Agent::start("A1 (mount A)")?;
    let mut pb = Agent::start("B1 (mount B)")?;
    open(&mut pa, "p", &a.join("posix"))?;
    open(&mut pa, "w", &a.join("whole"))?;
    open(&mut pb, "p", &b.join("posix"))?;
    open(&mut pb, "w", &b.join("whole"))?;

    // Phase 1: A1 locks; while mount A lives its locks outlive the lock timeout: B1 is
    // refused at every try for twice the timeout.
    pa.ok("setlk p w 0 0")?;
    pa.ok("flock w ex")?;
    let t = Instant::now();
    let mut tries = 0;
    while t.elapsed() < 2 * LOCK_TIMEOUT + Duration::from_secs(1) {
        pb.refused("setlk p r 0 1")?;
        pb.refused("flock w sh nb")?;
        tries += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "phase 1: a live mount kept its locks for {:?} ({tries} tries)",
        t.elapsed()
    );

    // Phase 2: kill -9 mount A's process. The cluster drops A's locks after the lock
    // timeout, and B1 takes both.
    a.kill9()?;
    let t = Instant::now();
    let deadline = LOCK_TIMEOUT + DEAD_MOUNT_SLACK;
    pb.ok_within("setlk p w 0 0", deadline)?;
    let posix = t.elapsed();
    pb.ok_within("flock w ex nb", deadline.saturating_sub(t.elapsed()))?;
    eprintln!(
        "phase 2: A's fcntl lock went {posix:?} and its flock {:?} after the kill",
        t.elapsed()
    );
    drop(pa);
    let out = a.ferrofs_umount()?;
    ensure!(
        out.status.success(),
        "ferrofs umount of the dead mount: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    // Phase 3: B's locks stay B's: a new process on B is refused.
    let mut pb2 = Agent::start("B2 (mount B)")?;
    open(&mut pb2, "p", &b.join("posix"))?;
    open(&mut pb2, "w", &b.join("whole"))?;
    pb2.refused("setlk p r 0 1")?;
    pb2.refused("flock w sh nb")?;
    eprintln!("phase 3: B1 holds the dead mount's former locks");
    Ok(())
}

#[test]
fn locks_outlive_a_killed_metadata_leader() -> Result<()> {
    let (mut cluster, a, b) = two_mounts(&["db"])?;
    let rt = tokio::runtime::Runtime::new()?;
    let _in_rt = rt.enter();
    let probe = MetaProbe::new(&cluster)?;
    let mut pa = Agent::start("A1 (mount A)")?;
    let mut pb = Agent::start("B1 (mount B)")?;
    open(&mut pa, "f", &a.join("db"))?;
    open(&mut pb, "f", &b.join("db"))?;
    pa.ok("setlk f w 0 0")?;
    pb.refused("setlk f r 0 1")?;

    // Phase 1: the leader dies. The locks are in the replicated state machine, and the
    // new leader starts A's session afresh, so B stays refused through the election and
    // for twice the lock timeout after it (A renews with the new leader).
    let leader = rt.block_on(probe.status())?.leader.context("no leader")?;
    cluster.kill9(&meta_name(leader))?;
    let t = Instant::now();
    while rt.block_on(probe.leader_other_than(Some(leader))).is_none() {
        ensure!(
            t.elapsed() < REPLY,
            "no new leader {REPLY:?} after the kill"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let elected = t.elapsed();
    let t = Instant::now();
    while t.elapsed() < 2 * LOCK_TIMEOUT + Duration::from_secs(1) {
        pb.refused("setlk f r 0 1")?;
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "phase 1: a new leader after {elected:?}; A's lock held for {:?} more",
        t.elapsed()
    );

    // Phase 2: A closes the file; B gets the lock.
    pa.ok("close f")?;
    let took = pb.ok_within("setlk f w 0 0", Duration::from_secs(10))?;
    eprintln!("phase 2: B got the lock {took:?} after A closed the file");
    Ok(())
}

#[test]
fn a_mount_with_local_locks_keeps_them_to_itself() -> Result<()> {
    let cluster = TestCluster::start(3, 3)?;
    let a = MountProcess::start(&cluster, &[])?;
    let b = MountProcess::start(&cluster, &["--local-locks"])?;
    for f in ["posix", "whole"] {
        std::fs::write(a.join(f), b"locked file\n")?;
    }
    let mut pa = Agent::start("A1 (mount A)")?;
    let mut pb = Agent::start("B1 (mount B, local locks)")?;
    let mut pb2 = Agent::start("B2 (mount B, local locks)")?;
    for (agent, mnt) in [(&mut pa, &a), (&mut pb, &b), (&mut pb2, &b)] {
        open(agent, "p", &mnt.join("posix"))?;
        open(agent, "w", &mnt.join("whole"))?;
    }
    pa.ok("setlk p w 0 0")?;
    pa.ok("flock w ex")?;
    // B's kernel does not ask the cluster: A's locks do not exclude B ...
    pb.ok("setlk p w 0 0")?;
    pb.ok("flock w ex nb")?;
    // ... while B's own processes still exclude each other.
    pb2.refused("setlk p r 0 1")?;
    pb2.refused("flock w sh nb")?;
    Ok(())
}
