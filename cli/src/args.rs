//! The command line (clap derive). Every subcommand has its own argument struct so
//! the command modules take exactly what they use.

use crate::output::{parse_size, Size};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "ferrofs",
    version,
    about = "Use and run a ferrofs cluster",
    long_about = "Use and run a ferrofs cluster.\n\n\
        File commands take cluster paths (`/dir/file`; a relative path starts at the root) \
        and connect with the client config from --config, $FERROFS_CONFIG or ./client.toml.\n\
        `ferrofs dev up --dir DIR` starts a local cluster and prints the line that sets \
        FERROFS_CONFIG."
)]
pub struct Cli {
    /// Client config file (TOML). Defaults to $FERROFS_CONFIG, then ./client.toml.
    #[arg(long, global = true, env = "FERROFS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the metadata voters, the data servers and the file and chunk counts.
    Status(StatusArgs),
    /// Check every file's chunks and the directory tree; exit 0 only when clean.
    Fsck(FsckArgs),
    /// Create directories.
    Mkdir(MkdirArgs),
    /// List a directory (streamed page by page), or show one file.
    Ls(LsArgs),
    /// Show all attributes of a file, directory or symlink.
    Stat(PathArg),
    /// Print files to stdout.
    Cat(PathsArg),
    /// Remove files, symlinks and (with -r) directories.
    Rm(RmArgs),
    /// Rename or move a file or directory (atomic).
    Mv(MvArgs),
    /// Make a hard link, or a symbolic link with -s.
    Ln(LnArgs),
    /// Shrink or extend a file to a size (creates it if missing).
    Truncate(TruncateArgs),
    /// Change permission bits (octal, e.g. 644 or 0755).
    Chmod(ChmodArgs),
    /// Change owner and group (UID[:GID], numbers or names).
    Chown(ChownArgs),
    /// Upload a local file (`-` = stdin) into the cluster.
    Put(PutArgs),
    /// Download a file from the cluster (`-` = stdout).
    Get(GetArgs),
    /// Run a local development cluster (separate processes on 127.0.0.1).
    #[command(subcommand)]
    Dev(DevCommand),
    /// Create a cluster CA and issue certificates for multi-machine clusters.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Measure put/get throughput and small-file create/stat/delete rates.
    Bench(BenchArgs),
    /// Mount the cluster with FUSE; runs until Ctrl-C, SIGTERM or `ferrofs umount`.
    Mount(MountArgs),
    /// Unmount a ferrofs mount, also one whose mount process was killed.
    Umount(UmountArgs),
    /// Verify every stored chunk now (`start`) or show what the scrubbers found (`status`).
    #[command(subcommand)]
    Scrub(ScrubCommand),
    /// Change the metadata voters: add, remove, move leadership.
    #[command(subcommand)]
    Meta(MetaCommand),
    /// List, drain, remove and weight data servers.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Show, pause, resume and throttle the moves that follow a change of the data servers.
    #[command(subcommand)]
    Rebalance(RebalanceCommand),
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List the data servers: state (a draining server that holds no chunk shows as
    /// drained), weight, zone, chunk copies held and space used.
    List(NodeListArgs),
    /// Stop placing new chunks on a data server and move every chunk it holds elsewhere.
    ///
    /// Returns at once; the moves run in the background (`ferrofs rebalance status`).
    /// `node list` shows the server as drained when it holds no chunk; then `node remove`.
    Drain(NodeIdArg),
    /// End a drain: the server takes chunks again.
    Undrain(NodeIdArg),
    /// Remove a data server from the cluster for good.
    ///
    /// Refused unless the server is drained (draining and holding no chunk), or, with
    /// --force, down (no heartbeat for the grace period); its copies are then made again
    /// from the other servers.
    Remove(NodeRemoveArgs),
    /// Set a data server's weight: its relative share of chunks (0 takes none).
    SetWeight(NodeWeightArgs),
}

#[derive(Debug, Args)]
pub struct NodeListArgs {
    /// Print the list as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NodeIdArg {
    /// Data server id (as `ferrofs node list` shows it).
    pub id: u64,
}

#[derive(Debug, Args)]
pub struct NodeRemoveArgs {
    /// Data server id (as `ferrofs node list` shows it).
    pub id: u64,
    /// Remove a server that is down past the grace period without draining it first.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct NodeWeightArgs {
    /// Data server id (as `ferrofs node list` shows it).
    pub id: u64,
    /// New weight (e.g. 2 for a server with twice the disk of a weight-1 server).
    pub weight: u32,
}

#[derive(Debug, Subcommand)]
pub enum RebalanceCommand {
    /// Chunks misplaced, bytes left, rate, ETA, moves done, paused or not, throttle.
    Status(RebalanceStatusArgs),
    /// Stop starting moves (moves under way finish; repairs go on).
    Pause,
    /// Start moving again.
    Resume,
    /// Throttle moves to MIB MiB/s per data server (sent and received separately).
    SetRate(RebalanceRateArgs),
}

#[derive(Debug, Args)]
pub struct RebalanceStatusArgs {
    /// Print the rebalance status as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RebalanceRateArgs {
    /// MiB per second per data server (at least 1).
    #[arg(value_name = "MIB")]
    pub mib: u32,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the status as JSON (one object per line with --watch).
    #[arg(long)]
    pub json: bool,
    /// Refresh every --interval until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    /// Refresh interval for --watch.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct FsckArgs {
    /// Wait for the cluster to re-replicate what it can, then check again.
    #[arg(long)]
    pub repair: bool,
    /// How long --repair waits.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct MkdirArgs {
    /// Create missing parents; no error if the directory exists.
    #[arg(short, long)]
    pub parents: bool,
    /// Directories to create.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Long format: mode, links, uid, gid, size, mtime, name (-> target for symlinks).
    #[arg(short = 'l')]
    pub long: bool,
    /// Directory or file to list (default: the root).
    #[arg(default_value = "/", value_name = "PATH")]
    pub path: String,
}

#[derive(Debug, Args)]
pub struct PathArg {
    /// Cluster path.
    #[arg(value_name = "PATH")]
    pub path: String,
}

#[derive(Debug, Args)]
pub struct PathsArg {
    /// Cluster paths.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Remove directories and everything below them.
    #[arg(short, long)]
    pub recursive: bool,
    /// Paths to remove.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
}

#[derive(Debug, Args)]
pub struct MvArgs {
    /// Existing path.
    #[arg(value_name = "SRC")]
    pub src: String,
    /// New path; an existing directory receives SRC under its own name.
    #[arg(value_name = "DST")]
    pub dst: String,
}

#[derive(Debug, Args)]
pub struct LnArgs {
    /// Make a symbolic link holding TARGET instead of a hard link.
    #[arg(short, long)]
    pub symbolic: bool,
    /// What the link points at (for -s any text; else an existing file).
    #[arg(value_name = "TARGET")]
    pub target: String,
    /// Path of the new link; an existing directory receives it under TARGET's name.
    #[arg(value_name = "LINK")]
    pub link: String,
}

#[derive(Debug, Args)]
pub struct TruncateArgs {
    /// New size (bytes, or with a unit: 4KiB, 1.5GiB, 10MB).
    #[arg(short, long, value_parser = parse_size, value_name = "SIZE")]
    pub size: Size,
    /// File to resize.
    #[arg(value_name = "PATH")]
    pub path: String,
}

#[derive(Debug, Args)]
pub struct ChmodArgs {
    /// Octal permission bits, e.g. 644, 0755, 1777.
    #[arg(value_name = "MODE")]
    pub mode: String,
    #[arg(value_name = "PATH")]
    pub path: String,
}

#[derive(Debug, Args)]
pub struct ChownArgs {
    /// UID[:GID], `:GID` or `UID:`; numbers or user/group names from this machine.
    #[arg(value_name = "OWNER")]
    pub owner: String,
    #[arg(value_name = "PATH")]
    pub path: String,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    /// Local file to upload (`-` reads stdin).
    #[arg(value_name = "LOCAL")]
    pub local: PathBuf,
    /// Cluster path; an existing directory receives the file under LOCAL's name.
    #[arg(value_name = "REMOTE")]
    pub remote: String,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Cluster file to download.
    #[arg(value_name = "REMOTE")]
    pub remote: String,
    /// Local destination; a directory receives the file under REMOTE's name; `-` is stdout.
    #[arg(value_name = "LOCAL")]
    pub local: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Create (first time) or restart (later) a local cluster in DIR and wait until healthy.
    ///
    /// The first start creates DIR with a cluster CA, one certificate and TOML config per
    /// process, and DIR/client.toml. A later start reuses all of it: same ids, ports and data.
    /// Without --detach it runs until Ctrl-C or SIGTERM, then stops every process.
    Up(DevUpArgs),
    /// Stop a cluster started with `dev up --detach` (SIGTERM, SIGKILL after 10 s).
    Down(DevDirArgs),
}

#[derive(Debug, Args)]
pub struct DevUpArgs {
    /// Folder holding the cluster (created on first start).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Metadata voters (first start only; default 3).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=9))]
    pub meta: Option<u32>,
    /// Data servers (default 3; a larger number on a later start adds servers).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=99))]
    pub data: Option<u32>,
    /// Copies of every chunk (first start only; default min(3, data servers)).
    #[arg(long, value_name = "R", value_parser = clap::value_parser!(u32).range(1..=16))]
    pub replication: Option<u32>,
    /// Return once healthy, leaving the processes running (stop with `dev down`).
    #[arg(long)]
    pub detach: bool,
    /// Also mount the cluster at MNT with FUSE once it is healthy (MNT is created if
    /// missing); `dev down` or Ctrl-C unmounts it before stopping the servers.
    #[arg(long, value_name = "MNT")]
    pub mount: Option<PathBuf>,
    /// How long to wait for a leader and every data server to be up.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// Tests: a data server silent this long is down and its chunks re-replicated.
    #[arg(long, hide = true, value_parser = humantime::parse_duration)]
    pub down_after: Option<std::time::Duration>,
    /// Tests: how long an unreferenced chunk waits before the GC deletes it.
    #[arg(long, hide = true, value_parser = humantime::parse_duration)]
    pub gc_grace: Option<std::time::Duration>,
    /// Tests: chunk size of a new cluster (64KiB..64MiB), e.g. to get many-chunk files.
    #[arg(long, hide = true, value_parser = parse_size)]
    pub chunk_size: Option<Size>,
    /// Tests: how long data servers wait before reporting an unreferenced chunk as an
    /// orphan (they check twice per grace).
    #[arg(long, hide = true, value_parser = humantime::parse_duration)]
    pub orphan_grace: Option<std::time::Duration>,
    /// Tests: how long a mount that stopped renewing keeps its file locks (at least 3s).
    #[arg(long, hide = true, value_parser = humantime::parse_duration)]
    pub lock_timeout: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct DevDirArgs {
    /// Folder holding the cluster.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Create a cluster CA: DIR/ca.pem and DIR/ca.key (keep the key private).
    Init {
        /// Folder for the CA (created if missing; an existing CA is never overwritten).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Issue a certificate for a server or client, signed by the CA.
    ///
    /// Writes OUT/NAME.pem, OUT/NAME.key and OUT/ca.pem, and prints the `tls` line for
    /// the process's config file.
    Issue {
        /// Folder holding ca.pem and ca.key.
        #[arg(long, value_name = "DIR")]
        ca: PathBuf,
        /// Name of the process (e.g. meta-1, data-3, client).
        #[arg(long)]
        name: String,
        /// Output folder (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Size of the file for the put/get throughput test.
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    pub size: Size,
    /// Number of 4 KiB files for the create/stat/delete rates.
    #[arg(long, default_value_t = 1000)]
    pub files: u32,
    /// Concurrent tasks for the small-file phases.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub tasks: u32,
}

#[derive(Clone, Debug, Args)]
pub struct MountArgs {
    /// Local directory to mount on (it must exist; usually empty).
    #[arg(value_name = "MNT")]
    pub mountpoint: PathBuf,
    /// Mount options, comma-separated, repeatable: allow_other, ro, noatime, noexec,
    /// nosuid, nodev, fsname=NAME, ... (others go to the kernel as given).
    #[arg(short = 'o', value_name = "OPT,...")]
    pub options: Vec<String>,
    /// Return once the mount is live, leaving it served by a detached process
    /// (stop it with `ferrofs umount MNT`).
    #[arg(long)]
    pub background: bool,
    /// Log file of the --background process (default: ferrofs-mount-<hash>.log in
    /// $XDG_RUNTIME_DIR, else /tmp).
    #[arg(long, value_name = "FILE", requires = "background")]
    pub log: Option<PathBuf>,
    /// Let other users than the mounting one use the mount (same as -o allow_other).
    #[arg(long)]
    pub allow_other: bool,
    /// How long the kernel may cache attributes.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub attr_ttl: std::time::Duration,
    /// How long the kernel may cache name lookups.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub entry_ttl: std::time::Duration,
    /// Refuse every change (EROFS); same as -o ro.
    #[arg(long)]
    pub read_only: bool,
    /// Memory for partially written chunks of all open files together (e.g. 256MiB,
    /// 1GiB). A file is flushed when this is full; random writes cost a chunk upload
    /// per flush, so more memory makes them cheaper. Close and fsync always flush.
    #[arg(long, value_name = "SIZE", default_value_t = bytesize::ByteSize::b(ferrofs_fuse::DEFAULT_WRITE_BUFFER))]
    pub write_buffer: bytesize::ByteSize,
    /// Keep file locks (fcntl, flock) in this machine's kernel: faster, but locks taken
    /// through other mounts of the cluster are not seen. By default locks are held by the
    /// cluster and exclude each other on every mount.
    #[arg(long)]
    pub local_locks: bool,
    /// How long --background waits for the mount to become live.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// Set by --background on the process it starts: leave the terminal's session.
    #[arg(long, hide = true)]
    pub detached_child: bool,
    /// Serve the mount's Prometheus metrics (FUSE operation counts, latencies, errors,
    /// bytes) at http://ADDR/metrics, e.g. 127.0.0.1:9400; overrides `metrics_addr` in
    /// the client config.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct UmountArgs {
    /// Mount point to detach (also one whose mount process was killed).
    #[arg(value_name = "MNT")]
    pub mountpoint: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ScrubCommand {
    /// Start a full scrub pass now on every up data server (or one); a pass in progress
    /// starts again from the first chunk.
    Start(ScrubStartArgs),
    /// Per data server: the pass in progress and the last finished one, with what it found.
    Status(ScrubStatusArgs),
}

#[derive(Debug, Args)]
pub struct ScrubStartArgs {
    /// Only this data server (its node id, as in `ferrofs status`).
    #[arg(long, value_name = "ID")]
    pub node: Option<u64>,
    /// Wait until the started passes finish, then print their results.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct ScrubStatusArgs {
    /// Only this data server (its node id, as in `ferrofs status`).
    #[arg(long, value_name = "ID")]
    pub node: Option<u64>,
    /// Print a JSON array, one object per data server.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from(["ferrofs", "truncate", "-s", "4KiB", "/f"]).expect("parse");
        match cli.command {
            Command::Truncate(a) => assert_eq!(a.size.0, 4096),
            other => panic!("unexpected {other:?}"),
        }
        let cli = Cli::try_parse_from(["ferrofs", "ls", "-l"]).expect("parse");
        match cli.command {
            Command::Ls(a) => assert!(a.long && a.path == "/"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn mount_flags_parse() {
        let cli = Cli::try_parse_from([
            "ferrofs",
            "mount",
            "/mnt/f",
            "-o",
            "noatime,allow_other",
            "-o",
            "ro",
            "--attr-ttl",
            "250ms",
            "--background",
        ])
        .expect("parse");
        match cli.command {
            Command::Mount(a) => {
                assert_eq!(a.mountpoint, PathBuf::from("/mnt/f"));
                assert_eq!(a.options, vec!["noatime,allow_other", "ro"]);
                assert_eq!(a.attr_ttl, std::time::Duration::from_millis(250));
                assert_eq!(a.entry_ttl, std::time::Duration::from_secs(1));
                assert_eq!(a.write_buffer.as_u64(), ferrofs_fuse::DEFAULT_WRITE_BUFFER);
                assert!(a.background && !a.read_only && !a.allow_other);
            }
            other => panic!("unexpected {other:?}"),
        }
        // --log only makes sense with --background.
        assert!(Cli::try_parse_from(["ferrofs", "mount", "/m", "--log", "/tmp/l"]).is_err());
        assert!(Cli::try_parse_from(["ferrofs", "mount"]).is_err());
    }

    #[test]
    fn bad_usage_is_an_error() {
        assert!(Cli::try_parse_from(["ferrofs", "mkdir"]).is_err());
        assert!(
            Cli::try_parse_from(["ferrofs", "dev", "up", "--dir", "d", "--meta", "0"]).is_err()
        );
    }
}

#[derive(Debug, Subcommand)]
pub enum MetaCommand {
    /// Add a metadata server as a voter: it joins as a learner, catches up, then votes.
    ///
    /// Start the new `ferrofs-meta` first, with an empty `initial_voters` (join mode).
    Add {
        /// The new node's id (unique, never reused).
        id: u64,
        /// Address the other voters reach it on (HOST:PORT).
        addr: String,
    },
    /// Remove a voter (or learner); removing the leader moves leadership first.
    Remove {
        /// The node's id, as `ferrofs status` shows it.
        id: u64,
    },
    /// Hand leadership to another voter.
    TransferLeader {
        /// The voter to lead.
        id: u64,
    },
}
