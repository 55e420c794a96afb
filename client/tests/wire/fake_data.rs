//! A stand-in data server: chunks in memory, with knobs to fail every request or to
//! serve corrupted bytes (as a server that skipped its own verification would).

use ferrofs_proto::block_hashes::{block_hashes, covering, BLOCK_BYTES};
use ferrofs_proto::data_msg::{DataRequest, DataResponse};
use ferrofs_proto::endpoint::{serve_streams, server_endpoint};
use ferrofs_proto::frame::{read_msg, read_payload, write_msg};
use ferrofs_proto::limits::MAX_CHUNK_BYTES;
use ferrofs_proto::tls::TlsIdentity;
use ferrofs_proto::{ChunkId, FsError, NodeId};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
pub struct DataState {
    pub chunks: HashMap<ChunkId, Vec<u8>>,
    pub fail: bool,
    pub corrupt: bool,
    pub gets: u64,
}

pub struct FakeData {
    pub id: NodeId,
    pub addr: String,
    pub state: Arc<Mutex<DataState>>,
    _endpoint: quinn::Endpoint,
}

async fn serve_one(
    st: Arc<Mutex<DataState>>,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) -> Option<()> {
    let req = read_msg::<DataRequest>(&mut recv).await.ok()?;
    let (resp, payload) = match req {
        DataRequest::PutChunk { id, len, hash } => {
            if len > MAX_CHUNK_BYTES {
                return None;
            }
            let data = read_payload(&mut recv, len).await.ok()?;
            let mut s = st.lock();
            if s.fail {
                (
                    DataResponse::Error(FsError::Internal("disk on fire".into())),
                    None,
                )
            } else if *blake3::hash(&data).as_bytes() != hash {
                (
                    DataResponse::Error(FsError::Invalid("hash mismatch".into())),
                    None,
                )
            } else {
                s.chunks.insert(id, data);
                (DataResponse::Stored, None)
            }
        }
        DataRequest::GetChunk { id, offset, len } => {
            let mut s = st.lock();
            s.gets += 1;
            match s.chunks.get(&id) {
                _ if s.fail => (
                    DataResponse::Error(FsError::Internal("disk on fire".into())),
                    None,
                ),
                None => (DataResponse::Error(FsError::NotFound), None),
                Some(c) => {
                    let start = (offset as usize).min(c.len());
                    let end = if len == u64::MAX {
                        c.len()
                    } else {
                        (start + len as usize).min(c.len())
                    };
                    let mut bytes = c[start..end].to_vec();
                    if s.corrupt {
                        if let Some(b) = bytes.first_mut() {
                            *b ^= 0xff;
                        }
                    }
                    (
                        DataResponse::Chunk {
                            len: bytes.len() as u64,
                        },
                        Some(bytes),
                    )
                }
            }
        }
        DataRequest::GetBlocks { id, offset, len } => {
            let mut s = st.lock();
            s.gets += 1;
            match s.chunks.get(&id) {
                _ if s.fail => (
                    DataResponse::Error(FsError::Internal("disk on fire".into())),
                    None,
                ),
                None => (DataResponse::Error(FsError::NotFound), None),
                Some(c) => {
                    let (resp, mut bytes) = blocks_of(c, offset, len);
                    if s.corrupt {
                        if let Some(b) = bytes.first_mut() {
                            *b ^= 0xff;
                        }
                    }
                    (resp, Some(bytes))
                }
            }
        }
        _ => (DataResponse::Error(FsError::Unsupported), None),
    };
    write_msg(&mut send, &resp).await.ok()?;
    if let Some(p) = payload {
        send.write_all(&p).await.ok()?;
    }
    send.finish().ok()
}

/// The `Blocks` answer for a range of chunk `c` (small chunks whole), as a real data
/// server gives it.
fn blocks_of(c: &[u8], offset: u64, len: u64) -> (DataResponse, Vec<u8>) {
    let block = BLOCK_BYTES;
    let Some(hashes) = block_hashes(c, block) else {
        let whole = DataResponse::Blocks {
            block: 0,
            first: 0,
            hashes: Vec::new(),
            len: c.len() as u64,
        };
        return (whole, c.to_vec());
    };
    let (first, from, to) = covering(offset, len, c.len() as u64, block);
    let bytes = c[from as usize..to as usize].to_vec();
    let resp = DataResponse::Blocks {
        block,
        first,
        hashes,
        len: bytes.len() as u64,
    };
    (resp, bytes)
}

impl FakeData {
    pub fn start(identity: &TlsIdentity, id: u64) -> FakeData {
        let endpoint =
            server_endpoint("127.0.0.1:0".parse().expect("addr"), identity).expect("endpoint");
        let addr = endpoint.local_addr().expect("local addr").to_string();
        let state = Arc::new(Mutex::new(DataState::default()));
        let st = state.clone();
        tokio::spawn(serve_streams(endpoint.clone(), move |_conn, send, recv| {
            let st = st.clone();
            async move {
                let _ = serve_one(st, send, recv).await;
            }
        }));
        FakeData {
            id: NodeId(id),
            addr,
            state,
            _endpoint: endpoint,
        }
    }
}
