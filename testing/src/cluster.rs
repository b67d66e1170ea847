//! A ZooKeeper ensemble on one machine (Curator's `TestingCluster`), whose
//! member-to-member links may go through proxies so that they can be cut.

use super::member::{four_letter_word, mode_of, Member, PeerPorts, Ports, ServerMode};
use super::server::{is_port_clash, PORT_RETRIES};
use super::{Error, ProxyMode, ServerConfig, TcpProxy};
use parking_lot::Mutex;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The two proxies of one ordered link: member `from` reaching member `to`
/// (its quorum port and its election port).
#[derive(Debug)]
struct PeerLink {
    from: usize,
    to: usize,
    quorum: TcpProxy,
    election: TcpProxy,
}

/// An ensemble of ZooKeeper servers (3 by default) on free 127.0.0.1 ports,
/// each with its own temporary directory. Members are addressed by index
/// (0-based). Every member is killed and cleaned up on drop.
///
/// Started with [`TestingCluster::with_partitions`], every member reaches
/// every other through proxies of its own, so links can be cut
/// ([`isolate`](Self::isolate), [`cut`](Self::cut)) while clients still
/// reach each member directly.
#[derive(Debug)]
pub struct TestingCluster {
    members: Vec<Mutex<Member>>,
    addresses: Vec<String>,
    /// The members' plaintext ports, for the kit's four-letter words (the
    /// same as `addresses` unless TLS-only).
    probes: Vec<String>,
    start_timeout: Duration,
    /// The proxies between members; empty when members talk directly.
    links: Vec<PeerLink>,
}

impl TestingCluster {
    /// Starts a 3-member ensemble and waits until every member serves.
    pub fn start() -> Result<TestingCluster, Error> {
        Self::with_config(3, ServerConfig::default())
    }

    /// Starts an ensemble of `size` members (at least 2) with `config`.
    pub fn with_config(size: usize, config: ServerConfig) -> Result<TestingCluster, Error> {
        Self::launch(size, config, false)
    }

    /// Starts an ensemble of `size` members (at least 2) with `config`,
    /// whose member-to-member links all go through [`TcpProxy`] instances,
    /// one pair (quorum port, election port) per ordered pair of members:
    /// member `i`'s `zoo.cfg` names itself with its real ports and member
    /// `j` through the proxies of link `i -> j`, so that every link can be
    /// cut on its own ([`cut`](Self::cut), [`isolate`](Self::isolate)).
    /// Clients still connect straight to each member ([`address`](Self::address)).
    ///
    /// ZooKeeper 3.8 (reconfig off, as written) takes peer addresses from
    /// `zoo.cfg` only, with one exception handled here: a member dialling a
    /// member of higher id names its own (real) election address in the
    /// connection's first message, and the other drops the connection and
    /// dials that address back. The election proxies rewrite that address
    /// to the proxy of the reverse link, so no connection bypasses them
    /// (`tests/client/ensemble.rs` checks every JVM's sockets).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use zkha_testing::{ProxyMode, ServerConfig, TestingCluster};
    ///
    /// // syncLimit 5 ticks of 200 ms: a member cut off leaves after about 1 s.
    /// let config = ServerConfig { sync_limit: 5, ..ServerConfig::default() };
    /// let cluster = TestingCluster::with_partitions(3, config)?;
    /// let leader = cluster.wait_for_leader(Duration::from_secs(30))?;
    /// cluster.isolate(leader, ProxyMode::Partition)?; // the others elect a new leader
    /// cluster.heal(leader)?; // it rejoins as a follower
    /// # Ok::<(), zkha_testing::Error>(())
    /// ```
    pub fn with_partitions(size: usize, config: ServerConfig) -> Result<TestingCluster, Error> {
        Self::launch(size, config, true)
    }

    fn launch(size: usize, config: ServerConfig, proxied: bool) -> Result<TestingCluster, Error> {
        if size < 2 {
            return Err(Error::InvalidConfig(format!(
                "an ensemble needs at least 2 members, got {size}; use TestingServer for one"
            )));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ports: Vec<Ports> = (0..size)
                .map(|_| Ports::allocate())
                .collect::<io::Result<_>>()?;
            let links = if proxied {
                start_links(&ports)?
            } else {
                Vec::new()
            };
            let mut members = Vec::with_capacity(size);
            for (i, p) in ports.iter().enumerate() {
                let view: Vec<PeerPorts> = (0..size)
                    .map(|j| match links.iter().find(|l| l.from == i && l.to == j) {
                        Some(l) => PeerPorts {
                            quorum: l.quorum.port(),
                            election: l.election.port(),
                        },
                        None => ports[j].peer(),
                    })
                    .collect();
                members.push(Member::new(i as u32 + 1, *p, &view, &config)?);
            }
            for m in &mut members {
                m.spawn()?;
            }
            let deadline = Instant::now() + config.start_timeout;
            let result: Result<(), Error> = members
                .iter_mut()
                .try_for_each(|m| m.wait_serving(deadline).map(|_| ()));
            match result {
                Ok(()) => {
                    return Ok(TestingCluster {
                        addresses: members.iter().map(Member::client_address).collect(),
                        probes: members.iter().map(Member::address).collect(),
                        members: members.into_iter().map(Mutex::new).collect(),
                        start_timeout: config.start_timeout,
                        links,
                    })
                }
                Err(e) if attempt < PORT_RETRIES && is_port_clash(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always false: an ensemble has at least 2 members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The connect string naming every member.
    pub fn connect_string(&self) -> String {
        self.addresses.join(",")
    }

    /// Member `i`'s client address, `127.0.0.1:<port>`.
    pub fn address(&self, i: usize) -> Result<&str, Error> {
        self.addresses
            .get(i)
            .map(String::as_str)
            .ok_or(Error::NoSuchMember(i))
    }

    /// The index of the member whose client address is `address`
    /// (as `zoo_get_current_server` reports it).
    pub fn index_of(&self, address: &str) -> Option<usize> {
        self.addresses.iter().position(|a| a == address)
    }

    fn member(&self, i: usize) -> Result<&Mutex<Member>, Error> {
        self.members.get(i).ok_or(Error::NoSuchMember(i))
    }

    /// Graceful stop of member `i`.
    pub fn stop(&self, i: usize) -> Result<(), Error> {
        self.member(i)?.lock().stop(Duration::from_secs(10));
        Ok(())
    }

    /// SIGKILL of member `i`.
    pub fn kill(&self, i: usize) -> Result<(), Error> {
        self.member(i)?.lock().kill();
        Ok(())
    }

    /// Starts member `i` again with its data; waits until it serves (which
    /// needs a quorum).
    pub fn restart(&self, i: usize) -> Result<(), Error> {
        let mut m = self.member(i)?.lock();
        m.spawn()?;
        m.wait_serving(Instant::now() + self.start_timeout)?;
        Ok(())
    }

    /// Whether member `i`'s process is alive.
    pub fn is_running(&self, i: usize) -> Result<bool, Error> {
        Ok(self.member(i)?.lock().is_running())
    }

    /// Member `i`'s mode, or `None` when it does not answer.
    pub fn mode(&self, i: usize) -> Result<Option<ServerMode>, Error> {
        self.address(i)?;
        Ok(mode_of(&self.probes[i]))
    }

    /// The index of the current leader.
    pub fn leader(&self) -> Result<usize, Error> {
        (0..self.len())
            .find(|&i| mode_of(&self.probes[i]) == Some(ServerMode::Leader))
            .ok_or(Error::NoLeader)
    }

    /// Waits until some member is leader (after a leader was killed, say).
    pub fn wait_for_leader(&self, timeout: Duration) -> Result<usize, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.leader() {
                Ok(i) => return Ok(i),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// The JVM's pid of member `i` while it runs.
    pub fn pid(&self, i: usize) -> Result<Option<u32>, Error> {
        Ok(self.member(i)?.lock().pid())
    }

    /// Member `i`'s private directory (`zoo.cfg`, `data/`, `server.log`).
    pub fn dir(&self, i: usize) -> Result<PathBuf, Error> {
        Ok(self.member(i)?.lock().dir().to_path_buf())
    }

    /// Freezes member `i`'s JVM (SIGSTOP) and returns once the kernel reports
    /// it stopped: a process stall (GC pause, swapped-out VM) rather than a
    /// crash. Its sockets stay open and its peers hear nothing; a stopped
    /// leader stalls every commit until [`resume`](Self::resume) or until
    /// the others elect a new leader (after about `syncLimit` ticks).
    /// [`stop`](Self::stop), [`kill`](Self::kill) and drop work on a paused
    /// member.
    pub fn pause(&self, i: usize) -> Result<(), Error> {
        self.member(i)?.lock().pause(Duration::from_secs(5))
    }

    /// Lets member `i`'s JVM run again (SIGCONT) after [`pause`](Self::pause).
    pub fn resume(&self, i: usize) -> Result<(), Error> {
        self.member(i)?.lock().resume()
    }

    /// Whether member `i` was paused and not resumed since.
    pub fn is_paused(&self, i: usize) -> Result<bool, Error> {
        Ok(self.member(i)?.lock().is_paused())
    }

    /// Whether the members' links go through proxies
    /// ([`with_partitions`](Self::with_partitions)).
    pub fn is_partitionable(&self) -> bool {
        !self.links.is_empty()
    }

    /// The proxies member `from` reaches member `to` through: its quorum
    /// port's and its election port's, for faults [`cut`](Self::cut) does
    /// not offer (a [`ProxyMode::Delay`] on one link, say). Which member of a
    /// pair dials which is ZooKeeper's choice: followers dial their leader's
    /// quorum port, and the member with the higher id holds the election
    /// connection, so most faults should be set on both directions.
    pub fn peer_proxies(&self, from: usize, to: usize) -> Result<(&TcpProxy, &TcpProxy), Error> {
        self.member(from)?;
        self.member(to)?;
        if !self.is_partitionable() {
            return Err(Error::NoProxies);
        }
        self.links
            .iter()
            .find(|l| l.from == from && l.to == to)
            .map(|l| (&l.quorum, &l.election))
            .ok_or_else(|| Error::InvalidConfig(format!("member {from} has no link to itself")))
    }

    /// Sets every proxy between members `a` and `b`, both directions, quorum
    /// and election ports, to `mode`, with `a` playing the proxies' client:
    /// [`ProxyMode::PartitionFrom`] holds the bytes `a` sends to `b` and lets
    /// those from `b` pass, whichever of them dialled the connection. Other
    /// members' links are untouched, so partial (non-transitive) partitions
    /// can be built. [`ProxyMode::Pass`] restores the link.
    pub fn cut(&self, a: usize, b: usize, mode: ProxyMode) -> Result<(), Error> {
        let (q, e) = self.peer_proxies(a, b)?;
        let (rq, re) = self.peer_proxies(b, a)?;
        for p in [q, e] {
            p.set_mode(mode);
        }
        for p in [rq, re] {
            p.set_mode(mode.mirrored());
        }
        Ok(())
    }

    /// Cuts member `i` off from every other member: [`cut`](Self::cut)`(i,
    /// j, mode)` for each other `j`. With [`ProxyMode::Partition`] (or
    /// [`ProxyMode::Blackhole`], which drops bytes instead of holding them)
    /// nothing is reset: a follower loses its leader after about
    /// `syncLimit * tickTime` and stops serving; a leader loses its quorum
    /// and the others elect a new one. [`ProxyMode::Reset`] resets every
    /// connection instead, [`ProxyMode::PartitionFrom`] /
    /// [`ProxyMode::PartitionTo`] hold only what `i` sends / receives.
    /// Clients still reach `i` directly.
    pub fn isolate(&self, i: usize, mode: ProxyMode) -> Result<(), Error> {
        self.member(i)?;
        for j in (0..self.len()).filter(|&j| j != i) {
            self.cut(i, j, mode)?;
        }
        Ok(())
    }

    /// Lets every link of member `i` pass again (held bytes flow on).
    pub fn heal(&self, i: usize) -> Result<(), Error> {
        self.isolate(i, ProxyMode::Pass)
    }

    /// Lets every link of every member pass again.
    pub fn heal_all(&self) -> Result<(), Error> {
        if !self.is_partitionable() {
            return Err(Error::NoProxies);
        }
        for l in &self.links {
            l.quorum.set_mode(ProxyMode::Pass);
            l.election.set_mode(ProxyMode::Pass);
        }
        Ok(())
    }

    /// Sends a four-letter word to member `i`.
    pub fn four_letter_word(&self, i: usize, word: &str) -> Result<String, Error> {
        self.address(i)?;
        Ok(four_letter_word(
            &self.probes[i],
            word,
            Duration::from_secs(5),
        )?)
    }
}

/// The proxies of every ordered link between members with `ports`: a quorum
/// and an election proxy for each `from -> to`, each to `to`'s real port,
/// the election one rewriting the dialler's address to the reverse link's
/// proxy.
fn start_links(ports: &[Ports]) -> Result<Vec<PeerLink>, Error> {
    let real: Vec<u16> = ports
        .iter()
        .flat_map(|p| [p.client, p.peer, p.election])
        .collect();
    // A proxy must not sit on a port just handed to a member (free_port
    // released it), or that member could not bind it.
    let proxy = |port: u16| -> Result<TcpProxy, Error> {
        for _ in 0..20 {
            let p = TcpProxy::start(&format!("127.0.0.1:{port}"))?;
            if !real.contains(&p.port()) {
                return Ok(p);
            }
        }
        Err(Error::Io(io::Error::other(
            "no proxy port distinct from the members' ports",
        )))
    };
    let mut links = Vec::new();
    for from in 0..ports.len() {
        for to in (0..ports.len()).filter(|&to| to != from) {
            links.push(PeerLink {
                from,
                to,
                quorum: proxy(ports[to].peer)?,
                election: proxy(ports[to].election)?,
            });
        }
    }
    for l in &links {
        let back = links
            .iter()
            .find(|r| r.from == l.to && r.to == l.from)
            .expect("every link has a reverse");
        l.election
            .set_election_address(back.election.connect_string());
    }
    Ok(links)
}
