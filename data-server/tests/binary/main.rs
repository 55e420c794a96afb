//! The `ferrofs-data` binary: config errors, a clean SIGTERM shutdown, and the
//! offline `corrupt-chunk` hook.

#[path = "../fixtures/mod.rs"]
mod fixtures;

use ferrofs_proto::data_msg::DataResponse;
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest};
use ferrofs_proto::tls::TlsPaths;
use ferrofs_proto::{ChunkId, FsError};
use fixtures::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ferrofs-data");

fn write_config(dir: &Path, meta: &str, tls: &TlsPaths, extra: &str) -> PathBuf {
    let path = dir.join("data.toml");
    let text = format!(
        "node_id = 5\nlisten = \"127.0.0.1:0\"\ndata_dir = \"store\"\nmeta_addrs = [\"{meta}\"]\n\
         capacity = \"1GiB\"\nheartbeat_interval = \"100ms\"\n{extra}\n\
         [tls]\nca_cert = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        tls.ca_cert.display(),
        tls.cert.display(),
        tls.key.display()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// Start the server and return it with the address it logged as bound.
fn spawn_server(config: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn ferrofs-data");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("local=").nth(1) {
                let addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx.recv_timeout(TIMEOUT).expect("server logged its address");
    (child, addr)
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("send SIGTERM");
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_config_names_the_field_and_exits_2() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), "127.0.0.1:1", &pki.paths("data-5"), "");
    let text = std::fs::read_to_string(&cfg)
        .expect("read")
        .replace("node_id = 5", "node_id = 0");
    std::fs::write(&cfg, text).expect("write");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("node_id"), "{err}");

    let cfg = write_config(
        dir.path(),
        "127.0.0.1:1",
        &pki.paths("data-5"),
        "bogus_field = 3",
    );
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("bogus_field"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_stops_on_sigterm_and_detects_offline_damage() {
    let pki = Pki::new();
    let meta = FakeMeta::leader(&pki);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &meta.addr, &pki.paths("data-5"), "");
    let c = pki.connector("client");

    let (child, addr) = spawn_server(&cfg);
    let id = ChunkId::random();
    let bytes = pattern(500_000, 1);
    assert_eq!(put(&c, &addr, id, &bytes).await, DataResponse::Stored);
    wait_until("registration", || {
        meta.count(|r| matches!(r, MetaRequest::Mutate { .. })) >= 1
    })
    .await;
    let status = tokio::task::spawn_blocking(move || terminate(child))
        .await
        .expect("join");
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");

    let out = Command::new(BIN)
        .args(["corrupt-chunk", "--config"])
        .arg(&cfg)
        .args(["--chunk", &id.to_string()])
        .output()
        .expect("run corrupt-chunk");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (child, addr) = spawn_server(&cfg);
    let c = pki.connector("client2");
    // Either the read or the scrubber (which starts at once) meets the damage first;
    // both quarantine it, so the chunk reads as unavailable or gone, never as bytes.
    let (resp, payload) = get(&c, &addr, id, 0, u64::MAX).await;
    assert!(
        matches!(
            resp,
            DataResponse::Error(FsError::DataUnavailable(_))
                | DataResponse::Error(FsError::NotFound)
        ),
        "{resp:?}"
    );
    assert!(payload.is_empty());
    wait_until("bad replica report", || {
        meta.count(|r| {
            matches!(r, MetaRequest::Mutate { op: MetaOp::ReportBadReplica { chunk, .. }, .. } if *chunk == id)
        }) == 1
    })
    .await;
    let status = tokio::task::spawn_blocking(move || terminate(child))
        .await
        .expect("join");
    assert!(status.success());
}

#[test]
fn help_mentions_the_config() {
    let out = Command::new(BIN).arg("--help").output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--config"), "{text}");
    assert!(
        !text.contains("corrupt-chunk"),
        "the test hook stays hidden"
    );
}
