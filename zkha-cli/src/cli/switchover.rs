//! `zkha switchover` and `zkha resign`: a planned handover without signals,
//! through the election's control node (`P.zkha/control`, see
//! `zkha::elector::registry`).
//!
//! Both read the master node and the candidates' registry, refuse (exit
//! [`exit::REFUSED`], nothing written) what the control node cannot make
//! safe: a master that is not a registered safe-profile candidate (a seed
//! or C++ process obeys no control node and polls: it can win any race),
//! an unfit target, another operation in force. Then they write the
//! operation with a version check against what they read (two operators
//! cannot race: the second one's write fails and it looks again), follow
//! the master node until the handover is done, and, should it not be done
//! within `--timeout`, reset the control node (only if it still holds
//! their operation) so that the normal election resumes.

use super::common::{exit, now_ms, utc, CredentialArgs, ObserveArgs};
use super::signals;
use clap::Args;
use std::time::{Duration, Instant};
use zkha::elector::registry::{self, CandidateEntry, ControlOp};
use zkha::elector::{read_master, MasterInfo};
use zkha::{ErrorCode, Stat, ZooKeeper};

/// `zkha switchover` arguments.
#[derive(Debug, Args)]
pub struct SwitchoverArgs {
    #[command(flatten)]
    pub election: ObserveArgs,
    #[command(flatten)]
    pub credentials: CredentialArgs,
    /// The candidate to hand over to: its name in the registry (`zkha run
    /// --name`; `zkha status --explain` lists them), or `any`: the ready
    /// standby with the highest priority (ties: the first name).
    #[arg(long, value_name = "NAME|any")]
    pub to: String,
    /// How long the handover may take, in ms: the target must be master by
    /// then, or the control node is reset (the normal election resumes)
    /// and zkha exits 7. Default: the master's stop timeout (from its
    /// registry entry) + 2 x the session timeout + 10000.
    #[arg(long, value_name = "MS")]
    pub timeout: Option<u64>,
}

/// `zkha resign` arguments.
#[derive(Debug, Args)]
pub struct ResignArgs {
    #[command(flatten)]
    pub election: ObserveArgs,
    #[command(flatten)]
    pub credentials: CredentialArgs,
    /// How long the handover may take, in ms: a master (another, or the
    /// same one again) must hold the node under a new token by then, or
    /// the control node is reset and zkha exits 7. Default: the master's
    /// stop timeout (from its registry entry) + 2 x the session timeout +
    /// 10000.
    #[arg(long, value_name = "MS")]
    pub timeout: Option<u64>,
}

/// How often the handover is looked at.
pub(super) const LOOK_EVERY: Duration = Duration::from_millis(50);

/// How much longer than `--timeout` the candidates hold a switchover by
/// themselves: the command's reset ends it, at its timeout; the candidates'
/// own count (from when each saw it) ends it only should the command die.
pub const HOLD_MARGIN: Duration = Duration::from_secs(2);

/// How many times a write that lost a race is tried again, each time
/// after a fresh look.
pub(super) const WRITE_TRIES: u32 = 5;

/// Whether an operation is still in force, as far as this host can tell:
/// a switchover for its timeout from when it was written (by the server's
/// clock; each candidate counts from when it saw it), a resign while the
/// master it names still holds the node.
pub fn in_force(op: &ControlOp, stat: &Stat, master_token: Option<i64>) -> bool {
    match op {
        ControlOp::None => false,
        ControlOp::Switchover { timeout, .. } => {
            stat.mtime.saturating_add(timeout.as_millis() as i64) > now_ms()
        }
        ControlOp::Resign { token, .. } => master_token == Some(*token),
        // Each candidate counts a pause (and a resume the master has not
        // acknowledged) from when it saw it: at least this long.
        ControlOp::Pause { length, .. } | ControlOp::Resume { length, .. } => {
            stat.mtime.saturating_add(length.as_millis() as i64) > now_ms()
        }
    }
}

/// One line: the operation, who asked, when.
pub fn describe_op(op: &ControlOp, stat: &Stat) -> String {
    let age = (now_ms() - stat.mtime) as f64 / 1000.0;
    match op {
        ControlOp::None => "none".into(),
        ControlOp::Switchover { to, timeout, by } => format!(
            "switchover to {to:?} (timeout {} ms, asked by {by} at {}, {age:.1} s ago)",
            timeout.as_millis(),
            utc(stat.mtime)
        ),
        ControlOp::Resign { token, by } => format!(
            "resign of the master with token {token} ({token:#x}) (asked by {by} at {}, {age:.1} s ago)",
            utc(stat.mtime)
        ),
        ControlOp::Pause { length, by, acked } => format!(
            "pause for {} s ({}; asked by {by}, last written at {}, {age:.1} s ago)",
            length.as_secs_f64(),
            match acked {
                Some(t) => format!("acknowledged by the master with token {t} ({t:#x})"),
                None => "not acknowledged by a master yet".into(),
            },
            utc(stat.mtime)
        ),
        ControlOp::Resume { length, by, acked } => format!(
            "resume of a {} s pause, waiting for the master with token {acked} ({acked:#x}) to acknowledge it (asked by {by} at {}, {age:.1} s ago)",
            length.as_secs_f64(),
            utc(stat.mtime)
        ),
    }
}

/// The registered candidate holding the master node (its session), if any.
pub fn master_entry<'a>(
    candidates: &'a [CandidateEntry],
    master: &MasterInfo,
) -> Option<&'a CandidateEntry> {
    candidates.iter().find(|c| c.session == master.session)
}

/// The sentence every refusal about an unregistered master says.
pub const NOT_REGISTERED: &str = "the master is not a registered zkha safe-profile candidate (seed profile or a C++ process of the classic design?)";

/// What one look at the election found.
pub(super) struct Look {
    pub(super) master: Option<MasterInfo>,
    pub(super) candidates: Vec<CandidateEntry>,
    pub(super) control: ControlOp,
    pub(super) control_stat: Stat,
}

/// The control node (and its Stat) and the master node, as followed.
type Followed = (Option<(ControlOp, Stat)>, Option<MasterInfo>);

/// A refusal or a failure with its exit code; the message goes to stderr.
pub(super) struct Stop(pub(super) u8, pub(super) String);

pub(super) type Outcome<T> = Result<T, Stop>;

/// The session and the election it acts on.
pub(super) struct Election<'a> {
    pub(super) zk: ZooKeeper,
    pub(super) args: &'a ObserveArgs,
    pub(super) credentials: &'a CredentialArgs,
}

impl Election<'_> {
    pub(super) fn path(&self) -> &str {
        &self.args.path
    }

    /// A failed ZooKeeper call on `node`: NoAuth says which credentials
    /// are missing.
    pub(super) fn failed(&self, what: &str, node: &str, e: zkha::Error) -> Stop {
        if e.code() == Some(ErrorCode::NoAuth) {
            return Stop(
                exit::ERROR,
                format!(
                    "not authorized to {what} {node}: the election's nodes (its master node and {}) have the election's ACL: give this command the election's credentials (--digest, --digest-file or ZKHA_DIGEST, as the candidates have them)",
                    registry::root(self.path())
                ),
            );
        }
        Stop(exit::ERROR, format!("cannot {what} {node}: {e}"))
    }

    pub(super) fn look(&self) -> Outcome<Look> {
        let path = self.path();
        let master = read_master(&self.zk, path, self.args.sequence)
            .map_err(|e| self.failed("read", path, e))?;
        let candidates = registry::read_candidates(&self.zk, path)
            .map_err(|e| self.failed("read", &registry::candidates_path(path), e))?;
        let control = registry::read_control(&self.zk, path)
            .map_err(|e| self.failed("read", &registry::control_path(path), e))?;
        let (control, control_stat) = match control {
            Some(c) => c,
            None => {
                // No registry at all: only an unregistered master (or none).
                (ControlOp::None, Stat::default())
            }
        };
        Ok(Look {
            master,
            candidates,
            control,
            control_stat,
        })
    }

    /// The control node and the master node, in that order: a claim
    /// resets the control node and creates the master node in one
    /// transaction, so a reset seen first means the node was there.
    pub(super) fn follow(&self) -> zkha::Result<Followed> {
        let control = registry::read_control(&self.zk, self.path())?;
        let master = read_master(&self.zk, self.path(), self.args.sequence)?;
        Ok((control, master))
    }

    /// One candidate's entry, by name (`None`: not registered).
    fn entry(&self, name: &str) -> zkha::Result<Option<CandidateEntry>> {
        let node = format!("{}/{name}", registry::candidates_path(self.path()));
        match self.zk.get(&node, false) {
            Ok((data, stat)) => Ok(Some(CandidateEntry::decode(
                name,
                &data,
                stat.ephemeral_owner,
            ))),
            Err(e) if e.code() == Some(ErrorCode::NoNode) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `op` at `version`; the new version, or `None` when the node
    /// changed since it was read (another operator, a claim).
    pub(super) fn write(&self, op: &ControlOp, version: i32) -> Outcome<Option<i32>> {
        let node = registry::control_path(self.path());
        match self.zk.set2(&node, &op.encode(), version) {
            Ok(stat) => Ok(Some(stat.version)),
            Err(e) if e.code() == Some(ErrorCode::BadVersion) => Ok(None),
            Err(e) if e.code() == Some(ErrorCode::NoNode) => Err(Stop(
                exit::REFUSED,
                format!(
                    "{node} does not exist: no zkha safe-profile candidate has registered on {}",
                    self.path()
                ),
            )),
            // The answer was lost (a server crashed, the link broke): the
            // write may or may not have been applied. Read it back.
            Err(e)
                if matches!(
                    e.code(),
                    Some(ErrorCode::ConnectionLoss | ErrorCode::OperationTimeout)
                ) =>
            {
                self.written_or_not(op, version, e)
            }
            Err(e) => Err(self.failed("write", &node, e)),
        }
    }

    /// After a write whose answer was lost: the control node read back
    /// (for up to 20 s, while the client reconnects). It holds `op`: it was
    /// written (its version); still at `version`: it was not, and is
    /// written again; anything else: someone else changed it (`None`).
    fn written_or_not(
        &self,
        op: &ControlOp,
        version: i32,
        lost: zkha::Error,
    ) -> Outcome<Option<i32>> {
        let node = registry::control_path(self.path());
        let want = op.encode();
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(200));
            match self.zk.get(&node, false) {
                Ok((data, stat)) if data == want => return Ok(Some(stat.version)),
                Ok((_, stat)) if stat.version == version => {
                    return match self.zk.set2(&node, &want, version) {
                        Ok(stat) => Ok(Some(stat.version)),
                        Err(e) if e.code() == Some(ErrorCode::BadVersion) => Ok(None),
                        Err(e) => Err(self.failed("write", &node, e)),
                    };
                }
                Ok(_) => return Ok(None),
                Err(e) if e.code() == Some(ErrorCode::NoNode) => return Ok(None),
                Err(_) => {}
            }
        }
        Err(self.failed(
            "write (its answer was lost, and it could not be read back)",
            &node,
            lost,
        ))
    }

    /// Resets the control node if it still holds our operation (`version`).
    fn reset(&self, version: i32) -> Reset {
        let node = registry::control_path(self.path());
        match self.zk.set(&node, b"", version) {
            Ok(()) => Reset::Done(format!("{node} was reset: the normal election resumes")),
            Err(e) if matches!(e.code(), Some(ErrorCode::BadVersion | ErrorCode::NoNode)) => {
                Reset::Changed(format!(
                    "{node} had changed meanwhile (a claim reset it, or another operator): left as it is"
                ))
            }
            Err(e) => Reset::Done(format!(
                "{node} could NOT be reset ({e}): the candidates ignore the operation once its timeout has passed"
            )),
        }
    }

    /// After a lost session: a new one (the waits go on).
    pub(super) fn reconnect(&mut self) {
        if let Ok(zk) = self.credentials.connect(self.args) {
            self.zk = zk;
        }
    }

    /// The negotiated session timeout of this command's own session, ms:
    /// the candidates' (requested 5000, `zkha run`'s default) as far as
    /// this command can tell.
    pub(super) fn session_timeout_ms(&self) -> u64 {
        self.zk
            .recv_timeout()
            .ok()
            .and_then(|t| u64::try_from(t).ok())
            .filter(|t| *t > 0)
            .unwrap_or(5000)
    }
}

/// What a reset did (its sentence).
enum Reset {
    /// Reset (or tried: the sentence says).
    Done(String),
    /// Not ours any more: a claim or another operator changed it.
    Changed(String),
}

impl Reset {
    fn text(self) -> String {
        match self {
            Reset::Done(s) | Reset::Changed(s) => s,
        }
    }
}

/// Who asked: `<hostname> pid <pid>`.
pub(super) fn by() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let host = if rc == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "unknown-host".into()
    };
    format!("{host} pid {}", std::process::id())
}

/// A name for the holder: its registry name, or its data.
pub(super) fn holder_name(candidates: &[CandidateEntry], m: &MasterInfo) -> String {
    match master_entry(candidates, m) {
        Some(c) => c.name.clone(),
        None => format!(
            "{:?} (session {:#x}, not a registered zkha safe-profile candidate)",
            m.data_text(),
            m.session
        ),
    }
}

/// The checks both commands make: no other operation in force, a master,
/// registered, of the safe profile. The master's entry.
fn check_master(look: &Look, path: &str) -> Outcome<(MasterInfo, CandidateEntry)> {
    // First: an operation in force explains the rest (no master: the one
    // asked is handing over).
    let token = look.master.as_ref().map(|m| m.token);
    if in_force(&look.control, &look.control_stat, token) {
        return Err(Stop(
            exit::REFUSED,
            format!(
                "refused: another operation is in force on {}: {}; wait for it to end (or for its timeout)",
                registry::control_path(path),
                describe_op(&look.control, &look.control_stat)
            ),
        ));
    }
    let Some(master) = look.master.clone() else {
        return Err(Stop(
            exit::NO_MASTER,
            format!(
                "nobody is master of {path}: nobody to ask (the election chooses a master itself)"
            ),
        ));
    };
    let entry = match master_entry(&look.candidates, &master) {
        Some(e) if e.profile == "safe" => e.clone(),
        found => {
            let what = match found {
                Some(e) => format!("registered as {:?} with profile {:?}", e.name, e.profile),
                None => "no registry entry for its session".into(),
            };
            return Err(Stop(
                exit::REFUSED,
                format!(
                    "refused: {NOT_REGISTERED}: it holds {path} with data {:?}, session {:#x} ({what}). It does not obey the control node, and a candidate that is not a zkha safe-profile candidate (a seed-profile or C++ process) polls and can win any race: hand over by its own means (stop it)",
                    master.data_text(),
                    master.session
                ),
            ));
        }
    };
    Ok((master, entry))
}

/// `--to`: the target's entry, checked.
fn choose_target(
    look: &Look,
    master: &MasterInfo,
    to: &str,
    path: &str,
) -> Outcome<CandidateEntry> {
    let refuse = |why: String| Err(Stop(exit::REFUSED, format!("refused: {why}")));
    if to == "any" {
        let best = look
            .candidates
            .iter()
            .filter(|c| {
                c.session != master.session && c.ready && c.priority > 0 && c.profile == "safe"
            })
            .max_by(|a, b| a.priority.cmp(&b.priority).then(b.name.cmp(&a.name)));
        return match best {
            Some(c) => Ok(c.clone()),
            None => {
                let others: Vec<String> = look
                    .candidates
                    .iter()
                    .filter(|c| c.session != master.session)
                    .map(|c| format!("{} ({})", c.name, unfit(c).unwrap_or("fit")))
                    .collect();
                refuse(format!(
                    "--to any: no ready standby with a priority above 0 on {path} (the other candidates: {})",
                    if others.is_empty() { "none".to_owned() } else { others.join(", ") }
                ))
            }
        };
    }
    let Some(target) = look.candidates.iter().find(|c| c.name == to) else {
        let names: Vec<&str> = look.candidates.iter().map(|c| c.name.as_str()).collect();
        return refuse(format!(
            "no candidate named {to:?} is registered on {path} (registered: {})",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        ));
    };
    if target.session == master.session {
        return refuse(format!("{to:?} is already master of {path}"));
    }
    if let Some(why) = unfit(target) {
        return refuse(format!("{to:?} cannot become master: {why}"));
    }
    Ok(target.clone())
}

/// Why a standby cannot be a target, if it cannot.
fn unfit(c: &CandidateEntry) -> Option<&'static str> {
    if c.priority == 0 {
        Some("it has priority 0 (never master)")
    } else if !c.ready {
        Some("it is not ready (its readiness check fails: --ready-cmd)")
    } else if c.profile != "safe" {
        Some("it is not a safe-profile candidate")
    } else {
        None
    }
}

/// The default timeout, ms: the master's stop timeout + 2 x the session
/// timeout + 10 s.
fn default_timeout(master: &CandidateEntry, session_ms: u64) -> u64 {
    master
        .stop_timeout_ms
        .saturating_add(session_ms.saturating_mul(2))
        .saturating_add(10_000)
}

/// `--timeout`, checked (the same range as every timeout flag).
pub(super) fn check_timeout(t: Option<u64>) -> Result<(), zkha::Error> {
    match t {
        Some(ms) if zkha::validate::timeout_ms(ms).is_none() => Err(zkha::Error::InvalidArgument {
            argument: zkha::error::Argument::Timeout,
            reason: format!(
                "--timeout {ms}: must be 1 to {} (ms)",
                zkha::validate::MAX_TIMEOUT_MS
            ),
        }),
        _ => Ok(()),
    }
}

pub(super) fn ms_since(t: Instant) -> u128 {
    t.elapsed().as_millis()
}

/// Prints a stop's message and gives its code.
pub(super) fn report(stop: Stop) -> u8 {
    super::stderr::line(&format!("zkha: {}", stop.1));
    stop.0
}

/// `zkha switchover`.
pub fn switchover(args: SwitchoverArgs) -> Result<u8, Box<dyn std::error::Error>> {
    if args.to != "any" {
        registry::validate_name(&args.to)?;
    }
    check_timeout(args.timeout)?;
    let zk = args.credentials.connect(&args.election)?;
    let mut election = Election {
        zk,
        args: &args.election,
        credentials: &args.credentials,
    };
    signals::install(&[libc::SIGINT, libc::SIGTERM]);
    Ok(match run_switchover(&mut election, &args) {
        Ok(code) => code,
        Err(stop) => report(stop),
    })
}

fn run_switchover(election: &mut Election, args: &SwitchoverArgs) -> Outcome<u8> {
    let path = election.path().to_owned();
    let mut tries = 0;
    let (master, from, target, timeout, ours) = loop {
        let look = election.look()?;
        let (master, from) = check_master(&look, &path)?;
        let target = choose_target(&look, &master, &args.to, &path)?;
        let timeout = args
            .timeout
            .unwrap_or_else(|| default_timeout(&from, election.session_timeout_ms()));
        if look.control != ControlOp::None {
            println!(
                "replacing a stale operation on {}: {}",
                registry::control_path(&path),
                describe_op(&look.control, &look.control_stat)
            );
        }
        let op = ControlOp::Switchover {
            to: target.name.clone(),
            timeout: Duration::from_millis(timeout) + HOLD_MARGIN,
            by: by(),
        };
        match election.write(&op, look.control_stat.version)? {
            Some(v) => break (master, from, target, timeout, v),
            None if tries < WRITE_TRIES => tries += 1,
            None => {
                return Err(Stop(
                    exit::REFUSED,
                    format!(
                        "refused: {} keeps changing (other operators, claims): look again",
                        registry::control_path(&path)
                    ),
                ))
            }
        }
    };
    if args.to == "any" {
        println!(
            "any: {} (priority {}, the ready standby with the highest priority)",
            target.name, target.priority
        );
    }
    println!(
        "asking {} to hand over to {} (timeout {timeout} ms)...",
        from.name, target.name
    );
    let started = Instant::now();
    let deadline = started + Duration::from_millis(timeout);
    let mut released = false;
    let mut said_error = false;
    // Past the deadline, a reset that found the node changed: one more
    // look (the target may have claimed just then).
    let mut late: Option<String> = None;
    loop {
        if let Some(sig) = signals::take() {
            let reset = election.reset(ours).text();
            return Err(Stop(
                128 + sig as u8,
                format!(
                    "interrupted (signal {sig}) during the switchover to {}: {reset}",
                    target.name
                ),
            ));
        }
        let look = election.follow().and_then(|(control, now)| {
            let entry = election.entry(&target.name)?;
            Ok((control, now, entry))
        });
        let (control, now, entry) = match look {
            Ok(l) => {
                said_error = false;
                l
            }
            Err(e) => {
                if !said_error {
                    super::stderr::line(&format!(
                        "zkha: switchover: cannot look at {path} ({e}): trying again"
                    ));
                    said_error = true;
                }
                if e.code() == Some(ErrorCode::SessionExpired) {
                    election.reconnect();
                }
                if Instant::now() >= deadline {
                    let reset = late.take().unwrap_or_else(|| election.reset(ours).text());
                    return Err(Stop(
                        exit::NOT_DONE,
                        format!(
                            "the switchover to {} did not complete within {timeout} ms (ZooKeeper: {e}); {reset}",
                            target.name
                        ),
                    ));
                }
                signals::wait(LOOK_EVERY);
                continue;
            }
        };
        let still_ours = control.as_ref().is_some_and(|(_, s)| s.version == ours);
        let gone = now
            .as_ref()
            .is_none_or(|m| m.session != master.session || m.token != master.token);
        if gone && !released {
            released = true;
            println!(
                "{} released {path} after {} ms",
                from.name,
                ms_since(started)
            );
        }
        if let (Some(m), Some(t)) = (&now, &entry) {
            if m.session == t.session {
                println!(
                    "{} is master (token {} ({:#x})) after {} ms",
                    t.name,
                    m.token,
                    m.token,
                    ms_since(started)
                );
                return Ok(exit::OK);
            }
        }
        let holder = |m: &MasterInfo| {
            holder_name(
                &registry::read_candidates(&election.zk, &path).unwrap_or_default(),
                m,
            )
        };
        if let (Some(m), true, None) = (&now, gone, &late) {
            // Someone else holds the node: a claim (which reset the
            // control node), or a poller that obeys none.
            let reset = if still_ours {
                election.reset(ours).text()
            } else {
                format!("{} was reset by its claim", registry::control_path(&path))
            };
            return Err(Stop(
                exit::NOT_DONE,
                format!(
                    "the switchover to {} failed: {} took the master node of {path} instead (token {}); {reset}",
                    target.name,
                    holder(m),
                    m.token
                ),
            ));
        }
        if !still_ours && late.is_none() {
            let now_op = control
                .map(|(op, stat)| describe_op(&op, &stat))
                .unwrap_or_else(|| "no control node".into());
            return Err(Stop(
                exit::NOT_DONE,
                format!(
                    "the switchover to {} is no longer in force: {} changed (now: {now_op}) and {} is not master",
                    target.name,
                    registry::control_path(&path),
                    target.name
                ),
            ));
        }
        if Instant::now() < deadline {
            signals::wait(LOOK_EVERY);
            continue;
        }
        let reset = match late.take() {
            Some(reset) => reset,
            None => match election.reset(ours) {
                Reset::Done(reset) => reset,
                Reset::Changed(reset) => {
                    late = Some(reset);
                    continue;
                }
            },
        };
        let who = match &now {
            Some(_) if !gone => format!("{} is still master (still handing over?)", from.name),
            Some(m) => format!("master now: {}", holder(m)),
            None => "nobody is master".into(),
        };
        let state = match &entry {
            Some(t) => format!(
                "{} is registered: {}, {}, priority {}, session {:#x}",
                t.name,
                t.role.as_str(),
                if t.ready { "ready" } else { "NOT ready" },
                t.priority,
                t.session
            ),
            None => format!(
                "{} is no longer registered (its session ended: stopped or crashed?)",
                target.name
            ),
        };
        return Err(Stop(
            exit::NOT_DONE,
            format!(
                "the switchover to {} did not complete within {timeout} ms: {who}; {state}; {reset}",
                target.name
            ),
        ));
    }
}

/// `zkha resign`.
pub fn resign(args: ResignArgs) -> Result<u8, Box<dyn std::error::Error>> {
    check_timeout(args.timeout)?;
    let zk = args.credentials.connect(&args.election)?;
    let mut election = Election {
        zk,
        args: &args.election,
        credentials: &args.credentials,
    };
    signals::install(&[libc::SIGINT, libc::SIGTERM]);
    Ok(match run_resign(&mut election, &args) {
        Ok(code) => code,
        Err(stop) => report(stop),
    })
}

fn run_resign(election: &mut Election, args: &ResignArgs) -> Outcome<u8> {
    let path = election.path().to_owned();
    let mut tries = 0;
    let (master, from, timeout, ours) = loop {
        let look = election.look()?;
        let (master, from) = check_master(&look, &path)?;
        let timeout = args
            .timeout
            .unwrap_or_else(|| default_timeout(&from, election.session_timeout_ms()));
        if look.control != ControlOp::None {
            println!(
                "replacing a stale operation on {}: {}",
                registry::control_path(&path),
                describe_op(&look.control, &look.control_stat)
            );
        }
        let op = ControlOp::Resign {
            token: master.token,
            by: by(),
        };
        match election.write(&op, look.control_stat.version)? {
            Some(v) => break (master, from, timeout, v),
            None if tries < WRITE_TRIES => tries += 1,
            None => {
                return Err(Stop(
                    exit::REFUSED,
                    format!(
                        "refused: {} keeps changing (other operators, claims): look again",
                        registry::control_path(&path)
                    ),
                ))
            }
        }
    };
    println!(
        "asking {} (token {}) to resign (timeout {timeout} ms)...",
        from.name, master.token
    );
    let started = Instant::now();
    let deadline = started + Duration::from_millis(timeout);
    let mut released = false;
    let mut said_error = false;
    loop {
        if let Some(sig) = signals::take() {
            let reset = election.reset(ours).text();
            return Err(Stop(
                128 + sig as u8,
                format!(
                    "interrupted (signal {sig}) during the resign of {}: {reset}",
                    from.name
                ),
            ));
        }
        match election.follow() {
            Ok((_, now)) => {
                said_error = false;
                let gone = now
                    .as_ref()
                    .is_none_or(|m| m.session != master.session || m.token != master.token);
                if gone && !released {
                    released = true;
                    println!(
                        "{} released {path} after {} ms",
                        from.name,
                        ms_since(started)
                    );
                }
                if let Some(m) = now.as_ref().filter(|_| gone) {
                    let candidates =
                        registry::read_candidates(&election.zk, &path).unwrap_or_default();
                    let again = if m.session == master.session {
                        " again (no other candidate took over)"
                    } else {
                        ""
                    };
                    println!(
                        "{} is master{again} (token {} ({:#x})) after {} ms",
                        holder_name(&candidates, m),
                        m.token,
                        m.token,
                        ms_since(started)
                    );
                    return Ok(exit::OK);
                }
                if Instant::now() >= deadline {
                    let reset = election.reset(ours).text();
                    let who = if gone {
                        format!("{} released {path}, but nobody took over", from.name)
                    } else {
                        format!("{} is still master (still stopping its work?)", from.name)
                    };
                    return Err(Stop(
                        exit::NOT_DONE,
                        format!(
                            "the resign of {} did not complete within {timeout} ms: {who}; {reset}",
                            from.name
                        ),
                    ));
                }
            }
            Err(e) => {
                if !said_error {
                    super::stderr::line(&format!(
                        "zkha: resign: cannot look at {path} ({e}): trying again"
                    ));
                    said_error = true;
                }
                if e.code() == Some(ErrorCode::SessionExpired) {
                    election.reconnect();
                }
                if Instant::now() >= deadline {
                    let reset = election.reset(ours).text();
                    return Err(Stop(
                        exit::NOT_DONE,
                        format!("the resign of {} did not complete within {timeout} ms (ZooKeeper: {e}); {reset}", from.name),
                    ));
                }
            }
        }
        signals::wait(LOOK_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, priority: u32, ready: bool, session: i64) -> CandidateEntry {
        CandidateEntry {
            name: name.into(),
            data: b"x\0".to_vec(),
            priority,
            ready,
            role: registry::Role::Standby,
            yielding: false,
            profile: "safe".into(),
            version: "0".into(),
            since_ms: 0,
            stop_timeout_ms: 0,
            session,
        }
    }

    fn master(session: i64) -> MasterInfo {
        MasterInfo {
            path: "/m".into(),
            data: b"x\0".to_vec(),
            session,
            since_ms: 0,
            token: 7,
            is_me: false,
        }
    }

    fn look(candidates: Vec<CandidateEntry>) -> Look {
        Look {
            master: Some(master(1)),
            candidates,
            control: ControlOp::None,
            control_stat: Stat::default(),
        }
    }

    #[test]
    fn any_is_the_ready_standby_with_the_highest_priority_ties_by_name() {
        let l = look(vec![
            entry("a", 900, true, 1),
            entry("b", 50, true, 2),
            entry("d", 200, true, 4),
            entry("c", 200, true, 3),
            entry("e", 300, false, 5),
            entry("f", 0, true, 6),
        ]);
        let t = choose_target(&l, &master(1), "any", "/m").ok().unwrap();
        assert_eq!(t.name, "c");
        let none = look(vec![entry("a", 900, true, 1), entry("e", 300, false, 5)]);
        let Err(Stop(code, why)) = choose_target(&none, &master(1), "any", "/m") else {
            panic!("nobody fit")
        };
        assert_eq!(code, exit::REFUSED);
        assert!(why.contains("e (it is not ready"), "{why}");
    }

    #[test]
    fn unfit_targets_are_refused_with_their_reason() {
        let l = look(vec![
            entry("a", 100, true, 1),
            entry("z", 0, true, 2),
            entry("u", 10, false, 3),
        ]);
        let why = |to: &str| match choose_target(&l, &master(1), to, "/m") {
            Err(Stop(code, why)) => {
                assert_eq!(code, exit::REFUSED);
                why
            }
            Ok(t) => panic!("{to}: chose {}", t.name),
        };
        assert!(why("nope").contains("no candidate named \"nope\""));
        assert!(why("nope").contains("registered: a, z, u"));
        assert!(why("a").contains("already master"));
        assert!(why("z").contains("priority 0"));
        assert!(why("u").contains("not ready"));
    }

    #[test]
    fn operations_in_force() {
        let mut stat = Stat {
            mtime: now_ms(),
            ..Stat::default()
        };
        let sw = ControlOp::Switchover {
            to: "b".into(),
            timeout: Duration::from_secs(60),
            by: "h pid 1".into(),
        };
        assert!(in_force(&sw, &stat, None));
        stat.mtime -= 61_000;
        assert!(!in_force(&sw, &stat, None));
        let r = ControlOp::Resign {
            token: 7,
            by: "h".into(),
        };
        assert!(in_force(&r, &stat, Some(7)));
        assert!(!in_force(&r, &stat, Some(8)));
        assert!(!in_force(&ControlOp::None, &stat, Some(7)));
        assert!(describe_op(&sw, &stat)
            .starts_with("switchover to \"b\" (timeout 60000 ms, asked by h pid 1 at "));
        assert_eq!(default_timeout(&entry("a", 1, true, 1), 5000), 20_000);
    }
}
