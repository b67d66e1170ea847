//! At start-up (safe profile), the session timeout checked against each
//! ensemble member's settings, as its `conf` four-letter word shows them.
//!
//! The lease (`src/elector/lease.rs`, docs/promise.md) rests on assumptions
//! about the servers that zkha cannot see from a session, but `conf` can:
//!
//! - the session timeout `T` that a server grants is the one asked for,
//!   clamped to its `minSessionTimeout`..`maxSessionTimeout`: everything
//!   (lease, renewals, step-down) follows the granted one;
//! - `T ≥ 2 × tickTime`: the bound `0.3·T ≥ tickTime/2 + δ` (a leader hears
//!   of a session through a follower every `tickTime/2`);
//! - a deposed leader is gone within `T/2`: a leader cut off from its
//!   quorum answers syncs (renewals) for up to `syncLimit × tickTime`,
//!   while a new leader may already be elected and count the session's `T`
//!   from its election; so `syncLimit × tickTime < T/2`. A standalone
//!   server has no syncLimit: there is no leader to depose.
//!
//! Each member of `--hosts` is asked on a thread of its own over plain TCP
//! (connect 1 s, answer 2 s), so start-up never waits for it; each answer
//! is logged as it comes, naming the member and the numbers. A member whose
//! `4lw.commands.whitelist` refuses `conf` is skipped, with one line saying
//! how to allow it; so is one that does not answer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use zkha::elector::{ElectorConfig, Profile};

/// How long connecting to one member may take.
const CONNECT: Duration = Duration::from_secs(1);
/// How long its whole answer may take.
const ANSWER: Duration = Duration::from_secs(2);
/// The most of an answer read (`conf` is well under 1 KiB).
const MAX_ANSWER: u64 = 64 * 1024;

/// Starts the check on a thread of its own, for a safe-profile election
/// over plaintext client ports; returns at once.
pub(super) fn start(config: &ElectorConfig) {
    if config.profile != Profile::Safe {
        return;
    }
    let label = format!("{} on {}", config.path, config.hosts);
    if config.security.tls.is_some() {
        log::info!(target: "zkha", "{label}: the session timeout was not checked against the servers' settings: that asks the conf four-letter word on a plaintext client port, and these servers are reached over TLS");
        return;
    }
    let requested = config.session_timeout.as_millis() as u64;
    let members = members(&config.hosts);
    let spawned = std::thread::Builder::new()
        .name("zkha-ensemble-check".into())
        .spawn(move || check(&label, requested, members));
    if let Err(e) = spawned {
        log::debug!(target: "zkha", "cannot start the ensemble check: {e}");
    }
}

/// The `host:port` entries of a connect string (its chroot left out).
fn members(hosts: &str) -> Vec<String> {
    let list = hosts.split('/').next().unwrap_or("");
    list.split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What one member said, or why it said nothing.
#[derive(Debug, PartialEq)]
enum Answer {
    Conf(Conf),
    /// Its `4lw.commands.whitelist` leaves `conf` out.
    Refused,
    /// Something else (not serving, not ZooKeeper): its first line.
    Other(String),
}

/// The settings of `conf` that the lease depends on.
#[derive(Debug, Default, PartialEq, Clone, Copy)]
struct Conf {
    tick_ms: u64,
    min_session_ms: u64,
    max_session_ms: u64,
    /// Absent on a standalone server.
    init_limit: Option<u64>,
    sync_limit: Option<u64>,
    observer: bool,
}

/// `conf`'s answer: `key=value` lines (a quorum member's also has
/// `initLimit`, `syncLimit`, `peerType` and its membership).
fn parse_answer(text: &str) -> Answer {
    if text.contains("not in the whitelist") {
        return Answer::Refused;
    }
    let mut tick = None;
    let (mut min, mut max) = (None, None);
    let (mut init, mut sync) = (None, None);
    let mut observer = false;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let number = value.trim().parse::<i64>().ok();
        let positive = number.filter(|&n| n > 0).map(|n| n as u64);
        match key.trim() {
            "tickTime" => tick = positive,
            "minSessionTimeout" => min = positive,
            "maxSessionTimeout" => max = positive,
            "initLimit" => init = positive,
            "syncLimit" => sync = positive,
            "peerType" => observer = number == Some(1),
            _ => {}
        }
    }
    match tick {
        Some(tick_ms) => Answer::Conf(Conf {
            tick_ms,
            // ZooKeeper's defaults, should a server not say.
            min_session_ms: min.unwrap_or(2 * tick_ms),
            max_session_ms: max.unwrap_or(20 * tick_ms),
            init_limit: init,
            sync_limit: sync,
            observer,
        }),
        None => {
            let first = text.lines().map(str::trim).find(|l| !l.is_empty());
            let mut first = first.unwrap_or("nothing").to_owned();
            first.truncate(120);
            Answer::Other(first)
        }
    }
}

/// `ms / 2`, written without a needless `.0`.
fn half(ms: u64) -> String {
    if ms.is_multiple_of(2) {
        format!("{}", ms / 2)
    } else {
        format!("{}.5", ms / 2)
    }
}

/// The session timeout a server with `conf` grants for `requested`.
fn granted(requested: u64, conf: &Conf) -> u64 {
    requested.clamp(
        conf.min_session_ms,
        conf.max_session_ms.max(conf.min_session_ms),
    )
}

/// What the log says of `member`, whose settings are `conf`, for a
/// session timeout of `requested` ms: WARN lines for each assumption of
/// the lease that does not hold, else one INFO line with the numbers.
fn judge(member: &str, requested: u64, conf: &Conf) -> Vec<(log::Level, String)> {
    let mut lines = Vec::new();
    let t = conf.tick_ms;
    let (min, max) = (conf.min_session_ms, conf.max_session_ms);
    let session = granted(requested, conf);
    if session != requested {
        lines.push((
            log::Level::Warn,
            format!(
                "{member}: --session-timeout {requested} ms is outside this server's \
                 minSessionTimeout..maxSessionTimeout ({min}..{max} ms): it grants {session} ms \
                 instead, and the lease (about T/2 = {} ms), renewals and step-down follow the \
                 granted value",
                half(session)
            ),
        ));
    }
    if session < 2 * t {
        lines.push((
            log::Level::Warn,
            format!(
                "{member}: the session timeout T = {session} ms is under 2 × tickTime \
                 (2 × {t} = {} ms): the lease assumes T ≥ 2 × tickTime (a leader hears of a \
                 session through a follower only every tickTime/2); raise --session-timeout \
                 to {} ms or more",
                2 * t,
                2 * t
            ),
        ));
    }
    let role = if conf.observer { "observer, " } else { "" };
    match conf.sync_limit {
        None => lines.push((
            log::Level::Info,
            format!(
                "{member}: a standalone server (tickTime {t} ms, sessions {min}..{max} ms, \
                 T = {session} ms): no syncLimit applies, there is no leader to be deposed"
            ),
        )),
        Some(s) if 2 * s * t >= session => {
            let limit = s * t;
            // The largest syncLimit with syncLimit × tickTime < T/2.
            let fits = (session.saturating_sub(1)) / (2 * t);
            let lower = if fits >= 1 {
                format!("lower syncLimit to {fits} or less in zoo.cfg, or ")
            } else {
                String::new()
            };
            let above = 2 * limit;
            let also = if above >= max {
                format!(" (and this server's maxSessionTimeout, {max} ms, with it)")
            } else {
                String::new()
            };
            lines.push((
                log::Level::Warn,
                format!(
                    "{member}: syncLimit × tickTime = {s} × {t} = {limit} ms is not under \
                     T/2 = {} ms (session timeout T = {session} ms): a leader cut off from its \
                     quorum may answer renewals for that long while a new leader is elected, \
                     and the lease assumes the old one is gone within T/2; {lower}raise \
                     --session-timeout to above {above} ms (2 × syncLimit × tickTime){also}",
                    half(session)
                ),
            ));
        }
        Some(s) if lines.is_empty() => {
            let init = conf
                .init_limit
                .map(|i| {
                    format!(
                        "; a new leader may take up to initLimit × tickTime = {} ms to sync \
                         its followers",
                        i * t
                    )
                })
                .unwrap_or_default();
            lines.push((
                log::Level::Info,
                format!(
                    "{member}: {role}tickTime {t} ms, initLimit {}, syncLimit {s}, sessions \
                     {min}..{max} ms: the session timeout T = {session} ms fits the lease's \
                     assumptions (T ≥ 2 × tickTime; syncLimit × tickTime = {} ms < T/2 = {} \
                     ms{init})",
                    conf.init_limit.map_or("?".to_owned(), |i| i.to_string()),
                    s * t,
                    half(session)
                ),
            ));
        }
        Some(_) => {}
    }
    lines
}

/// Sends `conf` to `addr` and reads the answer until EOF, within
/// [`CONNECT`] and [`ANSWER`].
fn ask(addr: &SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(addr, CONNECT)?;
    let deadline = Instant::now() + ANSWER;
    stream.set_write_timeout(Some(ANSWER))?;
    stream.write_all(b"conf")?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let late = || {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no complete answer within {} s", ANSWER.as_secs()),
        )
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || answer.len() as u64 >= MAX_ANSWER {
            return Err(late());
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // A read timeout is EAGAIN on Linux.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(late())
            }
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Asks one member (each address its name resolves to): the answers, each
/// under the member's name (with the address when there are several).
fn ask_member(member: &str) -> Vec<(String, std::io::Result<Answer>)> {
    let addrs: Vec<SocketAddr> = match member.to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => return vec![(member.to_owned(), Err(e))],
    };
    let several = addrs.len() > 1;
    addrs
        .iter()
        .map(|a| {
            let name = if several {
                format!("{member} ({a})")
            } else {
                member.to_owned()
            };
            (name, ask(a).map(|text| parse_answer(&text)))
        })
        .collect()
}

/// An I/O error as the log says it: `connection refused`, without the
/// `(os error 111)`.
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text.to_owned(),
    }
}

/// Asks every member at once and logs each answer as it comes; then one
/// line for those that refused `conf`, one for those that did not answer.
fn check(label: &str, requested: u64, members: Vec<String>) {
    log::debug!(target: "zkha", "{label}: asking {} member(s) for their settings (conf)", members.len());
    let (tx, rx) = mpsc::channel();
    for member in members {
        let tx = tx.clone();
        let spawned = std::thread::Builder::new()
            .name("zkha-conf".into())
            .spawn(move || {
                for answer in ask_member(&member) {
                    let _ = tx.send(answer);
                }
            });
        if let Err(e) = spawned {
            log::debug!(target: "zkha", "{label}: cannot ask the members' settings: {e}");
        }
    }
    drop(tx);
    let mut refused = Vec::new();
    let mut silent = Vec::new();
    for (member, answer) in rx {
        match answer {
            Ok(Answer::Conf(conf)) => {
                for (level, line) in judge(&member, requested, &conf) {
                    log::log!(target: "zkha", level, "{label}: {line}");
                }
            }
            Ok(Answer::Refused) => refused.push(member),
            Ok(Answer::Other(first)) => silent.push(format!("{member} (answered {first:?})")),
            Err(e) => silent.push(format!("{member} ({})", io_reason(&e))),
        }
    }
    if !refused.is_empty() {
        log::info!(target: "zkha", "{label}: the session timeout was not checked against the settings of {}: the conf four-letter word is not in its 4lw.commands.whitelist (to allow it, add conf to that line of zoo.cfg, e.g. 4lw.commands.whitelist=conf,srvr,ruok)", refused.join(", "));
    }
    if !silent.is_empty() {
        log::info!(target: "zkha", "{label}: the session timeout was not checked against the settings of {}: no answer to the conf four-letter word", silent.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Level::{Info, Warn};

    const QUORUM: &str =
        "clientPort=2181\nsecureClientPort=-1\ndataDir=/var/lib/zookeeper/version-2\n\
        tickTime=2000\nmaxClientCnxns=60\nminSessionTimeout=4000\nmaxSessionTimeout=40000\n\
        clientPortListenBacklog=-1\nserverId=1\ninitLimit=10\nsyncLimit=5\nelectionAlg=3\n\
        electionPort=3888\nquorumPort=2888\npeerType=0\nmembership: \n\
        server.1=10.0.0.1:2888:3888:participant\nserver.2=10.0.0.2:2888:3888:participant\n\
        version=0\n";

    const STANDALONE: &str = "clientPort=38657\nsecureClientPort=-1\ndataDir=/tmp/d/version-2\n\
        tickTime=200\nmaxClientCnxns=0\nminSessionTimeout=400\nmaxSessionTimeout=60000\n\
        clientPortListenBacklog=-1\nserverId=0\n";

    fn quorum(tick_ms: u64, sync: u64, min: u64, max: u64) -> Conf {
        Conf {
            tick_ms,
            min_session_ms: min,
            max_session_ms: max,
            init_limit: Some(10),
            sync_limit: Some(sync),
            observer: false,
        }
    }

    fn levels(lines: &[(log::Level, String)]) -> Vec<log::Level> {
        lines.iter().map(|(l, _)| *l).collect()
    }

    #[test]
    fn parses_a_quorum_members_and_a_standalone_servers_conf() {
        assert_eq!(
            parse_answer(QUORUM),
            Answer::Conf(Conf {
                tick_ms: 2000,
                min_session_ms: 4000,
                max_session_ms: 40000,
                init_limit: Some(10),
                sync_limit: Some(5),
                observer: false,
            })
        );
        assert_eq!(
            parse_answer(STANDALONE),
            Answer::Conf(Conf {
                tick_ms: 200,
                min_session_ms: 400,
                max_session_ms: 60000,
                init_limit: None,
                sync_limit: None,
                observer: false,
            })
        );
        let observer = QUORUM.replace("peerType=0", "peerType=1");
        assert!(matches!(parse_answer(&observer), Answer::Conf(c) if c.observer));
        // Session bounds left out or -1: ZooKeeper's defaults.
        let Answer::Conf(c) = parse_answer("tickTime=100\nminSessionTimeout=-1\n") else {
            panic!("not parsed");
        };
        assert_eq!((c.min_session_ms, c.max_session_ms), (200, 2000));
    }

    #[test]
    fn a_refusal_and_other_answers_are_told_apart() {
        assert_eq!(
            parse_answer("conf is not executed because it is not in the whitelist.\n"),
            Answer::Refused
        );
        assert_eq!(
            parse_answer("This ZooKeeper instance is not currently serving requests\n"),
            Answer::Other("This ZooKeeper instance is not currently serving requests".into())
        );
        assert_eq!(parse_answer(""), Answer::Other("nothing".into()));
    }

    #[test]
    fn members_of_a_connect_string() {
        assert_eq!(
            members("zk1:2181,10.0.0.2:2182,[::1]:2183/chroot/x"),
            ["zk1:2181", "10.0.0.2:2182", "[::1]:2183"]
        );
        assert_eq!(members("127.0.0.1:2181"), ["127.0.0.1:2181"]);
    }

    #[test]
    fn granted_is_the_request_clamped_to_the_servers_bounds() {
        let c = quorum(2000, 5, 4000, 40000);
        assert_eq!(granted(5000, &c), 5000);
        assert_eq!(granted(1000, &c), 4000);
        assert_eq!(granted(60000, &c), 40000);
    }

    #[test]
    fn sync_limit_must_be_under_half_the_session_timeout() {
        // ZooKeeper's sample zoo.cfg (tick 2000, syncLimit 5: 10 s) with
        // zkha's default 5000 ms: a deposed leader may outlive T/2.
        let lines = judge("zk1:2181", 5000, &quorum(2000, 5, 4000, 40000));
        assert_eq!(levels(&lines), [Warn], "{lines:?}");
        let text = &lines[0].1;
        assert!(
            text.starts_with(
                "zk1:2181: syncLimit × tickTime = 5 × 2000 = 10000 ms is not under T/2 = 2500 ms"
            ),
            "{text}"
        );
        // syncLimit 1 (2000 ms) would fit, or T above 2 × 10000 ms.
        assert!(
            text.ends_with(
                "lower syncLimit to 1 or less in zoo.cfg, or raise --session-timeout to above \
                 20000 ms (2 × syncLimit × tickTime)"
            ),
            "{text}"
        );
        assert!(!text.contains("maxSessionTimeout"), "{text}");
        // tick 200, syncLimit 10 (2000 ms), T 2000 ms: syncLimit 4 would do.
        let lines = judge("m", 2000, &quorum(200, 10, 400, 4000));
        assert_eq!(levels(&lines), [Warn]);
        assert!(lines[0].1.contains("lower syncLimit to 4 or less in zoo.cfg, or raise --session-timeout to above 4000 ms"), "{:?}", lines[0].1);
        assert!(
            lines[0]
                .1
                .contains("(and this server's maxSessionTimeout, 4000 ms, with it)"),
            "{:?}",
            lines[0].1
        );
        // Equal is not under.
        assert_eq!(
            levels(&judge("m", 2000, &quorum(200, 5, 400, 60000))),
            [Warn]
        );
        // Just under fits: one INFO line with the numbers.
        let lines = judge("zk1:2181", 2001, &quorum(200, 5, 400, 60000));
        assert_eq!(levels(&lines), [Info], "{lines:?}");
        assert_eq!(
            lines[0].1,
            "zk1:2181: tickTime 200 ms, initLimit 10, syncLimit 5, sessions 400..60000 ms: the \
             session timeout T = 2001 ms fits the lease's assumptions (T ≥ 2 × tickTime; \
             syncLimit × tickTime = 1000 ms < T/2 = 1000.5 ms; a new leader may take up to \
             initLimit × tickTime = 2000 ms to sync its followers)"
        );
    }

    #[test]
    fn the_granted_timeout_is_the_one_judged() {
        // Asked 5000, granted 4000 (max): 4000/2 = 2000 > 1000 still fits
        // the syncLimit rule, but the clamp is said.
        let lines = judge("m", 5000, &quorum(200, 5, 400, 4000));
        assert_eq!(levels(&lines), [Warn], "{lines:?}");
        assert!(
            lines[0].1.contains("it grants 4000 ms instead"),
            "{}",
            lines[0].1
        );
        // Asked 5000, granted 2000: now the syncLimit rule fails too.
        let lines = judge("m", 5000, &quorum(200, 5, 400, 2000));
        assert_eq!(levels(&lines), [Warn, Warn], "{lines:?}");
        assert!(
            lines[1]
                .1
                .contains("T/2 = 1000 ms (session timeout T = 2000 ms)"),
            "{}",
            lines[1].1
        );
    }

    #[test]
    fn a_session_under_two_ticks_is_warned_about() {
        // A server whose minSessionTimeout was set below 2 ticks.
        let lines = judge("m", 300, &quorum(200, 1, 100, 4000));
        assert_eq!(levels(&lines), [Warn, Warn], "{lines:?}");
        assert!(
            lines[0]
                .1
                .contains("T = 300 ms is under 2 × tickTime (2 × 200 = 400 ms)"),
            "{}",
            lines[0].1
        );
        assert!(
            lines[0]
                .1
                .contains("raise --session-timeout to 400 ms or more"),
            "{}",
            lines[0].1
        );
    }

    #[test]
    fn a_standalone_server_has_no_sync_limit_to_check() {
        let Answer::Conf(c) = parse_answer(STANDALONE) else {
            panic!("not parsed");
        };
        let lines = judge("127.0.0.1:38657", 2000, &c);
        assert_eq!(levels(&lines), [Info], "{lines:?}");
        assert_eq!(
            lines[0].1,
            "127.0.0.1:38657: a standalone server (tickTime 200 ms, sessions 400..60000 ms, \
             T = 2000 ms): no syncLimit applies, there is no leader to be deposed"
        );
        // Its other checks still apply.
        assert_eq!(levels(&judge("m", 100_000, &c)), [Warn, Info]);
    }

    #[test]
    fn io_errors_read_as_the_logs_reasons() {
        let refused = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(io_reason(&refused), "connection refused");
        let timed_out = std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time");
        assert_eq!(io_reason(&timed_out), "no answer in time");
    }

    #[test]
    fn a_member_is_asked_over_tcp_and_read_to_the_end() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut word = [0u8; 4];
            s.read_exact(&mut word).unwrap();
            assert_eq!(&word, b"conf");
            s.write_all(STANDALONE.as_bytes()).unwrap();
        });
        let answers = ask_member(&addr.to_string());
        server.join().unwrap();
        assert_eq!(answers.len(), 1);
        assert!(matches!(&answers[0].1, Ok(Answer::Conf(c)) if c.tick_ms == 200));
        // A member that accepts but never answers is given up on in time.
        let mute = TcpListener::bind("127.0.0.1:0").unwrap();
        let started = Instant::now();
        let answers = ask_member(&mute.local_addr().unwrap().to_string());
        let e = answers[0].1.as_ref().unwrap_err();
        assert_eq!(io_reason(e), "no complete answer within 2 s");
        assert!(started.elapsed() < ANSWER + Duration::from_secs(1));
    }
}
