//! Issue 5, acceptance 4: for two minutes a writer puts files of varied sizes (many of
//! them several chunks long: the cluster uses 256 KiB chunks) while a randomly chosen
//! metadata or data process is killed -9 every few seconds and started again. A put
//! that fails is retried and only a put that returned is acknowledged. Afterwards,
//! once repair has settled, `ferrofs fsck` is clean and every acknowledged file reads
//! back with the right blake3.

use ferrofs_client::Client;
use ferrofs_tests::data::{content, hash};
use ferrofs_tests::files::{get_bytes, mkdir_p, put_bytes};
use ferrofs_tests::{wait_until, TestCluster};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LOOP: Duration = Duration::from_secs(120);
const CHUNK: usize = 256 * 1024;
/// Sizes cycled through: empty, small, one chunk exactly, and up to 6 chunks.
const SIZES: [usize; 7] = [
    0,
    3_000,
    100_000,
    CHUNK,
    CHUNK * 2 + 17,
    700_000,
    CHUNK * 6 - 1,
];
/// One put attempt may take this long before it counts as failed and is retried.
const PUT_TIMEOUT: Duration = Duration::from_secs(30);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);

/// One acknowledged file.
struct Acked {
    path: String,
    len: usize,
    hash: blake3::Hash,
}

/// Put files until `stop`; returns the acknowledged ones and the failed attempts.
async fn writer(client: Client, stop: Arc<AtomicBool>) -> (Vec<Acked>, Vec<String>) {
    let mut acked = Vec::new();
    let mut failures = Vec::new();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let path = format!("/loop/f{i}");
        let bytes = content(i as u64 + 9000, SIZES[i % SIZES.len()]);
        // Retry until acknowledged; a put still failing when the loop ends is simply
        // not acknowledged.
        loop {
            match tokio::time::timeout(PUT_TIMEOUT, put_bytes(&client, &path, &bytes)).await {
                Ok(Ok(attr)) if attr.size == bytes.len() as u64 => {
                    acked.push(Acked {
                        path: path.clone(),
                        len: bytes.len(),
                        hash: hash(&bytes),
                    });
                    break;
                }
                Ok(Ok(attr)) => failures.push(format!("{path}: put returned size {}", attr.size)),
                Ok(Err(e)) => failures.push(format!("{path}: {e:#}")),
                Err(_) => failures.push(format!("{path}: put timed out")),
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
            // Back off a little before retrying against a cluster that is failing over.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        i += 1;
    }
    (acked, failures)
}

/// Kill -9 a random process every few seconds and start it again, one at a time, so
/// never more than one metadata and one data process are down.
fn killer(cluster: &mut TestCluster, seed: u64, until: Instant) -> anyhow::Result<Vec<String>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut kills = Vec::new();
    while Instant::now() < until {
        let kind = if rng.random_bool(0.5) { "meta" } else { "data" };
        let names = cluster.names(kind);
        let name = names[rng.random_range(0..names.len())].clone();
        cluster.kill9(&name)?;
        kills.push(name.clone());
        // The fault schedule: how long the process stays dead and the cluster stays whole.
        std::thread::sleep(Duration::from_millis(rng.random_range(500..2500)));
        cluster.restart(&name)?;
        std::thread::sleep(Duration::from_millis(rng.random_range(1500..4000)));
    }
    Ok(kills)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_files_survive_two_minutes_of_kill_9() -> anyhow::Result<()> {
    let mut cluster =
        TestCluster::start_with(3, 4, &["--chunk-size", "256KiB", "--down-after", "5s"])?;
    let client = cluster.client().await?;
    assert_eq!(
        client.chunk_size(),
        CHUNK as u64,
        "the cluster ignored --chunk-size"
    );
    mkdir_p(&client, "/loop").await?;
    let seed: u64 = rand::rng().random();
    eprintln!("phase 1: writing for {LOOP:?} while killing processes (seed {seed})");

    let stop = Arc::new(AtomicBool::new(false));
    let writing = tokio::spawn(writer(client.clone(), stop.clone()));
    let until = Instant::now() + LOOP;
    let (cluster, kills) = tokio::task::spawn_blocking(move || {
        let kills = killer(&mut cluster, seed, until);
        (cluster, kills)
    })
    .await?;
    stop.store(true, Ordering::Relaxed);
    let kills = kills?;
    let (acked, failures) = writing.await?;
    let multi = acked.iter().filter(|a| a.len > CHUNK).count();
    eprintln!(
        "phase 1: {} kills ({} meta), {} files acknowledged ({multi} multi-chunk), {} failed attempts",
        kills.len(),
        kills.iter().filter(|k| k.starts_with("meta")).count(),
        acked.len(),
        failures.len()
    );
    for f in failures.iter().take(5) {
        eprintln!("  failed attempt: {f}");
    }
    assert!(kills.len() >= 20, "too few kills: {kills:?}");
    assert!(
        acked.len() >= 20,
        "too few files acknowledged: {}",
        acked.len()
    );
    assert!(multi > 0, "no multi-chunk file was acknowledged");

    let t0 = Instant::now();
    let mut last = String::new();
    let settled = wait_until("fsck to exit 0", SETTLE_TIMEOUT, || {
        let out = cluster.ferrofs(&["fsck"]);
        let clean = matches!(&out, Ok(o) if o.status.success());
        if let Ok(o) = &out {
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        async move { clean.then_some(()) }
    })
    .await;
    settled.map_err(|e| anyhow::anyhow!("{e}; last fsck:\n{last}"))?;
    eprintln!(
        "phase 2: fsck clean {:.1?} after the last kill",
        t0.elapsed()
    );

    let client = cluster.client().await?;
    for a in &acked {
        let got = get_bytes(&client, &a.path).await?;
        assert_eq!(got.len(), a.len, "{}: wrong length", a.path);
        assert_eq!(hash(&got), a.hash, "{}: wrong bytes", a.path);
    }
    eprintln!(
        "phase 3: all {} acknowledged files read back intact",
        acked.len()
    );
    Ok(())
}
