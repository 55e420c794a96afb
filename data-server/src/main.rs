//! `ferrofs-data`: the data server binary. Parses arguments, loads the config, sets
//! up logging and calls `ferrofs_data::run`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use ferrofs_proto::config::{load, ConfigError, DataConfig};
use ferrofs_proto::ChunkId;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// ferrofs data server: stores replicated chunks, verifies every read with blake3,
/// scrubs in the background and reports to the metadata leader.
#[derive(Parser)]
#[command(name = "ferrofs-data", version, args_conflicts_with_subcommands = true)]
struct Args {
    /// Config file (TOML): node_id, listen, data_dir, meta_addrs, tls, ...
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log as JSON lines instead of text (filter with RUST_LOG, default "info").
    #[arg(long, global = true)]
    log_json: bool,
    /// Test only: delay every chunk read by this many milliseconds (makes a slow server).
    #[arg(long, hide = true, value_name = "MS")]
    test_read_delay_ms: Option<u64>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Test only: damage a stored chunk. The server must be stopped.
    #[command(hide = true)]
    CorruptChunk {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Chunk id as 32 hex digits.
        #[arg(long, value_name = "HEX")]
        chunk: String,
    },
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// One line for a config problem (toml errors span several lines with a snippet).
fn one_line(e: &ConfigError) -> String {
    let text = e.to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match (lines.first(), lines.last()) {
        (Some(first), Some(last)) if lines.len() > 1 => format!("{first}: {last}"),
        _ => text.replace('\n', " "),
    }
}

fn load_config(path: &Path) -> Result<DataConfig, ExitCode> {
    load::<DataConfig>(path).map_err(|e| {
        eprintln!("ferrofs-data: {}", one_line(&e));
        ExitCode::from(2)
    })
}

async fn wait_for_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
        _ = term => tracing::info!("SIGTERM received, shutting down"),
    }
}

fn corrupt_chunk(config: &DataConfig, chunk: &str) -> anyhow::Result<()> {
    let id = u128::from_str_radix(chunk, 16)
        .map(ChunkId)
        .with_context(|| format!("--chunk {chunk:?} is not a hex chunk id"))?;
    let store = ferrofs_data::ChunkStore::open(&config.data_dir, None)
        .with_context(|| format!("opening chunk store in {}", config.data_dir.display()))?;
    store
        .corrupt_for_test(id)
        .with_context(|| format!("damaging chunk {id}"))?;
    store.flush().context("flushing chunk store")?;
    println!("damaged chunk {id}");
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing(args.log_json);
    let result = match args.command {
        Some(Command::CorruptChunk { config, chunk }) => match load_config(&config) {
            Ok(cfg) => corrupt_chunk(&cfg, &chunk),
            Err(code) => return code,
        },
        None => {
            let Some(path) = args.config else {
                eprintln!("ferrofs-data: --config FILE is required (see --help)");
                return ExitCode::from(2);
            };
            let cfg = match load_config(&path) {
                Ok(c) => c,
                Err(code) => return code,
            };
            if let Some(ms) = args.test_read_delay_ms {
                tracing::warn!(ms, "test only: every chunk read is delayed");
                ferrofs_data::test_hooks::set_read_delay(std::time::Duration::from_millis(ms));
            }
            serve(cfg)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrofs-data: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(cfg: DataConfig) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(ferrofs_data::run(cfg, wait_for_signal()))
}
