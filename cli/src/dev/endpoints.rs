//! The HTTP addresses `dev up` prints: the dashboard and every `/metrics`.

use super::layout::Layout;
use std::fmt::Write;

/// One line for the dashboard (the first metadata server's; every one serves it)
/// and one per server for its metrics. Empty when no server has a metrics address.
pub fn render_endpoints(layout: &Layout) -> String {
    let mut out = String::new();
    if let Some(addr) = layout.meta.iter().find_map(|m| m.metrics_addr) {
        let _ = writeln!(out, "dashboard: http://{addr}/");
    }
    for p in layout.processes() {
        if let Some(addr) = p.metrics_addr {
            let _ = writeln!(out, "metrics {}: http://{addr}/metrics", p.name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::layout::{ProcessSpec, Role};
    use ferrofs_proto::NodeId;
    use std::net::SocketAddr;
    use std::path::PathBuf;

    fn p(name: &str, role: Role, metrics: Option<u16>) -> ProcessSpec {
        ProcessSpec {
            name: name.to_string(),
            role,
            id: NodeId(1),
            addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            dir: PathBuf::from(name),
            metrics_addr: metrics.map(|port| SocketAddr::from(([127, 0, 0, 1], port))),
        }
    }

    #[test]
    fn lists_dashboard_and_each_metrics_endpoint() {
        let layout = Layout {
            dir: PathBuf::from("/x"),
            meta: vec![p("meta-1", Role::Meta, Some(9001))],
            data: vec![
                p("data-1", Role::Data, Some(9002)),
                p("data-2", Role::Data, None),
            ],
            replication: 1,
        };
        let text = render_endpoints(&layout);
        assert!(
            text.starts_with("dashboard: http://127.0.0.1:9001/\n"),
            "{text}"
        );
        assert!(text.contains("metrics meta-1: http://127.0.0.1:9001/metrics\n"));
        assert!(text.contains("metrics data-1: http://127.0.0.1:9002/metrics\n"));
        assert!(!text.contains("data-2"));
    }
}
