//! `ferrofs cert init` / `cert issue`: the cluster CA and per-process certificates for
//! clusters set up by hand (the local dev cluster makes its own).

use crate::args::CertCommand;
use anyhow::{bail, Context, Result};
use ferrofs_proto::tls::{ClusterCa, TlsPaths};
use std::path::Path;

pub fn run(cmd: CertCommand) -> Result<()> {
    match cmd {
        CertCommand::Init { dir } => {
            init(&dir)?;
            println!(
                "created the cluster CA: {0}/ca.pem and {0}/ca.key (keep ca.key private)",
                dir.display()
            );
            Ok(())
        }
        CertCommand::Issue { ca, name, out } => {
            let paths = issue(&ca, &name, &out)?;
            println!("{}", tls_line(&paths));
            Ok(())
        }
    }
}

/// Create a CA in `dir`; an existing CA is never overwritten.
pub fn init(dir: &Path) -> Result<()> {
    for file in ["ca.key", "ca.pem"] {
        if dir.join(file).exists() {
            bail!(
                "{} exists; refusing to overwrite a CA",
                dir.join(file).display()
            );
        }
    }
    let ca = ClusterCa::generate().context("creating the CA")?;
    ca.save(dir)
        .with_context(|| format!("saving the CA in {}", dir.display()))
}

/// Issue `<out>/<name>.pem`, `<out>/<name>.key` and `<out>/ca.pem` with the CA in `ca_dir`.
pub fn issue(ca_dir: &Path, name: &str, out: &Path) -> Result<TlsPaths> {
    check_name(name)?;
    let ca = ClusterCa::load(ca_dir)
        .with_context(|| format!("loading the CA from {}", ca_dir.display()))?;
    ca.issue_to_dir(name, out)
        .with_context(|| format!("issuing a certificate for {name}"))
}

/// The file stem must be a plain name: letters, digits, `-`, `_`, `.`.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        bail!("--name {name:?}: use 1-64 letters, digits, '-', '_' or '.' (e.g. meta-1)");
    }
    Ok(())
}

/// The `tls = {...}` line for the process's config file.
fn tls_line(paths: &TlsPaths) -> String {
    format!(
        "tls = {{ ca_cert = {:?}, cert = {:?}, key = {:?} }}",
        paths.ca_cert.display().to_string(),
        paths.cert.display().to_string(),
        paths.key.display().to_string()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_proto::tls::TlsIdentity;

    #[test]
    fn init_then_issue_gives_a_loadable_identity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_dir = dir.path().join("ca");
        init(&ca_dir).expect("init");
        let err = init(&ca_dir).expect_err("second init").to_string();
        assert!(err.contains("refusing"), "{err}");

        let out = dir.path().join("meta-1");
        let paths = issue(&ca_dir, "meta-1", &out).expect("issue");
        assert_eq!(paths.cert, out.join("meta-1.pem"));
        let id = TlsIdentity::load(&paths).expect("identity");
        id.rustls_server().expect("server config");
        id.rustls_client().expect("client config");

        let line = tls_line(&paths);
        let parsed: toml::Table = toml::from_str(&line).expect("tls line is TOML");
        assert!(parsed.contains_key("tls"));
    }

    #[test]
    fn names_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(issue(dir.path(), "../evil", dir.path()).is_err());
        assert!(issue(dir.path(), "", dir.path()).is_err());
        assert!(check_name("data-3").is_ok());
    }
}
