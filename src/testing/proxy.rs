//! A TCP proxy between clients and a ZooKeeper server, to cut a client off
//! without touching the server: the network partitions of the F1/F3 tests.

use parking_lot::Mutex;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward both ways.
    Pass = 0,
    /// Forward nothing (read and drop both ways), keep connections open: a
    /// partition, as the client sees it (no reset, just silence).
    Blackhole = 1,
    /// Forward requests, drop replies: requests are applied, answers lost.
    DropReplies = 2,
    /// Forward both ways, each chunk held back by the delay set with
    /// [`TcpProxy::set_delay`] (added latency).
    Delay = 3,
}

struct State {
    mode: AtomicU8,
    delay_ms: std::sync::atomic::AtomicU64,
    stop: AtomicBool,
    conns: Mutex<Vec<TcpStream>>,
}

/// A proxy on a free 127.0.0.1 port to `target`; stopped on drop.
pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<State>,
}

impl TcpProxy {
    /// Starts forwarding from a free local port to `target` (`host:port`).
    pub fn start(target: &str) -> io::Result<TcpProxy> {
        let target: SocketAddr = target.parse().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("bad target {target}"))
        })?;
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let state = Arc::new(State {
            mode: AtomicU8::new(ProxyMode::Pass as u8),
            delay_ms: std::sync::atomic::AtomicU64::new(0),
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        std::thread::Builder::new()
            .name("zkha-proxy".into())
            .spawn(move || accept_loop(listener, target, st))?;
        Ok(TcpProxy { addr, state })
    }

    /// The connect string clients use: `127.0.0.1:<port>`.
    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    /// Changes what happens to traffic, on open and new connections alike.
    pub fn set_mode(&self, mode: ProxyMode) {
        self.state.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// The latency [`ProxyMode::Delay`] adds to each chunk, each way.
    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Closes every open connection (clients see a reset); new ones are accepted.
    pub fn reset_all(&self) {
        for c in self.state.conns.lock().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.reset_all();
    }
}

fn accept_loop(listener: TcpListener, target: SocketAddr, state: Arc<State>) {
    while !state.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut conns = state.conns.lock();
                    for s in [&client, &server] {
                        if let Ok(c) = s.try_clone() {
                            conns.push(c);
                        }
                    }
                }
                spawn_pump(&client, &server, state.clone(), true);
                spawn_pump(&server, &client, state.clone(), false);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn spawn_pump(from: &TcpStream, to: &TcpStream, state: Arc<State>, request_direction: bool) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if state.stop.load(Ordering::SeqCst) {
                break;
            }
            let forward = match state.mode.load(Ordering::SeqCst) {
                0 => true,
                2 => request_direction,
                3 => {
                    std::thread::sleep(Duration::from_millis(
                        state.delay_ms.load(Ordering::SeqCst),
                    ));
                    true
                }
                _ => false,
            };
            if forward && to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}
