//! The cluster CA and mutual TLS. One CA per cluster signs every server and client
//! certificate; servers verify clients and clients verify servers. Every server
//! certificate names `SERVER_NAME`, so a peer is verified whatever address it is
//! reached at (IP, docker host name, ...).

use crate::error::WireError;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The name every server certificate carries and every client verifies.
pub const SERVER_NAME: &str = "ferrofs-server";
/// ALPN protocol id: the wire version. 3: `PatchChunk` carries only the written
/// bytes and is answered with the new hash (2: whole blocks and the client's hash;
/// 1 had no patches).
pub const ALPN: &[u8] = b"ferrofs/3";

const CA_COMMON_NAME: &str = "ferrofs cluster CA";

/// Where a process finds its TLS material (PEM files).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsPaths {
    /// The cluster CA certificate.
    pub ca_cert: PathBuf,
    /// This process's certificate, signed by the cluster CA.
    pub cert: PathBuf,
    /// This process's private key.
    pub key: PathBuf,
}

/// The cluster certificate authority: creates the certificates of servers and clients.
pub struct ClusterCa {
    pub cert_pem: String,
    key: KeyPair,
}

/// A certificate and its key, PEM encoded.
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

fn ca_params() -> Result<CertificateParams, WireError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, CA_COMMON_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

fn tls_err(e: impl std::fmt::Display) -> WireError {
    WireError::Tls(e.to_string())
}

impl ClusterCa {
    /// Create a new CA with a fresh key.
    pub fn generate() -> Result<ClusterCa, WireError> {
        let key = KeyPair::generate().map_err(tls_err)?;
        let cert = ca_params()?.self_signed(&key).map_err(tls_err)?;
        Ok(ClusterCa {
            cert_pem: cert.pem(),
            key,
        })
    }

    /// Load a CA written by `save`.
    pub fn load(dir: &Path) -> Result<ClusterCa, WireError> {
        let cert_pem = std::fs::read_to_string(dir.join("ca.pem"))?;
        let key_pem = std::fs::read_to_string(dir.join("ca.key"))?;
        let key = KeyPair::from_pem(&key_pem).map_err(tls_err)?;
        Ok(ClusterCa { cert_pem, key })
    }

    /// Write `ca.pem` and `ca.key` (mode 0600) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), WireError> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("ca.pem"), &self.cert_pem)?;
        write_private(&dir.join("ca.key"), &self.key.serialize_pem())?;
        Ok(())
    }

    /// Issue a certificate usable both as a server and as a client. `name` is the
    /// subject's common name (e.g. "meta-1", "client"); `SERVER_NAME` and `extra_names`
    /// become subject alternative names.
    pub fn issue(&self, name: &str, extra_names: &[String]) -> Result<IssuedCert, WireError> {
        let mut sans = vec![SERVER_NAME.to_string(), "localhost".to_string()];
        sans.extend(extra_names.iter().cloned());
        let mut params = CertificateParams::new(sans).map_err(tls_err)?;
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().map_err(tls_err)?;
        let issuer = Issuer::new(ca_params()?, &self.key);
        let cert = params.signed_by(&key, &issuer).map_err(tls_err)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Issue a certificate and write it as `<dir>/<name>.pem` and `<dir>/<name>.key`,
    /// with a copy of the CA certificate as `<dir>/ca.pem`. Returns the paths.
    pub fn issue_to_dir(&self, name: &str, dir: &Path) -> Result<TlsPaths, WireError> {
        let issued = self.issue(name, &[])?;
        std::fs::create_dir_all(dir)?;
        let paths = TlsPaths {
            ca_cert: dir.join("ca.pem"),
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&paths.ca_cert, &self.cert_pem)?;
        std::fs::write(&paths.cert, &issued.cert_pem)?;
        write_private(&paths.key, &issued.key_pem)?;
        Ok(paths)
    }
}

fn write_private(path: &Path, contents: &str) -> Result<(), WireError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

/// Loaded TLS material of one process.
#[derive(Clone, Debug)]
pub struct TlsIdentity {
    roots: Arc<rustls::RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, WireError> {
    let pem = std::fs::read(path)
        .map_err(|e| WireError::Tls(format!("reading {}: {e}", path.display())))?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut pem.as_slice()).collect();
    let certs = certs.map_err(|e| WireError::Tls(format!("parsing {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(WireError::Tls(format!(
            "{} holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsIdentity {
    pub fn load(paths: &TlsPaths) -> Result<TlsIdentity, WireError> {
        let mut roots = rustls::RootCertStore::empty();
        for ca in read_certs(&paths.ca_cert)? {
            roots.add(ca).map_err(tls_err)?;
        }
        let chain = read_certs(&paths.cert)?;
        let key_pem = std::fs::read(&paths.key)
            .map_err(|e| WireError::Tls(format!("reading {}: {e}", paths.key.display())))?;
        let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
            .map_err(|e| WireError::Tls(format!("parsing {}: {e}", paths.key.display())))?
            .ok_or_else(|| WireError::Tls(format!("{} holds no key", paths.key.display())))?;
        Ok(TlsIdentity {
            roots: Arc::new(roots),
            chain,
            key: Arc::new(key),
        })
    }

    /// rustls server side: requires a client certificate signed by the cluster CA.
    pub fn rustls_server(&self) -> Result<rustls::ServerConfig, WireError> {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            self.roots.clone(),
            provider(),
        )
        .build()
        .map_err(tls_err)?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_err)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(tls_err)?;
        cfg.alpn_protocols = vec![ALPN.to_vec()];
        Ok(cfg)
    }

    /// rustls client side: verifies the server against the cluster CA and presents
    /// this process's certificate.
    pub fn rustls_client(&self) -> Result<rustls::ClientConfig, WireError> {
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_err)?
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(tls_err)?;
        cfg.alpn_protocols = vec![ALPN.to_vec()];
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_certificates_load_into_both_configs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = ClusterCa::generate().expect("ca");
        ca.save(dir.path()).expect("save");
        let ca = ClusterCa::load(dir.path()).expect("load");
        let paths = ca.issue_to_dir("meta-1", dir.path()).expect("issue");
        let id = TlsIdentity::load(&paths).expect("identity");
        id.rustls_server().expect("server config");
        id.rustls_client().expect("client config");
    }
}
