//! Prometheus metrics for `zkha run --metrics-addr HOST:PORT`: what an
//! operator alerts on (no master, flapping mastership, a lease about to run
//! out, a lost session, a failing health check), served at `/metrics`.
//!
//! The exposition format comes from `prometheus-client`, the Prometheus
//! project's own Rust client, in the classic text format (version 0.0.4),
//! which every scraper and `curl` read. The HTTP side is a few lines on a
//! `TcpListener` in a thread of its own: one connection at a time, each read
//! under a timeout, so a silent client delays a scrape but never hangs the
//! server; a scrape never touches the election (the values are atomics the
//! run loop sets).

use parking_lot::Mutex;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The flag, for messages.
const FLAG: &str = "--metrics-addr";

/// Longest `reason` label kept: a label is an index in Prometheus, and a
/// caller passing something long by mistake must not make it a big one.
const MAX_REASON: usize = 64;

/// The reasons `zkha run` gives [`Metrics::lost_master`], exported at 0
/// from the start: a series that appears only at its first increment hides
/// that increment from `increase()`/`rate()` (and the family would have no
/// HELP line until then).
pub const LOST_MASTER_REASONS: [&str; 8] = [
    "resigned",
    "expired",
    "disconnected",
    "node_lost",
    "lease_expired",
    "unhealthy",
    "fence_failed",
    "shutdown",
];

/// How long a connection may take to send its request (and to take the
/// answer) before it is dropped: a scraper sends its request at once.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the accept loop looks for a connection and for the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// Largest request head read: a scrape's is a few hundred bytes.
const MAX_REQUEST: usize = 8 * 1024;

/// The value of `--metrics-addr`: `IP:PORT` (`[IPv6]:PORT`) or
/// `localhost:PORT` (127.0.0.1). No other host name is looked up: what the
/// server listens on must be what the operator wrote. The wildcard
/// (0.0.0.0, `[::]`) is refused, since it would expose the metrics on every
/// interface; name a loopback or the address of the interface to serve on.
/// Port 0 is accepted (the system picks one; [`MetricsServer::start`] logs
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

/// The metrics of one `zkha run`, set by its run loop and read at each
/// scrape. Every setter is a few atomic operations (the `reason` family
/// takes a lock the first time a reason is seen): callable from anywhere,
/// including a hot loop, never blocking on a scrape for long.
#[derive(Debug)]
pub struct Metrics {
    /// Every metric below, registered once; encoding only reads it.
    registry: Registry,
    is_master: Gauge,
    became_master: Counter,
    lost_master: Family<[(&'static str, String); 1], Counter>,
    /// Set at render time from `lease_until`, so a scrape sees the time
    /// left now, not when the lease was last renewed.
    lease_remaining: Gauge<f64, AtomicU64>,
    lease_until: Mutex<Option<Instant>>,
    session_connected: Gauge,
    health_ok: Gauge,
    command_starts: Counter,
}

impl Metrics {
    /// All zero, except `zkha_health_ok`, which is 1 until a health check
    /// says otherwise: with no `--health-cmd` the candidate counts as
    /// healthy, and an alert on `zkha_health_ok == 0` must not fire for it.
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::default();
        let is_master = Gauge::default();
        let became_master = Counter::default();
        let lost_master = Family::default();
        let lease_remaining = Gauge::<f64, AtomicU64>::default();
        let session_connected = Gauge::default();
        let health_ok = Gauge::default();
        let command_starts = Counter::default();
        health_ok.set(1);
        for reason in LOST_MASTER_REASONS {
            // Created at 0; the guard is not needed.
            drop(lost_master.get_or_create(&[("reason", reason.to_owned())]));
        }
        // prometheus-client adds `_total` to a counter's name.
        registry.register(
            "zkha_is_master",
            "1 while this candidate is master (its command may run), 0 while it is standby or out of the election",
            is_master.clone(),
        );
        registry.register(
            "zkha_became_master",
            "Times this candidate became master",
            became_master.clone(),
        );
        registry.register(
            "zkha_lost_master",
            "Times this candidate stopped being master, by reason (resigned, expired, disconnected, node_lost, lease_expired, unhealthy, fence_failed, shutdown)",
            lost_master.clone(),
        );
        registry.register(
            "zkha_lease_remaining_seconds",
            "Seconds left of the master's lease, within which it must renew or stop its command; 0 when not master or without a lease",
            lease_remaining.clone(),
        );
        registry.register(
            "zkha_session_connected",
            "1 while the ZooKeeper session is connected, 0 while it is disconnected or expired",
            session_connected.clone(),
        );
        registry.register(
            "zkha_health_ok",
            "1 while the health check passes (always 1 without --health-cmd), 0 once it has failed --health-failures times in a row",
            health_ok.clone(),
        );
        registry.register(
            "zkha_command_starts",
            "Times the command was started",
            command_starts.clone(),
        );
        Arc::new(Metrics {
            registry,
            is_master,
            became_master,
            lost_master,
            lease_remaining,
            lease_until: Mutex::new(None),
            session_connected,
            health_ok,
            command_starts,
        })
    }

    /// `zkha_is_master`.
    pub fn set_master(&self, on: bool) {
        self.is_master.set(i64::from(on));
    }

    /// `zkha_became_master_total` += 1.
    pub fn became_master(&self) {
        self.became_master.inc();
    }

    /// `zkha_lost_master_total{reason}` += 1. `reason` should be one of
    /// [`LOST_MASTER_REASONS`] (exported at 0 from the start); anything else
    /// is counted too, from its first use. A reason is folded to
    /// `[a-z0-9_]`, at most 64 characters ("unknown" if empty), so a label
    /// never needs quoting.
    pub fn lost_master(&self, reason: &str) {
        self.lost_master
            .get_or_create(&[("reason", sanitize_reason(reason))])
            .inc();
    }

    /// The lease's deadline (`None`: not master, or no lease): each scrape
    /// reports `zkha_lease_remaining_seconds` as the time left then, 0 once
    /// it has passed.
    pub fn set_lease_deadline(&self, until: Option<Instant>) {
        *self.lease_until.lock() = until;
    }

    /// `zkha_session_connected`.
    pub fn set_session_connected(&self, on: bool) {
        self.session_connected.set(i64::from(on));
    }

    /// `zkha_health_ok` (1 from the start: see [`Metrics::new`]).
    pub fn set_health_ok(&self, on: bool) {
        self.health_ok.set(i64::from(on));
    }

    /// `zkha_command_starts_total` += 1.
    pub fn command_started(&self) {
        self.command_starts.inc();
    }

    /// The exposition text that `/metrics` serves.
    pub fn render(&self) -> String {
        let until = *self.lease_until.lock();
        let left = until.map_or(0.0, |u| {
            u.saturating_duration_since(Instant::now()).as_secs_f64()
        });
        self.lease_remaining.set(left);
        let mut out = String::new();
        // Writing to a String cannot fail, and every metric encodes.
        if let Err(e) = prometheus_text::encode(&mut out, &self.registry) {
            log::warn!(target: "zkha", "encoding the metrics: {e}");
        }
        out
    }
}

/// `reason` as a label value: lower-case ASCII letters, digits and `_`.
fn sanitize_reason(reason: &str) -> String {
    let s: String = reason
        .chars()
        .take(MAX_REASON)
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect();
    if s.is_empty() {
        "unknown".to_owned()
    } else {
        s
    }
}

/// The `/metrics` endpoint: a thread serving [`Metrics::render`] until the
/// server is dropped.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` now, so that a bad address or a port in use is an error
    /// at startup (for the caller to report with the flag), then serves in a
    /// thread. Logs the address bound (the port the system chose for 0).
    pub fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<MetricsServer> {
        MetricsServer::start_with(addr, metrics, IO_TIMEOUT)
    }

    /// [`MetricsServer::start`] with the per-connection I/O timeout given.
    fn start_with(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        io_timeout: Duration,
    ) -> std::io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        // Non-blocking accepts let the loop see the stop flag: a drop
        // needs no connection to wake a blocked accept.
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("zkha-metrics".to_owned())
            .spawn({
                let stop = Arc::clone(&stop);
                move || serve(&listener, &metrics, &stop, io_timeout)
            })?;
        log::info!(target: "zkha", "metrics at http://{addr}/metrics");
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address bound (with the actual port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    /// Stops the thread and closes the listener; waits at most one poll
    /// interval, or the I/O timeout if a connection is being served.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::warn!(target: "zkha", "the metrics thread panicked");
            }
        }
    }
}

/// The accept loop.
fn serve(listener: &TcpListener, metrics: &Metrics, stop: &AtomicBool, io_timeout: Duration) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if let Err(e) = answer(stream, metrics, io_timeout) {
                    log::debug!(target: "zkha", "metrics: connection from {peer}: {e}");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                // Out of descriptors, say: wait rather than spin.
                log::warn!(target: "zkha", "metrics: accept: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
}

/// Reads one request and answers it, then closes the connection.
fn answer(mut stream: TcpStream, metrics: &Metrics, io_timeout: Duration) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(io_timeout))?;
    stream.set_write_timeout(Some(io_timeout))?;
    let head = read_head(&mut stream, io_timeout)?;
    let (status, body) = match request_line(&head) {
        Some(("GET", "/metrics")) => ("200 OK", Some(metrics.render())),
        Some(("HEAD", "/metrics")) => ("200 OK", None),
        Some(_) => (
            "404 Not Found",
            Some("not found: the metrics are at /metrics\n".to_owned()),
        ),
        None => ("400 Bad Request", Some("bad request\n".to_owned())),
    };
    let content_type = if status.starts_with("200") {
        prometheus_text::CONTENT_TYPE
    } else {
        "text/plain; charset=utf-8"
    };
    let len = match &body {
        Some(b) => b.len(),
        // HEAD: the length a GET would get.
        None => metrics.render().len(),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    if let Some(b) = body {
        out.push_str(&b);
    }
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

/// The request up to its blank line (a scrape has no body), within
/// `timeout` in all and [`MAX_REQUEST`] bytes: reading all of it before
/// closing keeps the kernel from resetting the connection under the answer.
fn read_head(stream: &mut TcpStream, timeout: Duration) -> std::io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(head);
        }
        if head.len() >= MAX_REQUEST {
            return Err(std::io::Error::new(
                ErrorKind::InvalidData,
                "request head too long",
            ));
        }
        // A client trickling bytes must not reset the timeout forever.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                ErrorKind::TimedOut,
                "request not sent in time",
            ));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "closed before the request ended",
                ))
            }
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The method and path (without a query) of an HTTP/1.x request line.
fn request_line(head: &[u8]) -> Option<(&str, &str)> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") {
        return None;
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    Some((method, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line `series` (name and labels) in `text`.
    fn value(text: &str, series: &str) -> f64 {
        let prefix = format!("{series} ");
        let line = text
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"));
        line[prefix.len()..].trim().parse().unwrap()
    }

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

    #[test]
    fn render_starts_at_zero_with_every_metric_and_its_help() {
        let text = Metrics::new().render();
        for series in [
            "zkha_is_master",
            "zkha_became_master_total",
            "zkha_lease_remaining_seconds",
            "zkha_session_connected",
            "zkha_command_starts_total",
        ] {
            assert_eq!(value(&text, series), 0.0, "{series}");
        }
        for reason in LOST_MASTER_REASONS {
            let series = format!("zkha_lost_master_total{{reason=\"{reason}\"}}");
            assert_eq!(value(&text, &series), 0.0, "{series}");
        }
        // Healthy until a check says otherwise (none may be configured).
        assert_eq!(value(&text, "zkha_health_ok"), 1.0);
        for name in [
            "zkha_is_master",
            "zkha_became_master_total",
            "zkha_lost_master_total",
            "zkha_lease_remaining_seconds",
            "zkha_session_connected",
            "zkha_health_ok",
            "zkha_command_starts_total",
        ] {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "no HELP for {name}:\n{text}"
            );
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "no TYPE for {name}:\n{text}"
            );
        }
    }

    #[test]
    fn render_follows_the_setters() {
        let m = Metrics::new();
        m.set_master(true);
        m.became_master();
        m.became_master();
        m.set_session_connected(true);
        m.set_health_ok(false);
        m.command_started();
        m.lost_master("resigned");
        m.lost_master("resigned");
        m.lost_master("expired");
        let text = m.render();
        assert_eq!(value(&text, "zkha_is_master"), 1.0);
        assert_eq!(value(&text, "zkha_became_master_total"), 2.0);
        assert_eq!(value(&text, "zkha_session_connected"), 1.0);
        assert_eq!(value(&text, "zkha_health_ok"), 0.0);
        assert_eq!(value(&text, "zkha_command_starts_total"), 1.0);
        assert_eq!(
            value(&text, r#"zkha_lost_master_total{reason="resigned"}"#),
            2.0
        );
        assert_eq!(
            value(&text, r#"zkha_lost_master_total{reason="expired"}"#),
            1.0
        );

        m.set_master(false);
        m.set_session_connected(false);
        m.set_health_ok(true);
        let text = m.render();
        assert_eq!(value(&text, "zkha_is_master"), 0.0);
        assert_eq!(value(&text, "zkha_session_connected"), 0.0);
        assert_eq!(value(&text, "zkha_health_ok"), 1.0);
        // Counters never go back.
        assert_eq!(value(&text, "zkha_became_master_total"), 2.0);
    }

    #[test]
    fn lease_remaining_is_computed_at_each_render() {
        let m = Metrics::new();
        m.set_lease_deadline(Some(Instant::now() + Duration::from_secs(60)));
        let first = value(&m.render(), "zkha_lease_remaining_seconds");
        assert!(first > 0.0 && first <= 60.0, "{first}");
        std::thread::sleep(Duration::from_millis(20));
        let second = value(&m.render(), "zkha_lease_remaining_seconds");
        assert!(second < first, "{second} !< {first}");
        assert!(second > 0.0, "{second}");

        let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
        m.set_lease_deadline(Some(past));
        assert_eq!(value(&m.render(), "zkha_lease_remaining_seconds"), 0.0);
        m.set_lease_deadline(Some(Instant::now() + Duration::from_secs(60)));
        assert!(value(&m.render(), "zkha_lease_remaining_seconds") > 0.0);
        m.set_lease_deadline(None);
        assert_eq!(value(&m.render(), "zkha_lease_remaining_seconds"), 0.0);
    }

    #[test]
    fn reason_labels_are_sanitized() {
        assert_eq!(sanitize_reason("node_lost"), "node_lost");
        assert_eq!(sanitize_reason("Lease Expired!"), "lease_expired_");
        assert_eq!(sanitize_reason("a\"b\\c\nd"), "a_b_c_d");
        assert_eq!(sanitize_reason("zé"), "z_");
        assert_eq!(sanitize_reason(""), "unknown");
        assert_eq!(sanitize_reason(&"x".repeat(100)).len(), MAX_REASON);

        let m = Metrics::new();
        m.lost_master("Fence \"failed\"");
        let text = m.render();
        assert_eq!(
            value(&text, r#"zkha_lost_master_total{reason="fence__failed_"}"#),
            1.0
        );
    }

    /// Sends `request` to `addr` and returns the whole answer (the server
    /// closes the connection after it), within a deadline.
    fn http(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out)
            .expect("an answer before the deadline");
        out
    }

    fn split(answer: &str) -> (&str, &str) {
        answer
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no head: {answer:?}"))
    }

    #[test]
    fn server_serves_metrics_and_404s_the_rest() {
        let m = Metrics::new();
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), Arc::clone(&m)).unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);

        m.set_master(true);
        let answer = http(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
        );
        let (head, body) = split(&answer);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.contains("Content-Type: text/plain; version=0.0.4"),
            "{head}"
        );
        assert!(
            head.contains(&format!("Content-Length: {}\r\n", body.len())),
            "{head}"
        );
        assert_eq!(value(body, "zkha_is_master"), 1.0);
        m.set_master(false);
        let answer = http(addr, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert_eq!(value(split(&answer).1, "zkha_is_master"), 0.0);

        for request in [
            "GET /other HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "POST /metrics HTTP/1.1\r\n\r\n",
        ] {
            let answer = http(addr, request);
            assert!(
                answer.starts_with("HTTP/1.1 404 Not Found\r\n"),
                "{request:?}: {answer}"
            );
            assert!(!answer.contains("zkha_is_master"), "{answer}");
        }
        let answer = http(addr, "nonsense\r\n\r\n");
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
    }

    #[test]
    fn a_silent_client_does_not_hang_the_server() {
        let m = Metrics::new();
        let server = MetricsServer::start_with(
            "127.0.0.1:0".parse().unwrap(),
            Arc::clone(&m),
            Duration::from_millis(200),
        )
        .unwrap();
        let addr = server.local_addr();
        let _silent = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
        // Served one at a time: this one waits for the silent one to time
        // out, then gets its answer (a server without the timeout would
        // leave it to the 20 s deadline of `http`).
        let answer = http(addr, "GET /metrics HTTP/1.1\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    }

    #[test]
    fn bind_failure_is_returned_and_drop_frees_the_port() {
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), Metrics::new()).unwrap();
        let addr = server.local_addr();
        let err = MetricsServer::start(addr, Metrics::new()).expect_err("the port is in use");
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        // Dropping stops the thread, which owns the listener: the port is
        // free again.
        drop(server);
        let again = MetricsServer::start(addr, Metrics::new()).expect("the port was freed");
        assert_eq!(again.local_addr(), addr);
    }
}
