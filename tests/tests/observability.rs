//! Issue 7: seeing the cluster.
//! 1. Every server's `/metrics` parses with a real Prometheus parser (Python's
//!    prometheus_client, OpenMetrics flavour) while files are put, and the data servers'
//!    bytes written grow by at least the bytes put times the replication factor.
//! 2. Headless Chromium opens a metadata follower's dashboard, sees every data server
//!    up, then sees a killed one go down, and saves a screenshot.
//! 3. `ferrofs status --json` parses and agrees with the leader's metrics on the
//!    number of data servers up.

use anyhow::{bail, Context, Result};
use ferrofs_proto::config::{load, DataConfig, MetaConfig};
use ferrofs_tests::data::content;
use ferrofs_tests::files::{mkdir_p, put_bytes};
use ferrofs_tests::metrics::{sample, scrape, Samples};
use ferrofs_tests::TestCluster;
use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MIB: usize = 1024 * 1024;

/// The HTTP (metrics) address of every server, by process name.
fn metrics_addrs(cluster: &TestCluster) -> Result<BTreeMap<String, SocketAddr>> {
    let mut out = BTreeMap::new();
    for name in cluster.names("meta") {
        let cfg: MetaConfig = load(&cluster.dir().join(&name).join("meta.toml"))?;
        out.insert(
            name.clone(),
            cfg.metrics_addr.context("meta has no metrics_addr")?,
        );
    }
    for name in cluster.names("data") {
        let cfg: DataConfig = load(&cluster.dir().join(&name).join("data.toml"))?;
        out.insert(
            name.clone(),
            cfg.metrics_addr.context("data has no metrics_addr")?,
        );
    }
    Ok(out)
}

/// Call `check` every 200 ms until it returns true; false after `limit`.
fn poll(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The name of the metadata server that reports itself leader in its metrics.
fn leader_by_metrics(scrapes: &BTreeMap<String, Samples>) -> Option<String> {
    scrapes
        .iter()
        .find(|(name, s)| {
            name.starts_with("meta") && sample(s, "ferrofs_meta_raft_role{role=\"leader\"}") == 1.0
        })
        .map(|(name, _)| name.clone())
}

fn scrape_all(addrs: &BTreeMap<String, SocketAddr>) -> Result<BTreeMap<String, Samples>> {
    addrs
        .iter()
        .map(|(name, addr)| {
            Ok((
                name.clone(),
                scrape(*addr).with_context(|| format!("scraping {name}"))?,
            ))
        })
        .collect()
}

fn written(scrapes: &BTreeMap<String, Samples>) -> f64 {
    scrapes
        .values()
        .map(|s| sample(s, "ferrofs_data_written_bytes_total"))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_parse_and_follow_the_workload() -> Result<()> {
    let cluster = TestCluster::start(3, 3)?;
    let addrs = metrics_addrs(&cluster)?;
    let before = scrape_all(&addrs)?;
    let leader = leader_by_metrics(&before).context("no metadata server reports itself leader")?;
    let terms: Vec<f64> = before
        .iter()
        .filter(|(n, _)| n.starts_with("meta"))
        .map(|(_, s)| sample(s, "ferrofs_meta_raft_term"))
        .collect();
    assert!(
        terms.iter().all(|t| *t >= 1.0),
        "every voter knows a term: {terms:?}"
    );
    eprintln!("phase 1: {} servers scraped, leader {leader}", addrs.len());

    // Phase 2: put 6 MiB while another thread scrapes every server over and over.
    let stop = Arc::new(AtomicBool::new(false));
    let scraper = {
        let (addrs, stop) = (addrs.clone(), stop.clone());
        std::thread::spawn(move || -> Result<usize> {
            let mut rounds = 0;
            while !stop.load(Ordering::Acquire) || rounds == 0 {
                scrape_all(&addrs)?;
                rounds += 1;
            }
            Ok(rounds)
        })
    };
    let client = cluster.client().await?;
    mkdir_p(&client, "/obs").await?;
    let mut put = 0usize;
    for (i, size) in [3 * MIB, 2 * MIB + 12345, MIB - 1].into_iter().enumerate() {
        put_bytes(&client, &format!("/obs/f{i}"), &content(i as u64, size)).await?;
        put += size;
    }
    stop.store(true, Ordering::Release);
    let rounds = scraper
        .join()
        .map_err(|_| anyhow::anyhow!("scraper panicked"))??;
    eprintln!("phase 2: put {put} bytes; {rounds} scrape rounds during the workload parsed");

    // Phase 3: the counters moved with the workload.
    let after = scrape_all(&addrs)?;
    let grew = written(&after) - written(&before);
    let replication = 3.0;
    assert!(
        grew >= replication * put as f64,
        "data servers' written bytes grew by {grew}, expected at least {} ({put} bytes x3)",
        replication * put as f64
    );
    let commits = |s: &BTreeMap<String, Samples>| {
        s.get(&leader).map_or(0.0, |m| {
            sample(m, "ferrofs_meta_requests_total{op=\"commit_chunks\"}")
        })
    };
    assert!(
        commits(&after) >= commits(&before) + 3.0,
        "the leader counted the chunk commits"
    );
    let chunks: f64 = after
        .values()
        .map(|s| sample(s, "ferrofs_data_chunks"))
        .sum();
    assert!(
        chunks >= 9.0,
        "at least 3 chunks x 3 copies stored, metrics say {chunks}"
    );
    let hist = after.get(&leader).map_or(0.0, |m| {
        sample(
            m,
            "ferrofs_meta_request_duration_seconds_count{op=\"commit_chunks\"}",
        )
    });
    assert!(hist >= 3.0, "commit latency histogram counted {hist}");
    eprintln!("phase 3: written bytes grew by {grew} (>= 3 x {put}), {chunks} chunk copies");

    // Phase 4: every metric the Grafana dashboard in deploy/ queries exists.
    let grafana = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana-dashboard.json");
    let grafana = std::fs::read_to_string(&grafana)?;
    let names: std::collections::BTreeSet<&str> = grafana
        .match_indices("ferrofs_")
        .map(|(at, _)| {
            let rest = &grafana[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|n| n.starts_with("ferrofs_meta_") || n.starts_with("ferrofs_data_"))
        .collect();
    assert!(
        names.len() >= 10,
        "the dashboard queries metrics: {names:?}"
    );
    for name in &names {
        let known = after
            .values()
            .flat_map(|s| s.keys())
            .any(|k| k.split('{').next() == Some(*name));
        assert!(
            known,
            "deploy/grafana-dashboard.json queries {name}, which no server exports"
        );
    }
    eprintln!(
        "phase 4: all {} metrics the Grafana dashboard queries exist",
        names.len()
    );
    Ok(())
}

/// Run headless Chromium with `args` then `url`; kill it after `limit`.
fn chromium(profile: &Path, args: &[String], url: &str, limit: Duration) -> Result<String> {
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("running chromium (scripts/install-deps.sh installs it)")?;
    let mut stdout = child.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            let out = reader.join().unwrap_or_default();
            if !status.success() {
                bail!("chromium exited with {status}");
            }
            return Ok(out);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("chromium did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The page's DOM once its first status fetch has rendered.
fn dump_dom(profile: &Path, url: &str) -> Result<String> {
    let args = [
        "--virtual-time-budget=3000".to_string(),
        "--dump-dom".to_string(),
    ];
    chromium(profile, &args, url, Duration::from_secs(45))
}

/// The `data-state` of data server `id`'s row in a dumped dashboard.
fn row_state(dom: &str, id: u64) -> Option<String> {
    let row = dom.find(&format!("data-server-id=\"{id}\""))?;
    let tag_end = row + dom[row..].find('>')?;
    let tag = &dom[row..tag_end];
    let at = tag.find("data-state=\"")? + "data-state=\"".len();
    let len = tag[at..].find('"')?;
    Some(tag[at..at + len].to_string())
}

#[test]
fn dashboard_in_chromium_shows_a_killed_data_server_down() -> Result<()> {
    let mut cluster = TestCluster::start_with(3, 3, &["--down-after", "3s"])?;
    let addrs = metrics_addrs(&cluster)?;
    let leader = leader_by_metrics(&scrape_all(&addrs)?).context("no leader")?;
    // A follower's dashboard: it must show the leader's view.
    let follower = cluster
        .names("meta")
        .into_iter()
        .find(|n| *n != leader)
        .context("no follower")?;
    let url = format!("http://{}/", addrs[&follower]);
    let ids: BTreeMap<String, u64> = cluster
        .names("data")
        .into_iter()
        .map(|n| {
            let cfg: DataConfig = load(&cluster.dir().join(&n).join("data.toml"))?;
            Ok((n, cfg.node_id.0))
        })
        .collect::<Result<_>>()?;
    let profile = tempfile::tempdir()?;

    let dom = dump_dom(profile.path(), &url)?;
    for (name, id) in &ids {
        assert_eq!(
            row_state(&dom, *id).as_deref(),
            Some("up"),
            "{name} up on {url}:\n{dom}"
        );
    }
    assert!(
        dom.contains("data-role=\"leader\""),
        "the voters table shows a leader"
    );
    eprintln!(
        "phase 1: {url} (a follower) shows {} data servers up",
        ids.len()
    );

    let victim = "data-2";
    let victim_id = ids[victim];
    cluster.kill9(victim)?;
    let killed = Instant::now();
    let mut last = String::new();
    let shown = poll(Duration::from_secs(40), || {
        last = dump_dom(profile.path(), &url).unwrap_or_default();
        row_state(&last, victim_id).as_deref() == Some("down")
    });
    assert!(shown, "{victim} never shown down; last page:\n{last}");
    for (name, id) in ids.iter().filter(|(n, _)| n.as_str() != victim) {
        assert_eq!(
            row_state(&last, *id).as_deref(),
            Some("up"),
            "{name} still up"
        );
    }
    eprintln!(
        "phase 2: {victim} shown down {:?} after kill -9",
        killed.elapsed()
    );

    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("observability");
    std::fs::create_dir_all(&out_dir)?;
    let shot = out_dir.join("dashboard-data-server-down.png");
    let _ = std::fs::remove_file(&shot);
    let args = [
        "--virtual-time-budget=3000".to_string(),
        "--window-size=1366,900".to_string(),
        format!("--screenshot={}", shot.display()),
    ];
    chromium(profile.path(), &args, &url, Duration::from_secs(45))?;
    let size = std::fs::metadata(&shot)
        .with_context(|| format!("no screenshot at {}", shot.display()))?
        .len();
    assert!(
        size > 10_000,
        "screenshot {} is only {size} bytes",
        shot.display()
    );
    eprintln!("phase 3: screenshot saved to {}", shot.display());
    Ok(())
}

/// Data servers up according to `ferrofs status --json` and to the leader's metrics.
fn servers_up(cluster: &TestCluster, meta: SocketAddr) -> Result<(usize, usize)> {
    let out = cluster.ferrofs(&["status", "--json"])?;
    if !out.status.success() {
        bail!(
            "status --json failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("status --json: {}", String::from_utf8_lossy(&out.stdout)))?;
    let servers = json["data_servers"]
        .as_array()
        .context("data_servers is a list")?;
    let up_json = servers.iter().filter(|s| s["state"] == "Up").count();
    let up_metrics = sample(&scrape(meta)?, "ferrofs_meta_data_servers{state=\"up\"}") as usize;
    Ok((up_json, up_metrics))
}

#[test]
fn status_json_agrees_with_metrics_on_servers_up() -> Result<()> {
    let mut cluster = TestCluster::start_with(1, 3, &["--down-after", "3s"])?;
    let addrs = metrics_addrs(&cluster)?;
    let meta = addrs["meta-1"];
    let deadline = Duration::from_secs(20);
    let mut last_err = None;
    let ok = poll(deadline, || {
        match servers_up(&cluster, meta).map(|up| up == (3, 3)) {
            Ok(v) => v,
            Err(e) => {
                last_err = Some(e);
                false
            }
        }
    });
    assert!(
        ok,
        "status --json and metrics never both said 3 up: {last_err:?}"
    );
    eprintln!("phase 1: status --json and metrics agree: 3 data servers up");

    cluster.kill9("data-3")?;
    let ok = poll(deadline, || {
        servers_up(&cluster, meta).is_ok_and(|up| up == (2, 2))
    });
    assert!(
        ok,
        "after a kill, status --json and metrics never both said 2 up"
    );
    eprintln!("phase 2: after kill -9 of data-3 both say 2 up");
    Ok(())
}
