//! POSIX locks through one mount, between processes: `fcntl` byte-range locks conflict
//! or share by range and type, unlocking part of a lock splits it, `F_GETLK` reports the
//! holder's type, range and pid, closing any descriptor of the file (or exiting) drops a
//! process's locks, `flock` shared and exclusive locks with `LOCK_NB`, and blocking
//! `F_SETLKW` / `flock` wait until the holder lets go (and a waiter can be killed).
//!
//! Locks belong to processes, so every holder is its own child process: a python3
//! "lock agent" that runs one command per stdin line and answers one line on stdout.

mod common;

use anyhow::{ensure, Result};
use common::Mounted;
use ferrofs_fuse::MountOptions;
use ferrofs_tests::lock_agent::{open, Agent, KILLED_WAITER_EXITS, REPLY};
use std::path::Path;
use std::time::{Duration, Instant};

/// A mounted cluster with `files` created (a few bytes each).
fn mounted(files: &[&str]) -> Result<Mounted> {
    let m = Mounted::start(MountOptions::default())?;
    for f in files {
        std::fs::write(m.path(f), b"locked file\n")?;
    }
    Ok(m)
}

/// Start agents named `names`, each with `file` open as `f`.
fn agents_on(file: &Path, names: &[&str]) -> Result<Vec<Agent>> {
    names
        .iter()
        .map(|name| {
            let mut agent = Agent::start(name)?;
            open(&mut agent, "f", file)?;
            Ok(agent)
        })
        .collect()
}

#[test]
fn byte_range_locks_conflict_share_and_split() -> Result<()> {
    let m = mounted(&["ranges"])?;
    let mut ps = agents_on(&m.path("ranges"), &["P1", "P2", "P3"])?;
    let [p1, p2, p3] = &mut ps[..] else {
        unreachable!()
    };

    // Phase 1: P1 write-locks bytes 0-99: P2 is refused any lock overlapping them, even
    // by one byte, and locks the bytes right after; F_GETLK names the holders.
    p1.ok("setlk f w 0 100")?;
    p2.refused("setlk f w 50 10")?;
    p2.refused("setlk f r 99 1")?;
    p2.refused("setlk f w 0 0")?;
    p2.ok("setlk f w 100 50")?;
    p1.refused("setlk f r 100 1")?;
    let got = p2.getlk("f", "w", 0, 0)?;
    ensure!(
        got == format!("w 0 100 {}", p1.pid),
        "P2's F_GETLK: {got:?}"
    );
    let got = p3.getlk("f", "r", 120, 1)?;
    ensure!(
        got == format!("w 100 50 {}", p2.pid),
        "P3's F_GETLK: {got:?}"
    );
    let got = p3.getlk("f", "w", 150, 1000)?;
    ensure!(got == "unlocked", "P3's F_GETLK past the locks: {got:?}");
    let got = p1.getlk("f", "w", 0, 100)?;
    ensure!(got == "unlocked", "P1's F_GETLK of its own lock: {got:?}");
    eprintln!("phase 1: overlapping locks conflict, adjacent ones do not");

    // Phase 2: P1 unlocks the middle, 40-59: its lock splits in two. P3 locks the hole,
    // but neither part left and right of it.
    p1.ok("setlk f u 40 20")?;
    let got = p3.getlk("f", "w", 40, 20)?;
    ensure!(got == "unlocked", "F_GETLK of the unlocked middle: {got:?}");
    p3.ok("setlk f w 40 20")?;
    p3.refused("setlk f w 0 10")?;
    p3.refused("setlk f r 39 1")?;
    p3.refused("setlk f w 60 1")?;
    let got = p2.getlk("f", "w", 0, 10)?;
    ensure!(got == format!("w 0 40 {}", p1.pid), "left part: {got:?}");
    let got = p2.getlk("f", "r", 90, 5)?;
    ensure!(got == format!("w 60 40 {}", p1.pid), "right part: {got:?}");
    let got = p1.getlk("f", "r", 45, 1)?;
    ensure!(got == format!("w 40 20 {}", p3.pid), "the middle: {got:?}");
    eprintln!("phase 2: unlocking the middle split P1's lock");

    // Phase 3: read locks share, with any number of holders; a write lock is refused
    // while any of them holds, and F_GETLK reports a read lock.
    p1.ok("setlk f r 1000 100")?;
    p2.ok("setlk f r 1050 100")?;
    p3.ok("setlk f r 1020 200")?;
    p3.refused("setlk f w 1000 1")?;
    p1.refused("setlk f w 1060 1")?;
    let got = p3.getlk("f", "w", 1000, 10)?;
    ensure!(got == format!("r 1000 100 {}", p1.pid), "{got:?}");
    let got = p1.getlk("f", "w", 1150, 10)?;
    ensure!(got == format!("r 1020 200 {}", p3.pid), "{got:?}");
    let got = p1.getlk("f", "r", 1000, 300)?;
    ensure!(got == "unlocked", "read over read locks: {got:?}");
    eprintln!("phase 3: read locks share");

    // Phase 4: a lock of length 0 runs to the end of the file, however far it grows.
    p2.ok("setlk f w 5000 0")?;
    p1.refused("setlk f w 1000000000 1")?;
    p1.ok("setlk f w 4000 1000")?;
    let got = p1.getlk("f", "w", 1 << 40, 1)?;
    ensure!(got == format!("w 5000 0 {}", p2.pid), "{got:?}");
    eprintln!("phase 4: a lock to the end of the file");
    Ok(())
}

#[test]
fn closing_any_descriptor_or_exiting_releases_the_locks() -> Result<()> {
    let m = mounted(&["x", "y"])?;
    let (x, y) = (m.path("x"), m.path("y"));
    let mut p1 = Agent::start("P1")?;
    let mut p2 = Agent::start("P2")?;
    open(&mut p1, "x", &x)?;
    open(&mut p1, "x2", &x)?;
    open(&mut p1, "y", &y)?;
    open(&mut p2, "x", &x)?;
    open(&mut p2, "y", &y)?;
    p1.ok("setlk x w 0 0")?;
    p1.ok("setlk y w 0 10")?;
    p2.refused("setlk x w 0 1")?;
    p2.refused("setlk y r 5 1")?;

    // Phase 1: closing a second descriptor of y drops P1's locks on y, not those on x.
    open(&mut p1, "y2", &y)?;
    p1.ok("close y2")?;
    p2.ok("setlk y w 0 10")?;
    p2.refused("setlk x w 0 1")?;
    eprintln!("phase 1: closing one file released only that file's locks");

    // Phase 2: closing x2, which was not used to lock, drops P1's lock on x; P1's other
    // descriptor of x stays open but holds nothing.
    p1.ok("close x2")?;
    p2.ok("setlk x w 0 0")?;
    p1.refused("setlk x r 7 1")?;
    eprintln!("phase 2: closing any descriptor of x released P1's lock");

    // Phase 3: a process's exit drops its locks, also when killed.
    p2.exit()?;
    let mut p3 = Agent::start("P3")?;
    open(&mut p3, "x", &x)?;
    p3.ok("setlk x w 0 0")?;
    p1.refused("setlk x w 0 1")?;
    let took = p3.kill_within(Duration::from_secs(10))?;
    p1.ok("setlk x w 0 0")?;
    eprintln!("phase 3: exiting (and being killed {took:?}) released the locks");
    Ok(())
}

#[test]
fn flock_shared_exclusive_and_nonblocking() -> Result<()> {
    let m = mounted(&["flocked"])?;
    let mut ps = agents_on(&m.path("flocked"), &["P1", "P2", "P3"])?;
    let [p1, p2, p3] = &mut ps[..] else {
        unreachable!()
    };

    // Phase 1: shared locks share; an exclusive one waits for all of them to go.
    p1.ok("flock f sh")?;
    p2.ok("flock f sh nb")?;
    p3.refused("flock f ex nb")?;
    p1.ok("flock f un")?;
    p3.refused("flock f ex nb")?;
    p2.ok("flock f un")?;
    p3.ok("flock f ex nb")?;
    p1.refused("flock f sh nb")?;
    p2.refused("flock f ex nb")?;
    eprintln!("phase 1: shared flocks share, exclusive excludes");

    // Phase 2: a flock belongs to the open file, not the process: another descriptor of
    // P3 is refused too. Downgrading lets shared lockers in.
    open(p3, "g", &m.path("flocked"))?;
    p3.refused("flock g ex nb")?;
    p3.refused("flock g sh nb")?;
    p3.ok("flock f sh nb")?;
    p1.ok("flock f sh nb")?;
    p3.ok("flock g sh nb")?;
    p2.refused("flock f ex nb")?;
    eprintln!("phase 2: flocks belong to open files; downgrading shares");

    // Phase 3: closing the files drops their flocks (the kernel does that after close
    // returns, so poll).
    p1.ok("close f")?;
    p3.ok("close f")?;
    p3.ok("close g")?;
    let took = p2.ok_within("flock f ex nb", Duration::from_secs(10))?;
    eprintln!("phase 3: P2 got the exclusive flock {took:?} after the others closed");
    Ok(())
}

#[test]
fn blocking_locks_wait_for_the_holder_and_a_killed_waiter_dies() -> Result<()> {
    let m = mounted(&["wait", "whole"])?;
    let (wait, whole) = (m.path("wait"), m.path("whole"));
    let mut p1 = Agent::start("P1")?;
    let mut p2 = Agent::start("P2")?;
    open(&mut p1, "f", &wait)?;
    open(&mut p2, "f", &wait)?;

    // Phase 1: P2 waits in F_SETLKW for P1's lock and gets it when P1 unlocks.
    p1.ok("setlk f w 0 100")?;
    p2.send("setlkw f w 50 10")?;
    p2.blocks_in(libc::SYS_fcntl)?;
    p1.ok("setlk f u 0 100")?;
    let t = Instant::now();
    let got = p2.recv(REPLY)?;
    ensure!(got == "ok", "P2's F_SETLKW answered {got:?}");
    p1.refused("setlk f w 55 1")?;
    eprintln!(
        "phase 1: F_SETLKW granted {:?} after the unlock",
        t.elapsed()
    );

    // Phase 2: a blocking flock waits for the exclusive holder to unlock.
    open(&mut p1, "h", &whole)?;
    open(&mut p2, "h", &whole)?;
    p1.ok("flock h ex")?;
    p2.send("flock h sh")?;
    p2.blocks_in(libc::SYS_flock)?;
    p1.ok("flock h un")?;
    let got = p2.recv(REPLY)?;
    ensure!(got == "ok", "P2's blocking flock answered {got:?}");
    p1.refused("flock h ex nb")?;
    eprintln!("phase 2: a blocking flock was granted after the unlock");

    // Phase 3: a process waiting in F_SETLKW dies on SIGKILL, and leaves no lock
    // behind once the holder is gone.
    let mut waiter = Agent::start("P3")?;
    open(&mut waiter, "f", &wait)?;
    waiter.send("setlkw f w 0 0")?;
    waiter.blocks_in(libc::SYS_fcntl)?;
    let took = waiter.kill_within(KILLED_WAITER_EXITS)?;
    eprintln!("phase 3: the killed waiter was gone after {took:?}");
    p2.ok("close f")?;
    let mut after = Agent::start("P4")?;
    open(&mut after, "f", &wait)?;
    let took = after.ok_within("setlk f w 0 0", Duration::from_secs(10))?;
    eprintln!("phase 3: the file was free {took:?} after P2 closed it");
    Ok(())
}
