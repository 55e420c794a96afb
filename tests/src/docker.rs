//! The docker-compose cluster of `deploy/docker-compose.yml` under test: one compose project
//! per test (unique name), torn down with its volumes when the value is dropped. Faults are
//! real docker operations: network disconnect, pause, kill, stop.
//!
//! The tests need a docker engine and the `ferrofs:local` image (`deploy/build-image.sh`;
//! `scripts/test.sh` builds it). Without them a test prints why and passes, unless
//! `FERROFS_DOCKER_TESTS=1` (set by scripts/test.sh in CI) makes it fail instead.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const META: [&str; 3] = ["meta-1", "meta-2", "meta-3"];
pub const DATA: [&str; 4] = ["data-1", "data-2", "data-3", "data-4"];
pub const CLIENT: &str = "client";
/// The FUSE mount inside the client container.
pub const MNT: &str = "/mnt/ferrofs";
/// The compose file's Raft timing is the default: election timeout 1-2 s.
pub const ELECTION_TIMEOUT_MAX: Duration = Duration::from_secs(2);

fn image() -> String {
    std::env::var("FERROFS_IMAGE").unwrap_or_else(|_| "ferrofs:local".to_string())
}

fn compose_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/docker-compose.yml")
}

/// Why the docker tests cannot run here, or `None` when they can.
fn unusable() -> Option<String> {
    let ok = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !ok(Command::new("docker").arg("info")) {
        return Some("no docker engine answers `docker info`".into());
    }
    if compose_command().is_none() {
        return Some("neither `docker compose` nor `docker-compose` works".into());
    }
    if !ok(Command::new("docker").args(["image", "inspect", &image()])) {
        return Some(format!(
            "image {} is missing: run deploy/build-image.sh",
            image()
        ));
    }
    None
}

/// True when the docker tests should run; prints the reason and returns false when they
/// cannot (and panics instead when FERROFS_DOCKER_TESTS=1 demands them).
pub fn usable(test: &str) -> bool {
    match unusable() {
        None => true,
        Some(why) if std::env::var("FERROFS_DOCKER_TESTS").as_deref() == Ok("1") => {
            panic!("{test}: FERROFS_DOCKER_TESTS=1 but {why}")
        }
        Some(why) => {
            eprintln!("SKIP {test}: {why}");
            false
        }
    }
}

/// `docker compose` (v2) where it works, else `docker-compose` (1.29).
fn compose_command() -> Option<Vec<String>> {
    let works = |prog: &str, args: &[&str]| {
        Command::new(prog)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if works("docker", &["compose", "version"]) {
        Some(vec!["docker".into(), "compose".into()])
    } else if works("docker-compose", &["version"]) {
        Some(vec!["docker-compose".into()])
    } else {
        None
    }
}

/// A running compose project.
pub struct Compose {
    pub project: String,
    cmd: Vec<String>,
    ids: BTreeMap<String, String>,
}

impl Compose {
    /// Start the whole cluster under a fresh project name and wait until the client's
    /// mount is live and the status shows 3 voters and 4 up data servers.
    pub fn up(test: &str) -> Result<Compose> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let project = format!(
            "ferrofs-{}-{}-{}",
            test.replace('_', "-"),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let cmd = compose_command().context("no docker compose command")?;
        let mut c = Compose {
            project,
            cmd,
            ids: BTreeMap::new(),
        };
        c.compose(&["up", "-d", "--no-build"])
            .context("docker compose up")?;
        c.wait_healthy(Duration::from_secs(120))?;
        Ok(c)
    }

    /// Run a compose subcommand on this project; fails with its output unless it exits 0.
    pub fn compose(&self, args: &[&str]) -> Result<String> {
        let file = compose_file();
        let out = Command::new(&self.cmd[0])
            .args(&self.cmd[1..])
            .args(["-p", &self.project, "-f"])
            .arg(&file)
            .args(args)
            .env("FERROFS_IMAGE", image())
            .output()
            .context("running docker compose")?;
        check(out, &format!("compose {args:?}"))
    }

    /// The container id of a service (looked up once; a restarted container keeps its id).
    pub fn id(&mut self, service: &str) -> Result<String> {
        if let Some(id) = self.ids.get(service) {
            return Ok(id.clone());
        }
        let id = self.compose(&["ps", "-q", service])?.trim().to_string();
        if id.is_empty() {
            bail!("service {service} has no container");
        }
        self.ids.insert(service.to_string(), id.clone());
        Ok(id)
    }

    /// Forget cached container ids (after `down`, containers are new).
    pub fn forget_ids(&mut self) {
        self.ids.clear();
    }

    /// `docker <args...>` with `{}` replaced by the service's container id.
    pub fn docker(&mut self, service: &str, args: &[&str]) -> Result<String> {
        let id = self.id(service)?;
        let args: Vec<String> = args.iter().map(|a| a.replace("{}", &id)).collect();
        docker(&args)
    }

    /// Copy a host file into a service's container.
    pub fn copy_in(&mut self, service: &str, host: &std::path::Path, to: &str) -> Result<()> {
        let id = self.id(service)?;
        docker(&[
            "cp".to_string(),
            host.display().to_string(),
            format!("{id}:{to}"),
        ])
        .map(|_| ())
    }

    /// The leader's commit index, from the status.
    pub fn commit_index(&mut self) -> Result<u64> {
        self.status()?["commit_index"]
            .as_u64()
            .context("no commit_index in the status")
    }

    /// Run a command inside a service's container; returns its full output.
    pub fn exec(&mut self, service: &str, cmd: &[&str]) -> Result<Output> {
        let id = self.id(service)?;
        Command::new("docker")
            .args(["exec", &id])
            .args(cmd)
            .output()
            .context("docker exec")
    }

    /// As `exec`, but fails with the output unless the command exits 0; returns stdout.
    pub fn exec_ok(&mut self, service: &str, cmd: &[&str]) -> Result<String> {
        let out = self.exec(service, cmd)?;
        check(out, &format!("{service}: {cmd:?}"))
    }

    /// `bash -c script` inside the service's container with `input` on stdin.
    pub fn sh_in(&mut self, service: &str, script: &str, input: &[u8]) -> Result<Output> {
        let id = self.id(service)?;
        let mut child = Command::new("docker")
            .args(["exec", "-i", &id, "bash", "-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("docker exec -i")?;
        if let Some(mut stdin) = child.stdin.take() {
            // A write error shows up as the script's failure below.
            let _ = stdin.write_all(input);
        }
        child.wait_with_output().context("docker exec -i")
    }

    /// Write a file through the client container's FUSE mount.
    pub fn write_via_mount(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        let path = format!("{MNT}/{rel}");
        let out = self.sh_in(CLIENT, &format!("cat > '{path}'"), bytes)?;
        check(out, &format!("writing {path} through the mount")).map(|_| ())
    }

    /// Read a file through the client container's FUSE mount.
    pub fn read_via_mount(&mut self, rel: &str) -> Result<Vec<u8>> {
        let out = self.exec(CLIENT, &["cat", &format!("{MNT}/{rel}")])?;
        if !out.status.success() {
            bail!(
                "reading {rel} through the mount: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out.stdout)
    }

    /// `ferrofs status --json` as seen from the client container.
    pub fn status(&mut self) -> Result<Value> {
        let text = self.exec_ok(CLIENT, &["ferrofs", "status", "--json"])?;
        serde_json::from_str(text.trim()).context("parsing `ferrofs status --json`")
    }

    /// Poll until the status shows a leader, `voters` reachable voters and `data` up
    /// data servers.
    pub fn wait_status(&mut self, voters: usize, data: usize, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.status() {
                Ok(s) if counts(&s) == (voters, data) && s["leader"].is_u64() => return Ok(s),
                Ok(s) => s.to_string(),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() > deadline {
                bail!("timed out after {timeout:?} waiting for {voters} voters and {data} up data servers; last status: {last}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Wait until the mount is live and the cluster is whole.
    pub fn wait_healthy(&mut self, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let mounted = self
                .exec(CLIENT, &["mountpoint", "-q", MNT])
                .map(|o| o.status.success())
                .unwrap_or(false);
            if mounted {
                break;
            }
            if Instant::now() > deadline {
                let logs = self.compose(&["logs", "--tail", "20"]).unwrap_or_default();
                bail!("the client's mount did not come up within {timeout:?}; logs:\n{logs}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.wait_status(META.len(), DATA.len(), left.max(Duration::from_secs(10)))
    }

    /// Poll until a leader other than `old` is elected and serves the status.
    pub fn wait_new_leader(&mut self, old: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.leader() {
                Ok(l) if l != old => return Ok(l),
                Ok(l) => format!("leader is still {l}"),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() > deadline {
                bail!("no leader other than {old} within {timeout:?}: {last}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The service name of the current metadata leader.
    pub fn leader(&mut self) -> Result<String> {
        let s = self.status()?;
        let id = s["leader"].as_u64().context("no leader in the status")?;
        Ok(format!("meta-{id}"))
    }

    fn network(&self) -> String {
        format!("{}_default", self.project)
    }

    /// Cut a service off the cluster network (a real partition: no packets either way).
    pub fn disconnect(&mut self, service: &str) -> Result<()> {
        let net = self.network();
        self.docker(service, &["network", "disconnect", &net, "{}"])
            .map(|_| ())
    }

    /// Heal `disconnect`: the service's name resolves again (its alias is given back).
    pub fn connect(&mut self, service: &str) -> Result<()> {
        let net = self.network();
        self.docker(
            service,
            &["network", "connect", "--alias", service, &net, "{}"],
        )
        .map(|_| ())
    }

    /// GET a path of a server's HTTP port from inside its container (so it works while
    /// the container is partitioned); returns the body.
    pub fn http_get(&mut self, service: &str, path: &str) -> Result<String> {
        let script = format!(
            "exec 3<>/dev/tcp/127.0.0.1/9100 && \
             printf 'GET {path} HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n' >&3 && cat <&3"
        );
        let text = self.exec_ok(service, &["bash", "-c", &script])?;
        match text.split_once("\r\n\r\n") {
            Some((head, body)) if head.starts_with("HTTP/1.") && head.contains(" 200 ") => {
                Ok(body.to_string())
            }
            _ => bail!("{service}: GET {path} answered {text:?}"),
        }
    }

    /// A voter's (applied index, state machine digest) from `GET /api/digest`.
    pub fn digest(&mut self, meta: &str) -> Result<(u64, String)> {
        let body = self.http_get(meta, "/api/digest")?;
        let v: Value = serde_json::from_str(&body).context("parsing /api/digest")?;
        Ok((
            v["applied_index"].as_u64().unwrap_or(0),
            v["digest"].as_str().unwrap_or_default().to_string(),
        ))
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        // Unpause first: a paused container cannot be stopped.
        for s in META.iter().chain(DATA.iter()) {
            if let Some(id) = self.ids.get(*s) {
                let _ = Command::new("docker")
                    .args(["unpause", id])
                    .stderr(Stdio::null())
                    .stdout(Stdio::null())
                    .status();
            }
        }
        if let Err(e) = self.compose(&["down", "-v", "--remove-orphans", "-t", "5"]) {
            eprintln!("tearing down {}: {e:#}", self.project);
        }
    }
}

/// (voters the leader replicates to, up data servers) in a status.
pub fn counts(s: &Value) -> (usize, usize) {
    let voters = s["voters"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter(|v| {
                    matches!(v["role"].as_str(), Some("leader") | Some("follower"))
                        && v["matched_index"].is_u64()
                })
                .count()
        })
        .unwrap_or(0);
    let data = s["data_servers"]
        .as_array()
        .map(|d| d.iter().filter(|d| d["state"] == "Up").count())
        .unwrap_or(0);
    (voters, data)
}

/// `docker args...`; fails with its output unless it exits 0.
pub fn docker(args: &[String]) -> Result<String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .context("running docker")?;
    check(out, &format!("docker {args:?}"))
}

fn check(out: Output, what: &str) -> Result<String> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
