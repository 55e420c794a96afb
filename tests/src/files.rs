//! Whole-file helpers over the client library.

use anyhow::{Context, Result};
use ferrofs_client::{Client, FileAttr, FileKind, SetAttr};

/// Create (or truncate) the file at `path` and write `bytes` to it.
pub async fn put_bytes(client: &Client, path: &str, bytes: &[u8]) -> Result<FileAttr> {
    let (parent, name) = client.resolve_parent(path).await?;
    let attr = client
        .create(parent.ino, name, FileKind::File, 0o644, 0, 0, false)
        .await?;
    if attr.size != 0 {
        client
            .setattr(
                attr.ino,
                SetAttr {
                    size: Some(0),
                    ..SetAttr::default()
                },
            )
            .await?;
    }
    let attr = client
        .write_file_from(attr.ino, bytes, &|_| {})
        .await
        .with_context(|| format!("writing {path}"))?;
    Ok(attr)
}

/// Read the whole file at `path`.
pub async fn get_bytes(client: &Client, path: &str) -> Result<Vec<u8>> {
    let attr = client.resolve(path).await?;
    let mut out = Vec::with_capacity(attr.size as usize);
    client
        .read_file_to(attr.ino, &mut out, &|_| {})
        .await
        .with_context(|| format!("reading {path}"))?;
    Ok(out)
}

/// `mkdir -p`.
pub async fn mkdir_p(client: &Client, path: &str) -> Result<()> {
    let mut cur = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        cur.push('/');
        cur.push_str(part);
        if client.resolve(&cur).await.is_err() {
            let (parent, name) = client.resolve_parent(&cur).await?;
            match client.mkdir(parent.ino, name, 0o755, 0, 0).await {
                Ok(_) => {}
                Err(e) if e.fs() == Some(&ferrofs_client::FsError::Exists) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
