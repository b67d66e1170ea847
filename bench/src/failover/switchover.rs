//! The switchover cell: two `zkha run` candidates (safe profile, named a
//! and b) supervising a trivial command (this binary's stop probe, see
//! [`stop_probe_mode`]); `zkha switchover --to <the standby>` moves
//! mastership back and forth. Each sample runs from when the control node
//! was written (the bench's own watch on it fires: the write committed, and
//! the old master's watch fires at the same moment) to the target's
//! `became master`. The command's own stop (its SIGTERM to its exit, as the
//! command itself saw them) is recorded per sample, so that it can be
//! taken off: the target is the raw-C floor's multiple *plus* the command's
//! stop. Also recorded: the latency from the command's invocation (a
//! process start and a session of its own before it writes).

use super::cell::{pace_spread, PACE_MIN_MS};
use super::peer::{events, Cand};
use crate::{median, wait_until, zkha_bin, Jitter, Options};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use zkha::__private::monotonic_ms;
use zkha::elector::registry::{self, ControlOp, Role};
use zkha::{Acl, CreateMode, EventType, ZooKeeper};

/// Where a switchover's time goes (ms after the control node's write): the
/// old master's command got SIGTERM and exited (its own clock), the old
/// master said `lost master` (after its command stopped, before it let the
/// node go), the target's winning claim was answered (`create`).
pub(super) const SWITCH_STEPS: [&str; 4] =
    ["command_term", "command_exit", "lost_master", "create"];

/// One round of the switchover cell.
pub(super) struct SwitchRound {
    /// Control node written → target's `became master`.
    pub(super) samples: Vec<f64>,
    /// The old command's own stop time (its SIGTERM → its exit), per sample.
    pub(super) stop: Vec<f64>,
    /// `zkha switchover` invoked → target's `became master`.
    pub(super) invoked: Vec<f64>,
    /// Per step of [`SWITCH_STEPS`], per sample.
    pub(super) steps: Vec<Vec<Option<f64>>>,
    /// Switchovers the bench asks for itself, with the same write as
    /// `zkha switchover`, sent after the same idle spell as the floor's
    /// close: its send → the target's `became master`, net of the old
    /// command's own stop. The samples above start once a write is
    /// committed (the server awake), where the floor's first write
    /// follows an idle spell; these start as the floor's do.
    pub(super) cold: Vec<f64>,
}

/// The environment variable that turns this binary into the stop probe.
const PROBE_ENV: &str = "ZKHA_BENCH_STOP_PROBE";

/// The command the candidates supervise, when [`PROBE_ENV`] names a file:
/// waits for SIGTERM (blocked, taken with `sigwait`), then appends
/// `<t_term> <t_exit>` (CLOCK_MONOTONIC ms: the signal taken, just before
/// exiting) to the file and exits 0. `None`: not the probe.
pub fn stop_probe_mode() -> Option<()> {
    let file = std::env::var_os(PROBE_ENV)?;
    // SAFETY: a sigset_t of our own, initialised by sigemptyset before use;
    // blocking SIGTERM for this (single-threaded) process, then waiting
    // for it synchronously, touches no memory but `set` and `sig`.
    let t_term = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let mut sig = 0;
        libc::sigwait(&set, &mut sig);
        monotonic_ms()
    };
    use std::io::Write as _;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
    {
        let t_exit = monotonic_ms();
        let _ = writeln!(f, "{t_term:.3} {t_exit:.3}");
    }
    Some(())
}

/// The (SIGTERM, exit) pairs a probe file holds.
fn probe_lines(file: &Path) -> Vec<(f64, f64)> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace().map(str::parse::<f64>);
            Some((it.next()?.ok()?, it.next()?.ok()?))
        })
        .collect()
}

struct Named {
    cand: Cand,
    name: &'static str,
    probe: PathBuf,
}

fn spawn_run(
    o: &Options,
    hosts: &str,
    path: &str,
    dir: &Path,
    name: &'static str,
) -> Result<Named, Box<dyn std::error::Error>> {
    let trace = dir.join(format!("{name}.trace"));
    let probe = dir.join(format!("{name}.stop"));
    let me = std::env::current_exe()?;
    let mut c = Command::new(zkha_bin());
    c.env("RUST_LOG", "error")
        .env(PROBE_ENV, &probe)
        .args([
            "run",
            "--hosts",
            hosts,
            "--path",
            path,
            "--name",
            name,
            "--session-timeout",
            &o.session_ms.to_string(),
            "--grace",
            "100",
            "--trace",
        ])
        .arg(&trace)
        .arg("--")
        .arg(me);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = zkha_testing::spawn_tied_to_process(c)?;
    Ok(Named {
        cand: Cand { child, trace },
        name,
        probe,
    })
}

/// `name` is a settled standby: registered, ready, not yielding, a
/// standby; and the control node holds no operation.
fn settled_standby(zk: &ZooKeeper, path: &str, name: &str) -> bool {
    let standby = registry::read_candidates(zk, path).is_ok_and(|cs| {
        cs.iter()
            .any(|c| c.name == name && c.ready && !c.yielding && c.role == Role::Standby)
    });
    let calm = matches!(
        registry::read_control(zk, path),
        Ok(Some((ControlOp::None, _)))
    );
    standby && calm
}

/// One switchover from `master` to `standby` that the bench asks for
/// itself: the control node read while the standby settles, then the same
/// idle spell as every paced sample, then the write `zkha switchover`
/// makes (a set at the version read). Its send → the standby's `became
/// master`, net of the old command's own stop (ms).
fn cold_switchover(
    o: &Options,
    zk: &ZooKeeper,
    path: &str,
    master: &Named,
    standby: &Named,
    jitter: &mut Jitter,
) -> Result<f64, Box<dyn std::error::Error>> {
    if !wait_until(Duration::from_secs(30), || {
        settled_standby(zk, path, standby.name)
    }) {
        return Err(format!("switchover: {} never settled as a standby", standby.name).into());
    }
    let Some((_, stat)) = registry::read_control(zk, path)? else {
        return Err("switchover: no control node".into());
    };
    std::thread::sleep(Duration::from_millis(
        PACE_MIN_MS + jitter.next_u64() % pace_spread(o, "switchover"),
    ));
    let op = ControlOp::Switchover {
        to: standby.name.to_owned(),
        timeout: Duration::from_secs(30),
        by: "zkha-bench".into(),
    };
    let t_send = monotonic_ms();
    zk.set(&registry::control_path(path), &op.encode(), stat.version)?;
    let mut won = None;
    if !wait_until(Duration::from_secs(40), || {
        won = became_after(&standby.cand, t_send);
        won.is_some()
    }) {
        return Err(format!(
            "switchover (the bench's write) to {}: no takeover",
            standby.name
        )
        .into());
    }
    let stop = probe_lines(&master.probe)
        .into_iter()
        .find(|(term, _)| *term >= t_send)
        .map_or(0.0, |(term, exit)| exit - term);
    Ok(won.unwrap_or(t_send) - t_send - stop)
}

fn became_after(c: &Cand, t0: f64) -> Option<f64> {
    events(&c.trace)
        .iter()
        .find(|e| e.event == "became_master" && e.t >= t0)
        .map(|e| e.t)
}

pub(super) fn switchover_cell(
    o: &Options,
    hosts: &str,
    zk: &ZooKeeper,
    count: usize,
    round: usize,
) -> Result<SwitchRound, Box<dyn std::error::Error>> {
    let dir = o
        .out_dir
        .join("failover")
        .join(format!("switchover-r{round}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let parent = format!("/bench-fo-{}-switchover-r{round}", std::process::id());
    zk.create(&parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)?;
    let path = format!("{parent}/master");
    let control = registry::control_path(&path);
    let mut master = spawn_run(o, hosts, &path, &dir, "a")?;
    if !wait_until(Duration::from_secs(30), || {
        became_after(&master.cand, 0.0).is_some()
    }) {
        return Err("switchover: a never became master".into());
    }
    let mut standby = spawn_run(o, hosts, &path, &dir, "b")?;
    let mut out = SwitchRound {
        samples: Vec::with_capacity(count),
        stop: Vec::with_capacity(count),
        invoked: Vec::with_capacity(count),
        steps: vec![Vec::new(); SWITCH_STEPS.len()],
        cold: Vec::with_capacity(count),
    };
    let mut jitter = Jitter(0x5851_f42d_4c95_7f2d ^ (round as u64) << 32);
    for i in 0..count {
        if !wait_until(Duration::from_secs(30), || {
            settled_standby(zk, &path, standby.name)
        }) {
            return Err(format!("switchover: {} never settled as a standby", standby.name).into());
        }
        std::thread::sleep(Duration::from_millis(
            PACE_MIN_MS + jitter.next_u64() % pace_spread(o, "switchover"),
        ));
        // The bench's own watch on the control node: t0 is its firing.
        let (fired, written) = mpsc::channel::<f64>();
        zk.wexists(&control, move |e| {
            if e.event_type == EventType::Changed {
                let _ = fired.send(monotonic_ms());
            }
        })?;
        let t_invoke = monotonic_ms();
        let cli = Command::new(zkha_bin())
            .env("RUST_LOG", "error")
            .args([
                "switchover",
                "--hosts",
                hosts,
                "--path",
                &path,
                "--to",
                standby.name,
                "--timeout",
                "30000",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut won = None;
        let ok = wait_until(Duration::from_secs(40), || {
            won = became_after(&standby.cand, t_invoke);
            won.is_some()
        });
        let cli = cli.wait_with_output()?;
        if !ok || !cli.status.success() {
            return Err(format!(
                "switchover {} to {}: {} ({})",
                i + 1,
                standby.name,
                if ok { "done, but" } else { "no takeover" },
                String::from_utf8_lossy(&cli.stderr).trim()
            )
            .into());
        }
        let won = won.unwrap_or(t_invoke);
        let t0 = written
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| "switchover: the bench's watch on the control node never fired")?;
        out.samples.push(won - t0);
        out.invoked.push(won - t_invoke);
        // The old command's stop, as it saw it.
        let stopped = probe_lines(&master.probe)
            .into_iter()
            .find(|(term, _)| *term >= t0);
        out.stop
            .push(stopped.map_or(f64::NAN, |(term, exit)| exit - term));
        let old = events(&master.cand.trace);
        let new = events(&standby.cand.trace);
        let found = [
            stopped.map(|(term, _)| term - t0),
            stopped.map(|(_, exit)| exit - t0),
            old.iter()
                .find(|e| e.event == "lost_master" && e.t >= t0)
                .map(|e| e.t - t0),
            new.iter()
                .rev()
                .find(|e| e.event == "create" && e.t >= t0 && e.t <= won)
                .map(|e| e.t - t0),
        ];
        for (v, f) in out.steps.iter_mut().zip(found) {
            v.push(f);
        }
        std::mem::swap(&mut master, &mut standby);
        let cold = cold_switchover(o, zk, &path, &master, &standby, &mut jitter)?;
        out.cold.push(cold);
        std::mem::swap(&mut master, &mut standby);
    }
    eprintln!(
        "bench: failover round {round}: switchover n={count} p50 {:.1} ms (command's own stop p50 {:.2} ms; from the invocation {:.1} ms; from a cold write, net of the stop, {:.1} ms)",
        median(&out.samples),
        median(&out.stop),
        median(&out.invoked),
        median(&out.cold)
    );
    for c in [&mut master, &mut standby] {
        // SAFETY: signals our own child process.
        unsafe { libc::kill(c.cand.child.id() as i32, libc::SIGTERM) };
    }
    for c in [&mut master, &mut standby] {
        super::peer::reap(&mut c.cand);
    }
    Ok(out)
}
