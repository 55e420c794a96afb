//! The `ferrofs` command against a real local cluster: every file command, one-line
//! errors with a non-zero exit, `status --json`, and `dev down` / `dev up` bringing back
//! the same cluster with its data.

use ferrofs_tests::TestCluster;
use std::process::Output;

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn file_commands_errors_status_and_restart() -> anyhow::Result<()> {
    let mut c = TestCluster::start(3, 3)?;
    let local = tempfile::tempdir()?;
    let src = local.path().join("hello.bin");
    let payload: Vec<u8> = (0..(5 << 20) + 3).map(|i: u32| (i % 251) as u8).collect();
    std::fs::write(&src, &payload)?;
    let src_s = src.to_string_lossy().to_string();

    ok(c.ferrofs(&["mkdir", "-p", "/a/b/c"])?, "mkdir -p");
    ok(
        c.ferrofs(&["put", &src_s, "/a/b/c/"])?,
        "put into a directory",
    );
    let ls = ok(c.ferrofs(&["ls", "-l", "/a/b/c"])?, "ls -l");
    assert!(
        ls.contains("hello.bin") && ls.contains(&payload.len().to_string()),
        "ls -l: {ls}"
    );

    let back = local.path().join("back.bin");
    ok(
        c.ferrofs(&["get", "/a/b/c/hello.bin", &back.to_string_lossy()])?,
        "get",
    );
    assert_eq!(
        std::fs::read(&back)?,
        payload,
        "get returned different bytes"
    );
    let cat = c.ferrofs(&["cat", "/a/b/c/hello.bin"])?;
    assert_eq!(cat.stdout, payload, "cat returned different bytes");

    ok(
        c.ferrofs(&["mv", "/a/b/c/hello.bin", "/a/moved.bin"])?,
        "mv",
    );
    ok(
        c.ferrofs(&["ln", "-s", "/a/moved.bin", "/a/link"])?,
        "ln -s",
    );
    ok(c.ferrofs(&["ln", "/a/moved.bin", "/a/hard"])?, "ln");
    ok(c.ferrofs(&["chmod", "600", "/a/moved.bin"])?, "chmod");
    ok(c.ferrofs(&["chown", "12:34", "/a/moved.bin"])?, "chown");
    let stat = ok(c.ferrofs(&["stat", "/a/moved.bin"])?, "stat");
    assert!(
        stat.contains("600") && stat.contains("12") && stat.contains("34"),
        "stat: {stat}"
    );
    let ls = ok(c.ferrofs(&["ls", "-l", "/a"])?, "ls -l /a");
    assert!(
        ls.contains("link") && ls.contains("-> /a/moved.bin"),
        "symlink in ls: {ls}"
    );
    ok(
        c.ferrofs(&["truncate", "-s", "10", "/a/moved.bin"])?,
        "truncate",
    );
    let cat = c.ferrofs(&["cat", "/a/link"])?;
    assert_eq!(
        cat.stdout,
        payload[..10],
        "cat through the symlink after truncate"
    );
    // Growing it again shows zeros past the cut, never the old bytes.
    ok(
        c.ferrofs(&["truncate", "-s", "20", "/a/moved.bin"])?,
        "truncate up",
    );
    let cat = c.ferrofs(&["cat", "/a/moved.bin"])?;
    let mut expected = payload[..10].to_vec();
    expected.resize(20, 0);
    assert_eq!(
        cat.stdout, expected,
        "old bytes came back after shrink and grow"
    );
    ok(
        c.ferrofs(&["truncate", "-s", "10", "/a/moved.bin"])?,
        "truncate down again",
    );

    // Errors: one line naming the path, non-zero exit, nothing changed.
    let missing = c.ferrofs(&["get", "/missing", &local.path().join("x").to_string_lossy()])?;
    assert!(!missing.status.success(), "get /missing succeeded");
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("/missing") && err.to_lowercase().contains("no such file"),
        "error: {err}"
    );
    assert_eq!(
        err.trim().lines().count(),
        1,
        "error is not one line: {err}"
    );
    assert!(
        !local.path().join("x").exists(),
        "a failed get left a local file"
    );
    let rmdir = c.ferrofs(&["rm", "/a"])?;
    assert!(
        !rmdir.status.success(),
        "rm of a directory without -r succeeded"
    );

    let json = ok(c.ferrofs(&["status", "--json"])?, "status --json");
    let v: serde_json::Value = serde_json::from_str(&json)?;
    assert_eq!(
        v["voters"].as_array().map(|a| a.len()),
        Some(3),
        "status: {json}"
    );
    assert_eq!(
        v["data_servers"].as_array().map(|a| a.len()),
        Some(3),
        "status: {json}"
    );

    // The same cluster comes back after dev down / dev up, with its data.
    c.down_and_up()?;
    let cat = c.ferrofs(&["cat", "/a/hard"])?;
    assert_eq!(cat.stdout, payload[..10], "data after dev down/up");

    ok(c.ferrofs(&["rm", "-r", "/a"])?, "rm -r");
    let ls = ok(c.ferrofs(&["ls", "/"])?, "ls /");
    assert!(!ls.contains('a'), "/a still listed: {ls}");
    Ok(())
}

/// Pids of live processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) && ferrofs_tests::cluster::alive(pid)
        {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn dev_up_in_the_foreground_stops_every_process_on_ctrl_c() -> anyhow::Result<()> {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir()?;
    let dir_s = dir.path().to_string_lossy().to_string();
    let mut up = std::process::Command::new(ferrofs_tests::cluster::bin("ferrofs"))
        .args(["dev", "up", "--dir", &dir_s, "--meta", "1", "--data", "1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let client_toml = dir.path().join("client.toml");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let healthy = client_toml.exists()
            && std::process::Command::new(ferrofs_tests::cluster::bin("ferrofs"))
                .arg("--config")
                .arg(&client_toml)
                .arg("status")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
        if healthy {
            break;
        }
        assert!(Instant::now() < deadline, "dev up never became healthy");
        assert!(up.try_wait()?.is_none(), "dev up exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        processes_mentioning(&dir_s).len(),
        3,
        "dev up + 1 meta + 1 data"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(up.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = up.try_wait()? {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "dev up did not stop after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "dev up exited with {status}");
    let left = processes_mentioning(&dir_s);
    assert!(
        left.is_empty(),
        "processes left running after Ctrl-C: {left:?}"
    );
    Ok(())
}
