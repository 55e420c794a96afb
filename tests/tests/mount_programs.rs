//! Issue 3, acceptance 2: real programs on a FUSE mount of a 3 + 3 cluster (replication 3).
//! One test, phases in order (they share the mount and would only fight for 2 cores):
//! a tar of at least 5,000 files from this machine, compared with `diff -r`; git init, add,
//! commit, status and log on that tree; rsync -a into and out of the mount; sqlite3 with
//! 10,000 rows in transactions and an integrity check; cp of a 2 GiB file checked by cmp;
//! fio writing and verifying with crc32c; and `df` showing the cluster's capacity and use.

use anyhow::{bail, ensure, Context};
use ferrofs_tests::mount::{count_files, poll_until, sh, source_trees, timed_sh, MountProcess};
use ferrofs_tests::TestCluster;
use std::time::Duration;

const MIN_FILES: usize = 5000;
const GIB: u64 = 1 << 30;

#[test]
fn real_programs_on_the_mount() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3, 3)?;
    let mount = MountProcess::start(&cluster, &[])?;
    let mnt = mount.path().to_path_buf();
    let local = tempfile::Builder::new()
        .prefix("ferrofs-local-")
        .tempdir_in("/var/tmp")?;
    let l = local.path().display();

    // Phase 1: tar of >= 5,000 files from this machine, unpacked into the mount, equal to its
    // source (symlinks compared as links, not followed).
    let (trees, files) = source_trees(MIN_FILES)?;
    let trees = trees.join(" ");
    eprintln!("phase 1: {files} files from {trees}");
    sh(local.path(), &format!("tar -C / -cf {l}/src.tar {trees}"))?;
    timed_sh(
        &mnt,
        "tar x",
        &format!("mkdir tree && tar -C tree -xf {l}/src.tar"),
    )?;
    let unpacked = count_files(&mnt.join("tree"));
    ensure!(
        unpacked == files,
        "unpacked {unpacked} files, the source has {files}"
    );
    for t in trees.split(' ') {
        timed_sh(
            &mnt,
            "diff -r",
            &format!("diff -r --no-dereference /{t} tree/{t}"),
        )?;
    }

    // Phase 2: git on that tree.
    let git = "git -c user.name=t -c user.email=t@example.com -c init.defaultBranch=main \
               -c gc.auto=0 -c core.fsync=none";
    timed_sh(
        &mnt,
        "git add + commit",
        &format!("cd tree && {git} init -q && {git} add -A && {git} commit -qm import"),
    )?;
    let status = timed_sh(
        &mnt,
        "git status",
        &format!("cd tree && {git} status --porcelain"),
    )?;
    ensure!(status.is_empty(), "git status after commit: {status}");
    sh(
        &mnt,
        &format!("cd tree && echo changed > NEWFILE && {git} add -A && {git} commit -qm second"),
    )?;
    let log = sh(&mnt, &format!("cd tree && {git} log --format=%s"))?;
    ensure!(log == "second\nimport\n", "git log: {log:?}");
    let tracked: usize = sh(&mnt, &format!("cd tree && {git} ls-files | wc -l"))?
        .trim()
        .parse()?;
    ensure!(tracked > files, "git tracks {tracked} files");
    sh(
        &mnt,
        &format!("cd tree && {git} fsck --no-progress --connectivity-only"),
    )?;
    eprintln!("phase 2: git add/commit/status/log on {tracked} files");

    // Phase 3: rsync -a into the mount and back out, no differences.
    timed_sh(&mnt, "rsync in", "rsync -a /usr/share/zoneinfo/ rs-in/")?;
    sh(&mnt, "diff -r --no-dereference /usr/share/zoneinfo rs-in")?;
    timed_sh(&mnt, "rsync out", &format!("rsync -a tree/ {l}/rs-out/"))?;
    sh(&mnt, &format!("diff -r --no-dereference tree {l}/rs-out"))?;
    let again = sh(
        &mnt,
        &format!("rsync -a --itemize-changes tree/ {l}/rs-out/"),
    )?;
    ensure!(
        again.is_empty(),
        "a second rsync still found changes: {again}"
    );
    eprintln!("phase 3: rsync");

    // Phase 4: sqlite3, 10,000 rows in 10 transactions, then an integrity check.
    let mut sql = String::from("create table t(id integer primary key, v text not null);\n");
    for batch in 0..10 {
        sql.push_str(&format!(
            "begin; with recursive n(i) as (select 1 union all select i + 1 from n where i < 1000) \
             insert into t(v) select printf('row-%d-%d', {batch}, i) from n; commit;\n"
        ));
    }
    sql.push_str("select count(*), count(distinct v) from t; pragma integrity_check;\n");
    std::fs::write(local.path().join("rows.sql"), &sql)?;
    let out = timed_sh(
        &mnt,
        "sqlite3",
        &format!("sqlite3 db.sqlite < {l}/rows.sql"),
    )?;
    ensure!(out == "10000|10000\nok\n", "sqlite3 said {out:?}");
    eprintln!("phase 4: sqlite3");

    // Phase 5: cp of a 2 GiB file, compared with cmp; the original is deleted after. Its
    // three replicas need 6 GiB of this machine's disk, so the original goes to RAM when
    // there is room: CI's shared disk has run short of the 8 GiB both would take.
    let original_dir = big_original_dir(local.path())?;
    let o = original_dir.path().display();
    eprintln!(
        "  2 GiB original in {o}; {} GiB free for the cluster",
        available_bytes(cluster.dir())? / GIB
    );
    timed_sh(
        original_dir.path(),
        "make 2 GiB",
        "head -c 2G /dev/urandom > big",
    )?;
    timed_sh(&mnt, "cp 2 GiB", &format!("cp {o}/big big"))?;
    timed_sh(&mnt, "cmp 2 GiB", &format!("cmp {o}/big big"))?;
    drop(original_dir);
    ensure!(std::fs::metadata(mnt.join("big"))?.len() == 2 * GIB);
    eprintln!("phase 5: cp + cmp of 2 GiB");

    // Phase 6: fio writes with crc32c checksums and verifies them.
    let fio = timed_sh(
        &mnt,
        "fio",
        "mkdir fio && fio --name=verify --directory=fio --size=256M --bs=64k --rw=write \
         --ioengine=psync --fallocate=none --verify=crc32c --do_verify=1 --verify_fatal=1 \
         --output-format=terse",
    )?;
    ensure!(fio.starts_with("3;"), "fio terse output: {fio}");
    eprintln!("phase 6: fio verify");

    // Phase 7: df shows the cluster: the data servers' capacity, and at least the 2 GiB
    // file in use once the servers have reported it.
    let status = status_json(&cluster)?;
    let capacity: u64 = status["data_servers"]
        .as_array()
        .context("data_servers")?
        .iter()
        .filter_map(|d| d["capacity"].as_u64())
        .sum();
    let df = |field: &str| -> anyhow::Result<u64> {
        Ok(sh(&mnt, &format!("df -B1 --output={field} . | tail -1"))?
            .trim()
            .parse()?)
    };
    let size = df("size")?;
    // Capacity is re-reported every second; allow 1% of drift between the two reads.
    ensure!(
        size.abs_diff(capacity) <= capacity / 100,
        "df size {size}, cluster capacity {capacity}"
    );
    poll_until(
        "df to show the 2 GiB in use",
        Duration::from_secs(30),
        || df("used").is_ok_and(|u| u >= 2 * GIB),
    )?;
    eprintln!("phase 7: df size {size}, used {}", df("used")?);
    drop(mount);
    Ok(())
}

/// `ferrofs status --json`, retried for a while: a busy cluster may time a call out.
fn status_json(cluster: &TestCluster) -> anyhow::Result<serde_json::Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = cluster.ferrofs(&["status", "--json"])?;
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).context("parsing ferrofs status --json");
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "ferrofs status --json: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        eprintln!(
            "  status failed, retrying: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Where the 2 GiB original is made: a folder in /dev/shm if it has room to spare,
/// else one under `fallback`. Removed when dropped.
fn big_original_dir(fallback: &std::path::Path) -> anyhow::Result<tempfile::TempDir> {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() && available_bytes(shm)? >= 3 * GIB {
        shm
    } else {
        fallback
    };
    Ok(tempfile::Builder::new()
        .prefix("ferrofs-big-")
        .tempdir_in(dir)?)
}

fn available_bytes(path: &std::path::Path) -> anyhow::Result<u64> {
    let st = nix::sys::statvfs::statvfs(path).with_context(|| format!("statvfs {path:?}"))?;
    Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
}
