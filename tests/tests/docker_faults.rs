//! Issue 6, acceptances 2 and 3 on the compose cluster, with real docker faults:
//! - a network partition of the metadata leader: the old leader acknowledges nothing, the
//!   majority elects and serves, and after healing every voter has applied the same log and
//!   no acknowledged write is lost;
//! - a partitioned data server, a paused leader (3 x the election timeout), killed and
//!   restarted containers, and a stop/start of the whole cluster: after each, every
//!   acknowledged file reads back with the right blake3;
//! - both kinds of faults while clients in the client container record a history of
//!   namespace operations, which must be linearizable (acceptance 4).
//!
//! Needs docker and the ferrofs:local image (see tests/src/docker.rs); skips otherwise.

use ferrofs_tests::cluster::bin;
use ferrofs_tests::data::{content, hash};
use ferrofs_tests::docker::{self, Compose, CLIENT, DATA, ELECTION_TIMEOUT_MAX, META};
use ferrofs_tests::history::{check, Event, Outcome, Verdict};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Files whose write was acknowledged (the writing `cat` exited 0): name -> blake3.
type Acked = BTreeMap<String, blake3::Hash>;

/// Write a file through the mount, retrying failed attempts until `timeout`; records it
/// once a write is acknowledged.
fn write_acked(c: &mut Compose, acked: &mut Acked, name: &str, seed: u64, timeout: Duration) {
    let bytes = content(seed, 50_000 + (seed as usize % 7) * 300_000);
    let deadline = Instant::now() + timeout;
    loop {
        match c.write_via_mount(name, &bytes) {
            Ok(()) => {
                acked.insert(name.to_string(), hash(&bytes));
                return;
            }
            Err(e) if Instant::now() > deadline => panic!("writing {name}: {e:#}"),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// Every acknowledged file reads back through the mount with its blake3.
fn check_all(c: &mut Compose, acked: &Acked, when: &str) {
    for (name, want) in acked {
        let back = c
            .read_via_mount(name)
            .unwrap_or_else(|e| panic!("{when}: reading {name}: {e:#}"));
        assert_eq!(hash(&back), *want, "{when}: {name} has the wrong content");
    }
}

/// Wait until every voter has applied the same log index and holds the same state
/// machine (digest), and that stays put for a moment (no write in flight).
fn same_state(c: &mut Compose, timeout: Duration) -> (u64, String) {
    let deadline = Instant::now() + timeout;
    let mut last = Vec::new();
    loop {
        let now: Vec<(u64, String)> = META
            .iter()
            .map(|m| c.digest(m).unwrap_or((0, String::new())))
            .collect();
        if now.iter().all(|d| *d == now[0] && d.0 > 0) && now == last {
            return now[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "voters' state machines never agreed: {now:?}"
        );
        last = now;
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn leader_partition_majority_serves_old_leader_acknowledges_nothing() {
    if !docker::usable("leader_partition_majority_serves_old_leader_acknowledges_nothing") {
        return;
    }
    let mut c = Compose::up("accept2").expect("compose up");
    let mut acked = Acked::new();
    c.exec_ok(CLIENT, &["mkdir", "-p", "/mnt/ferrofs/p"])
        .expect("mkdir");
    for i in 0..3 {
        write_acked(
            &mut c,
            &mut acked,
            &format!("p/before-{i}"),
            i,
            Duration::from_secs(30),
        );
    }

    let old = c.leader().expect("leader");
    // A client that can reach only the old leader (from inside its container), with short
    // timeouts so each attempt ends.
    c.exec_ok(
        &old,
        &[
            "bash",
            "-c",
            "sed -e 's/^meta_addrs.*/meta_addrs = [\"127.0.0.1:7000\"]/' \
                 -e 's/^request_timeout.*/request_timeout = \"2s\"/' \
                 -e 's/^failover_timeout.*/failover_timeout = \"4s\"/' \
                 /etc/ferrofs/client.toml > /tmp/only-me.toml",
        ],
    )
    .expect("client config for the old leader");
    c.disconnect(&old).expect("partition the leader");
    let partitioned_at = Instant::now();

    let try_old = |c: &mut Compose, name: &str| {
        let out = c
            .exec(
                &old,
                &["ferrofs", "--config", "/tmp/only-me.toml", "mkdir", name],
            )
            .expect("docker exec");
        assert!(
            !out.status.success(),
            "the partitioned old leader acknowledged `mkdir {name}`"
        );
    };
    try_old(&mut c, "/old-leader-0");

    // The majority elects a new leader and serves.
    let new = c
        .wait_new_leader(&old, Duration::from_secs(60))
        .expect("the majority elects a leader");
    eprintln!(
        "new leader {new} after {:?} (old {old})",
        partitioned_at.elapsed()
    );
    for i in 0..4 {
        write_acked(
            &mut c,
            &mut acked,
            &format!("p/during-{i}"),
            10 + i,
            Duration::from_secs(60),
        );
    }
    try_old(&mut c, "/old-leader-1");

    c.connect(&old).expect("heal the partition");
    c.wait_status(META.len(), DATA.len(), Duration::from_secs(60))
        .expect("the old leader rejoins");
    for i in 0..2 {
        write_acked(
            &mut c,
            &mut acked,
            &format!("p/after-{i}"),
            20 + i,
            Duration::from_secs(60),
        );
    }
    let (index, digest) = same_state(&mut c, Duration::from_secs(60));
    eprintln!("every voter applied index {index}, state digest {digest}");
    check_all(&mut c, &acked, "after healing");
    // What the old leader was asked while cut off never happened.
    for name in ["/old-leader-0", "/old-leader-1"] {
        let out = c.exec(CLIENT, &["ferrofs", "stat", name]).expect("exec");
        assert!(
            !out.status.success(),
            "{name} exists though it was never acknowledged"
        );
    }
}

#[test]
fn data_partition_pause_kill_and_full_restart_lose_no_acknowledged_file() {
    if !docker::usable("data_partition_pause_kill_and_full_restart_lose_no_acknowledged_file") {
        return;
    }
    let mut c = Compose::up("accept3").expect("compose up");
    let mut acked = Acked::new();
    let mut seed = 0u64;
    let mut write_some = |c: &mut Compose, acked: &mut Acked, tag: &str, n: u64| {
        for _ in 0..n {
            seed += 1;
            write_acked(
                c,
                acked,
                &format!("{tag}-{seed}"),
                seed,
                Duration::from_secs(90),
            );
        }
    };
    write_some(&mut c, &mut acked, "start", 3);

    // 1. A data server cut off the network while files are written.
    c.disconnect("data-2").expect("partition data-2");
    write_some(&mut c, &mut acked, "data-cut", 3);
    check_all(&mut c, &acked, "data-2 partitioned");
    c.connect("data-2").expect("heal data-2");
    c.wait_status(META.len(), DATA.len(), Duration::from_secs(60))
        .expect("data-2 back");
    check_all(&mut c, &acked, "data-2 healed");

    // 2. The leader paused for 3 x the election timeout.
    let leader = c.leader().expect("leader");
    c.docker(&leader, &["pause", "{}"]).expect("pause");
    let paused = Instant::now();
    write_some(&mut c, &mut acked, "paused", 2);
    let left = (ELECTION_TIMEOUT_MAX * 3).saturating_sub(paused.elapsed());
    std::thread::sleep(left); // the fault's length, not a synchronisation
    c.docker(&leader, &["unpause", "{}"]).expect("unpause");
    c.wait_status(META.len(), DATA.len(), Duration::from_secs(60))
        .expect("whole after the pause");
    check_all(&mut c, &acked, "after the pause");

    // 3. Kill -9 the leader and a data server; start them again.
    let leader = c.leader().expect("leader");
    for s in [leader.as_str(), "data-3"] {
        c.docker(s, &["kill", "-s", "KILL", "{}"]).expect("kill");
    }
    write_some(&mut c, &mut acked, "killed", 2);
    for s in [leader.as_str(), "data-3"] {
        c.docker(s, &["start", "{}"]).expect("start");
    }
    c.wait_status(META.len(), DATA.len(), Duration::from_secs(90))
        .expect("whole after the kills");
    check_all(&mut c, &acked, "after kill and restart");

    // 4. Stop the whole cluster and start it again.
    c.compose(&["stop", "-t", "10"]).expect("compose stop");
    c.compose(&["start"]).expect("compose start");
    c.wait_healthy(Duration::from_secs(120))
        .expect("whole after stop/start");
    check_all(&mut c, &acked, "after stopping and starting the cluster");
    write_some(&mut c, &mut acked, "end", 2);
    check_all(&mut c, &acked, "at the end");
}

#[test]
fn history_through_docker_faults_is_linearizable() {
    if !docker::usable("history_through_docker_faults_is_linearizable") {
        return;
    }
    let mut c = Compose::up("accept4").expect("compose up");
    c.copy_in(
        CLIENT,
        &bin("ferrofs-history"),
        "/usr/local/bin/ferrofs-history",
    )
    .expect("copy the history recorder into the client container");
    let before = c.commit_index().expect("commit index");
    let id = c.id(CLIENT).expect("client container");
    // 3 clients for 50 s; the faults below take about 30 s.
    let recorder = std::thread::spawn(move || {
        std::process::Command::new("docker")
            .args([
                "exec",
                &id,
                "ferrofs-history",
                "/etc/ferrofs/client.toml",
                "/h",
                "50",
                "3",
            ])
            .output()
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.commit_index().unwrap_or(0) < before + 20 {
        assert!(
            Instant::now() < deadline,
            "the recording clients commit nothing"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Fault 2: the leader partitioned, then healed.
    let old = c.leader().expect("leader");
    c.disconnect(&old).expect("partition the leader");
    c.wait_new_leader(&old, Duration::from_secs(60))
        .expect("the majority elects a leader");
    c.connect(&old).expect("heal");
    c.wait_status(META.len(), DATA.len(), Duration::from_secs(60))
        .expect("whole again");
    // Fault 3: a data server partitioned, the leader paused, the leader killed.
    c.disconnect("data-2").expect("partition data-2");
    let leader = c.leader().expect("leader");
    c.docker(&leader, &["pause", "{}"]).expect("pause");
    std::thread::sleep(ELECTION_TIMEOUT_MAX * 3); // the fault's length
    c.docker(&leader, &["unpause", "{}"]).expect("unpause");
    c.connect("data-2").expect("heal data-2");
    let leader = c
        .wait_status(META.len(), DATA.len(), Duration::from_secs(60))
        .map(|s| format!("meta-{}", s["leader"]))
        .expect("whole after the pause");
    c.docker(&leader, &["kill", "-s", "KILL", "{}"])
        .expect("kill");
    c.wait_new_leader(&leader, Duration::from_secs(60))
        .expect("a new leader after the kill");
    c.docker(&leader, &["start", "{}"]).expect("start");

    let out = recorder
        .join()
        .expect("recorder thread")
        .expect("docker exec ferrofs-history");
    assert!(
        out.status.success(),
        "ferrofs-history failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<Event> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("an event"))
        .collect();
    let known = events
        .iter()
        .filter(|e| e.outcome != Outcome::Unknown)
        .count();
    eprintln!("{} operations, {known} with a known outcome", events.len());
    assert!(known >= 60, "too few operations completed: {known}");
    let verdict = check(&events, 2_000_000);
    assert_eq!(
        verdict,
        Verdict::Linearizable,
        "{} operations",
        events.len()
    );
}
