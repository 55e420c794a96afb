//! `put` and `get`: streaming a local file into the cluster and back, with a progress
//! bar when stderr is a terminal. Memory stays bounded: the client library streams
//! chunk by chunk.

use super::{absolute, basename, caller_ids, join, OpContext};
use crate::args::{GetArgs, PutArgs};
use crate::client_config::connect;
use anyhow::{bail, Context, Result};
use ferrofs_client::{Client, FileKind, FsError, SetAttr};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

const FILE_MODE: u32 = 0o644;

/// A progress bar on stderr, or a hidden one when stderr is not a terminal.
pub fn progress_bar(total: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match total {
        Some(n) => {
            let pb = ProgressBar::new(n);
            let style = ProgressStyle::with_template(
                "{wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            pb.set_style(style);
            pb
        }
        None => {
            let pb = ProgressBar::new_spinner();
            let style =
                ProgressStyle::with_template("{spinner} {binary_bytes} {binary_bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner());
            pb.set_style(style);
            pb
        }
    }
}

/// The cluster path a put writes: REMOTE itself, or REMOTE/<local name> if REMOTE is
/// an existing directory.
async fn put_target(client: &Client, remote: &str, local: &Path) -> Result<String> {
    match client.resolve_follow(remote).await {
        Ok(a) if a.kind == FileKind::Dir => {
            let Some(name) = local.file_name().and_then(|n| n.to_str()) else {
                bail!(
                    "put {remote}: {} has no usable file name; name the remote file",
                    local.display()
                );
            };
            Ok(join(remote, name))
        }
        Ok(_) => Ok(remote.to_string()),
        Err(e) if e.fs() == Some(&FsError::NotFound) => Ok(remote.to_string()),
        Err(e) => Err(e).op(|| format!("put {remote}")),
    }
}

pub async fn put(config: Option<PathBuf>, args: PutArgs) -> Result<()> {
    let stdin = args.local.as_os_str() == "-";
    let shown_local = args.local.display().to_string();
    // Open the source before touching the cluster, so a missing local file changes nothing.
    let source: Box<dyn tokio::io::AsyncRead + Unpin + Send> = if stdin {
        Box::new(tokio::io::stdin())
    } else {
        let f = tokio::fs::File::open(&args.local)
            .await
            .with_context(|| format!("put: opening {shown_local}"))?;
        let meta = f
            .metadata()
            .await
            .with_context(|| format!("put: reading {shown_local}"))?;
        if meta.is_dir() {
            bail!("put: {shown_local} is a directory");
        }
        Box::new(f)
    };
    let total = if stdin {
        None
    } else {
        std::fs::metadata(&args.local)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    };

    let client = connect(config).await?;
    let remote = put_target(&client, &absolute(&args.remote), &args.local).await?;
    let what = || format!("put {remote}");
    let (parent, name) = client.resolve_parent(&remote).await.op(what)?;
    let (uid, gid) = caller_ids();
    let attr = client
        .create(parent.ino, name, FileKind::File, FILE_MODE, uid, gid, false)
        .await
        .op(what)?;
    if attr.kind != FileKind::File {
        bail!("put {remote}: not a regular file");
    }
    if attr.size > 0 {
        client
            .setattr(
                attr.ino,
                SetAttr {
                    size: Some(0),
                    ..SetAttr::default()
                },
            )
            .await
            .op(what)?;
    }
    let pb = progress_bar(total);
    let result = client
        .write_file_from(attr.ino, source, &|n| pb.set_position(n))
        .await;
    pb.finish_and_clear();
    result.op(what)?;
    Ok(())
}

pub async fn get(config: Option<PathBuf>, args: GetArgs) -> Result<()> {
    let client = connect(config).await?;
    let remote = absolute(&args.remote);
    let what = || format!("get {remote}");
    let attr = client.resolve_follow(&remote).await.op(what)?;
    if attr.kind == FileKind::Dir {
        bail!("get {remote}: is a directory");
    }
    if args.local.as_os_str() == "-" {
        let mut out = tokio::io::stdout();
        client
            .read_file_to(attr.ino, &mut out, &|_| {})
            .await
            .op(what)?;
        out.flush().await?;
        return Ok(());
    }
    let local = if args.local.is_dir() {
        args.local.join(basename(&remote))
    } else {
        args.local.clone()
    };
    // Download next to the destination, then rename: a failed get leaves any old file intact.
    let tmp = temp_sibling(&local);
    let file = tokio::fs::File::create(&tmp)
        .await
        .with_context(|| format!("get {remote}: creating {}", tmp.display()))?;
    let pb = progress_bar(Some(attr.size));
    let mut writer = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let result = client
        .read_file_to(attr.ino, &mut writer, &|n| pb.set_position(n))
        .await;
    pb.finish_and_clear();
    let finished = match result.op(what) {
        Ok(_) => finish_file(writer)
            .await
            .with_context(|| format!("get {remote}: writing {}", tmp.display())),
        Err(e) => Err(e),
    };
    if let Err(e) = finished {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &local)
        .with_context(|| format!("get {remote}: renaming to {}", local.display()))?;
    Ok(())
}

async fn finish_file(mut writer: tokio::io::BufWriter<tokio::fs::File>) -> std::io::Result<()> {
    writer.flush().await?;
    writer.into_inner().sync_all().await
}

/// `dir/.name.ferrofs-XXXXXXXX` beside `path`.
fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp_name = format!(".{name}.ferrofs-{:08x}", rand::random::<u32>());
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(tmp_name),
        _ => PathBuf::from(tmp_name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_sits_beside_the_target() {
        let t = temp_sibling(Path::new("/x/y/out.bin"));
        assert_eq!(t.parent(), Some(Path::new("/x/y")));
        let name = t.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(name.starts_with(".out.bin.ferrofs-"), "{name}");
        let bare = temp_sibling(Path::new("out.bin"));
        assert_eq!(bare.parent(), Some(Path::new("")));
    }

    #[test]
    fn progress_is_hidden_without_a_terminal() {
        // Test runners capture stderr, so it is not a terminal here.
        if !std::io::stderr().is_terminal() {
            assert!(progress_bar(Some(10)).is_hidden());
        }
    }
}
