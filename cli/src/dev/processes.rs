//! Spawning the server processes of a local cluster, and stopping them: SIGTERM, wait,
//! SIGKILL after a grace period.

use super::layout::ProcessSpec;
use super::pids::PidEntry;
use anyhow::{anyhow, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// How long a process gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// Find a server binary: next to the running `ferrofs`, else on PATH.
pub fn find_binary(name: &str) -> Result<PathBuf> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let path_dirs: Vec<PathBuf> = std::env::split_paths(&path_var).collect();
    locate(name, exe_dir.as_deref(), &path_dirs).ok_or_else(|| {
        anyhow!(
            "cannot find `{name}` next to this ferrofs binary or on PATH \
             (build it with `cargo build -p {}`)",
            if name == "ferrofs-meta" {
                "ferrofs-meta"
            } else {
                "ferrofs-data"
            }
        )
    })
}

fn locate(name: &str, exe_dir: Option<&Path>, path_dirs: &[PathBuf]) -> Option<PathBuf> {
    exe_dir
        .into_iter()
        .chain(path_dirs.iter().map(PathBuf::as_path))
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Start one server with its config; stdout and stderr are appended to its log.
/// The child gets its own process group so a Ctrl-C in the terminal reaches only
/// `ferrofs dev up`, which then stops the children in order.
pub fn spawn(spec: &ProcessSpec, binary: &Path) -> Result<Child> {
    let log_path = spec.log_path();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .with_context(|| format!("opening {}", log_path.display()))?;
    let mut cmd = Command::new(binary);
    cmd.arg("--config")
        .arg(spec.config_path())
        .current_dir(&spec.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .process_group(0)
        .kill_on_drop(false);
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
    cmd.spawn()
        .with_context(|| format!("starting {} ({})", spec.name, binary.display()))
}

/// Whether `pid` is a live process (a zombie counts as gone).
pub fn is_alive(pid: i32) -> bool {
    if kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: "123 (name) Z ...".
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(true),
        Err(_) => true,
    }
}

/// Whether `pid` is alive and looks like one of our servers (guards against a pid
/// that was reused by an unrelated process after a reboot).
pub fn is_our_server(pid: i32) -> bool {
    if !is_alive(pid) {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => String::from_utf8_lossy(&cmdline).contains("ferrofs"),
        Err(_) => true,
    }
}

fn signal(pid: i32, sig: Signal) {
    // ESRCH (already gone) is the outcome we want anyway.
    let _ = kill(Pid::from_raw(pid), sig);
}

/// Stop processes that are not our children (`dev down`): SIGTERM each, wait until
/// gone, SIGKILL whatever is left after `grace`. Returns the names that needed SIGKILL.
pub async fn stop_pids(entries: &[PidEntry], grace: Duration) -> Vec<String> {
    let targets: Vec<&PidEntry> = entries.iter().filter(|e| is_our_server(e.pid)).collect();
    for e in &targets {
        signal(e.pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && targets.iter().any(|e| is_alive(e.pid)) {
        tokio::time::sleep(POLL).await;
    }
    let mut killed = Vec::new();
    for e in targets.iter().filter(|e| is_alive(e.pid)) {
        signal(e.pid, Signal::SIGKILL);
        killed.push(e.name.clone());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && targets.iter().any(|e| is_alive(e.pid)) {
        tokio::time::sleep(POLL).await;
    }
    killed
}

/// A child process started by this `ferrofs`.
pub struct Running {
    pub name: String,
    pub log: PathBuf,
    pub child: Child,
}

impl Running {
    pub fn pid(&self) -> Option<i32> {
        self.child.id().and_then(|p| i32::try_from(p).ok())
    }
}

/// Stop our own children: SIGTERM all, reap them, SIGKILL after `grace`.
/// Returns the names that needed SIGKILL.
pub async fn stop_children(children: &mut [Running], grace: Duration) -> Vec<String> {
    for r in children.iter() {
        if let Some(pid) = r.pid() {
            signal(pid, Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + grace;
    let mut killed = Vec::new();
    for r in children.iter_mut() {
        let waited = tokio::time::timeout_at(deadline, r.child.wait()).await;
        if waited.is_err() {
            let _ = r.child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), r.child.wait()).await;
            killed.push(r.name.clone());
        }
    }
    killed
}

/// The last `max_lines` lines of a log file, for error messages.
pub fn log_tail(path: &Path, max_lines: usize) -> String {
    const MAX_BYTES: u64 = 64 * 1024;
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(MAX_BYTES);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::with_capacity((len - start) as usize);
    if f.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(max_lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_prefers_the_exe_folder_then_path() {
        let exe = tempfile::tempdir().expect("tempdir");
        let on_path = tempfile::tempdir().expect("tempdir");
        let make = |dir: &Path, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            let p = dir.join("ferrofs-meta");
            std::fs::write(&p, "#!/bin/sh\n").expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
            p
        };
        let path_dirs = vec![on_path.path().to_path_buf()];
        assert_eq!(locate("ferrofs-meta", Some(exe.path()), &path_dirs), None);
        let p2 = make(on_path.path(), 0o755);
        assert_eq!(
            locate("ferrofs-meta", Some(exe.path()), &path_dirs),
            Some(p2.clone())
        );
        // Not executable: skipped.
        make(exe.path(), 0o644);
        assert_eq!(
            locate("ferrofs-meta", Some(exe.path()), &path_dirs),
            Some(p2)
        );
        let p1 = make(exe.path(), 0o755);
        assert_eq!(
            locate("ferrofs-meta", Some(exe.path()), &path_dirs),
            Some(p1)
        );
    }

    #[test]
    fn liveness_of_this_process_and_of_a_reaped_child() {
        assert!(is_alive(std::process::id() as i32));
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id() as i32;
        child.wait().expect("wait");
        assert!(!is_alive(pid));
    }

    #[tokio::test]
    async fn stop_children_terminates_and_reaps() {
        let child = Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .expect("spawn sleep");
        let mut running = vec![Running {
            name: "sleeper".into(),
            log: PathBuf::new(),
            child,
        }];
        let pid = running[0].pid().expect("pid");
        assert!(is_alive(pid));
        let killed = stop_children(&mut running, Duration::from_secs(5)).await;
        assert!(killed.is_empty(), "sleep obeys SIGTERM");
        assert!(!is_alive(pid));
    }

    #[test]
    fn log_tail_returns_the_last_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("log");
        std::fs::write(&p, "a\nb\nc\nd\n").expect("write");
        assert_eq!(log_tail(&p, 2), "c\nd");
        assert_eq!(log_tail(&dir.path().join("missing"), 2), "");
    }
}
