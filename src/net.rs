//! This host's address, the seed design's master node data.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

/// The primary IP address of this host: the source address the kernel would
/// use for outside traffic (found by connecting a UDP socket, which sends
/// nothing), or 127.0.0.1 on a host without any route.
pub fn primary_ip() -> IpAddr {
    UdpSocket::bind(("0.0.0.0", 0))
        .and_then(|s| {
            // TEST-NET-1 (RFC 5737): never routed, never answered.
            s.connect(("192.0.2.1", 9))?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The seed design's master node data (S5): the IP text with its trailing NUL.
pub fn seed_node_data(ip: &IpAddr) -> Vec<u8> {
    seed_text_data(&ip.to_string())
}

/// The seed format for any text: its bytes plus a trailing NUL.
pub fn seed_text_data(text: &str) -> Vec<u8> {
    let mut data = text.as_bytes().to_vec();
    data.push(0);
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn seed_data_is_ip_text_plus_nul() {
        let ip: IpAddr = "10.0.0.12".parse().unwrap();
        assert_eq!(seed_node_data(&ip), b"10.0.0.12\0");
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(seed_node_data(&v6), b"::1\0");
        assert_eq!(seed_text_data(""), b"\0");
        assert_eq!(seed_text_data("h\u{e9}"), b"h\xc3\xa9\0");
    }

    #[test]
    fn primary_ip_is_an_address_of_this_host() {
        let ip = primary_ip();
        assert!(!ip.is_unspecified() && !ip.is_multicast(), "{ip}");
        // Only an address this host holds can be bound.
        let bound = UdpSocket::bind((ip, 0));
        assert!(bound.is_ok(), "{ip} is not this host's: {bound:?}");
        // It is the source address of outside traffic when there is a
        // route (asked here for another never-routed net, TEST-NET-2),
        // loopback only when there is none.
        let routed = UdpSocket::bind(("0.0.0.0", 0))
            .and_then(|s| s.connect(("198.51.100.1", 9)).map(|()| s))
            .and_then(|s| s.local_addr());
        match routed {
            Ok(addr) if !addr.ip().is_unspecified() => {
                assert_eq!(addr.ip(), ip, "not the route's source address")
            }
            _ => assert_eq!(ip, IpAddr::V4(Ipv4Addr::LOCALHOST)),
        }
    }
}
