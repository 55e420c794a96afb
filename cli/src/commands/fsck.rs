//! `ferrofs fsck [--repair]`: walk the namespace from the root, check that every chunk of
//! every file has a verified copy on a server that is up (HasChunk), count missing,
//! under- and over-replicated chunks and directories whose link count is wrong. Exit 0
//! only when clean. `--repair` waits for the leader's reconciliation loop to bring
//! under-replicated chunks back and says what it cannot fix.

use super::OpContext;
use crate::args::FsckArgs;
use crate::client_config::load_client_config;
use anyhow::{bail, Result};
use ferrofs_client::{Client, ClusterStatus, FileKind, InodeId, ServerState};
use ferrofs_proto::data_msg::{DataRequest, DataResponse};
use ferrofs_proto::endpoint::{client_endpoint, Connector};
use ferrofs_proto::ids::{ChunkId, NodeId};
use ferrofs_proto::tls::TlsIdentity;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PAGE: u32 = 1000;
const CHUNK_PAGE: u64 = 1024;
const HAS_TIMEOUT: Duration = Duration::from_secs(10);

/// What one pass found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    pub dirs: u64,
    pub files: u64,
    pub chunks: u64,
    /// Chunks without any verified copy on a server that is up.
    pub missing: Vec<(String, u64, ChunkId)>,
    pub under_replicated: u64,
    pub over_replicated: u64,
    /// Directories whose nlink is not 2 + subdirectories: (path, nlink, expected).
    pub bad_nlink: Vec<(String, u32, u32)>,
}

impl Findings {
    pub fn clean(&self) -> bool {
        self.missing.is_empty()
            && self.under_replicated == 0
            && self.over_replicated == 0
            && self.bad_nlink.is_empty()
    }

    pub fn render(&self) -> String {
        let mut out = format!(
            "checked {} directories, {} files, {} chunks\n\
             missing {}, under-replicated {}, over-replicated {}, bad directory link counts {}\n",
            self.dirs,
            self.files,
            self.chunks,
            self.missing.len(),
            self.under_replicated,
            self.over_replicated,
            self.bad_nlink.len()
        );
        for (path, index, chunk) in &self.missing {
            out.push_str(&format!("missing: {path} chunk {index} ({chunk})\n"));
        }
        for (path, nlink, want) in &self.bad_nlink {
            out.push_str(&format!("nlink: {path} has {nlink}, expected {want}\n"));
        }
        out.push_str(if self.clean() {
            "clean\n"
        } else {
            "NOT clean\n"
        });
        out
    }
}

/// Classify one chunk from the number of verified copies on up servers.
pub fn classify(f: &mut Findings, verified: usize, replication: usize) -> bool {
    f.chunks += 1;
    if verified == 0 {
        return false;
    }
    if verified < replication {
        f.under_replicated += 1;
    } else if verified > replication {
        f.over_replicated += 1;
    }
    true
}

pub async fn run(config: Option<PathBuf>, args: FsckArgs) -> Result<()> {
    let cfg = load_client_config(config)?;
    let connector = Connector::new(client_endpoint(&TlsIdentity::load(&cfg.tls)?)?);
    let client = Client::connect(cfg).await?;
    let mut findings = check(&client, &connector).await?;
    if args.repair && !findings.clean() {
        findings = repair(&client, &connector, findings, args.timeout).await?;
    }
    print!("{}", findings.render());
    if !findings.clean() {
        bail!("fsck found problems");
    }
    Ok(())
}

/// Wait until the reconciliation loop reports nothing left to repair, then check again.
async fn repair(
    client: &Client,
    connector: &Connector,
    findings: Findings,
    timeout: Duration,
) -> Result<Findings> {
    if !findings.missing.is_empty() {
        eprintln!(
            "fsck: {} chunk(s) have no copy left; they cannot be repaired",
            findings.missing.len()
        );
    }
    if !findings.bad_nlink.is_empty() {
        eprintln!("fsck: directory link counts are not repaired by fsck");
    }
    let deadline = Instant::now() + timeout;
    let mut last = findings;
    loop {
        let s = client.status().await.op(|| "status".to_string())?;
        let fixable = last.under_replicated + last.over_replicated > 0;
        if s.repair.under_replicated_live == 0 && s.repair.in_flight == 0 || !fixable {
            let again = check(client, connector).await?;
            let done = again.under_replicated + again.over_replicated == 0;
            last = again;
            if done || !fixable || Instant::now() > deadline {
                return Ok(last);
            }
        }
        if Instant::now() > deadline {
            eprintln!("fsck: gave up waiting for repairs after {timeout:?}");
            return check(client, connector).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One full pass over the namespace.
pub async fn check(client: &Client, connector: &Connector) -> Result<Findings> {
    let status: ClusterStatus = client.status().await.op(|| "status".to_string())?;
    let up: HashMap<NodeId, String> = status
        .data_servers
        .iter()
        .filter(|d| d.state == ServerState::Up)
        .map(|d| (d.id, d.addr.clone()))
        .collect();
    let replication = status.replication as usize;
    let mut f = Findings::default();
    let mut stack: Vec<(InodeId, String, u32)> = vec![(InodeId::ROOT, "/".to_string(), 0)];
    let root = client
        .getattr(InodeId::ROOT)
        .await
        .op(|| "stat /".to_string())?;
    stack[0].2 = root.nlink;
    let mut seen_files: HashSet<InodeId> = HashSet::new();
    while let Some((dir, path, nlink)) = stack.pop() {
        f.dirs += 1;
        let mut subdirs = 0u32;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let (entries, done) = client
                .readdir(dir, after.clone(), PAGE)
                .await
                .op(|| format!("list {path}"))?;
            for e in &entries {
                let name = String::from_utf8_lossy(&e.name);
                let child = super::join(&path, &name);
                match e.attr.kind {
                    FileKind::Dir => {
                        subdirs += 1;
                        stack.push((e.attr.ino, child, e.attr.nlink));
                    }
                    FileKind::File if seen_files.insert(e.attr.ino) => {
                        f.files += 1;
                        check_file(
                            client,
                            connector,
                            &up,
                            replication,
                            e.attr.ino,
                            &child,
                            &mut f,
                        )
                        .await?;
                    }
                    _ => {}
                }
            }
            after = entries.last().map(|e| e.name.clone());
            if done || after.is_none() {
                break;
            }
        }
        let want = 2 + subdirs;
        if nlink != want {
            f.bad_nlink.push((path, nlink, want));
        }
    }
    Ok(f)
}

async fn check_file(
    client: &Client,
    connector: &Connector,
    up: &HashMap<NodeId, String>,
    replication: usize,
    ino: InodeId,
    path: &str,
    f: &mut Findings,
) -> Result<()> {
    let mut first = 0u64;
    loop {
        let (chunks, _) = client
            .chunk_locations(ino, first, CHUNK_PAGE)
            .await
            .op(|| format!("chunks of {path}"))?;
        for c in &chunks {
            if let Some(bytes) = &c.chunk.inline {
                // Kept in the metadata, replicated by the quorum: check its bytes instead.
                f.chunks += 1;
                if *blake3::hash(bytes).as_bytes() != c.chunk.hash {
                    f.missing.push((path.to_string(), c.index, c.chunk.id));
                }
                continue;
            }
            let mut verified = 0;
            for s in &c.servers {
                let Some(addr) = up.get(s) else { continue };
                let req = DataRequest::HasChunk { id: c.chunk.id };
                let answer = connector
                    .call::<_, DataResponse>(addr, &req, HAS_TIMEOUT)
                    .await;
                if matches!(answer, Ok(DataResponse::Present(true))) {
                    verified += 1;
                }
            }
            if !classify(f, verified, replication) {
                f.missing.push((path.to_string(), c.index, c.chunk.id));
            }
        }
        match chunks.last() {
            Some(last) if chunks.len() as u64 == CHUNK_PAGE => first = last.index + 1,
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_and_cleanliness() {
        let mut f = Findings::default();
        assert!(classify(&mut f, 3, 3));
        assert!(f.clean());
        assert!(classify(&mut f, 2, 3));
        assert!(classify(&mut f, 4, 3));
        assert!(!classify(&mut f, 0, 3));
        assert_eq!((f.chunks, f.under_replicated, f.over_replicated), (4, 1, 1));
        assert!(!f.clean());
        f.missing.push(("/a".into(), 0, ChunkId(1)));
        let text = f.render();
        assert!(
            text.contains("missing 1, under-replicated 1, over-replicated 1"),
            "{text}"
        );
        assert!(text.contains("missing: /a chunk 0"), "{text}");
        assert!(text.ends_with("NOT clean\n"), "{text}");
    }
}
