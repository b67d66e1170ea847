//! A TCP proxy between clients and a ZooKeeper server, to cut a client off
//! without touching the server: the network partitions of the F1/F3 tests,
//! and (in [`super::TestingCluster::with_partitions`]) the links between
//! ensemble members.

use parking_lot::Mutex;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How often a held direction, a deferred dial or the accept loop looks at
/// the mode again.
const POLL: Duration = Duration::from_millis(5);

/// What the proxy does with traffic.
///
/// "Client" is the side that connected to the proxy, "target" the address it
/// forwards to. In [`super::TestingCluster::isolate`] and
/// [`super::TestingCluster::cut`] the member named first plays the client on
/// every link, whichever member really dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward both ways.
    Pass = 0,
    /// Forward nothing (read and drop both ways), keep connections open: a
    /// partition, as the client sees it (no reset, just silence). The bytes
    /// are lost for good, and a side that closes its socket is still seen
    /// closing by the other; [`ProxyMode::Partition`] holds bytes instead.
    Blackhole = 1,
    /// Forward requests, drop replies: requests are applied, answers lost.
    DropReplies = 2,
    /// Forward both ways, each chunk held back by the delay set with
    /// [`TcpProxy::set_delay`]: added latency, not a throughput limit
    /// (chunks in flight overlap, as on a long link).
    Delay = 3,
    /// Reset (TCP RST, no FIN) every open connection when the mode is set,
    /// and every new one as soon as it is accepted, until the mode changes:
    /// "connection refused/reset" rather than silence.
    Reset = 4,
    /// A network partition as TCP sees it: nothing is read, forwarded or
    /// closed, either way. Bytes wait in the kernel's buffers (a sender blocks
    /// once they are full) and flow, in order, when the mode goes back to
    /// [`ProxyMode::Pass`], as across a healed partition; a side closing its
    /// socket meanwhile is not seen by the other. A connection accepted
    /// meanwhile reaches the target only when the partition ends.
    Partition = 5,
    /// One-way partition: bytes from the client are held as in
    /// [`ProxyMode::Partition`], bytes to the client pass.
    PartitionFrom = 6,
    /// One-way partition: bytes to the client are held as in
    /// [`ProxyMode::Partition`], bytes from the client pass.
    PartitionTo = 7,
}

impl ProxyMode {
    fn from_u8(v: u8) -> ProxyMode {
        match v {
            1 => ProxyMode::Blackhole,
            2 => ProxyMode::DropReplies,
            3 => ProxyMode::Delay,
            4 => ProxyMode::Reset,
            5 => ProxyMode::Partition,
            6 => ProxyMode::PartitionFrom,
            7 => ProxyMode::PartitionTo,
            _ => ProxyMode::Pass,
        }
    }

    /// The same mode seen from the target's side (`PartitionFrom` and
    /// `PartitionTo` swap; the others are symmetric or per-proxy).
    pub(crate) fn mirrored(self) -> ProxyMode {
        match self {
            ProxyMode::PartitionFrom => ProxyMode::PartitionTo,
            ProxyMode::PartitionTo => ProxyMode::PartitionFrom,
            m => m,
        }
    }

    /// Whether bytes going the given way are held (not read) in this mode.
    fn holds(self, from_client: bool) -> bool {
        match self {
            ProxyMode::Partition => true,
            ProxyMode::PartitionFrom => from_client,
            ProxyMode::PartitionTo => !from_client,
            _ => false,
        }
    }
}

/// One chunk a [`TcpProxy`] read from a connection, shown to its tap (see
/// [`TcpProxy::set_tap`]).
#[derive(Debug)]
pub struct TapChunk<'a> {
    /// The connection: numbered from 0 in the order the proxy dialled them.
    pub link: u64,
    /// Read from the client (else from the target).
    pub from_client: bool,
    /// Whether the proxy passed it on (not in [`ProxyMode::Blackhole`],
    /// [`ProxyMode::Reset`], nor a reply in [`ProxyMode::DropReplies`]).
    pub forwarded: bool,
    /// The bytes, as read.
    pub bytes: &'a [u8],
}

/// What [`TcpProxy::set_tap`] takes: called on the pump's thread for each
/// chunk, so it must be quick.
pub type Tap = Arc<dyn Fn(TapChunk<'_>) + Send + Sync>;

struct ProxyState {
    mode: AtomicU8,
    delay_ms: AtomicU64,
    stop: AtomicBool,
    accepted: AtomicU64,
    links: Mutex<Vec<Arc<Link>>>,
    /// For a ZooKeeper election port: the election address to put in the
    /// client's initial message instead of its own (see
    /// [`TcpProxy::set_election_address`]).
    election_address: Mutex<Option<String>>,
    /// Sees every chunk read (see [`TcpProxy::set_tap`]).
    tap: Mutex<Option<Tap>>,
    /// The next link's number, for the tap.
    next_link: AtomicU64,
}

impl ProxyState {
    fn mode(&self) -> ProxyMode {
        ProxyMode::from_u8(self.mode.load(Ordering::SeqCst))
    }
}

/// One proxied connection: the accepted client socket and the one to the
/// target. Each socket has this one descriptor, closed when the last pump
/// lets go of the link.
struct Link {
    client: TcpStream,
    server: TcpStream,
    /// Its number, for the tap.
    id: u64,
    /// Set by a [`ProxyMode::Reset`]: the pumps leave without a FIN, so the
    /// close of the (linger 0) sockets sends RSTs.
    reset: AtomicBool,
    /// Pumps still running; the last one out removes the link from the list.
    pumps: AtomicU8,
}

/// A proxy on a free 127.0.0.1 port to `target`; stopped on drop.
pub struct TcpProxy {
    addr: SocketAddr,
    target: SocketAddr,
    state: Arc<ProxyState>,
}

impl fmt::Debug for TcpProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpProxy")
            .field("addr", &self.addr)
            .field("target", &self.target)
            .field("mode", &self.mode())
            .finish()
    }
}

impl TcpProxy {
    /// Starts forwarding from a free local port to `target` (`host:port`).
    pub fn start(target: &str) -> io::Result<TcpProxy> {
        let target: SocketAddr = target.parse().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("bad target {target}"))
        })?;
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ProxyState {
            mode: AtomicU8::new(ProxyMode::Pass as u8),
            delay_ms: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            links: Mutex::new(Vec::new()),
            election_address: Mutex::new(None),
            tap: Mutex::new(None),
            next_link: AtomicU64::new(0),
        });
        let st = state.clone();
        std::thread::Builder::new()
            .name("zkha-proxy".into())
            .spawn(move || accept_loop(listener, target, st))?;
        Ok(TcpProxy {
            addr,
            target,
            state,
        })
    }

    /// The connect string clients use: `127.0.0.1:<port>`.
    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    /// The port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Where the proxy forwards to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Changes what happens to traffic, on open and new connections alike
    /// ([`ProxyMode::Reset`] also resets every open connection now).
    pub fn set_mode(&self, mode: ProxyMode) {
        self.state.mode.store(mode as u8, Ordering::SeqCst);
        if mode == ProxyMode::Reset {
            let links: Vec<Arc<Link>> = self.state.links.lock().drain(..).collect();
            for link in links {
                abort(&link);
            }
        }
    }

    /// The current mode.
    pub fn mode(&self) -> ProxyMode {
        self.state.mode()
    }

    /// How many connections the proxy has accepted since it started: shows
    /// that traffic really goes through it.
    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// The latency [`ProxyMode::Delay`] adds to each chunk, each way.
    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Closes every open connection (both sides see the connection closed,
    /// FIN); new ones are accepted.
    pub fn reset_all(&self) {
        for link in self.state.links.lock().drain(..) {
            let _ = link.client.shutdown(Shutdown::Both);
            let _ = link.server.shutdown(Shutdown::Both);
        }
    }

    /// Shows every chunk read from now on, either way, to `tap` (whether
    /// forwarded or not): a wire-level view of what the client sent and was
    /// answered, e.g. to decode ZooKeeper's frames (`zkha conform`). Links
    /// dialled before the call are shown too, from their next chunk.
    pub fn set_tap(&self, tap: Tap) {
        *self.state.tap.lock() = Some(tap);
    }

    /// Makes this proxy, placed in front of a ZooKeeper member's election
    /// port, rewrite the initial message of each connection: the dialling
    /// member names its own election address there, and a member with a
    /// higher id drops the connection and dials that address back, which
    /// would bypass the proxies. With this set, it dials `address` (the proxy
    /// for the opposite direction) instead.
    pub(crate) fn set_election_address(&self, address: String) {
        *self.state.election_address.lock() = Some(address);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, blocked in accept(), to see `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        self.reset_all();
    }
}

fn accept_loop(listener: TcpListener, target: SocketAddr, state: Arc<ProxyState>) {
    loop {
        let accepted = listener.accept();
        if state.stop.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((client, _)) => {
                state.accepted.fetch_add(1, Ordering::SeqCst);
                let st = state.clone();
                let spawned = std::thread::Builder::new()
                    .name("zkha-proxy-dial".into())
                    .spawn(move || dial(client, target, st));
                if spawned.is_err() {
                    std::thread::sleep(POLL);
                }
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Connects an accepted client to the target (once no partition stands in
/// the way) and starts the two pumps.
fn dial(client: TcpStream, target: SocketAddr, state: Arc<ProxyState>) {
    loop {
        if state.stop.load(Ordering::SeqCst) {
            return;
        }
        match state.mode() {
            ProxyMode::Reset => {
                set_linger_zero(&client);
                return; // the drop sends the RST
            }
            ProxyMode::Partition => std::thread::sleep(POLL),
            _ => break,
        }
    }
    let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let link = Arc::new(Link {
        id: state.next_link.fetch_add(1, Ordering::SeqCst),
        client,
        server,
        reset: AtomicBool::new(false),
        pumps: AtomicU8::new(2),
    });
    state.links.lock().push(link.clone());
    // A Reset set between the mode check above and the push did not see
    // this link.
    if state.mode() == ProxyMode::Reset {
        state.links.lock().retain(|l| !Arc::ptr_eq(l, &link));
        abort(&link);
        return;
    }
    let (l, st) = (link.clone(), state.clone());
    if std::thread::Builder::new()
        .name("zkha-proxy-pump".into())
        .spawn(move || pump(l, st, false))
        .is_err()
    {
        link.pumps.fetch_sub(1, Ordering::SeqCst);
        let _ = link.client.shutdown(Shutdown::Both);
        let _ = link.server.shutdown(Shutdown::Both);
    }
    pump(link, state, true);
}

/// SO_LINGER 0: closing the socket sends a RST and drops unsent data.
fn set_linger_zero(s: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a live socket descriptor owned by `s`, with a
    // pointer to a `linger` that outlives the call and its exact size.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Resets both sides of a link: linger 0, then a read shutdown (which sends
/// nothing) wakes the pumps, which leave without a FIN; the last descriptor's
/// close sends the RST.
fn abort(link: &Link) {
    link.reset.store(true, Ordering::SeqCst);
    for s in [&link.client, &link.server] {
        set_linger_zero(s);
        let _ = s.shutdown(Shutdown::Read);
    }
}

/// Waits while the mode holds this direction. False when the link or the
/// proxy ended meanwhile.
fn wait_released(state: &ProxyState, link: &Link, from_client: bool) -> bool {
    loop {
        if state.stop.load(Ordering::SeqCst) || link.reset.load(Ordering::SeqCst) {
            return false;
        }
        if !state.mode().holds(from_client) {
            return true;
        }
        std::thread::sleep(POLL);
    }
}

/// A thread that writes each chunk to `to` at its due time, in order:
/// [`ProxyMode::Delay`]'s latency. A reader that slept per chunk would queue
/// chunks behind each other and limit throughput instead.
/// The pump joins it before closing the link, so that bytes still in
/// flight are delivered before the close, as on a real link.
fn delayed_writer(to: TcpStream, link: Arc<Link>) -> io::Result<DelayedWriter> {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let thread = std::thread::Builder::new()
        .name("zkha-proxy-delay".into())
        .spawn(move || {
            for (due, bytes) in rx {
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                // A reset link drops what is still in flight.
                if link.reset.load(Ordering::SeqCst) || (&to).write_all(&bytes).is_err() {
                    break;
                }
            }
        })?;
    Ok((tx, thread))
}

/// The delayed writer's queue and thread.
type DelayedWriter = (
    mpsc::Sender<(Instant, Vec<u8>)>,
    std::thread::JoinHandle<()>,
);

/// Copies one direction of a link until either side ends.
fn pump(link: Arc<Link>, state: Arc<ProxyState>, from_client: bool) {
    let (mut from, mut to) = if from_client {
        (&link.client, &link.server)
    } else {
        (&link.server, &link.client)
    };
    let mut buf = vec![0u8; 16 * 1024];
    // Only the client's first message is rewritten, and only on election
    // ports.
    let mut election = if from_client {
        state.election_address.lock().clone()
    } else {
        None
    };
    let mut head: Vec<u8> = Vec::new();
    let mut delayed: Option<DelayedWriter> = None;
    loop {
        if !wait_released(&state, &link, from_client) {
            break;
        }
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Bytes read just as a partition began wait for its end.
        if !wait_released(&state, &link, from_client) {
            break;
        }
        let mut chunk: &[u8] = &buf[..n];
        let rewritten;
        if let Some(address) = &election {
            head.extend_from_slice(chunk);
            match rewrite_initial_message(&head, address) {
                Rewrite::NeedMore => continue,
                Rewrite::Done(bytes) => {
                    rewritten = bytes;
                    chunk = &rewritten;
                    election = None;
                }
            }
        }
        let mut due = None;
        let forward = match state.mode() {
            ProxyMode::Blackhole | ProxyMode::Reset => false,
            ProxyMode::DropReplies => from_client,
            ProxyMode::Delay => {
                let delay = Duration::from_millis(state.delay_ms.load(Ordering::SeqCst));
                due = Some(Instant::now() + delay);
                true
            }
            _ => true,
        };
        let tap = state.tap.lock().clone();
        if let Some(tap) = tap {
            tap(TapChunk {
                link: link.id,
                from_client,
                forwarded: forward,
                bytes: chunk,
            });
        }
        if !forward {
            continue;
        }
        if due.is_some() && delayed.is_none() {
            delayed = to
                .try_clone()
                .ok()
                .and_then(|s| delayed_writer(s, link.clone()).ok());
        }
        // Once chunks go through the delayed writer, all of them do (even
        // undelayed ones), so that they stay in order.
        let failed = match &delayed {
            Some((tx, _)) => tx
                .send((due.unwrap_or_else(Instant::now), chunk.to_vec()))
                .is_err(),
            None => {
                if let Some(due) = due {
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
                to.write_all(chunk).is_err()
            }
        };
        if failed {
            break;
        }
    }
    // What is still in flight arrives before the close.
    if let Some((tx, thread)) = delayed {
        drop(tx);
        let _ = thread.join();
    }
    if !link.reset.load(Ordering::SeqCst) {
        let _ = link.client.shutdown(Shutdown::Both);
        let _ = link.server.shutdown(Shutdown::Both);
    }
    if link.pumps.fetch_sub(1, Ordering::SeqCst) == 1 {
        state.links.lock().retain(|l| !Arc::ptr_eq(l, &link));
    }
}

/// What [`rewrite_initial_message`] made of the bytes so far.
#[derive(Debug, PartialEq, Eq)]
enum Rewrite {
    /// The message is not complete yet.
    NeedMore,
    /// The bytes to forward: the rewritten message and whatever followed it
    /// (or everything unchanged when it is not a message to rewrite).
    Done(Vec<u8>),
}

/// ZooKeeper 3.5+ election connections open with
/// `i64 protocol (-65536 or -65535), i64 server id, i32 length, address`
/// (`host:port`, several joined by `|` in protocol -65535). Replaces the
/// address with `address`; anything else passes unchanged.
fn rewrite_initial_message(bytes: &[u8], address: &str) -> Rewrite {
    const HEADER: usize = 8 + 8 + 4;
    /// ZooKeeper's own bound on the address length.
    const MAX_ADDRESS: usize = 2048;
    if bytes.len() < 8 {
        return Rewrite::NeedMore;
    }
    let protocol = i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
    if protocol != -65536 && protocol != -65535 {
        return Rewrite::Done(bytes.to_vec());
    }
    if bytes.len() < HEADER {
        return Rewrite::NeedMore;
    }
    let len = i32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
    if len <= 0 || len as usize > MAX_ADDRESS {
        return Rewrite::Done(bytes.to_vec());
    }
    let end = HEADER + len as usize;
    if bytes.len() < end {
        return Rewrite::NeedMore;
    }
    let mut out = Vec::with_capacity(bytes.len() + address.len());
    out.extend_from_slice(&bytes[..16]);
    out.extend_from_slice(&(address.len() as i32).to_be_bytes());
    out.extend_from_slice(address.as_bytes());
    out.extend_from_slice(&bytes[end..]);
    Rewrite::Done(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(protocol: i64, sid: i64, address: &str, rest: &[u8]) -> Vec<u8> {
        let mut m = protocol.to_be_bytes().to_vec();
        m.extend_from_slice(&sid.to_be_bytes());
        m.extend_from_slice(&(address.len() as i32).to_be_bytes());
        m.extend_from_slice(address.as_bytes());
        m.extend_from_slice(rest);
        m
    }

    #[test]
    fn initial_message_address_is_replaced_and_the_rest_kept() {
        let original = message(-65536, 3, "127.0.0.1:40001", b"\0\0\0\x04vote");
        // Any prefix short of the whole initial message waits for more.
        let end = 8 + 8 + 4 + "127.0.0.1:40001".len();
        for cut in 0..end {
            assert_eq!(
                rewrite_initial_message(&original[..cut], "127.0.0.1:5"),
                Rewrite::NeedMore,
                "cut at {cut}"
            );
        }
        assert_eq!(
            rewrite_initial_message(&original, "127.0.0.1:5"),
            Rewrite::Done(message(-65536, 3, "127.0.0.1:5", b"\0\0\0\x04vote"))
        );
        let multi = message(-65535, 2, "127.0.0.1:1|127.0.0.1:2", b"");
        assert_eq!(
            rewrite_initial_message(&multi, "127.0.0.1:65000"),
            Rewrite::Done(message(-65535, 2, "127.0.0.1:65000", b""))
        );
    }

    #[test]
    fn other_first_bytes_pass_unchanged() {
        // An old server sends its id first; a client sends anything.
        let old = 7i64.to_be_bytes().to_vec();
        assert_eq!(
            rewrite_initial_message(&old, "x:1"),
            Rewrite::Done(old.clone())
        );
        let huge = message(-65536, 1, &"a".repeat(3000), b"");
        assert_eq!(
            rewrite_initial_message(&huge, "x:1"),
            Rewrite::Done(huge.clone())
        );
    }

    #[test]
    fn mirrored_swaps_only_the_one_way_partitions() {
        assert_eq!(ProxyMode::PartitionFrom.mirrored(), ProxyMode::PartitionTo);
        assert_eq!(ProxyMode::PartitionTo.mirrored(), ProxyMode::PartitionFrom);
        for m in [
            ProxyMode::Pass,
            ProxyMode::Blackhole,
            ProxyMode::Partition,
            ProxyMode::Reset,
        ] {
            assert_eq!(m.mirrored(), m);
        }
    }
}
