//! Issue 2, acceptance 1: 200 files of random sizes through a 3+3 cluster of real
//! processes come back byte-identical, and every chunk has 3 copies on 3 distinct servers
//! (chunks small enough to be kept inline in the metadata have their bytes there instead).

use ferrofs_tests::data::{content, hash};
use ferrofs_tests::files::{get_bytes, mkdir_p, put_bytes};
use ferrofs_tests::{raw, TestCluster};
use rand::{Rng, SeedableRng};
use std::collections::HashSet;

const MIB: u64 = 1024 * 1024;

fn sizes(chunk: u64, count: usize) -> Vec<u64> {
    // The edges first: empty, one byte, exact chunk multiples and one byte over/under.
    let mut sizes = vec![
        0,
        1,
        chunk - 1,
        chunk,
        chunk + 1,
        2 * chunk,
        2 * chunk + 1,
        3 * chunk,
        4 * chunk + 1,
        5 * chunk,
    ];
    sizes.push(20 * MIB);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xfe220f5);
    while sizes.len() < count {
        // Log-uniform up to 20 MiB: many small files, some large, as real trees have.
        let exp: f64 = rng.random_range(0.0..(20.0 * MIB as f64).log2());
        sizes.push(2f64.powf(exp) as u64);
    }
    sizes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_files_round_trip_with_three_distinct_copies() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3, 3)?;
    let client = cluster.client().await?;
    let chunk = client.chunk_size();
    let sizes = sizes(chunk, 200);
    mkdir_p(&client, "/data").await?;

    // Phase 1: put every file, 4 at a time.
    let mut tasks = tokio::task::JoinSet::new();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
    for (i, size) in sizes.iter().copied().enumerate() {
        let (client, sem) = (client.clone(), sem.clone());
        tasks.spawn(async move {
            let _permit = sem.acquire().await?;
            let bytes = content(i as u64, size as usize);
            put_bytes(&client, &format!("/data/f{i}"), &bytes).await?;
            anyhow::Ok((i, hash(&bytes)))
        });
    }
    let mut hashes = vec![None; sizes.len()];
    while let Some(r) = tasks.join_next().await {
        let (i, h) = r??;
        hashes[i] = Some(h);
    }
    eprintln!(
        "phase 1: put {} files, {} MiB",
        sizes.len(),
        sizes.iter().sum::<u64>() / MIB
    );

    // Phase 2: read every file back, compare bytes, and check its chunks' copies.
    let cfg: ferrofs_proto::config::ClientConfig =
        ferrofs_proto::config::load(&cluster.client_config())?;
    let conn = raw::connector(&cfg)?;
    let mut chunks_checked = 0;
    let mut inline_checked = 0;
    for (i, size) in sizes.iter().enumerate() {
        let path = format!("/data/f{i}");
        let bytes = get_bytes(&client, &path).await?;
        assert_eq!(bytes.len() as u64, *size, "{path}: size");
        assert_eq!(Some(hash(&bytes)), hashes[i], "{path}: content differs");
        let attr = client.resolve(&path).await?;
        let locations =
            raw::chunk_locations(&conn, &cfg.meta_addrs, attr.ino, size.div_ceil(chunk)).await?;
        assert_eq!(
            locations.len() as u64,
            size.div_ceil(chunk),
            "{path}: chunk count"
        );
        for loc in locations {
            if loc.chunk.len <= cfg.inline_max_bytes {
                // Small chunks live in the metadata: bytes inline, no data server.
                assert!(
                    loc.chunk.inline.is_some() && loc.servers.is_empty(),
                    "{path} chunk {} of {} bytes is not inline: servers {:?}",
                    loc.index,
                    loc.chunk.len,
                    loc.servers
                );
                inline_checked += 1;
                continue;
            }
            let distinct: HashSet<_> = loc.servers.iter().collect();
            assert_eq!(
                distinct.len(),
                3,
                "{path} chunk {}: servers {:?}",
                loc.index,
                loc.servers
            );
            chunks_checked += 1;
        }
    }
    eprintln!(
        "phase 2: {} files identical, {chunks_checked} chunks with 3 distinct copies, \
         {inline_checked} small chunks inline",
        sizes.len()
    );
    assert!(inline_checked > 0, "the small files were not kept inline");
    Ok(())
}
