//! Issue 2, acceptance 6: garbage, truncated frames, oversized headers, unknown request
//! kinds and a certificate from another CA get an error or a closed stream, and the
//! server keeps serving everyone else.

use ferrofs_proto::data_msg::{DataRequest, DataResponse};
use ferrofs_proto::endpoint::{client_endpoint, Connector};
use ferrofs_proto::meta_msg::{MetaRequest, MetaResponse};
use ferrofs_proto::tls::{ClusterCa, TlsIdentity};
use ferrofs_tests::leader::MetaProbe;
use ferrofs_tests::TestCluster;
use std::time::Duration;

/// Send raw bytes on a fresh stream and return whatever comes back (or the error).
async fn send_raw(conn: &Connector, addr: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let (mut send, mut recv) = conn.open(addr).await.map_err(|e| e.to_string())?;
    send.write_all(bytes).await.map_err(|e| e.to_string())?;
    let _ = send.finish();
    tokio::time::timeout(Duration::from_secs(5), recv.read_to_end(1 << 20))
        .await
        .map_err(|_| "no answer within 5 s".to_string())?
        .map_err(|e| e.to_string())
}

fn bad_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut truncated = 100u32.to_be_bytes().to_vec();
    truncated.extend_from_slice(&[1, 2, 3]);
    let mut unknown_kind = 1u32.to_be_bytes().to_vec();
    unknown_kind.push(200);
    vec![
        (
            "garbage",
            b"\xde\xad\xbe\xef this is not a frame at all".to_vec(),
        ),
        ("truncated frame", truncated),
        ("header over the limit", u32::MAX.to_be_bytes().to_vec()),
        ("unknown request kind", unknown_kind),
        ("empty stream", Vec::new()),
    ]
}

/// A bad stream must not yield a success reply: either nothing / a closed stream, or an
/// encoded error response.
fn assert_not_success<T: serde::de::DeserializeOwned + std::fmt::Debug>(
    what: &str,
    reply: Result<Vec<u8>, String>,
    is_error: impl Fn(&T) -> bool,
) {
    if let Ok(bytes) = reply {
        if bytes.len() > 4 {
            let msg: T = ferrofs_proto::frame::decode(&bytes[4..]).expect("reply decodes");
            assert!(is_error(&msg), "{what}: got a success reply {msg:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn servers_survive_bad_input_and_refuse_foreign_certificates() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3, 3)?;
    let probe = MetaProbe::new(&cluster)?;
    let status = probe.status().await?;
    let data_addr = status.data_servers[0].addr.clone();
    let meta_addr = probe.addrs[0].clone();

    for (what, bytes) in bad_inputs() {
        let reply = send_raw(&probe.conn, &meta_addr, &bytes).await;
        assert_not_success::<MetaResponse>(what, reply, |m| matches!(m, MetaResponse::Error(_)));
        // The same connection and the server still serve good requests.
        probe.status().await?;
        let good = probe.status_from(&meta_addr).await;
        let redirected = probe
            .conn
            .call::<_, MetaResponse>(
                &meta_addr,
                &MetaRequest::ClusterStatus,
                Duration::from_secs(5),
            )
            .await;
        assert!(
            good.is_some() || redirected.is_ok(),
            "meta server stopped answering after {what}"
        );

        let reply = send_raw(&probe.conn, &data_addr, &bytes).await;
        assert_not_success::<DataResponse>(what, reply, |m| matches!(m, DataResponse::Error(_)));
        let stat: DataResponse = probe
            .conn
            .call(&data_addr, &DataRequest::Stat, Duration::from_secs(5))
            .await?;
        assert!(
            matches!(stat, DataResponse::Stat { .. }),
            "data server after {what}: {stat:?}"
        );
        eprintln!("{what}: rejected, servers still serving");
    }

    // A peer whose certificate is signed by another CA is refused by both kinds of server.
    let dir = tempfile::tempdir()?;
    let foreign = ClusterCa::generate()?;
    let paths = foreign.issue_to_dir("intruder", dir.path())?;
    // Trust the real cluster CA (so the client side verifies the server) but present a
    // certificate the cluster never signed.
    let real: ferrofs_proto::config::ClientConfig =
        ferrofs_proto::config::load(&cluster.client_config())?;
    std::fs::copy(&real.tls.ca_cert, &paths.ca_cert)?;
    let intruder = Connector::new(client_endpoint(&TlsIdentity::load(&paths)?)?);
    let meta = intruder
        .call::<_, MetaResponse>(
            &meta_addr,
            &MetaRequest::ClusterStatus,
            Duration::from_secs(5),
        )
        .await;
    assert!(
        meta.is_err(),
        "meta server answered a foreign certificate: {meta:?}"
    );
    let data = intruder
        .call::<_, DataResponse>(&data_addr, &DataRequest::Stat, Duration::from_secs(5))
        .await;
    assert!(
        data.is_err(),
        "data server answered a foreign certificate: {data:?}"
    );
    probe.status().await?;
    eprintln!("foreign certificate refused; cluster still serving");
    Ok(())
}
