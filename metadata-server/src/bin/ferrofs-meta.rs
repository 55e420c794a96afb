//! `ferrofs-meta`: one metadata server (a Raft voter) of a ferrofs cluster.

use clap::Parser;
use ferrofs_proto::config::{load, MetaConfig};
use std::path::PathBuf;
use std::process::ExitCode;

/// Run a ferrofs metadata server: a Raft voter that keeps the namespace and the
/// cluster map in RocksDB and serves clients and data servers over QUIC (mutual TLS).
///
/// The config file (TOML) names this node (`node_id`), its `listen` address, its
/// `data_dir`, the `initial_voters` of the cluster and the `tls` files; `[raft]`
/// and `[cluster]` tune timing and placement. A node with an empty log forms the
/// cluster with `initial_voters`. SIGINT or SIGTERM stops it cleanly.
#[derive(Parser, Debug)]
#[command(name = "ferrofs-meta", version)]
struct Args {
    /// Path of the TOML config file.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Log as JSON lines instead of text (the level comes from RUST_LOG, default info).
    #[arg(long)]
    log_json: bool,
    /// Test only: acknowledge writes before they commit (a broken server for the
    /// history checker's own test). Never use it otherwise.
    #[arg(long, hide = true, env = "FERROFS_TEST_ACK_BEFORE_COMMIT")]
    test_ack_before_commit: bool,
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Register SIGINT and SIGTERM handlers now (before the server starts, so an early
/// signal is not lost); the returned future completes on either.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

/// A multi-line parser message (with a source snippet) as one line: its first line
/// (where) and its last (what).
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.as_slice() {
        [] => String::new(),
        [only] => only.to_string(),
        [first, .., last] => format!("{first}: {last}"),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing(args.log_json);
    if args.test_ack_before_commit {
        ferrofs_meta::server::ack_early::enable();
    }
    let config: MetaConfig = match load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ferrofs-meta: {}", one_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferrofs-meta: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        ferrofs_meta::run(config, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "metadata server failed");
            eprintln!("ferrofs-meta: {e:#}");
            ExitCode::FAILURE
        }
    }
}
