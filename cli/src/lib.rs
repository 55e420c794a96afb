//! The `ferrofs` command: file operations against a cluster, cluster status, a local
//! development cluster (`ferrofs dev up`), FUSE mounts, certificates and a small benchmark.
//!
//! `main.rs` only parses arguments, sets up tracing and prints the error; everything
//! else lives here so tests can call it.

pub mod args;
pub mod bench;
pub mod cert;
pub mod client_config;
pub mod commands;
pub mod dev;
pub mod mounting;
pub mod output;
pub mod signals;

use anyhow::Result;
use args::{Cli, Command};

/// Run one parsed command line to completion.
pub async fn run(cli: Cli) -> Result<()> {
    let config = cli.config;
    let verbose = cli.verbose;
    match cli.command {
        Command::Status(a) => commands::status::run(config, a).await,
        Command::Fsck(a) => commands::fsck::run(config, a).await,
        Command::Mkdir(a) => commands::files::mkdir(config, a).await,
        Command::Ls(a) => commands::files::ls(config, a).await,
        Command::Stat(a) => commands::files::stat(config, a).await,
        Command::Cat(a) => commands::files::cat(config, a).await,
        Command::Rm(a) => commands::files::rm(config, a).await,
        Command::Mv(a) => commands::files::mv(config, a).await,
        Command::Ln(a) => commands::files::ln(config, a).await,
        Command::Truncate(a) => commands::files::truncate(config, a).await,
        Command::Chmod(a) => commands::files::chmod(config, a).await,
        Command::Chown(a) => commands::files::chown(config, a).await,
        Command::Put(a) => commands::put_get::put(config, a).await,
        Command::Get(a) => commands::put_get::get(config, a).await,
        Command::Dev(a) => dev::run(a).await,
        Command::Cert(a) => cert::run(a),
        Command::Bench(a) => bench::run(config, a).await,
        Command::Mount(a) => commands::mount::mount(config, verbose, a).await,
        Command::Umount(a) => commands::mount::umount(a),
        Command::Scrub(a) => commands::scrub::run(config, a).await,
        Command::Meta(a) => commands::meta::run(config, a).await,
        Command::Node(a) => commands::node::run(config, a).await,
        Command::Rebalance(a) => commands::rebalance::run(config, a).await,
    }
}
