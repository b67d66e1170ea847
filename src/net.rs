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

    #[test]
    fn seed_data_is_ip_text_plus_nul() {
        let ip: IpAddr = "10.0.0.12".parse().unwrap();
        assert_eq!(seed_node_data(&ip), b"10.0.0.12\0");
    }

    #[test]
    fn primary_ip_is_a_real_address() {
        assert!(!primary_ip().is_unspecified());
    }
}
