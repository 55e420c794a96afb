//! Picking free loopback ports for a local cluster: UDP for QUIC, TCP for the HTTP servers.
//!
//! A port is picked now and bound later by another process, so something else may take it
//! in between. The kernel hands out ephemeral ports (`ip_local_port_range`) to every
//! outgoing connection and to every `bind(0)` of other programs and tests running at the
//! same time, so ports are picked at random BELOW that range, where only programs that
//! choose a port on purpose ever bind. Each pick is checked by binding it, and all stay
//! bound until every port is picked, so one call never returns a port twice.

use anyhow::{bail, Context, Result};
use rand::Rng;
use std::collections::BTreeSet;
use std::net::{TcpListener, UdpSocket};

/// Lowest port picked: clear of the well-known and most registered service ports.
const LOWEST: u16 = 10_000;
/// The usual start of the ephemeral range, when /proc does not say.
const DEFAULT_EPHEMERAL_START: u16 = 32_768;

/// Ports `LOWEST..end`, `end` being the start of the kernel's ephemeral range.
fn candidate_range() -> std::ops::Range<u16> {
    let start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(DEFAULT_EPHEMERAL_START);
    // A machine whose ephemeral range starts very low leaves no room below it: use the
    // ports above LOWEST anyway (the bind check still holds).
    LOWEST..start.max(LOWEST + 1_000)
}

/// `n` distinct ports, none in `exclude`, each bindable by `try_bind` (which keeps the
/// socket until the end).
fn pick<S>(
    n: usize,
    exclude: &BTreeSet<u16>,
    what: &str,
    try_bind: impl Fn(u16) -> std::io::Result<S>,
) -> Result<Vec<u16>> {
    let range = candidate_range();
    let mut rng = rand::rng();
    let mut held = Vec::with_capacity(n);
    let mut ports = Vec::with_capacity(n);
    for _ in 0..n * 16 + 256 {
        if ports.len() == n {
            return Ok(ports);
        }
        let port = rng.random_range(range.clone());
        if exclude.contains(&port) || ports.contains(&port) {
            continue;
        }
        if let Ok(sock) = try_bind(port) {
            ports.push(port);
            held.push(sock);
        }
    }
    if ports.len() == n {
        return Ok(ports);
    }
    bail!(
        "could not find {n} free {what} ports on 127.0.0.1 in {}..{}",
        range.start,
        range.end
    )
}

/// `n` distinct free UDP ports on 127.0.0.1, none of them in `exclude` (ports of a
/// stopped cluster that will come back).
pub fn pick_free_udp_ports(n: usize, exclude: &BTreeSet<u16>) -> Result<Vec<u16>> {
    pick(n, exclude, "UDP", |p| UdpSocket::bind(("127.0.0.1", p)))
        .context("picking UDP ports for QUIC")
}

/// `n` distinct free TCP ports on 127.0.0.1 (for the metrics and dashboard HTTP
/// servers), none in `exclude`.
pub fn pick_free_tcp_ports(n: usize, exclude: &BTreeSet<u16>) -> Result<Vec<u16>> {
    pick(n, exclude, "TCP", |p| TcpListener::bind(("127.0.0.1", p)))
        .context("picking TCP ports for HTTP")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_avoid_the_excluded() {
        let first = pick_free_udp_ports(3, &BTreeSet::new()).expect("ports");
        assert_eq!(first.len(), 3);
        let exclude: BTreeSet<u16> = first.iter().copied().collect();
        assert_eq!(exclude.len(), 3, "ports must be distinct: {first:?}");
        let second = pick_free_udp_ports(5, &exclude).expect("ports");
        assert_eq!(second.len(), 5);
        assert!(
            second.iter().all(|p| !exclude.contains(p)),
            "{second:?} overlaps {first:?}"
        );
        let distinct: BTreeSet<u16> = second.iter().copied().collect();
        assert_eq!(distinct.len(), 5);
    }

    /// Ports the bind check refuses are never returned. (Binding the picked ports again
    /// afterwards would race with the other tests and clusters picking ports meanwhile.)
    #[test]
    fn ports_that_cannot_be_bound_are_skipped() {
        let taken = |p: u16| p.is_multiple_of(2);
        let picked = pick(50, &BTreeSet::new(), "test", |p| {
            if taken(p) {
                Err(std::io::Error::from(std::io::ErrorKind::AddrInUse))
            } else {
                Ok(p)
            }
        })
        .expect("ports");
        assert_eq!(picked.len(), 50);
        assert!(picked.iter().all(|&p| !taken(p)), "{picked:?}");
        let none = pick(1, &BTreeSet::new(), "test", |_| {
            Err::<(), _>(std::io::Error::from(std::io::ErrorKind::AddrInUse))
        });
        assert!(none.is_err(), "no bindable port is an error, not a loop");
    }

    #[test]
    fn tcp_ports_are_distinct_and_avoid_the_excluded() {
        let exclude: BTreeSet<u16> = pick_free_tcp_ports(2, &BTreeSet::new())
            .expect("ports")
            .into_iter()
            .collect();
        let picked = pick_free_tcp_ports(4, &exclude).expect("ports");
        let distinct: BTreeSet<u16> = picked.iter().copied().collect();
        assert_eq!(distinct.len(), 4, "{picked:?}");
        assert!(picked.iter().all(|p| !exclude.contains(p)));
    }

    #[test]
    fn picks_stay_below_the_ephemeral_range() {
        let range = candidate_range();
        assert!(
            range.start >= LOWEST && range.end > range.start,
            "{range:?}"
        );
        for p in pick_free_udp_ports(8, &BTreeSet::new()).expect("ports") {
            assert!(range.contains(&p), "{p} outside {range:?}");
        }
        for p in pick_free_tcp_ports(8, &BTreeSet::new()).expect("ports") {
            assert!(range.contains(&p), "{p} outside {range:?}");
        }
    }
}
