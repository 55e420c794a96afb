//! Issue 7: FUSE operation metrics on the mount.
//! 1. `ferrofs dev up --mount` gives the mount a metrics address and prints it.
//! 2. Before, during and after a workload through the real mount, its `/metrics` parses
//!    with a real Prometheus parser (Python's prometheus_client).
//! 3. Afterwards the write count and bytes written grew by at least what was written
//!    through the mount, reads by what was read back, the namespace operations were
//!    counted, a lookup of a missing name was counted as an ENOENT error, and every
//!    mount metric the Grafana dashboard in deploy/ queries exists.
//! 4. `dev down` unmounts, and nothing serves the metrics address any more.

use anyhow::{ensure, Context, Result};
use ferrofs_tests::cluster::bin;
use ferrofs_tests::data::content;
use ferrofs_tests::metrics::{grafana_metrics, http_get, sample, scrape, Samples};
use ferrofs_tests::mount::in_proc_mounts;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const MIB: usize = 1024 * 1024;
/// Largest write the kernel sends to the mount in one request.
const MAX_WRITE: usize = MIB;

/// A `dev up` folder; `dev down` on drop so a failed test leaves nothing running.
struct DevDir {
    dir: tempfile::TempDir,
}

impl DevDir {
    fn ferrofs(&self, args: &[&str]) -> Result<Output> {
        let dir = self.dir.path().to_string_lossy().to_string();
        let mut all = vec!["dev"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--dir", &dir]);
        Command::new(bin("ferrofs"))
            .args(&all)
            .stdin(Stdio::null())
            .output()
            .context("running ferrofs dev")
    }
}

impl Drop for DevDir {
    fn drop(&mut self) {
        let _ = self.ferrofs(&["down"]);
    }
}

fn ops(s: &Samples, op: &str) -> f64 {
    sample(s, &format!("ferrofs_mount_ops_total{{op=\"{op}\"}}"))
}

/// The address after `metrics mount: http://` in `dev up`'s output.
fn printed_metrics_addr(stdout: &str) -> Option<SocketAddr> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("metrics mount: http://"))
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .and_then(|addr| addr.parse().ok())
}

/// Write, read back, rename, remove and list through the mount; returns the bytes
/// written and read.
fn workload(mnt: &Path) -> Result<(usize, usize)> {
    let dir = mnt.join("work");
    std::fs::create_dir(&dir)?;
    let (mut written, mut read) = (0, 0);
    for (i, size) in [3 * MIB + 17, MIB, 4097].into_iter().enumerate() {
        let data = content(i as u64, size);
        let path = dir.join(format!("f{i}"));
        std::fs::write(&path, &data)?;
        written += size;
        let back = std::fs::read(&path)?;
        ensure!(back == data, "f{i} reads back different bytes");
        read += back.len();
    }
    std::fs::rename(dir.join("f0"), dir.join("g0"))?;
    std::fs::remove_file(dir.join("f2"))?;
    let names = std::fs::read_dir(&dir)?.count();
    ensure!(names == 2, "work/ lists {names} names, expected 2");
    let missing = std::fs::metadata(dir.join("never-made"));
    ensure!(
        missing.is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound),
        "a missing name is not found"
    );
    Ok((written, read))
}

#[test]
fn mount_metrics_follow_a_workload_through_the_mount() -> Result<()> {
    let parent = tempfile::Builder::new().prefix("ferrofs-mm-").tempdir()?;
    let mnt = parent.path().join("mnt");
    let m = mnt.to_string_lossy().to_string();
    let dev = DevDir {
        dir: tempfile::Builder::new().prefix("ferrofs-dev-").tempdir()?,
    };

    // Phase 1: dev up --mount prints the mount's metrics address, and it answers.
    let out = dev.ferrofs(&[
        "up", "--meta", "1", "--data", "3", "--detach", "--mount", &m,
    ])?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    ensure!(
        out.status.success(),
        "dev up --mount: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addr = printed_metrics_addr(&stdout)
        .with_context(|| format!("dev up printed no mount metrics address:\n{stdout}"))?;
    let before = scrape(addr)?;
    eprintln!("phase 1: dev up --mount printed http://{addr}/metrics; it parses");

    // Phase 2: the workload while another thread scrapes over and over.
    let stop = Arc::new(AtomicBool::new(false));
    let scraper = {
        let stop = stop.clone();
        std::thread::spawn(move || -> Result<usize> {
            let mut rounds = 0;
            while !stop.load(Ordering::Acquire) || rounds == 0 {
                scrape(addr)?;
                rounds += 1;
            }
            Ok(rounds)
        })
    };
    let worked = workload(&mnt);
    stop.store(true, Ordering::Release);
    let rounds = scraper
        .join()
        .map_err(|_| anyhow::anyhow!("scraper panicked"))??;
    let (written, read) = worked?;
    eprintln!("phase 2: wrote {written} and read {read} bytes; {rounds} scrapes parsed meanwhile");

    // Phase 3: the counters moved with the workload. Metrics are recorded before the
    // kernel is answered, so everything the workload saw is counted.
    let after = scrape(addr)?;
    let grew = |key: &str| sample(&after, key) - sample(&before, key);
    let bytes_written = grew("ferrofs_mount_written_bytes_total");
    ensure!(
        bytes_written >= written as f64,
        "mount's written bytes grew by {bytes_written}, expected at least {written}"
    );
    let bytes_read = grew("ferrofs_mount_read_bytes_total");
    ensure!(
        bytes_read >= read as f64,
        "mount's read bytes grew by {bytes_read}, expected at least {read}"
    );
    let writes = ops(&after, "write") - ops(&before, "write");
    let min_writes = written.div_ceil(MAX_WRITE).max(3);
    ensure!(
        writes >= min_writes as f64,
        "{writes} write operations counted, expected at least {min_writes}"
    );
    let write_latencies = sample(
        &after,
        "ferrofs_mount_op_duration_seconds_count{op=\"write\"}",
    );
    ensure!(
        write_latencies == ops(&after, "write"),
        "every write is timed: {write_latencies} latencies for {} writes",
        ops(&after, "write")
    );
    for (op, at_least) in [
        ("create", 3.0),
        ("mkdir", 1.0),
        ("rename", 1.0),
        ("unlink", 1.0),
        ("read", 3.0),
        ("lookup", 1.0),
    ] {
        let n = ops(&after, op) - ops(&before, op);
        ensure!(
            n >= at_least,
            "{n} {op} operations counted, expected >= {at_least}"
        );
    }
    let listed = ops(&after, "readdir") + ops(&after, "readdirplus")
        - ops(&before, "readdir")
        - ops(&before, "readdirplus");
    ensure!(listed >= 1.0, "the directory listing was not counted");
    let enoent = grew("ferrofs_mount_op_errors_total{errno=\"ENOENT\",op=\"lookup\"}");
    ensure!(enoent >= 1.0, "the failed lookup was not counted as ENOENT");
    eprintln!(
        "phase 3: +{bytes_written} bytes written, +{bytes_read} read, +{writes} writes, +{enoent} ENOENT lookups"
    );

    let names = grafana_metrics("ferrofs_mount_")?;
    ensure!(
        names.len() >= 3,
        "the Grafana dashboard queries mount metrics: {names:?}"
    );
    for name in &names {
        let known = after.keys().any(|k| k.split('{').next() == Some(name));
        ensure!(
            known,
            "deploy/grafana-dashboard.json queries {name}, which the mount does not export"
        );
    }
    eprintln!(
        "phase 3: all {} mount metrics Grafana queries exist",
        names.len()
    );

    // Phase 4: dev down unmounts; the metrics server went with the mount process.
    let out = dev.ferrofs(&["down"])?;
    ensure!(
        out.status.success(),
        "dev down: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(!in_proc_mounts(&mnt), "dev down left {m} mounted");
    ensure!(
        http_get(addr, "/metrics").is_err(),
        "http://{addr}/metrics still answers after dev down"
    );
    eprintln!("phase 4: dev down unmounted; the metrics address is closed");
    Ok(())
}
