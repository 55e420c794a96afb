//! `ferrofs mount` / `umount`: placeholders until the FUSE adapter (fuse-mount) lands.

use crate::args::{MountArgs, UmountArgs};
use anyhow::{bail, Result};

pub fn mount(args: MountArgs) -> Result<()> {
    bail!(
        "mount {}: the FUSE mount is not available yet",
        args.mountpoint.display()
    )
}

pub fn umount(args: UmountArgs) -> Result<()> {
    bail!(
        "umount {}: the FUSE mount is not available yet",
        args.mountpoint.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_say_not_yet() {
        let err = mount(MountArgs {
            mountpoint: "/mnt/x".into(),
        })
        .expect_err("not yet");
        assert!(err.to_string().contains("not available yet"), "{err}");
        assert!(umount(UmountArgs {
            mountpoint: "/mnt/x".into()
        })
        .is_err());
    }
}
