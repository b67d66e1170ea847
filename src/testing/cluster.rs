//! A ZooKeeper ensemble on one machine (Curator's `TestingCluster`).

use super::member::{four_letter_word, mode_of, Member, Mode, Ports};
use super::server::{is_port_clash, PORT_RETRIES};
use super::{Error, ServerConfig};
use parking_lot::Mutex;
use std::io;
use std::time::{Duration, Instant};

/// An ensemble of ZooKeeper servers (3 by default) on free 127.0.0.1 ports,
/// each with its own temporary directory. Members are addressed by index
/// (0-based). Every member is killed and cleaned up on drop.
#[derive(Debug)]
pub struct TestingCluster {
    members: Vec<Mutex<Member>>,
    addresses: Vec<String>,
    start_timeout: Duration,
}

impl TestingCluster {
    /// Starts a 3-member ensemble and waits until every member serves.
    pub fn start() -> Result<TestingCluster, Error> {
        Self::with_config(3, ServerConfig::default())
    }

    /// Starts an ensemble of `size` members (at least 2) with `config`.
    pub fn with_config(size: usize, config: ServerConfig) -> Result<TestingCluster, Error> {
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
            let mut members = Vec::with_capacity(size);
            for (i, p) in ports.iter().enumerate() {
                members.push(Member::new(i as u32 + 1, *p, &ports, &config)?);
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
                        addresses: members.iter().map(Member::address).collect(),
                        members: members.into_iter().map(Mutex::new).collect(),
                        start_timeout: config.start_timeout,
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
    pub fn mode(&self, i: usize) -> Result<Option<Mode>, Error> {
        let addr = self.address(i)?;
        Ok(mode_of(addr))
    }

    /// The index of the current leader.
    pub fn leader(&self) -> Result<usize, Error> {
        (0..self.len())
            .find(|&i| mode_of(&self.addresses[i]) == Some(Mode::Leader))
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

    /// Sends a four-letter word to member `i`.
    pub fn four_letter_word(&self, i: usize, word: &str) -> Result<String, Error> {
        Ok(four_letter_word(
            self.address(i)?,
            word,
            Duration::from_secs(5),
        )?)
    }
}
