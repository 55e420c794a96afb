//! A "lock agent" for the file-lock tests: a python3 child process that runs one lock
//! command per stdin line and answers one line on stdout. Locks belong to processes, so
//! every holder in a lock test is its own agent; the test waits on the agents' answers
//! (and on `/proc`), never on time alone. Each agent is killed and reaped when dropped.

use anyhow::{bail, ensure, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long one lock operation may take: a round trip to the metadata quorum on a busy
/// machine running other clusters' tests too.
pub const REPLY: Duration = Duration::from_secs(20);
/// How long a waiter must stay blocked to count as waiting.
pub const BLOCKED: Duration = Duration::from_secs(1);
/// How soon a process killed while blocked in `F_SETLKW` must be gone.
pub const KILLED_WAITER_EXITS: Duration = Duration::from_secs(5);

/// The lock agent. Commands (one per line; FD is a name the test gives an open file):
/// `open FD PATH`, `close FD`, `setlk|setlkw|getlk FD r|w|u START LEN`,
/// `flock FD sh|ex|un [nb]`, `exit`. Answers: `ok`, `err ERRNO-NAME`, and for `getlk`
/// `unlocked` or `TYPE START LEN PID` of the conflicting lock. It first prints
/// `ready PID`.
const AGENT: &str = r#"
import errno, fcntl, os, struct, sys
FLOCK_T = "hhqqi4x"  # struct flock on 64-bit Linux: 32 bytes
TYPES = {"r": fcntl.F_RDLCK, "w": fcntl.F_WRLCK, "u": fcntl.F_UNLCK}
NAMES = {v: k for k, v in TYPES.items()}
CMDS = {"setlk": fcntl.F_SETLK, "setlkw": fcntl.F_SETLKW, "getlk": fcntl.F_GETLK}
FLOCKS = {"sh": fcntl.LOCK_SH, "ex": fcntl.LOCK_EX, "un": fcntl.LOCK_UN}
fds = {}
def run(w):
    if w[0] == "open":
        fds[w[1]] = os.open(w[2], os.O_RDWR)
        return "ok"
    if w[0] == "close":
        os.close(fds.pop(w[1]))
        return "ok"
    if w[0] in CMDS:
        arg = struct.pack(FLOCK_T, TYPES[w[2]], os.SEEK_SET, int(w[3]), int(w[4]), 0)
        got = fcntl.fcntl(fds[w[1]], CMDS[w[0]], arg)
        if w[0] != "getlk":
            return "ok"
        typ, _, start, length, pid = struct.unpack(FLOCK_T, got)
        if typ == fcntl.F_UNLCK:
            return "unlocked"
        return "%s %d %d %d" % (NAMES[typ], start, length, pid)
    if w[0] == "flock":
        nb = fcntl.LOCK_NB if w[3:] == ["nb"] else 0
        fcntl.flock(fds[w[1]], FLOCKS[w[2]] | nb)
        return "ok"
    raise ValueError("unknown command %r" % (w,))
print("ready", os.getpid(), flush=True)
while True:
    line = sys.stdin.readline()
    if not line:
        break
    w = line.split(None, 2) if line.startswith("open ") else line.split()
    if not w:
        continue
    if w[0] == "exit":
        break
    try:
        out = run([x.rstrip("\n") for x in w])
    except OSError as e:
        out = "err " + errno.errorcode.get(e.errno, str(e.errno))
    print(out, flush=True)
"#;

/// The python3 interpreter itself (not a version manager's shim script), so that the
/// agent is the very process the test started and signals.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|p| !p.is_empty())
            .map_or_else(|| PathBuf::from("python3"), PathBuf::from)
    })
}

/// One lock agent process; killed and reaped when dropped.
pub struct Agent {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    pub pid: i32,
}

impl Agent {
    pub fn start(name: &str) -> Result<Agent> {
        let mut child = Command::new(python())
            .arg("-c")
            .arg(AGENT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting python3")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let (tx, lines) = mpsc::channel();
        let mut agent = Agent {
            name: name.to_string(),
            child,
            stdin,
            lines,
            pid: 0,
        };
        let stdout = stdout.context("no stdout pipe")?;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = agent.recv(REPLY)?;
        agent.pid = ready
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("{name} started with {ready:?}"))?;
        ensure!(
            agent.pid == agent.child.id() as i32,
            "{name} runs as pid {} but was started as {}",
            agent.pid,
            agent.child.id()
        );
        Ok(agent)
    }

    pub fn send(&mut self, cmd: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().context("stdin closed")?;
        writeln!(stdin, "{cmd}")
            .and_then(|()| stdin.flush())
            .with_context(|| format!("sending `{cmd}` to {}", self.name))
    }

    pub fn recv(&mut self, timeout: Duration) -> Result<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => {
                bail!("{} answered nothing within {timeout:?}", self.name)
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.try_wait().ok().flatten();
                bail!("{} ended (exit status {status:?})", self.name)
            }
        }
    }

    /// Run `cmd` and return its answer.
    pub fn ask(&mut self, cmd: &str) -> Result<String> {
        self.send(cmd)?;
        self.recv(REPLY)
            .with_context(|| format!("waiting for the answer to `{cmd}`"))
    }

    /// Run `cmd`, which must succeed.
    pub fn ok(&mut self, cmd: &str) -> Result<()> {
        let got = self.ask(cmd)?;
        ensure!(
            got == "ok",
            "{}: `{cmd}` answered {got:?}, not ok",
            self.name
        );
        Ok(())
    }

    /// Run `cmd`, a non-blocking lock, which must be refused because of a conflict.
    pub fn refused(&mut self, cmd: &str) -> Result<()> {
        let got = self.ask(cmd)?;
        ensure!(
            is_conflict(&got),
            "{}: `{cmd}` answered {got:?}, not EAGAIN/EACCES (a conflicting lock is held)",
            self.name
        );
        Ok(())
    }

    /// Run `cmd` every 50 ms until it succeeds (only conflicts may refuse it meanwhile);
    /// fails after `timeout`. Returns how long it took.
    pub fn ok_within(&mut self, cmd: &str, timeout: Duration) -> Result<Duration> {
        let t = Instant::now();
        loop {
            let got = self.ask(cmd)?;
            if got == "ok" {
                return Ok(t.elapsed());
            }
            ensure!(is_conflict(&got), "{}: `{cmd}` answered {got:?}", self.name);
            if t.elapsed() > timeout {
                bail!(
                    "{}: `{cmd}` still refused ({got}) after {timeout:?}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `F_GETLK` for a lock of `typ` on `len` bytes at `start`: the conflicting lock's
    /// `TYPE START LEN` without its pid (the pid of a process on another mount), or
    /// `unlocked`.
    pub fn conflict(&mut self, fd: &str, typ: &str, start: u64, len: u64) -> Result<String> {
        let got = self.ask(&format!("getlk {fd} {typ} {start} {len}"))?;
        let words: Vec<&str> = got.split(' ').collect();
        match words[..] {
            ["unlocked"] => Ok(got),
            [t, s, l, _pid] => Ok(format!("{t} {s} {l}")),
            _ => bail!("{}: getlk answered {got:?}", self.name),
        }
    }

    /// `F_GETLK` for a lock of `typ` on `len` bytes at `start`, with the holder's pid.
    pub fn getlk(&mut self, fd: &str, typ: &str, start: u64, len: u64) -> Result<String> {
        self.ask(&format!("getlk {fd} {typ} {start} {len}"))
    }

    /// Wait until the agent sits in the system call `nr` (a blocking lock it was just
    /// sent), then check that it stays there, unanswered, for `BLOCKED`.
    pub fn blocks_in(&mut self, nr: i64) -> Result<()> {
        let want = nr.to_string();
        let deadline = Instant::now() + REPLY;
        loop {
            match self.lines.try_recv() {
                Ok(line) => bail!("{} answered {line:?} instead of waiting", self.name),
                Err(TryRecvError::Disconnected) => bail!("{} ended", self.name),
                Err(TryRecvError::Empty) => {}
            }
            let syscall =
                std::fs::read_to_string(format!("/proc/{}/syscall", self.pid)).unwrap_or_default();
            if syscall.split(' ').next() == Some(want.as_str()) {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "{} is not in system call {nr} after {REPLY:?}: {syscall:?}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        match self.lines.recv_timeout(BLOCKED) {
            Ok(line) => bail!("{} answered {line:?} instead of waiting", self.name),
            Err(RecvTimeoutError::Disconnected) => bail!("{} ended while waiting", self.name),
            Err(RecvTimeoutError::Timeout) => Ok(()),
        }
    }

    /// SIGKILL the agent; it must be gone within `limit`. Returns how long it took.
    pub fn kill_within(&mut self, limit: Duration) -> Result<Duration> {
        self.child.kill()?;
        let t = Instant::now();
        loop {
            if self.child.try_wait()?.is_some() {
                return Ok(t.elapsed());
            }
            if t.elapsed() > limit {
                let proc = |f: &str| {
                    std::fs::read_to_string(format!("/proc/{}/{f}", self.pid)).unwrap_or_default()
                };
                bail!(
                    "{} (pid {}) is still there {limit:?} after SIGKILL\nstat: {}\nstack:\n{}",
                    self.name,
                    self.pid,
                    proc("stat").trim(),
                    proc("stack")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ask the agent to exit and wait until it has (its files closed).
    pub fn exit(&mut self) -> Result<()> {
        self.send("exit")?;
        self.stdin = None;
        let deadline = Instant::now() + REPLY;
        loop {
            if let Some(status) = self.child.try_wait()? {
                ensure!(status.success(), "{} exited with {status}", self.name);
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} did not exit within {REPLY:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        // Bounded: a process stuck in an unanswered FUSE request cannot be reaped until
        // its mount goes away, which happens after the agents are dropped.
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                eprintln!("{} (pid {}) did not die on SIGKILL", self.name, self.pid);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether an agent's answer is a refusal because of a conflicting lock.
pub fn is_conflict(answer: &str) -> bool {
    matches!(answer, "err EAGAIN" | "err EACCES" | "err EWOULDBLOCK")
}

/// Have `agent` open `path` under the name `fd`.
pub fn open(agent: &mut Agent, fd: &str, path: &Path) -> Result<()> {
    agent.ok(&format!("open {fd} {}", path.display()))
}
