//! `ferrofs dev up` / `dev down`: a local cluster of separate processes on 127.0.0.1,
//! optionally mounted with FUSE (`--mount`).

pub mod endpoints;
pub mod health;
pub mod layout;
pub mod mount;
pub mod pids;
pub mod ports;
pub mod processes;
pub mod tuning;

use crate::args::{DevCommand, DevDirArgs, DevUpArgs};
use crate::commands::status::render_status;
use crate::signals::Signals;
use anyhow::{bail, Result};
use layout::{Layout, LayoutRequest, Prepared, Role};
use pids::PidEntry;
use processes::{Running, STOP_GRACE};
use std::path::{Path, PathBuf};

pub async fn run(cmd: DevCommand) -> Result<()> {
    match cmd {
        DevCommand::Up(a) => up(a).await,
        DevCommand::Down(a) => down(a).await,
    }
}

/// Fail if DIR/pids names live processes; clear a stale file.
fn ensure_not_running(dir: &Path) -> Result<()> {
    let Some(entries) = pids::read(dir)? else {
        return Ok(());
    };
    let alive: Vec<String> = entries
        .iter()
        .filter(|e| processes::is_our_server(e.pid))
        .map(|e| format!("{} (pid {})", e.name, e.pid))
        .collect();
    if !alive.is_empty() {
        bail!(
            "a cluster already runs on {}: {}; stop it with `ferrofs dev down --dir {}`",
            dir.display(),
            alive.join(", "),
            dir.display()
        );
    }
    pids::remove(dir)
}

async fn up(args: DevUpArgs) -> Result<()> {
    if args.dir.is_dir() {
        ensure_not_running(&args.dir)?;
    }
    // Checked (and created) before any server starts, so a bad mount point fails fast.
    let mount_target: Option<PathBuf> = match &args.mount {
        Some(mnt) => Some(mount::prepare(mnt)?),
        None => None,
    };
    let req = LayoutRequest {
        meta: args.meta,
        data: args.data,
        replication: args.replication,
    };
    let (layout, prepared) = layout::prepare(&args.dir, req)?;
    let tuning = tuning::Tuning {
        down_after: args.down_after,
        gc_grace: args.gc_grace,
        chunk_size: args.chunk_size.map(|s| s.0),
        orphan_grace: args.orphan_grace,
        lock_timeout: args.lock_timeout,
    };
    for m in &layout.meta {
        tuning::rewrite(&m.config_path(), tuning)?;
    }
    for d in &layout.data {
        tuning::rewrite_data(&d.config_path(), tuning)?;
    }
    match prepared {
        Prepared::Created => eprintln!("created a new cluster in {}", layout.dir.display()),
        Prepared::Reused => eprintln!("restarting the cluster in {}", layout.dir.display()),
        Prepared::Grown(n) => {
            eprintln!(
                "restarting the cluster in {} with {n} new data server(s)",
                layout.dir.display()
            )
        }
    }

    let meta_bin = processes::find_binary(Role::Meta.binary())?;
    let data_bin = processes::find_binary(Role::Data.binary())?;
    // Installed before spawning: a Ctrl-C during start-up must stop the children too.
    let mut signals = Signals::install()?;
    let mut children = start_all(&layout, &meta_bin, &data_bin).await?;

    let waited = tokio::select! {
        r = health::wait_healthy(&layout, &mut children, args.timeout) => Some(r),
        _ = signals.recv() => None,
    };
    let status = match waited {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            stop(&layout, &mut children).await;
            return Err(e);
        }
        // Ctrl-C before the cluster was healthy: a clean stop in the foreground (what
        // was asked for), a failure with --detach (no cluster is left running).
        None => {
            eprintln!("interrupted before the cluster was healthy; stopping it");
            stop(&layout, &mut children).await;
            if args.detach {
                bail!("interrupted while waiting for the cluster to start");
            }
            return Ok(());
        }
    };
    print!("{}", render_status(&status));
    print!("{}", endpoints::render_endpoints(&layout));
    println!(
        "export FERROFS_CONFIG={}",
        layout.client_config_path().display()
    );

    if let Some(target) = &mount_target {
        let metrics_addr = match mount::pick_metrics_addr(&layout) {
            Ok(addr) => addr,
            Err(e) => {
                stop(&layout, &mut children).await;
                return Err(e);
            }
        };
        let mounted = mount_cluster(
            &layout,
            target,
            metrics_addr,
            args.timeout,
            &mut signals,
            &mut children,
        );
        if !mounted.await? {
            if args.detach {
                bail!("interrupted while mounting the cluster");
            }
            return Ok(());
        }
        println!("mounted on {}", target.display());
        println!("metrics mount: http://{metrics_addr}/metrics");
    }

    if args.detach {
        // The children live on in their own process groups; DIR/pids lets `dev down` find them.
        return Ok(());
    }
    eprintln!("running; press Ctrl-C to stop");
    wait_for_shutdown(&mut signals, &mut children).await;
    eprintln!("stopping the cluster");
    stop(&layout, &mut children).await;
    Ok(())
}

/// Start the mount process (metrics on `metrics_addr`), wait until its mount is live
/// and record it in DIR/pids. Everything is stopped on failure (an error) or on Ctrl-C
/// (`Ok(false)`).
async fn mount_cluster(
    layout: &Layout,
    target: &Path,
    metrics_addr: std::net::SocketAddr,
    timeout: std::time::Duration,
    signals: &mut Signals,
    children: &mut Vec<Running>,
) -> Result<bool> {
    let mut running = match mount::spawn(layout, target, metrics_addr) {
        Ok(started) => started,
        Err(e) => {
            stop(layout, children).await;
            return Err(e);
        }
    };
    let live = tokio::select! {
        r = mount::wait(target, &mut running, timeout) => Some(r),
        _ = signals.recv() => None,
    };
    children.push(running);
    let outcome = match live {
        Some(Ok(())) => write_pids(layout, children).map(|()| true),
        Some(Err(e)) => Err(e),
        None => {
            eprintln!("interrupted before the cluster was mounted; stopping it");
            Ok(false)
        }
    };
    if !matches!(outcome, Ok(true)) {
        stop(layout, children).await;
    }
    outcome
}

/// Spawn every process and record DIR/pids; on failure, stop what was started.
async fn start_all(layout: &Layout, meta_bin: &Path, data_bin: &Path) -> Result<Vec<Running>> {
    let mut children: Vec<Running> = Vec::new();
    for spec in layout.processes() {
        let bin = match spec.role {
            Role::Meta => meta_bin,
            Role::Data => data_bin,
        };
        match processes::spawn(spec, bin) {
            Ok(child) => children.push(Running {
                name: spec.name.clone(),
                log: spec.log_path(),
                child,
            }),
            Err(e) => {
                stop(layout, &mut children).await;
                return Err(e);
            }
        }
    }
    if let Err(e) = write_pids(layout, &children) {
        stop(layout, &mut children).await;
        return Err(e);
    }
    Ok(children)
}

/// Record the running children in DIR/pids.
fn write_pids(layout: &Layout, children: &[Running]) -> Result<()> {
    let entries: Vec<PidEntry> = children
        .iter()
        .filter_map(|r| {
            r.pid().map(|pid| PidEntry {
                name: r.name.clone(),
                pid,
            })
        })
        .collect();
    pids::write(&layout.dir, &entries)
}

/// Stop our children, the mount process first, and remove DIR/pids; problems are
/// reported, not returned, since this runs on the way out.
async fn stop(layout: &Layout, children: &mut Vec<Running>) {
    if let Some(pos) = children.iter().position(|r| r.name == mount::MOUNT_NAME) {
        let mut m = children.remove(pos);
        mount::stop_child(&layout.dir, &mut m).await;
    }
    let killed = processes::stop_children(children, STOP_GRACE).await;
    if !killed.is_empty() {
        eprintln!(
            "killed after {}s: {}",
            STOP_GRACE.as_secs(),
            killed.join(", ")
        );
    }
    if let Err(e) = pids::remove(&layout.dir) {
        eprintln!("ferrofs: {e:#}");
    }
}

/// Run until SIGINT or SIGTERM, or until every child has exited (e.g. `dev down`
/// from another shell). Unexpected exits of single processes are reported.
async fn wait_for_shutdown(signals: &mut Signals, children: &mut [Running]) {
    let mut exited = vec![false; children.len()];
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = signals.recv() => return,
            _ = tick.tick() => {}
        }
        for (i, r) in children.iter_mut().enumerate() {
            if exited[i] {
                continue;
            }
            if let Ok(Some(status)) = r.child.try_wait() {
                exited[i] = true;
                eprintln!("{} exited ({status}); see {}", r.name, r.log.display());
            }
        }
        if exited.iter().all(|e| *e) {
            eprintln!("every process has exited");
            return;
        }
    }
}

async fn down(args: DevDirArgs) -> Result<()> {
    let dir = &args.dir;
    if !dir.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    // Idempotent, so scripts can always call it: no pids file means nothing runs
    // (but a mount left by a killed mount process is still cleared).
    let Some(entries) = pids::read(dir)? else {
        mount::clear_leftover(dir);
        eprintln!(
            "no cluster runs on {} (no {} file)",
            dir.display(),
            pids::PIDS_FILE
        );
        return Ok(());
    };
    let alive = entries
        .iter()
        .filter(|e| processes::is_our_server(e.pid))
        .count();
    // The mount first, while the servers can still take its last writes.
    let (mounts, servers): (Vec<PidEntry>, Vec<PidEntry>) = entries
        .into_iter()
        .partition(|e| e.name == mount::MOUNT_NAME);
    mount::stop_pids(dir, &mounts).await;
    let killed = processes::stop_pids(&servers, STOP_GRACE).await;
    if !killed.is_empty() {
        eprintln!(
            "killed after {}s: {}",
            STOP_GRACE.as_secs(),
            killed.join(", ")
        );
    }
    pids::remove(dir)?;
    eprintln!(
        "stopped {alive} process(es) of the cluster in {}",
        dir.display()
    );
    Ok(())
}
