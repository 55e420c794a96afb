//! Issue 3 (speed by design: read-ahead for sequential reads). The kernel keeps several
//! read requests of one reader in flight, more the larger its read-ahead window, and the
//! mount answers them in parallel. They must still count as one sequential reader:
//! each chunk is fetched from the data servers once, whole, and not again as block
//! ranges for requests that arrived while an earlier one waited for its chunk. Before
//! the fix, this test saw the data servers read 1.37 times the file (fio's 1 MiB reads,
//! 4 MiB kernel read-ahead); runs by hand with 1 MiB and 4 MiB windows gave 1.3 to 1.7.

use anyhow::{ensure, Context, Result};
use ferrofs_proto::config::{load, DataConfig};
use ferrofs_tests::data::content;
use ferrofs_tests::metrics::{sample, scrape};
use ferrofs_tests::mount::MountProcess;
use ferrofs_tests::TestCluster;
use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const MIB: usize = 1024 * 1024;

/// What the data servers have served clients so far: bytes read from their disks,
/// whole-chunk gets and block-range gets.
fn data_reads(cluster: &TestCluster) -> Result<[f64; 3]> {
    let mut total = [0.0; 3];
    for name in cluster.names("data") {
        let cfg: DataConfig = load(&cluster.dir().join(&name).join("data.toml"))?;
        let addr = cfg
            .metrics_addr
            .context("data server has no metrics_addr")?;
        let s = scrape(addr)?;
        total[0] += sample(&s, "ferrofs_data_read_bytes_total");
        total[1] += sample(&s, "ferrofs_data_requests_total{op=\"get\"}");
        total[2] += sample(&s, "ferrofs_data_requests_total{op=\"get_blocks\"}");
    }
    Ok(total)
}

/// Set the kernel's read-ahead window of the file system mounted at `mnt`.
fn set_read_ahead_kib(mnt: &Path, kib: u32) -> Result<()> {
    let dev = std::fs::metadata(mnt)?.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let knob = format!("/sys/class/bdi/{major}:{minor}/read_ahead_kb");
    std::fs::write(&knob, kib.to_string())
        .with_context(|| format!("writing {knob} (the test runs as root)"))
}

#[test]
fn a_sequential_reader_fetches_each_chunk_once_with_a_large_kernel_read_ahead() -> Result<()> {
    let cluster = TestCluster::start(3, 3)?;
    let mount = MountProcess::start(&cluster, &[])?;
    let data = content(11, 256 * MIB);
    std::fs::write(mount.join("big.bin"), &data)?;
    set_read_ahead_kib(mount.path(), 4096)?;
    // The reads below must reach the mount, not the page cache.
    let file = std::fs::File::open(mount.join("big.bin"))?;
    posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED)?;
    let before = data_reads(&cluster)?;
    // fio's reads, as in the peer benchmark: 1 MiB at a time, one after the other.
    let out = std::process::Command::new("fio")
        .args(["--name=seqread", "--rw=read", "--bs=1M", "--ioengine=psync"])
        .arg(format!("--filename={}", mount.join("big.bin").display()))
        .arg(format!("--size={}", data.len()))
        .output()
        .context("running fio (scripts/install-deps.sh installs it)")?;
    ensure!(
        out.status.success(),
        "fio failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = data_reads(&cluster)?;
    let [fetched, gets, block_gets] = [0, 1, 2].map(|i| after[i] - before[i]);
    let len = data.len() as f64;
    eprintln!(
        "data servers read {fetched} bytes for a {len}-byte file ({:.2}x): {gets} chunk gets, {block_gets} block gets",
        fetched / len
    );
    ensure!(
        fetched >= len,
        "only {fetched} bytes came from the data servers"
    );
    ensure!(
        fetched <= len * 1.1,
        "the data servers read {fetched} bytes for a {len}-byte file: chunks were fetched twice"
    );
    Ok(())
}
