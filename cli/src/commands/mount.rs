//! `ferrofs mount` and `ferrofs umount`.

use crate::args::{MountArgs, UmountArgs};
use crate::client_config::load_client_config;
use crate::mounting::{background, check, mount_options, serve};
use anyhow::{Context, Result};
use ferrofs_client::Client;
use std::path::PathBuf;

/// Mount the cluster on MNT: in the foreground until Ctrl-C/SIGTERM/unmount, or with
/// `--background` in a detached process, returning once the mount is live.
pub async fn mount(config: Option<PathBuf>, verbose: u8, args: MountArgs) -> Result<()> {
    if args.detached_child {
        // Started by --background without a process group of its own, so this works;
        // an error only means we already lead a session.
        let _ = nix::unistd::setsid();
    }
    let target = check::prepare_mount_point(&args.mountpoint, false)?;
    if args.background {
        return background::start(config, verbose, &args, &target).await;
    }
    let cfg = load_client_config(config)?;
    let metrics_addr = args.metrics_addr.or(cfg.metrics_addr);
    let client = Client::connect(cfg)
        .await
        .context("connecting to the cluster")?;
    serve::serve(client, &target, mount_options(&args), metrics_addr).await
}

/// Unmount MNT, also when its mount process was killed.
pub fn umount(args: UmountArgs) -> Result<()> {
    let target = check::mounted_fuse_target(&args.mountpoint)?;
    ferrofs_fuse::unmount(&target)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umount_of_a_plain_folder_says_not_mounted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = umount(UmountArgs {
            mountpoint: dir.path().to_path_buf(),
        })
        .expect_err("not mounted");
        assert!(err.to_string().ends_with("is not mounted"), "{err}");
    }
}
