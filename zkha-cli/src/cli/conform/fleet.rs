//! The embedded server and the instances: the legacy binary (its command
//! with the placeholders filled in, `{data}` = 10.0.0.N) and zkha
//! seed-profile candidates, each through a TCP proxy of its own (so one
//! instance alone can be cut off), each proxy's bytes decoded ([`WireLog`])
//! and each line of its stdout/stderr kept with its time.

use super::command::{Legacy, RoleFrom};
use super::wire::{Wire, WireLog};
use parking_lot::Mutex;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zkha::{Acl, ClientId, CreateMode, ZooKeeper};
use zkha_testing::{ProxyMode, TcpProxy, TestingServer};

/// ms since conform started: every time in the report.
#[derive(Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    pub fn now(&self) -> f64 {
        self.0.elapsed().as_secs_f64() * 1000.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The binary under test.
    Legacy,
    /// `zkha candidate --profile seed`: the project's own seed peer.
    ZkhaSeed,
}

/// One output line: when, from stderr (else stdout), the text.
#[derive(Debug, Clone)]
pub struct Line {
    pub t: f64,
    pub stderr: bool,
    pub text: String,
}

pub struct Instance {
    pub name: String,
    pub data: String,
    pub kind: Kind,
    pub command: Vec<String>,
    child: Option<Child>,
    pub proxy: TcpProxy,
    pub wire: Arc<Mutex<WireLog>>,
    pub lines: Arc<Mutex<Vec<Line>>>,
    pub started: f64,
    /// When and how it ended (as far as conform saw).
    pub ended: Option<(f64, String)>,
}

impl Instance {
    pub fn alive(&self) -> bool {
        self.ended.is_none()
    }

    pub fn events(&self) -> Vec<Wire> {
        self.wire.lock().events.clone()
    }

    /// Sessions the server granted it (ConnectResponse with a timeout),
    /// with the negotiated timeout, in order.
    pub fn sessions(&self) -> Vec<(f64, i64, i32)> {
        self.events()
            .iter()
            .filter_map(|e| match e {
                Wire::Connected {
                    t,
                    session,
                    timeout,
                    ..
                } if *timeout > 0 => Some((*t, *session, *timeout)),
                _ => None,
            })
            .collect()
    }

    /// Lines matching `re` at or after `since`.
    pub fn matching(&self, re: &regex::Regex, since: f64) -> Vec<Line> {
        self.lines
            .lock()
            .iter()
            .filter(|l| l.t >= since && re.is_match(&l.text))
            .cloned()
            .collect()
    }

    pub fn line_count(&self, since: f64, until: f64) -> usize {
        self.lines
            .lock()
            .iter()
            .filter(|l| l.t >= since && l.t <= until)
            .count()
    }
}

/// The master node as read by conform's own session.
#[derive(Debug, Clone)]
pub struct Node {
    pub data: Vec<u8>,
    pub owner: i64,
}

pub struct Fleet {
    pub clock: Clock,
    /// conform's own session, straight to the server (closed before the
    /// server stops: fields drop in order).
    pub zk: ZooKeeper,
    pub server: TestingServer,
    pub parent: String,
    pub path: String,
    pub legacy: Legacy,
    pub role: RoleFrom,
    pub poll_ms: u64,
    pub settle_ms: u64,
    pub session_ms: u64,
    pub instances: Vec<Instance>,
    next_legacy: u32,
    next_seed: u32,
}

impl Fleet {
    /// Starts the embedded server (Debian's ZooKeeper, as `zkha demo` and
    /// `zkha server` do) and conform's own session; the master path's parent
    /// is not created yet (the cold start looks at S6 first).
    pub fn start(
        legacy: Legacy,
        role: RoleFrom,
        poll_ms: u64,
        settle_ms: u64,
        session_ms: u64,
        log_to_rust: bool,
    ) -> Result<Fleet, Box<dyn std::error::Error>> {
        let clock = Clock(Instant::now());
        let server = TestingServer::start()?;
        let zk = ZooKeeper::builder(server.connect_string())
            .session_timeout_ms(30_000)
            .log_to_rust(log_to_rust)
            .connect(Duration::from_secs(30))?;
        let parent = format!("/zkha-conform-{}", std::process::id());
        Ok(Fleet {
            clock,
            path: format!("{parent}/master"),
            parent,
            server,
            zk,
            legacy,
            role,
            poll_ms,
            settle_ms,
            session_ms,
            instances: Vec::new(),
            next_legacy: 1,
            next_seed: 1,
        })
    }

    pub fn now(&self) -> f64 {
        self.clock.now()
    }

    /// Creates the master path's parent (S6: the design needs it).
    pub fn create_parent(&self) -> Result<(), zkha::Error> {
        match self.zk.create(
            &self.parent,
            b"",
            &Acl::open_unsafe(),
            CreateMode::Persistent,
        ) {
            Ok(_) | Err(zkha::Error::Zk(zkha::ErrorCode::NodeExists)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub fn parent_exists(&self) -> bool {
        matches!(self.zk.exists(&self.parent, false), Ok(Some(_)))
    }

    /// Starts the next legacy instance (data 10.0.0.N).
    pub fn spawn_legacy(&mut self) -> Result<usize, Box<dyn std::error::Error>> {
        let n = self.next_legacy;
        self.next_legacy += 1;
        let data = format!("10.0.0.{n}");
        self.spawn(Kind::Legacy, format!("legacy-{n}"), data)
    }

    /// Starts a zkha seed-profile candidate (data 10.0.1.N) with the same
    /// poll, settle and session timeout.
    pub fn spawn_seed(&mut self) -> Result<usize, Box<dyn std::error::Error>> {
        let n = self.next_seed;
        self.next_seed += 1;
        self.spawn(
            Kind::ZkhaSeed,
            format!("zkha-seed-{n}"),
            format!("10.0.1.{n}"),
        )
    }

    fn spawn(
        &mut self,
        kind: Kind,
        name: String,
        data: String,
    ) -> Result<usize, Box<dyn std::error::Error>> {
        let proxy = TcpProxy::start(self.server.connect_string())?;
        let wire = Arc::new(Mutex::new(WireLog::default()));
        let (w, clock) = (wire.clone(), self.clock);
        proxy.set_tap(Arc::new(move |c| {
            w.lock()
                .feed(clock.now(), c.link, c.from_client, c.forwarded, c.bytes)
        }));
        let hosts = proxy.connect_string();
        let command = match kind {
            Kind::Legacy => self.legacy.expand(&hosts, &self.path, &data),
            Kind::ZkhaSeed => vec![
                std::env::current_exe()?.to_string_lossy().into_owned(),
                "candidate".into(),
                "--profile".into(),
                "seed".into(),
                "--hosts".into(),
                hosts.clone(),
                "--path".into(),
                self.path.clone(),
                "--data".into(),
                data.clone(),
                "--name".into(),
                name.clone(),
                "--poll-interval".into(),
                self.poll_ms.to_string(),
                "--settle".into(),
                self.settle_ms.to_string(),
                "--session-timeout".into(),
                self.session_ms.to_string(),
            ],
        };
        let mut cmd = Command::new(&command[0]);
        cmd.args(&command[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a signal reaches a wrapper script's
            // children too.
            .process_group(0);
        if kind == Kind::ZkhaSeed {
            cmd.env("RUST_LOG", "zkha=info,warn");
        }
        let mut child = zkha_testing::spawn_tied_to_process(cmd)
            .map_err(|e| format!("cannot start {:?}: {e}", command[0]))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            read_lines(out, false, lines.clone(), self.clock);
        }
        if let Some(err) = child.stderr.take() {
            read_lines(err, true, lines.clone(), self.clock);
        }
        self.instances.push(Instance {
            name,
            data,
            kind,
            command,
            child: Some(child),
            proxy,
            wire,
            lines,
            started: self.now(),
            ended: None,
        });
        Ok(self.instances.len() - 1)
    }

    /// Notes the instances that ended.
    pub fn reap(&mut self) {
        let now = self.clock.now();
        for i in &mut self.instances {
            if let Some(c) = &mut i.child {
                if let Ok(Some(status)) = c.try_wait() {
                    i.ended = Some((now, describe(status)));
                    i.child = None;
                }
            }
        }
    }

    /// Sends `sig` to instance `i`'s process group.
    pub fn signal(&mut self, i: usize, sig: i32) {
        if let Some(c) = &self.instances[i].child {
            // SAFETY: signals the process group of our own child (its own
            // group, see `spawn`); the pid is live until we reap it.
            unsafe { libc::kill(-(c.id() as i32), sig) };
        }
    }

    /// Waits up to `timeout` for instance `i` to end; SIGKILL after.
    pub fn wait_end(&mut self, i: usize, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            self.reap();
            if let Some((_, how)) = &self.instances[i].ended {
                return how.clone();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill(i);
        format!("still running after {timeout:?}: killed")
    }

    /// SIGKILL to instance `i`'s group, and reaped.
    pub fn kill(&mut self, i: usize) {
        self.signal(i, libc::SIGKILL);
        let now = self.clock.now();
        let inst = &mut self.instances[i];
        if let Some(mut c) = inst.child.take() {
            let status = c.wait();
            if inst.ended.is_none() {
                inst.ended = Some((now, status.map(describe).unwrap_or_else(|e| e.to_string())));
            }
        }
    }

    pub fn cut(&self, i: usize, cut: bool) {
        self.instances[i].proxy.set_mode(if cut {
            ProxyMode::Blackhole
        } else {
            ProxyMode::Pass
        });
    }

    /// The master node, if there is one (`Err`: the server did not answer).
    pub fn node(&self) -> Result<Option<Node>, zkha::Error> {
        match self.zk.get(&self.path, false) {
            Ok((data, stat)) => Ok(Some(Node {
                data,
                owner: stat.ephemeral_owner,
            })),
            Err(zkha::Error::Zk(zkha::ErrorCode::NoNode)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The instance a session belongs to.
    pub fn owner_of(&self, session: i64) -> Option<usize> {
        if session == 0 {
            return None;
        }
        self.instances
            .iter()
            .position(|i| i.sessions().iter().any(|s| s.1 == session))
    }

    /// The node's owner: by session, else by data (with or without NUL).
    pub fn node_owner(&self, node: &Node) -> Option<usize> {
        self.owner_of(node.owner).or_else(|| {
            let text = node.data.strip_suffix(b"\0").unwrap_or(&node.data);
            self.instances
                .iter()
                .position(|i| i.data.as_bytes() == text)
        })
    }

    /// Live legacy instances that claim mastership by the log pattern (the
    /// time of their latest matching line), with --role-from log.
    pub fn claims(&self) -> Vec<(usize, f64)> {
        let RoleFrom::Log(re) = &self.role else {
            return Vec::new();
        };
        self.instances
            .iter()
            .enumerate()
            .filter(|(_, i)| i.kind == Kind::Legacy && i.alive())
            .filter_map(|(n, i)| i.matching(re, 0.0).last().map(|l| (n, l.t)))
            .collect()
    }

    /// Who is master now, by the role source: the node's owner, or (log)
    /// the live legacy instance whose claim is the latest (zkha's seed
    /// candidates by the node either way).
    pub fn master(&self) -> Option<usize> {
        let by_node = self.node().ok().flatten().and_then(|n| self.node_owner(&n));
        match self.role {
            RoleFrom::Node => by_node,
            RoleFrom::Log(_) => {
                if let Some(m) = by_node.filter(|&m| self.instances[m].kind == Kind::ZkhaSeed) {
                    return Some(m);
                }
                self.claims()
                    .into_iter()
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|c| c.0)
            }
        }
    }

    /// Waits (polling every 20 ms) until `f` gives a value.
    pub fn wait_for<T>(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(&Fleet) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            self.reap();
            if let Some(v) = f(self) {
                return Some(v);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Live legacy instances.
    pub fn live_legacy(&self) -> Vec<usize> {
        (0..self.instances.len())
            .filter(|&i| self.instances[i].kind == Kind::Legacy && self.instances[i].alive())
            .collect()
    }

    /// Ends a session from outside: another handle attaches to it (its id
    /// and password as the server granted them) and closes it.
    pub fn close_session(&self, session: i64, passwd: [u8; 16]) -> Result<(), zkha::Error> {
        let twin = ZooKeeper::builder(self.server.connect_string())
            .session_timeout_ms(self.session_ms as i64)
            .client_id(ClientId {
                id: session,
                passwd,
            })
            .connect(Duration::from_secs(10))?;
        twin.close()
    }

    /// SIGTERM to every instance, SIGKILL to what is left after 3 s.
    pub fn stop_all(&mut self) {
        for i in 0..self.instances.len() {
            self.signal(i, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && self.instances.iter().any(|i| i.child.is_some()) {
            self.reap();
            std::thread::sleep(Duration::from_millis(20));
        }
        for i in 0..self.instances.len() {
            self.kill(i);
        }
    }

    /// Removes what conform created on the server (it is deleted with the
    /// server anyway).
    pub fn clean(&self) {
        let _ = self.zk.delete(&self.path, -1);
        let _ = self.zk.delete(&self.parent, -1);
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "ended".into(),
    }
}

/// A thread keeping each line of `from` with its time.
fn read_lines(
    from: impl Read + Send + 'static,
    stderr: bool,
    to: Arc<Mutex<Vec<Line>>>,
    clock: Clock,
) {
    let _ = std::thread::Builder::new()
        .name("conform-lines".into())
        .spawn(move || {
            let mut r = BufReader::new(from);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&buf).trim_end().to_owned();
                        let mut lines = to.lock();
                        // A binary that floods its log is kept to its last
                        // 100 000 lines.
                        if lines.len() >= 100_000 {
                            lines.drain(..10_000);
                        }
                        lines.push(Line {
                            t: clock.now(),
                            stderr,
                            text,
                        });
                    }
                }
            }
        });
}
