//! Finding and loading the client config, and connecting.

use anyhow::{anyhow, Context, Result};
use ferrofs_client::Client;
use ferrofs_proto::config::{load, ClientConfig};
use std::path::{Path, PathBuf};

/// The file looked for in the current folder when neither --config nor
/// $FERROFS_CONFIG is given.
pub const DEFAULT_CONFIG_FILE: &str = "client.toml";

/// Pick the config file: the flag (clap already folds $FERROFS_CONFIG into it), else
/// `./client.toml` if it exists.
pub fn config_path(flag: Option<PathBuf>, cwd: &Path) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p);
    }
    let local = cwd.join(DEFAULT_CONFIG_FILE);
    if local.is_file() {
        return Ok(local);
    }
    Err(anyhow!(
        "no client config: pass --config FILE, set FERROFS_CONFIG=FILE, or run where \
         {DEFAULT_CONFIG_FILE} is (`ferrofs dev up --dir DIR` writes DIR/{DEFAULT_CONFIG_FILE})"
    ))
}

/// Load and validate the client config chosen by `config_path`.
pub fn load_client_config(flag: Option<PathBuf>) -> Result<ClientConfig> {
    let cwd = std::env::current_dir().context("reading the current folder")?;
    let path = config_path(flag, &cwd)?;
    Ok(load::<ClientConfig>(&path)?)
}

/// Load the config and connect to the cluster.
pub async fn connect(flag: Option<PathBuf>) -> Result<Client> {
    let cfg = load_client_config(flag)?;
    Client::connect(cfg)
        .await
        .context("connecting to the cluster")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_then_local_file_then_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let flag = PathBuf::from("/somewhere/c.toml");
        assert_eq!(
            config_path(Some(flag.clone()), dir.path()).expect("flag"),
            flag
        );

        let err = config_path(None, dir.path())
            .expect_err("no config")
            .to_string();
        assert!(
            err.contains("--config") && err.contains("FERROFS_CONFIG"),
            "{err}"
        );

        std::fs::write(dir.path().join(DEFAULT_CONFIG_FILE), "").expect("write");
        assert_eq!(
            config_path(None, dir.path()).expect("local"),
            dir.path().join(DEFAULT_CONFIG_FILE)
        );
    }
}
