//! The `ferrofs-meta` binary: a bad config is one line naming the field and exit
//! code 2; a good one starts a server that SIGTERM stops cleanly.

use ferrofs_proto::tls::ClusterCa;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ferrofs-meta");

#[test]
fn bad_config_names_the_field_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("node_id = 0\nlisten = \"127.0.0.1:0\"\ndata_dir = \"d\"\ninitial_voters = [{ id = 1, addr = \"127.0.0.1:1\" }]\ntls = { ca_cert = \"a\", cert = \"b\", key = \"c\" }\n", "node_id"),
        ("listen = \"127.0.0.1:0\"\n", "node_id"),
    ];
    for (text, field) in cases {
        let path = dir.path().join("meta.toml");
        std::fs::write(&path, text).expect("write");
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&path)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(field), "names {field}: {stderr}");
    }
}

#[test]
fn sigterm_stops_a_running_server_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = ClusterCa::generate().expect("ca");
    let tls = ca.issue_to_dir("meta-1", dir.path()).expect("issue");
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("probe")
        .local_addr()
        .expect("addr")
        .port();
    let config = format!(
        "node_id = 1\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\n\
         initial_voters = [{{ id = 1, addr = \"127.0.0.1:{port}\" }}]\n\
         tls = {{ ca_cert = \"{}\", cert = \"{}\", key = \"{}\" }}\n",
        tls.ca_cert.display(),
        tls.cert.display(),
        tls.key.display()
    );
    let path = dir.path().join("meta.toml");
    std::fs::write(&path, config).expect("write");
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    while !dir.path().join("data/raft-log/CURRENT").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server never opened its log"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("signal");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
