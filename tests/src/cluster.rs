//! A local cluster of real `ferrofs-meta` and `ferrofs-data` processes.

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where the built binaries are: `$FERROFS_BIN_DIR`, else the cargo target folder this
/// test binary runs from (target/<profile>/deps/..).
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("FERROFS_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let deps = exe.parent().unwrap_or(Path::new("."));
    deps.parent().unwrap_or(deps).to_path_buf()
}

pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// True while the process exists and is not a zombie.
/// A certificate for process `name` signed by the cluster CA in `ca`, written to `out`
/// (as `ferrofs cert issue` does for an operator adding a server).
pub fn issue_cert(ca: &Path, name: &str, out: &Path) -> Result<()> {
    let run = Command::new(bin("ferrofs"))
        .args(["cert", "issue", "--name", name])
        .arg("--ca")
        .arg(ca)
        .arg("--out")
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .context("running ferrofs cert issue")?;
    if !run.status.success() {
        bail!(
            "ferrofs cert issue failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    Ok(())
}

/// Tries of a new cluster's start when a port was taken between pick and bind.
const START_ATTEMPTS: u32 = 3;
/// How a server's log says its port was taken (the OS error text).
const PORT_TAKEN: &str = "Address already in use";

/// Remove everything inside `dir`, keeping `dir`.
fn empty_dir(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the parenthesised command name.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            match state {
                // A zombie whose parent never reaps it is dead, but only once its other
                // threads are gone too: after SIGKILL the main thread can be a zombie while
                // worker threads still hold the process's files (and RocksDB's lock).
                Some("Z") | Some("X") => threads(pid) > 1,
                None => false,
                Some(_) => true,
            }
        }
        Err(_) => false,
    }
}

/// Threads of `pid` still listed by the kernel (0 once it is gone).
fn threads(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

pub struct TestCluster {
    dir: tempfile::TempDir,
    /// Process name ("meta-1", "data-2", ...) -> pid.
    pids: BTreeMap<String, i32>,
    /// Processes this harness started itself (restarts), reaped on kill.
    children: BTreeMap<String, std::process::Child>,
    /// `dev up` arguments: counts and extra flags, to start the same cluster again.
    up_args: (usize, usize, Vec<String>),
}

impl TestCluster {
    /// Start `meta` metadata servers and `data` data servers and wait until healthy.
    pub fn start(meta: usize, data: usize) -> Result<TestCluster> {
        Self::start_with(meta, data, &[])
    }

    /// As `start`, with extra `ferrofs dev up` arguments.
    pub fn start_with(meta: usize, data: usize, extra: &[&str]) -> Result<TestCluster> {
        let dir = tempfile::Builder::new().prefix("ferrofs-test-").tempdir()?;
        let up_args = (meta, data, extra.iter().map(|s| s.to_string()).collect());
        let mut cluster = TestCluster {
            dir,
            pids: BTreeMap::new(),
            children: BTreeMap::new(),
            up_args,
        };
        // `dev up` picks free ports and its servers bind them a moment later, so a test
        // starting another cluster at that moment can take one in between. A new cluster
        // that lost this race is started again from an empty folder, on new ports.
        for attempt in 1.. {
            match cluster.dev_up(meta, data, extra) {
                Err(e) if attempt < START_ATTEMPTS && format!("{e:#}").contains(PORT_TAKEN) => {
                    eprintln!("dev up lost a port to another process (attempt {attempt}); again");
                    cluster.stop_all();
                    empty_dir(cluster.dir.path())?;
                }
                other => return other.map(|()| cluster),
            }
        }
        unreachable!("the loop returns by its last attempt")
    }

    /// `ferrofs dev down`, then `ferrofs dev up --detach` again on the same folder.
    pub fn down_and_up(&mut self) -> Result<()> {
        self.stop_all();
        let (meta, data, extra) = self.up_args.clone();
        let extra: Vec<&str> = extra.iter().map(|s| s.as_str()).collect();
        self.dev_up(meta, data, &extra)
    }

    fn dev_up(&mut self, meta: usize, data: usize, extra: &[&str]) -> Result<()> {
        let dir = self.dir.path().to_string_lossy().to_string();
        let (m, d) = (meta.to_string(), data.to_string());
        let mut args = vec![
            "dev", "up", "--dir", &dir, "--meta", &m, "--data", &d, "--detach",
        ];
        args.extend_from_slice(extra);
        let out = Command::new(bin("ferrofs"))
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .context("running ferrofs dev up")?;
        if !out.status.success() {
            bail!(
                "ferrofs dev up failed: {}\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        self.read_pids()
    }

    fn read_pids(&mut self) -> Result<()> {
        let text = std::fs::read_to_string(self.dir.path().join("pids")).context("reading pids")?;
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            if let (Some(name), Some(pid)) = (parts.next(), parts.next()) {
                self.pids.insert(name.to_string(), pid.parse()?);
            }
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn client_config(&self) -> PathBuf {
        self.dir.path().join("client.toml")
    }

    pub async fn client(&self) -> Result<ferrofs_client::Client> {
        let cfg: ferrofs_proto::config::ClientConfig =
            ferrofs_proto::config::load(&self.client_config())?;
        Ok(ferrofs_client::Client::connect(cfg).await?)
    }

    /// A client that stores every chunk on data servers, however small (no inline
    /// chunks): for tests of placement, repair and collection with many tiny files.
    pub async fn client_without_inline(&self) -> Result<ferrofs_client::Client> {
        let mut cfg: ferrofs_proto::config::ClientConfig =
            ferrofs_proto::config::load(&self.client_config())?;
        cfg.inline_max_bytes = 0;
        Ok(ferrofs_client::Client::connect(cfg).await?)
    }

    /// Names of the processes of one kind ("meta" or "data").
    pub fn names(&self, kind: &str) -> Vec<String> {
        self.pids
            .keys()
            .filter(|n| n.starts_with(kind))
            .cloned()
            .collect()
    }

    pub fn pid(&self, name: &str) -> Option<i32> {
        self.pids.get(name).copied()
    }

    /// kill -9 one process and wait until it is gone.
    pub fn kill9(&mut self, name: &str) -> Result<()> {
        let pid = self
            .pids
            .remove(name)
            .with_context(|| format!("no running process {name}"))?;
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        if let Some(mut child) = self.children.remove(name) {
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) {
            if Instant::now() > deadline {
                bail!("{name} (pid {pid}) survived SIGKILL");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Start a killed process again on its own folder and config.
    pub fn restart(&mut self, name: &str) -> Result<()> {
        self.restart_with(name, &[])
    }

    /// As `restart`, with extra arguments for the binary (e.g. hidden test flags).
    pub fn restart_with(&mut self, name: &str, extra: &[&str]) -> Result<()> {
        if self.pids.contains_key(name) {
            bail!("{name} is still running");
        }
        let folder = self.dir.path().join(name);
        let (binary, config) = if name.starts_with("meta") {
            ("ferrofs-meta", folder.join("meta.toml"))
        } else {
            ("ferrofs-data", folder.join("data.toml"))
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(folder.join("log"))?;
        let child = Command::new(bin(binary))
            .arg("--config")
            .arg(&config)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.pids.insert(name.to_string(), child.id() as i32);
        self.children.insert(name.to_string(), child);
        Ok(())
    }

    /// Start one more `ferrofs-meta` in join mode (empty `initial_voters`, so it never
    /// initialises a cluster) as process `meta-ID`: its own folder, a free port, a
    /// certificate from the cluster CA and meta-1's Raft and cluster settings. It serves
    /// nothing until added with `ferrofs meta add ID ADDR`. Returns ADDR.
    pub fn start_joining_meta(&mut self, id: u64) -> Result<String> {
        let name = format!("meta-{id}");
        let folder = self.dir.path().join(&name);
        if folder.exists() {
            bail!(
                "{} exists already; node ids are never reused",
                folder.display()
            );
        }
        std::fs::create_dir_all(&folder)?;
        issue_cert(&self.dir.path().join("ca"), &name, &folder.join("tls"))?;
        let port = ferrofs_cli::dev::ports::pick_free_udp_ports(1, &Default::default())?[0];
        let addr = format!("127.0.0.1:{port}");
        let template = std::fs::read_to_string(self.dir.path().join("meta-1").join("meta.toml"))
            .context("reading meta-1's config")?;
        let mut cfg: toml::Table = toml::from_str(&template)?;
        cfg.insert("node_id".into(), toml::Value::Integer(i64::try_from(id)?));
        cfg.insert("listen".into(), toml::Value::String(addr.clone()));
        cfg.insert("initial_voters".into(), toml::Value::Array(Vec::new()));
        cfg.remove("metrics_addr");
        cfg.remove("advertise_addr");
        let mut tls = toml::Table::new();
        tls.insert("ca_cert".into(), "tls/ca.pem".into());
        tls.insert("cert".into(), format!("tls/{name}.pem").into());
        tls.insert("key".into(), format!("tls/{name}.key").into());
        cfg.insert("tls".into(), toml::Value::Table(tls));
        std::fs::write(folder.join("meta.toml"), toml::to_string(&cfg)?)?;
        self.restart(&name)?;
        Ok(addr)
    }

    /// Run the CLI against this cluster.
    pub fn ferrofs(&self, args: &[&str]) -> Result<Output> {
        Ok(Command::new(bin("ferrofs"))
            .arg("--config")
            .arg(self.client_config())
            .args(args)
            .stdin(Stdio::null())
            .output()?)
    }

    /// The last 40 lines of every metadata server's log that are warnings, errors or
    /// ferrofs's own (not openraft's), for a failure message.
    pub fn meta_log_digest(&self) -> String {
        let mut out = String::new();
        for name in self.names("meta") {
            let text = std::fs::read_to_string(self.dir.path().join(&name).join("log"))
                .unwrap_or_default();
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("ferrofs"))
                .collect();
            out.push_str(&format!("--- {name} ---\n"));
            out.push_str(&lines[lines.len().saturating_sub(40)..].join("\n"));
            out.push('\n');
        }
        out
    }

    /// The last 40 lines of a process's log, for failure messages.
    pub fn log_tail(&self, name: &str) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join(name).join("log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Stop everything with `ferrofs dev down`, then SIGKILL whatever is left.
    pub fn stop_all(&mut self) {
        let dir = self.dir.path().to_string_lossy().to_string();
        let _ = Command::new(bin("ferrofs"))
            .args(["dev", "down", "--dir", &dir])
            .output();
        for (_, pid) in std::mem::take(&mut self.pids) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        for (_, mut child) in std::mem::take(&mut self.children) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// kill -9 every process, then start the same cluster again on the same folders.
    pub fn kill_all_and_restart(&mut self) -> Result<()> {
        let names: Vec<String> = self.pids.keys().cloned().collect();
        for n in &names {
            self.kill9(n)?;
        }
        for n in &names {
            self.restart(n)?;
        }
        Ok(())
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if std::env::var_os("FERROFS_KEEP_TEST_DIR").is_some() {
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
            eprintln!("keeping {}", kept.keep().display());
        }
        self.stop_all();
    }
}
