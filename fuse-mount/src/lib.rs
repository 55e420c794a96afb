//! `ferrofs mount`: the FUSE adapter over the ferrofs client library.
//!
//! - Every FUSE request runs as a task on the caller's tokio runtime and is answered
//!   from there; fuser's threads only decode requests (`fs::dispatch`).
//! - Client errors become errno in one place (`error::errno_of`); the kernel checks
//!   mode bits and ownership (`default_permissions`).
//! - Writes are buffered per open file (one buffer per inode, shared by its handles on
//!   this mount) and uploaded as whole chunks, in parallel, when
//!   a chunk fills and on flush/fsync/close (`file_io`, `write_buffer`); sequential
//!   reads go through a small prefetching chunk cache (`read_cache`). Data is
//!   close-to-open consistent: close returns after the commit, open re-fetches.
//! - Directories are listed page by page, resumable by cookie (`dir_stream`).
//! - A file unlinked (or replaced by rename) while open here stays usable until its
//!   last close, under a hidden name in `/.ferrofs-unlinked/` (`fs::hidden`).
//! - Byte-range (`fcntl`) and `flock` locks are held by the metadata quorum, so they
//!   hold between mounts (`fs::locks`); `flock` is a whole-file lock of the open file,
//!   as on NFS. A mount holding locks renews its lock session every second
//!   (`held_locks`); the cluster drops the locks of a mount silent for its lock
//!   timeout. Reads do not update atime (as `noatime`); utimens sets it.
//! - Kernel caches: attributes and names for `attr_ttl` / `entry_ttl` (1 s by
//!   default). Close-to-open holds across mounts once those have expired; a mount
//!   with both at zero sees another mount's closed writes at its next open.
//! - Every FUSE operation is counted and timed, with its errno when it fails, and the
//!   bytes read and written are counted (`metrics`); `ferrofs mount --metrics-addr`
//!   serves them to Prometheus.

mod attr;
mod budget;
mod chunk_locations;
mod dir_attrs;
mod dir_scan;
mod dir_stream;
mod error;
mod file_io;
mod fs;
mod held_locks;
mod lock_wakeups;
mod metrics;
mod mount;
mod open_files;
mod options;
mod perm;
mod ranges;
mod read_cache;
mod write_buffer;
mod xattr_hint;

pub use error::MountError;
pub use metrics::MountMetrics;
pub use mount::{mount_blocking, mount_blocking_with_metrics, unmount};
pub use options::{MountOptions, DEFAULT_WRITE_BUFFER};
