//! `zkha pause` and `zkha resume`: maintenance of the ensemble (a rolling
//! restart, a migration) without a failover, through the election's
//! control node (`P.zkha/control`, see `zkha::elector::registry`).
//!
//! A pause is written with a version check against what was read, then
//! the command waits for the master to acknowledge it: from then on the
//! master keeps its command through a ZooKeeper outage until the pause's
//! length after its acknowledgement, and every other candidate holds back
//! for the length from when it first saw the acknowledged node (later).
//! A pause always ends: by `zkha resume`, or when its time is up.
//!
//! A resume of a pause the master acknowledged asks that master to
//! acknowledge the resume (it gives its pause up, then empties the node):
//! until it does, candidates hold back for the pause's length from when
//! they saw the resume, since a master that never saw the resume keeps
//! its command until its own deadline. A pause nobody acknowledged is
//! emptied at once.

use super::common::{exit, utc, CredentialArgs, ObserveArgs};
use super::signals;
use super::switchover::{
    by, check_timeout, holder_name, master_entry, ms_since, report, Election, Look, Outcome, Stop,
    LOOK_EVERY, NOT_REGISTERED, WRITE_TRIES,
};
use clap::Args;
use std::time::{Duration, Instant};
use zkha::elector::registry::{self, ControlOp, MAX_PAUSE};

/// `zkha pause` arguments.
#[derive(Debug, Args)]
pub struct PauseArgs {
    #[command(flatten)]
    pub election: ObserveArgs,
    #[command(flatten)]
    pub credentials: CredentialArgs,
    /// How long the pause lasts at most: a number with a unit, `ms`, `s`,
    /// `m` or `h` (e.g. `30m`; at most 24h). A pause already in force is
    /// never shortened: the longer of the two is written (to shorten one,
    /// resume, then pause again).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_length)]
    pub length: Duration,
    /// How long to wait for the master to acknowledge, in ms (default: 2 x
    /// the session timeout + 5000). The pause stays written either way.
    #[arg(long, value_name = "MS")]
    pub wait: Option<u64>,
}

/// `zkha resume` arguments.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    pub election: ObserveArgs,
    #[command(flatten)]
    pub credentials: CredentialArgs,
    /// How long to wait for the master to acknowledge the resume, in ms
    /// (default: 2 x the session timeout + 5000). The resume stays written
    /// either way.
    #[arg(long, value_name = "MS")]
    pub wait: Option<u64>,
}

/// `--for`: a number and a unit (`ms`, `s`, `m`, `h`), 1 ms to 24 h.
pub fn parse_length(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: give a number and a unit, e.g. 30s, 10m or 1h"))?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" | "min" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "" => {
            return Err(format!(
                "{text:?}: give a unit (ms, s, m or h), e.g. {n}s or {n}m"
            ))
        }
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m or h)")),
    };
    let length = ms.map(Duration::from_millis).unwrap_or(Duration::MAX);
    if length.is_zero() || length > MAX_PAUSE {
        return Err(format!(
            "{text:?}: a pause lasts 1 ms to {} h",
            MAX_PAUSE.as_secs() / 3600
        ));
    }
    Ok(length)
}

fn default_wait(election: &Election) -> u64 {
    election.session_timeout_ms().saturating_mul(2) + 5000
}

fn connect<'a>(
    election: &'a ObserveArgs,
    credentials: &'a CredentialArgs,
    wait: Option<u64>,
) -> Result<Election<'a>, Box<dyn std::error::Error>> {
    check_timeout(wait)?;
    let zk = credentials.connect(election)?;
    signals::install(&[libc::SIGINT, libc::SIGTERM]);
    Ok(Election {
        zk,
        args: election,
        credentials,
    })
}

/// `zkha pause`.
pub fn pause(args: PauseArgs) -> Result<u8, Box<dyn std::error::Error>> {
    let mut election = connect(&args.election, &args.credentials, args.wait)?;
    Ok(match run_pause(&mut election, &args) {
        Ok(code) => code,
        Err(stop) => report(stop),
    })
}

/// `zkha resume`.
pub fn resume(args: ResumeArgs) -> Result<u8, Box<dyn std::error::Error>> {
    let mut election = connect(&args.election, &args.credentials, args.wait)?;
    Ok(match run_resume(&mut election, &args) {
        Ok(code) => code,
        Err(stop) => report(stop),
    })
}

/// A pause may be written over nothing, a finished operation, or another
/// pause (never shortened); not over a switchover or resign in force. The
/// master, if any, must be a registered safe-profile candidate.
fn check_pause(look: &Look, path: &str) -> Outcome<()> {
    let token = look.master.as_ref().map(|m| m.token);
    let busy = matches!(
        look.control,
        ControlOp::Switchover { .. } | ControlOp::Resign { .. }
    ) && super::switchover::in_force(&look.control, &look.control_stat, token);
    if busy {
        return Err(Stop(
            exit::REFUSED,
            format!(
                "refused: another operation is in force on {}: {}; wait for it to end (or for its timeout)",
                registry::control_path(path),
                super::switchover::describe_op(&look.control, &look.control_stat)
            ),
        ));
    }
    if let Some(m) = &look.master {
        match master_entry(&look.candidates, m) {
            Some(e) if e.profile == "safe" => {}
            _ => {
                return Err(Stop(
                    exit::REFUSED,
                    format!(
                        "refused: {NOT_REGISTERED}: it holds {path} with data {:?}, session {:#x}. It obeys no pause: cut off from ZooKeeper it keeps or drops its work by its own rules, and its standbys take over by theirs",
                        m.data_text(),
                        m.session
                    ),
                ))
            }
        }
    }
    Ok(())
}

fn run_pause(election: &mut Election, args: &PauseArgs) -> Outcome<u8> {
    let path = election.path().to_owned();
    let control = registry::control_path(&path);
    let mut tries = 0;
    let (look, length) = loop {
        let look = election.look()?;
        check_pause(&look, &path)?;
        // Never shorter than a pause (or resume) in force: candidates that
        // count the old one must not be let go before its master's end.
        let length = match &look.control {
            ControlOp::Pause { length: old, .. } | ControlOp::Resume { length: old, .. }
                if *old > args.length =>
            {
                println!(
                    "a pause of {} is in force on {control}: the new one lasts as long (a pause is never shortened: resume, then pause again)",
                    human(*old)
                );
                *old
            }
            _ => args.length,
        };
        let op = ControlOp::Pause {
            length,
            by: by(),
            acked: None,
        };
        match election.write(&op, look.control_stat.version)? {
            Some(_) => break (look, length),
            None if tries < WRITE_TRIES => tries += 1,
            None => return Err(keeps_changing(&control)),
        }
    };
    let until = utc(super::common::now_ms() + length.as_millis() as i64);
    let Some(master) = look.master else {
        println!(
            "paused {path} for {} (until about {until} at the latest): nobody is master, and no candidate becomes master until then (or zkha resume)",
            human(length)
        );
        return Ok(exit::OK);
    };
    let name = holder_name(&look.candidates, &master);
    println!(
        "paused {path} for {}: waiting for the master, {name}, to acknowledge...",
        human(length)
    );
    let wait = args.wait.unwrap_or_else(|| default_wait(election));
    let started = Instant::now();
    let deadline = started + Duration::from_millis(wait);
    loop {
        if let Some(sig) = signals::take() {
            return Err(Stop(
                128 + sig as u8,
                format!(
                    "interrupted (signal {sig}); the pause stays written (zkha resume ends it)"
                ),
            ));
        }
        match election.follow() {
            Ok((Some((ControlOp::Pause { acked: Some(t), .. }, _)), _)) if t == master.token => {
                println!(
                    "{name} acknowledged after {} ms: it keeps its command through a ZooKeeper outage until about {until}, and no candidate takes over before then; zkha resume ends the pause",
                    ms_since(started)
                );
                return Ok(exit::OK);
            }
            Ok((Some((ControlOp::Pause { .. }, _)), now)) => {
                if now.as_ref().is_none_or(|m| m.token != master.token) {
                    println!(
                        "{name} is no longer master: no candidate becomes master until about {until} (or zkha resume)"
                    );
                    return Ok(exit::OK);
                }
            }
            Ok((other, _)) => {
                let what = other.map_or("gone".to_owned(), |(op, stat)| {
                    super::switchover::describe_op(&op, &stat)
                });
                return Err(Stop(
                    exit::NOT_DONE,
                    format!("the pause was replaced before the master acknowledged it: {control} now holds {what}"),
                ));
            }
            Err(e) => {
                if e.code() == Some(zkha::ErrorCode::SessionExpired) {
                    election.reconnect();
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(Stop(
                exit::NOT_DONE,
                format!(
                    "{name} did not acknowledge the pause within {wait} ms (cut off from ZooKeeper? an older zkha?): no candidate takes over until about {until}, but the master keeps its command only as long as its lease; zkha resume ends the pause"
                ),
            ));
        }
        signals::wait(LOOK_EVERY);
    }
}

fn run_resume(election: &mut Election, args: &ResumeArgs) -> Outcome<u8> {
    let path = election.path().to_owned();
    let control = registry::control_path(&path);
    let mut tries = 0;
    let (acked, length) = loop {
        let look = election.look()?;
        let version = look.control_stat.version;
        let (op, acked, length) = match look.control {
            // Nobody acknowledged it: nobody holds mastership by it.
            ControlOp::Pause {
                acked: None,
                length,
                ..
            } => (ControlOp::None, None, length),
            ControlOp::Pause {
                acked: Some(t),
                length,
                ..
            } => (
                ControlOp::Resume {
                    length,
                    by: by(),
                    acked: t,
                },
                Some(t),
                length,
            ),
            // Written already: wait for its acknowledgement.
            ControlOp::Resume { acked, length, .. } => break (Some(acked), length),
            _ => {
                println!("{path} is not paused");
                return Ok(exit::OK);
            }
        };
        match election.write(&op, version)? {
            Some(_) if acked.is_none() => {
                println!("resumed {path}: no master had acknowledged the pause; the normal election is back");
                return Ok(exit::OK);
            }
            Some(_) => break (acked, length),
            None if tries < WRITE_TRIES => tries += 1,
            None => return Err(keeps_changing(&control)),
        }
    };
    let acked = acked.unwrap_or_default();
    println!("resuming {path}: waiting for the paused master (token {acked} ({acked:#x})) to acknowledge...");
    let wait = args.wait.unwrap_or_else(|| default_wait(election));
    let started = Instant::now();
    let deadline = started + Duration::from_millis(wait);
    loop {
        if signals::take().is_some() {
            return Err(Stop(exit::NOT_DONE, "interrupted; the resume stays written: candidates take over once the master acknowledges it".into()));
        }
        match election.follow() {
            Ok((Some((ControlOp::Resume { .. }, _)), _)) => {}
            Ok(_) => {
                println!(
                    "the master acknowledged after {} ms: the normal election is back",
                    ms_since(started)
                );
                return Ok(exit::OK);
            }
            Err(e) => {
                if e.code() == Some(zkha::ErrorCode::SessionExpired) {
                    election.reconnect();
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(Stop(
                exit::NOT_DONE,
                format!(
                    "the paused master (token {acked:#x}) did not acknowledge the resume within {wait} ms (cut off, or gone?): it may keep its command until its pause ends, so candidates hold back for the pause's {} from when they saw the resume, then take over",
                    human(length)
                ),
            ));
        }
        signals::wait(LOOK_EVERY);
    }
}

fn keeps_changing(control: &str) -> Stop {
    Stop(
        exit::REFUSED,
        format!("refused: {control} keeps changing (other operators, claims): look again"),
    )
}

/// `90 s`, `12 min`, `2 h 30 min`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{} ms", d.as_millis()),
        1..=119 => format!("{s} s"),
        _ if s < 7200 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_need_a_unit_and_a_bound() {
        assert_eq!(parse_length("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_length("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_length("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_length("250ms"), Ok(Duration::from_millis(250)));
        for bad in [
            "30",
            "",
            "s",
            "0s",
            "25h",
            "10x",
            "-5s",
            "99999999999999999999h",
        ] {
            assert!(parse_length(bad).is_err(), "{bad:?}");
        }
        assert!(parse_length("30").unwrap_err().contains("give a unit"));
    }

    #[test]
    fn lengths_read_well() {
        assert_eq!(human(Duration::from_millis(500)), "500 ms");
        assert_eq!(human(Duration::from_secs(90)), "90 s");
        assert_eq!(human(Duration::from_secs(600)), "10 min");
        assert_eq!(human(Duration::from_secs(9000)), "2 h 30 min");
    }
}
