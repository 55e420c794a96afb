//! `ferrofs mount --background`: start this program again as a detached mount process
//! (new session, output to a log file) and return once its mount is live.

use super::live::wait_live;
use crate::args::MountArgs;
use crate::client_config::config_path;
use anyhow::{Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Start the detached mount process and wait for its mount; kill it if the mount does
/// not come up.
pub async fn start(
    config: Option<PathBuf>,
    verbose: u8,
    args: &MountArgs,
    target: &Path,
) -> Result<()> {
    let cwd = std::env::current_dir().context("reading the current folder")?;
    let config = cwd.join(config_path(config, &cwd)?);
    let log = match &args.log {
        Some(l) => cwd.join(l),
        None => default_log_path(target),
    };
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .with_context(|| format!("opening the log file {}", log.display()))?;
    let err = out
        .try_clone()
        .with_context(|| format!("opening the log file {}", log.display()))?;
    let exe = std::env::current_exe().context("finding this ferrofs binary")?;
    let mut cmd = tokio::process::Command::new(&exe);
    cmd.args(child_args(&config, verbose, args, target))
        // The daemon keeps no folder busy.
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(false);
    if std::env::var_os("RUST_LOG").is_none() && verbose == 0 {
        cmd.env("RUST_LOG", "info");
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    if let Err(e) = wait_live(target, &mut child, &log, args.timeout).await {
        let _ = child.start_kill();
        let _ = child.wait().await;
        return Err(e);
    }
    eprintln!(
        "mounted {} (pid {}, log {})",
        target.display(),
        child.id().unwrap_or_default(),
        log.display()
    );
    Ok(())
}

/// The arguments of the detached process: the same mount, in the foreground.
fn child_args(config: &Path, verbose: u8, args: &MountArgs, target: &Path) -> Vec<OsString> {
    // Named field by field, with no `..`: a new mount flag does not compile until it is
    // either passed on here or marked as the parent's alone.
    let MountArgs {
        mountpoint: _,
        background: _,
        log: _,
        timeout: _,
        detached_child: _,
        options,
        allow_other,
        attr_ttl,
        entry_ttl,
        read_only,
        write_buffer,
        local_locks,
        metrics_addr,
    } = args;
    let mut out: Vec<OsString> = vec![
        "--config".into(),
        config.into(),
        "mount".into(),
        target.into(),
        "--detached-child".into(),
        "--attr-ttl".into(),
        humantime::format_duration(*attr_ttl).to_string().into(),
        "--entry-ttl".into(),
        humantime::format_duration(*entry_ttl).to_string().into(),
        "--write-buffer".into(),
        write_buffer.as_u64().to_string().into(),
    ];
    for o in options {
        out.push("-o".into());
        out.push(o.into());
    }
    let switches = [
        (*allow_other, "--allow-other"),
        (*read_only, "--read-only"),
        (*local_locks, "--local-locks"),
    ];
    out.extend(
        switches
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, flag)| OsString::from(flag)),
    );
    if let Some(addr) = metrics_addr {
        out.push("--metrics-addr".into());
        out.push(addr.to_string().into());
    }
    if verbose > 0 {
        out.push(format!("-{}", "v".repeat(usize::from(verbose.min(3)))).into());
    }
    out
}

/// `ferrofs-mount-<hash of the mount point>.log` in $XDG_RUNTIME_DIR, else /tmp.
pub fn default_log_path(target: &Path) -> PathBuf {
    let folder = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute() && d.is_dir())
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    folder.join(format!(
        "ferrofs-mount-{:016x}.log",
        fnv1a(target.as_os_str().as_encoded_bytes())
    ))
}

/// FNV-1a, 64 bits: a stable short name for a path.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    #[test]
    fn the_child_command_line_parses_back_to_the_same_mount() {
        let cli = Cli::try_parse_from([
            "ferrofs",
            "mount",
            "rel/mnt",
            "-o",
            "noatime",
            "--allow-other",
            "--read-only",
            "--local-locks",
            "--attr-ttl",
            "250ms",
            "--write-buffer",
            "1GiB",
            "--metrics-addr",
            "127.0.0.1:9400",
            "--background",
        ])
        .expect("parse");
        let Command::Mount(args) = cli.command else {
            panic!("not a mount");
        };
        let argv = child_args(Path::new("/etc/c.toml"), 2, &args, Path::new("/abs/mnt"));
        let child = Cli::try_parse_from(std::iter::once(OsString::from("ferrofs")).chain(argv))
            .expect("child parses");
        assert_eq!(child.config, Some(PathBuf::from("/etc/c.toml")));
        assert_eq!(child.verbose, 2);
        let Command::Mount(c) = child.command else {
            panic!("not a mount");
        };
        assert_eq!(c.mountpoint, PathBuf::from("/abs/mnt"));
        assert!(!c.background, "the child serves in the foreground");
        assert!(c.detached_child && c.allow_other && c.read_only && c.local_locks);
        assert_eq!(c.options, vec!["noatime"]);
        assert_eq!(c.attr_ttl, args.attr_ttl);
        assert_eq!(c.entry_ttl, args.entry_ttl);
        assert_eq!(c.write_buffer.as_u64(), 1 << 30);
        assert_eq!(c.metrics_addr, args.metrics_addr);
        assert!(c.metrics_addr.is_some());
    }

    #[test]
    fn log_names_are_stable_per_mount_point() {
        let a = default_log_path(Path::new("/mnt/a"));
        assert_eq!(a, default_log_path(Path::new("/mnt/a")));
        assert_ne!(a, default_log_path(Path::new("/mnt/b")));
        let name = a.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(
            name.starts_with("ferrofs-mount-") && name.ends_with(".log"),
            "{name}"
        );
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
