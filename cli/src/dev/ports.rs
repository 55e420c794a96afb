//! Picking free loopback UDP ports (QUIC listens on UDP).

use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::net::{TcpListener, UdpSocket};

/// `n` distinct free UDP ports on 127.0.0.1, none of them in `exclude` (ports of a
/// stopped cluster that will come back). All sockets stay bound until every port is
/// picked, so the kernel never hands out the same port twice.
pub fn pick_free_udp_ports(n: usize, exclude: &BTreeSet<u16>) -> Result<Vec<u16>> {
    let mut held = Vec::with_capacity(n);
    let mut rejected = Vec::new();
    let mut ports = Vec::with_capacity(n);
    let max_attempts = n * 4 + 64;
    for _ in 0..max_attempts {
        if ports.len() == n {
            break;
        }
        let sock = UdpSocket::bind("127.0.0.1:0").context("binding a UDP socket on 127.0.0.1")?;
        let port = sock
            .local_addr()
            .context("reading the bound UDP address")?
            .port();
        if exclude.contains(&port) || ports.contains(&port) {
            rejected.push(sock);
            continue;
        }
        ports.push(port);
        held.push(sock);
    }
    if ports.len() < n {
        bail!("could not find {n} free UDP ports on 127.0.0.1");
    }
    Ok(ports)
}

/// `n` distinct free TCP ports on 127.0.0.1 (for the metrics and dashboard HTTP
/// servers), none in `exclude`; all held until every one is picked.
pub fn pick_free_tcp_ports(n: usize, exclude: &BTreeSet<u16>) -> Result<Vec<u16>> {
    let mut held = Vec::with_capacity(n);
    let mut ports = Vec::with_capacity(n);
    for _ in 0..n * 4 + 64 {
        if ports.len() == n {
            break;
        }
        let sock = TcpListener::bind("127.0.0.1:0").context("binding a TCP socket on 127.0.0.1")?;
        let port = sock
            .local_addr()
            .context("reading the bound TCP address")?
            .port();
        if exclude.contains(&port) || ports.contains(&port) {
            continue;
        }
        ports.push(port);
        held.push(sock);
    }
    if ports.len() < n {
        bail!("could not find {n} free TCP ports on 127.0.0.1");
    }
    Ok(ports)
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
        // Every picked port can actually be bound again.
        for p in second {
            UdpSocket::bind(("127.0.0.1", p)).expect("picked port is free");
        }
    }

    #[test]
    fn tcp_ports_are_distinct_and_free() {
        let exclude: BTreeSet<u16> = pick_free_tcp_ports(2, &BTreeSet::new())
            .expect("ports")
            .into_iter()
            .collect();
        let picked = pick_free_tcp_ports(4, &exclude).expect("ports");
        let distinct: BTreeSet<u16> = picked.iter().copied().collect();
        assert_eq!(distinct.len(), 4, "{picked:?}");
        assert!(picked.iter().all(|p| !exclude.contains(p)));
        for p in picked {
            TcpListener::bind(("127.0.0.1", p)).expect("picked port is free");
        }
    }
}
