//! Mounting through FUSE from the command line: checking mount points, reading the
//! mount table, serving a mount in the foreground and starting one in the background.
//! The FUSE adapter itself is `ferrofs_fuse`.

pub mod background;
pub mod check;
pub mod live;
pub mod mountinfo;
pub mod serve;

use crate::args::MountArgs;
use ferrofs_fuse::MountOptions;

/// The adapter's options from the command line.
pub fn mount_options(args: &MountArgs) -> MountOptions {
    MountOptions {
        allow_other: args.allow_other,
        read_only: args.read_only,
        attr_ttl: args.attr_ttl,
        entry_ttl: args.entry_ttl,
        write_buffer: args.write_buffer.as_u64(),
        local_locks: args.local_locks,
        extra: args.options.clone(),
    }
}
