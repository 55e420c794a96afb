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
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only SIGINT stops the server");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing(args.log_json);
    let config: MetaConfig = match load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ferrofs-meta: {e}");
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
    match runtime.block_on(ferrofs_meta::run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "metadata server failed");
            eprintln!("ferrofs-meta: {e:#}");
            ExitCode::FAILURE
        }
    }
}
