//! Scraping a `/metrics` endpoint over plain HTTP/1.1 and parsing it with a real
//! Prometheus parser (Python's prometheus_client, OpenMetrics flavour).

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Sample name with its labels (`name{k="v",...}`, labels sorted) -> value.
pub type Samples = BTreeMap<String, f64>;

/// Parses OpenMetrics text with prometheus_client and prints the samples as JSON; any
/// syntax error makes it exit non-zero.
const PARSER: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        out[s.name + ("{" + labels + "}" if labels else "")] = s.value
print(json.dumps(out))
"#;

/// A plain HTTP/1.1 GET; returns the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").context("no end of headers")?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no status code")?;
    Ok((code, body.to_string()))
}

/// GET `/metrics` of `addr` and parse it with the real parser.
pub fn scrape(addr: SocketAddr) -> Result<Samples> {
    let (code, body) = http_get(addr, "/metrics")?;
    if code != 200 {
        bail!("GET http://{addr}/metrics: {code}: {body}");
    }
    let mut child = Command::new("python3")
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running python3 (scripts/install-deps.sh installs prometheus-client)")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(body.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "metrics of {addr} do not parse: {}\n{body}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The value of `key` (0 when absent: counters not yet touched).
pub fn sample(s: &Samples, key: &str) -> f64 {
    s.get(key).copied().unwrap_or(0.0)
}

/// `ferrofs_meta_requests_total{op}` summed over every metadata server of `cluster`.
pub fn meta_requests(cluster: &crate::TestCluster, op: &str) -> Result<f64> {
    let key = format!("ferrofs_meta_requests_total{{op=\"{op}\"}}");
    let mut total = 0.0;
    for name in cluster.names("meta") {
        let config = cluster.dir().join(&name).join("meta.toml");
        let cfg: ferrofs_proto::config::MetaConfig = ferrofs_proto::config::load(&config)?;
        let addr = cfg
            .metrics_addr
            .with_context(|| format!("{name} has no metrics_addr"))?;
        total += sample(&scrape(addr)?, &key);
    }
    Ok(total)
}

/// The names of the metrics `deploy/grafana-dashboard.json` queries that start with
/// `prefix` (e.g. "ferrofs_mount_").
pub fn grafana_metrics(prefix: &str) -> Result<std::collections::BTreeSet<String>> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana-dashboard.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .match_indices(prefix)
        .map(|(at, _)| {
            let rest = &text[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            rest[..end].to_string()
        })
        .collect())
}
