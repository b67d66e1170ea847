//! The `/metrics` endpoint: a thread accepting one connection at a time,
//! each read under a timeout, answering a scrape with the rendered metrics.

use super::registry::Metrics;
use prometheus_client::encoding::prometheus_text;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a connection may take to send its request (and to take the
/// answer) before it is dropped: a scraper sends its request at once.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the accept loop looks for a connection and for the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// Largest request head read: a scrape's is a few hundred bytes.
const MAX_REQUEST: usize = 8 * 1024;

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
