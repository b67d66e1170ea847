//! The value of `--metrics-addr`: an IP address (or localhost) and a port,
//! never a name looked up, never the wildcard.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The flag, for messages.
const FLAG: &str = "--metrics-addr";

/// The value of `--metrics-addr`: `IP:PORT` (`[IPv6]:PORT`) or
/// `localhost:PORT` (127.0.0.1). No other host name is looked up: what the
/// server listens on must be what the operator wrote. The wildcard
/// (0.0.0.0, `[::]`) is refused, since it would expose the metrics on every
/// interface; name a loopback or the address of the interface to serve on.
/// Port 0 is accepted (the system picks one; [`MetricsServer::start`](super::MetricsServer::start) logs
/// the address bound).
pub fn parse_metrics_addr(s: &str) -> Result<SocketAddr, String> {
    let bad = |why: &str| format!("{FLAG} {s}: {why}");
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(bad("expected HOST:PORT, e.g. 127.0.0.1:9100"));
    };
    if host.is_empty() {
        return Err(bad("no host: expected HOST:PORT, e.g. 127.0.0.1:9100"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| bad(&format!("port {port:?} is not a number from 0 to 65535")))?;
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        IpAddr::V6(
            v6.parse::<Ipv6Addr>()
                .map_err(|_| bad(&format!("{v6:?} is not an IPv6 address")))?,
        )
    } else if host.contains(':') {
        return Err(bad("an IPv6 address goes in brackets, e.g. [::1]:9100"));
    } else {
        match host.parse::<Ipv4Addr>() {
            Ok(v4) => IpAddr::V4(v4),
            Err(_) => {
                return Err(bad(&format!(
                    "{host:?} is not an IP address; only IP addresses and localhost are \
                     accepted (no DNS lookup)"
                )))
            }
        }
    };
    if ip.is_unspecified() {
        return Err(bad(
            "the wildcard address would serve the metrics on every interface; name a \
             loopback (127.0.0.1, [::1], localhost) or the explicit address to bind",
        ));
    }
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_ip_literals_and_localhost() {
        assert_eq!(
            parse_metrics_addr("127.0.0.1:9100"),
            Ok("127.0.0.1:9100".parse().unwrap())
        );
        assert_eq!(
            parse_metrics_addr("10.1.2.3:80"),
            Ok("10.1.2.3:80".parse().unwrap())
        );
        assert_eq!(
            parse_metrics_addr("[::1]:9100"),
            Ok("[::1]:9100".parse().unwrap())
        );
        assert_eq!(
            parse_metrics_addr("[fd00::7]:9100"),
            Ok("[fd00::7]:9100".parse().unwrap())
        );
        assert_eq!(
            parse_metrics_addr("localhost:9100"),
            Ok("127.0.0.1:9100".parse().unwrap())
        );
        assert_eq!(
            parse_metrics_addr("LocalHost:1"),
            Ok("127.0.0.1:1".parse().unwrap())
        );
        assert_eq!(
            parse_metrics_addr("127.0.0.1:0"),
            Ok("127.0.0.1:0".parse().unwrap())
        );
    }

    #[test]
    fn parse_refuses_with_a_message_naming_the_flag() {
        for (input, says) in [
            ("0.0.0.0:9100", "wildcard"),
            ("[::]:9100", "wildcard"),
            ("example.com:9100", "no DNS"),
            ("localhost.localdomain:9100", "no DNS"),
            ("127.0.0.1", "expected HOST:PORT"),
            (":9100", "no host"),
            ("127.0.0.1:", "not a number"),
            ("127.0.0.1:65536", "not a number"),
            ("127.0.0.1:-1", "not a number"),
            ("::1:9100", "brackets"),
            ("[::1:9100", "brackets"),
            ("[zz::1]:9100", "not an IPv6 address"),
            ("[127.0.0.1]:9100", "not an IPv6 address"),
            ("", "expected HOST:PORT"),
        ] {
            let err = parse_metrics_addr(input).expect_err(input);
            assert!(
                err.starts_with(&format!("--metrics-addr {input}: ")),
                "{input}: {err}"
            );
            assert!(err.contains(says), "{input}: {err}");
        }
    }
}
