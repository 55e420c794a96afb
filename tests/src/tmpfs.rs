//! A small tmpfs mounted over a folder (needs root), to run a data server out of disk
//! space for real. Unmounted when dropped.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tmpfs {
    path: PathBuf,
}

fn run(args: &[&str]) -> Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {args:?}"))?;
    if !out.status.success() {
        bail!("{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

impl Tmpfs {
    /// Mount a tmpfs of `mib` MiB over `path`, keeping what `path` held (copied in).
    pub fn mount_over(path: &Path, mib: u64) -> Result<Tmpfs> {
        let saved = path.with_extension("before-tmpfs");
        std::fs::rename(path, &saved).context("moving the folder aside")?;
        std::fs::create_dir_all(path)?;
        let p = path.to_string_lossy().to_string();
        run(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            &format!("size={mib}m"),
            "tmpfs",
            &p,
        ])?;
        let fs = Tmpfs {
            path: path.to_path_buf(),
        };
        copy_tree(&saved, path)?;
        std::fs::remove_dir_all(&saved)?;
        Ok(fs)
    }

    /// Grow (or shrink) the tmpfs in place.
    pub fn resize(&self, mib: u64) -> Result<()> {
        let p = self.path.to_string_lossy().to_string();
        run(&["mount", "-o", &format!("remount,size={mib}m"), &p])
    }

    /// Bytes still available to unprivileged writers.
    pub fn available(&self) -> Result<u64> {
        let st = nix::sys::statvfs::statvfs(&self.path)?;
        Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a data server still running there must not keep the mount alive.
        let p = self.path.to_string_lossy().to_string();
        if let Err(e) = run(&["umount", "-l", &p]) {
            eprintln!("unmounting the test tmpfs: {e:#}");
        }
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            std::fs::create_dir_all(&dest)?;
            copy_tree(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), &dest)?;
        }
    }
    Ok(())
}
