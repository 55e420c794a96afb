//! Direct protocol access for tests: raw metadata requests (to inspect chunk locations)
//! and raw QUIC streams (to send garbage).

use anyhow::{bail, Result};
use ferrofs_proto::attr::ChunkLocation;
use ferrofs_proto::config::ClientConfig;
use ferrofs_proto::data_msg::{DataRequest, DataResponse};
use ferrofs_proto::endpoint::{client_endpoint, Connector};
use ferrofs_proto::frame::{read_msg, write_msg};
use ferrofs_proto::meta_msg::{MetaRequest, MetaResponse};
use ferrofs_proto::tls::TlsIdentity;
use ferrofs_proto::ChunkId;
use ferrofs_proto::{FsError, InodeId};
use std::time::{Duration, Instant};

/// A connector holding the client's certificate.
pub fn connector(cfg: &ClientConfig) -> Result<Connector> {
    let tls = TlsIdentity::load(&cfg.tls)?;
    Ok(Connector::new(client_endpoint(&tls)?))
}

/// Send one metadata request to the leader, following redirects, for up to 30 s.
pub async fn meta_call(
    conn: &Connector,
    addrs: &[String],
    req: &MetaRequest,
) -> Result<MetaResponse> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut next: Vec<String> = addrs.to_vec();
    loop {
        for addr in next.clone() {
            match conn
                .call::<_, MetaResponse>(&addr, req, Duration::from_secs(5))
                .await
            {
                Ok(MetaResponse::Error(FsError::NotLeader {
                    leader_addr: Some(l),
                })) => {
                    next.retain(|a| a != &l);
                    next.insert(0, l);
                    break;
                }
                Ok(MetaResponse::Error(FsError::NotLeader { .. }))
                | Ok(MetaResponse::Error(FsError::Unavailable(_)))
                | Err(_) => continue,
                Ok(resp) => return Ok(resp),
            }
        }
        if Instant::now() > deadline {
            bail!("no metadata leader answered {req:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every chunk of a file with the servers recorded as holding it.
pub async fn chunk_locations(
    conn: &Connector,
    addrs: &[String],
    ino: InodeId,
    count: u64,
) -> Result<Vec<ChunkLocation>> {
    let req = MetaRequest::GetChunks {
        ino,
        first_index: 0,
        count,
    };
    match meta_call(conn, addrs, &req).await? {
        MetaResponse::Chunks { chunks, .. } => Ok(chunks),
        other => bail!("GetChunks answered {other:?}"),
    }
}

/// Store `bytes` as chunk `id` on the data server at `addr` and commit it nowhere: what
/// a writer that dies between its upload and its commit leaves behind.
pub async fn put_uncommitted(
    conn: &Connector,
    addr: &str,
    id: ChunkId,
    bytes: &[u8],
) -> Result<()> {
    let req = DataRequest::PutChunk {
        id,
        len: bytes.len() as u64,
        hash: *blake3::hash(bytes).as_bytes(),
    };
    let (mut send, mut recv) = conn.open(addr).await?;
    write_msg(&mut send, &req).await?;
    send.write_all(bytes).await?;
    send.finish()?;
    match read_msg::<DataResponse>(&mut recv).await? {
        DataResponse::Stored => Ok(()),
        other => bail!("PutChunk of {id} to {addr} answered {other:?}"),
    }
}
