//! The HTTP side of `--metrics-addr`: `/metrics` for Prometheus, and
//! `/master`, `/standby`, `/health` for load balancers (`endpoints.rs`).
//! A thread accepts connections and serves each on a thread of its own
//! (at most [`MAX_CONNECTIONS`] at once), each read under a timeout: a
//! silent or slow client holds only its own thread, never another
//! client's answer. One request per connection, then it is closed.

use super::endpoints;
use super::registry::Metrics;
use prometheus_client::encoding::prometheus_text;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a connection may take to send its request (and to take the
/// answer) before it is dropped: a scraper or a health check sends its
/// request at once.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the accept loop looks at the stop flag (a connection wakes
/// it at once).
const POLL: Duration = Duration::from_millis(100);

/// Largest request head read: a scrape's is a few hundred bytes.
const MAX_REQUEST: usize = 8 * 1024;

/// Connections served at once; one more is answered 503 at once and
/// closed (a flood of silent clients costs threads only up to this).
const MAX_CONNECTIONS: usize = 64;

/// The `--metrics-addr` server: a thread serving [`Metrics::render`] and
/// the load balancers' endpoints until the server is dropped.
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
        // Non-blocking accepts (after a poll) let the loop see the stop
        // flag: a drop needs no connection to wake a blocked accept.
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("zkha-metrics".to_owned())
            .spawn({
                let stop = Arc::clone(&stop);
                move || serve(&listener, &metrics, &stop, io_timeout)
            })?;
        log::info!(target: "zkha", "metrics at http://{addr}/metrics; load balancers' checks at /master, /standby, /health");
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
    /// Stops the accept thread and closes the listener; waits at most one
    /// poll interval. Connections being served end on their own, within
    /// the I/O timeout.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::warn!(target: "zkha", "the metrics thread panicked");
            }
        }
    }
}

/// Decrements the count of connections in service when its thread ends.
struct InService(Arc<AtomicUsize>);

impl Drop for InService {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The accept loop: each connection on a thread of its own.
fn serve(listener: &TcpListener, metrics: &Arc<Metrics>, stop: &AtomicBool, io_timeout: Duration) {
    let in_service = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        if !readable(listener, POLL) {
            continue;
        }
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    if in_service.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                        in_service.fetch_sub(1, Ordering::AcqRel);
                        busy(stream);
                        continue;
                    }
                    let guard = InService(Arc::clone(&in_service));
                    let metrics = Arc::clone(metrics);
                    let spawned = std::thread::Builder::new()
                        .name("zkha-http".to_owned())
                        .spawn(move || {
                            let _guard = guard;
                            if let Err(e) = answer(stream, &metrics, io_timeout) {
                                log::debug!(target: "zkha", "metrics: connection from {peer}: {e}");
                            }
                        });
                    if let Err(e) = spawned {
                        // The closure (and so the guard and the stream) is
                        // dropped: the connection is closed, the count kept.
                        log::warn!(target: "zkha", "metrics: cannot start a thread for {peer}: {e}");
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors, say: wait rather than spin.
                    log::warn!(target: "zkha", "metrics: accept: {e}");
                    std::thread::sleep(POLL);
                    break;
                }
            }
        }
    }
}

/// Whether a connection waits on `listener`, within `timeout`.
fn readable(listener: &TcpListener, timeout: Duration) -> bool {
    let mut fd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for a descriptor the listener owns.
    let n = unsafe { libc::poll(&mut fd, 1, timeout.as_millis() as libc::c_int) };
    n > 0
}

/// Too many connections in service: 503 at once, without reading the
/// request (best effort, never blocking), and closed.
fn busy(stream: TcpStream) {
    let body = "busy: too many connections\n";
    let out = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.set_nonblocking(true).is_ok() {
        let _ = (&stream).write(out.as_bytes());
        // The answer and a FIN go first; what the client sent is read so
        // that the close does not reset the connection under the answer.
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut buf = [0u8; 1024];
        while matches!((&stream).read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// Reads one request and answers it, then closes the connection.
fn answer(mut stream: TcpStream, metrics: &Metrics, io_timeout: Duration) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(io_timeout))?;
    stream.set_write_timeout(Some(io_timeout))?;
    let head = read_head(&mut stream, io_timeout)?;
    let text = "text/plain; charset=utf-8";
    // (status, content type, body, whether to send the body)
    let (status, content_type, body, send_body) = match request_line(&head) {
        Some((method @ ("GET" | "HEAD"), "/metrics")) => (
            "200 OK",
            prometheus_text::CONTENT_TYPE,
            metrics.render(),
            method == "GET",
        ),
        Some((method @ ("GET" | "HEAD"), path)) => {
            match endpoints::answer(path, &metrics.snapshot()) {
                Some((ok, body)) => (
                    if ok {
                        "200 OK"
                    } else {
                        "503 Service Unavailable"
                    },
                    text,
                    body,
                    method == "GET",
                ),
                None => not_found(),
            }
        }
        Some(_) => not_found(),
        None => ("400 Bad Request", text, "bad request\n".to_owned(), true),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if send_body {
        out.push_str(&body);
    }
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

/// 404, naming what is served.
fn not_found() -> (&'static str, &'static str, String, bool) {
    (
        "404 Not Found",
        "text/plain; charset=utf-8",
        "not found: GET /metrics (Prometheus), /master, /standby, /health (load balancers)\n"
            .to_owned(),
        true,
    )
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
    use super::super::registry::tests::value;
    use super::*;

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
    fn a_silent_client_does_not_stop_master_answering_another() {
        let m = Metrics::new();
        // Its read would wait 60 s: a server serving one connection at a
        // time would leave the next client to the 20 s deadline of `http`.
        let server = MetricsServer::start_with(
            "127.0.0.1:0".parse().unwrap(),
            Arc::clone(&m),
            Duration::from_secs(60),
        )
        .unwrap();
        let addr = server.local_addr();
        let silent: Vec<TcpStream> = (0..3)
            .map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap())
            .collect();
        // One that sends half a request and stops.
        let mut half = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
        half.write_all(b"GET /master HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        m.set_master(true);
        m.command_started();
        m.set_lease_deadline(Some(Instant::now() + Duration::from_secs(60)));
        let t = Instant::now();
        let answer = http(addr, "GET /master HTTP/1.1\r\nHost: x\r\n\r\n");
        let took = t.elapsed();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(took < Duration::from_secs(1), "answered after {took:?}");
        drop((silent, half));
    }

    #[test]
    fn too_many_connections_are_answered_503_at_once() {
        let server = MetricsServer::start_with(
            "127.0.0.1:0".parse().unwrap(),
            Metrics::new(),
            Duration::from_secs(60),
        )
        .unwrap();
        let addr = server.local_addr();
        let silent: Vec<TcpStream> = (0..MAX_CONNECTIONS)
            .map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let answer = http(addr, "GET /health HTTP/1.1\r\n\r\n");
        assert!(
            answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n")
                && answer.ends_with("busy: too many connections\n"),
            "{answer}"
        );
        drop(silent);
        // Their threads see the closed connections and end: served again.
        let mut served = false;
        for _ in 0..100 {
            let answer = http(addr, "GET /health HTTP/1.1\r\n\r\n");
            if answer.contains("main loop has not started") {
                served = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(served, "the closed connections' threads never ended");
    }

    #[test]
    fn the_load_balancers_endpoints_follow_the_state() {
        let m = Metrics::new();
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), Arc::clone(&m)).unwrap();
        let addr = server.local_addr();
        let get = |path: &str| {
            let answer = http(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
            let (head, body) = split(&answer);
            assert!(
                head.contains(&format!("Content-Length: {}\r\n", body.len())),
                "{head}"
            );
            assert!(
                head.contains("Content-Type: text/plain; charset=utf-8"),
                "{head}"
            );
            let ok = head.starts_with("HTTP/1.1 200 OK\r\n");
            assert!(
                ok || head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
                "{head}"
            );
            (ok, body.to_owned())
        };
        // Before anything: nothing is up.
        for path in ["/master", "/standby", "/health"] {
            assert!(!get(path).0, "{path}");
        }
        assert_eq!(get("/health").1, "zkha's main loop has not started\n");
        // A connected standby whose loop turns.
        m.set_session_connected(true);
        m.loop_turned();
        assert!(get("/standby").0);
        assert!(get("/health").0);
        assert_eq!(get("/master"), (false, "not master\n".into()));
        // Master, before its command started: not yet.
        m.set_master(true);
        m.set_lease_deadline(Some(Instant::now() + Duration::from_secs(10)));
        let (ok, body) = get("/master");
        assert!(!ok && body.contains("the command is not running"), "{body}");
        assert!(!get("/standby").0);
        m.command_started();
        let (ok, body) = get("/master");
        assert!(
            ok && body.starts_with("master: the command runs; the lease has "),
            "{body}"
        );
        // A stop begins: 503 at once, still master.
        m.set_command_running(false);
        assert!(!get("/master").0);
        m.command_started();
        assert!(get("/master").0);
        // The lease runs out.
        m.set_lease_deadline(Some(Instant::now()));
        assert_eq!(
            get("/master"),
            (false, "master, but the lease has run out\n".into())
        );
        // HEAD: the head alone, with the length a GET gets.
        let answer = http(addr, "HEAD /standby HTTP/1.1\r\n\r\n");
        let (head, body) = split(&answer);
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(body.is_empty(), "{body}");
        assert!(
            head.contains(&format!(
                "Content-Length: {}\r\n",
                "master, not a standby\n".len()
            )),
            "{head}"
        );
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
