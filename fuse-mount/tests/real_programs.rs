//! Real programs on the mount: tar, cp -a, git, sqlite3 (byte-range locks are kept
//! local by the kernel), and dd of a big file checked by sha256sum. The dd rates
//! are printed for reference, not asserted.

mod common;

use common::{Mounted, MIB};
use ferrofs_fuse::MountOptions;
use std::time::Instant;

#[test]
fn tar_cp_git_sqlite_and_dd() -> anyhow::Result<()> {
    let m = Mounted::start(MountOptions::default())?;
    let src = tempfile::tempdir()?;
    let s = src.path().display();

    // Phase 1: a tree made on the local disk goes in with tar and cp -a and compares
    // equal, modes and times included.
    m.ok(&format!(
        "cd {s} && mkdir -p tree/a/b tree/c && head -c 3000000 /dev/urandom > tree/a/b/blob && \
         echo hi > tree/c/hi && ln -s ../c/hi tree/a/link && chmod 640 tree/c/hi && \
         touch -d '2010-05-05 10:00:00' tree/c/hi && tar -C {s} -cf {s}/tree.tar tree"
    ))?;
    m.ok(&format!(
        "mkdir untar && tar -C untar -xf {s}/tree.tar && diff -r {s}/tree untar/tree"
    ))?;
    m.ok(&format!("cp -a {s}/tree copied && diff -r {s}/tree copied"))?;
    let stat = m.ok("stat -c '%a %Y' copied/c/hi untar/tree/c/hi")?;
    assert_eq!(
        stat.lines().collect::<Vec<_>>(),
        vec!["640 1273053600"; 2],
        "{stat}"
    );
    m.ok("tar -cf - copied | tar -tf - | grep -q copied/a/b/blob")?;
    eprintln!("phase 1: tar and cp -a");

    // Phase 2: git init, add, commit, status, and a clone.
    let git = "git -c user.name=t -c user.email=t@t -c init.defaultBranch=main";
    m.ok(&format!(
        "mkdir repo && cd repo && {git} init -q && echo one > f && {git} add f && {git} commit -qm one && \
         echo two >> f && {git} commit -qam two && {git} status --porcelain && {git} fsck --no-progress"
    ))?;
    let log = m.ok(&format!("cd repo && {git} log --format=%s"))?;
    assert_eq!(log, "two\none\n");
    m.ok(&format!("{git} clone -q repo clone && cat clone/f"))?;
    eprintln!("phase 2: git");

    // Phase 3: sqlite3 with a journal, a transaction and an integrity check.
    let out = m.ok(
        "sqlite3 db.sqlite 'create table t(x); begin; insert into t values(1),(2),(3); commit; \
         update t set x = x * 10; select sum(x) from t; pragma integrity_check;'",
    )?;
    assert_eq!(out, "60\nok\n");
    eprintln!("phase 3: sqlite3");

    // Phase 4: dd a 256 MiB file in and out, checked by sha256sum.
    let size_mib = 256;
    m.ok(&format!("head -c {}M /dev/urandom > {s}/big", size_mib))?;
    let t = Instant::now();
    m.ok(&format!("dd if={s}/big of=big bs=1M status=none"))?;
    let write_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let sums = m.ok(&format!(
        "sha256sum < {s}/big; dd if=big bs=1M status=none | sha256sum"
    ))?;
    let read_s = t.elapsed().as_secs_f64();
    let lines: Vec<&str> = sums.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], lines[1], "the file reads back identical");
    assert_eq!(std::fs::metadata(m.path("big"))?.len(), size_mib * MIB);
    eprintln!(
        "phase 4: dd {size_mib} MiB: write {:.0} MiB/s, read+hash {:.0} MiB/s",
        size_mib as f64 / write_s,
        size_mib as f64 / read_s
    );
    Ok(())
}
