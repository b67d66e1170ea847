//! `make chaos`: every chaos scenario of the safe profile against real
//! servers, with `zkha run` candidates supervising `chaos_worker`
//! (`src/bin/chaos_worker.rs`; see the crate's docs, `src/lib.rs`, for the
//! two checkers), then one line:
//! `chaos: <F> faults injected, <N> failovers, <K> overlapping safe masterships`,
//! with, when the switchover family ran, `; switchover: <F> faults, <S>
//! switchovers, <T> to target, <E> after timeout, <W> wrong winners`, and
//! when the pause family ran, `; pause: <F> faults, <P> pauses, <A>
//! acknowledged, <E> early takeovers, <O> overlaps (…)`, and when the
//! guard family ran, `; guard: <R> rounds, <W> fenced writes accepted, <N>
//! refused as NotMaster, <F> deposed writes accepted, <O> overlaps (…)`,
//! and when the capi family ran, `; capi: <R> rounds, <F> faults, <T>
//! takeovers (C++ to Rust …, Rust to C++ …), <L> work lines, <O> overlaps
//! (…)` (exit status 0 only if K, W, the pause's E and the guard's F are 0
//! (the guard's and the capi family's O are in K), tokens never went
//! down and every scenario did what it should: faults injected, masters
//! found, takeovers made, every switchover and pause ended as it must).
//!
//! The scenarios come first, then the families of commands and
//! surroundings ([`Family`]: a child in its own
//! session, a daemonizing command, job control, a stalled and a broken
//! stderr, the watchdog killed, a slow stop, the node deleted from outside),
//! each with its own summary line (`chaos: == <name>: <faults> faults, …`),
//! then the switchover family (`zkha switchover --to <standby>` under
//! faults, issue 24: `chaos/src/families/switchover/`), then the pause
//! family (`zkha pause --for L` under faults and ZooKeeper maintenance on
//! a 3-member ensemble, issue 25: `chaos/src/families/pause/`: no new
//! master before the pause's deadline unless a resume the master
//! acknowledged came first, a cut-off master's command past its lease and
//! stopped by the deadline, no failover through the ensemble's
//! maintenance), then the guard family (the library's `Mastership` guard
//! and its `fenced()` writes from a tokio worker, `guard_worker`, under
//! resigns, shutdowns, partitions, process pauses and the master node made
//! again by another session, issue 26: `chaos/src/families/guard/`: no
//! fenced write of a deposed master accepted, no two terms working at
//! once), then the capi family (the classic design rewritten on zkha's C
//! API, `examples/seed_on_capi.cpp` linked against libzkha.so, compiled
//! here at run time with `c++` (`$CXX`), two or more of it contending with
//! a `zkha run` candidate, each through a proxy of its own; each round the
//! master, a C++ program two rounds in three, SIGKILLed, SIGSTOPped past
//! the session timeout, cut off (blackhole) past it or SIGTERMed, and
//! another must take over: all masters append to one work log, judged in
//! append order: no line of an earlier term after a later term's, tokens
//! growing, each checked against the node's czxid; issue 27:
//! `chaos/src/families/capi/`; it needs libzkha.so beside this binary:
//! `cargo build --release -p zkha-capi`, which `make chaos` does).
//!
//! `CHAOS_ROUNDS` (default 10) scales every scenario and family; the
//! default injects over 400 faults (20 per family) in about 20 minutes.
//! `CHAOS_ONLY=<text>` runs only the scenarios whose name contains the text
//! (`CHAOS_ONLY=member`, `CHAOS_ONLY=stderr`, say). `make chaos` builds
//! `zkha`, this crate's binaries and libzkha.so (`cargo build --release
//! --features ssl,sasl -p zkha-cli -p zkha-chaos -p zkha-capi --bins
//! --lib`) and runs `target/release/chaos`, which finds `zkha`,
//! `chaos_worker`, `guard_worker` and libzkha.so beside itself.
//!
//! Also: `CHAOS_SWITCHOVER_FAULTS=<fault>,…` (names of
//! [`SwitchoverFault`], any case: `refusemaster,serverrestart`) gives the
//! switchover family's rounds their faults in turn;
//! `CHAOS_SWITCHOVER_DIRECT=1` makes it write the control node itself
//! instead of running `zkha switchover` (the protocol alone);
//! `CHAOS_PAUSE_FAULTS=<fault>,…` (names of [`PauseFault`], any case:
//! `cutmaster,rollingrestart`) gives the pause family's rounds their
//! faults in turn (`CHAOS_ONLY=pause:` runs that family alone);
//! `CHAOS_GUARD_FAULTS=<fault>,…` (names of [`GuardFault`], any case:
//! `recreate,pause`) gives the guard family's rounds their faults in turn
//! (`CHAOS_ONLY=guard:` runs that family alone);
//! `CHAOS_CAPI_FAULTS=<fault>,…` (names of [`CapiFault`], any case:
//! `kill,stop,blackhole,term`) the capi family's (`CHAOS_ONLY=capi` runs it
//! alone);
//! `CHAOS_KEEP=1` keeps the files of a run that went well.

use std::time::Instant;
use zkha_chaos::{
    CapiFault, CapiStats, Chaos, Family, GuardFault, GuardStats, MemberFault, PauseFault,
    PauseStats, Stats, SwitchoverFault, SwitchoverStats,
};
use zkha_testing::TestingServer;

fn main() {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let rounds: usize = match std::env::var("CHAOS_ROUNDS") {
        Ok(v) => match v.trim().parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("chaos: CHAOS_ROUNDS must be a positive integer, not {v:?}");
                std::process::exit(2);
            }
        },
        Err(_) => 10,
    };
    // CHAOS_ONLY=<text>: only the scenarios whose name contains it.
    let only = std::env::var("CHAOS_ONLY").ok().filter(|o| !o.is_empty());
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/chaos -> target/<profile>/{zkha,chaos_worker,guard_worker}
    let bins = exe.parent().expect("target dir");
    let zkha = bins.join("zkha");
    let worker = bins.join("chaos_worker");
    for p in [&zkha, &worker, &bins.join("guard_worker")] {
        if !p.exists() {
            eprintln!(
                "chaos: {} is missing: build it first (`cargo build --release -p zkha-cli --bin zkha -p zkha-chaos`)",
                p.display()
            );
            std::process::exit(2);
        }
    }
    let dir = std::env::temp_dir().join(format!("zkha-chaos-{}", std::process::id()));
    let mut c = Chaos::new(zkha, worker, dir.clone(), 2000);
    c.verbose = true;
    // CHAOS_SWITCHOVER_DIRECT=1: the switchover family writes the control
    // node itself instead of running `zkha switchover` (the protocol alone).
    c.switchover_direct =
        std::env::var("CHAOS_SWITCHOVER_DIRECT").is_ok_and(|v| !v.is_empty() && v != "0");
    let server = TestingServer::start().expect("server");
    let hosts = server.connect_string().to_owned();
    let mut total = Stats::default();
    let started = Instant::now();
    let mut record = |name: &str, s: Stats| {
        eprintln!(
            "chaos: == {name}: {} faults, {} failovers, {} overlaps (trace {}, black box {}, longest {:.0} ms), \
             {} token regressions, {} stale fenced, slowest takeover {:.0} ms, {} errors [{:.0} s]",
            s.faults,
            s.failovers,
            s.overlaps(),
            s.trace_overlaps,
            s.blackbox_overlaps,
            s.max_overlap_ms,
            s.token_regressions,
            s.stale,
            s.max_takeover_ms,
            s.errors.len(),
            started.elapsed().as_secs_f64()
        );
        if s.switchover.switchovers > 0 {
            eprintln!("chaos: == {name}: {}", switchover_counts(&s.switchover));
        }
        if s.pause.pauses > 0 {
            eprintln!("chaos: == {name}: {}", pause_counts(&s.pause, s.overlaps()));
        }
        if s.guard.rounds > 0 {
            eprintln!("chaos: == {name}: {}", guard_counts(&s.guard));
        }
        if s.capi.rounds > 0 {
            eprintln!("chaos: == {name}: {}", capi_counts(&s.capi, s.faults));
        }
        total += s;
    };
    let n = rounds;
    let h = hosts.as_str();
    type Scenario<'a> = Box<dyn FnOnce(&mut Chaos) -> Stats + 'a>;
    let mut scenarios: Vec<(&str, Scenario)> = vec![
        ("SIGKILL of zkha run", Box::new(|c| c.kill_master(h, 6 * n))),
        (
            "SIGKILL of zkha run over mutual TLS",
            Box::new(|c| kill_master_over_tls(c, 2 * n)),
        ),
        (
            "SIGSTOP of zkha run alone",
            Box::new(|c| c.stop_supervisor(h, 2 * n)),
        ),
        (
            "SIGSTOP of the whole master",
            Box::new(|c| c.pause_master(h, 2 * n)),
        ),
        (
            "partitions (blackhole, resets, latency)",
            Box::new(|c| c.partition(h, 6 * n)),
        ),
        (
            "refused connections (disconnect timer)",
            Box::new(|c| c.refused_connections(h, 2 * n)),
        ),
        (
            "restart with the saved session",
            Box::new(|c| c.restart_with_saved_session(h)),
        ),
        (
            "server down at start",
            Box::new(|c| c.server_down_at_start()),
        ),
        (
            "ensemble: leader, follower, quorum",
            Box::new(|c| c.ensemble(n)),
        ),
        (
            "member partitions: the master's follower isolated, the leader paused",
            Box::new(|c| c.member_partitions(n.div_ceil(2), &MemberFault::ALL)),
        ),
    ];
    // The families of commands and surroundings (issue 22), 2n faults each.
    for family in Family::ALL {
        scenarios.push((family.name(), Box::new(move |c| c.family(h, family, 2 * n))));
    }
    // `zkha switchover` under faults (issue 24), 2n rounds, on a server of
    // its own (one of its faults restarts it).
    // CHAOS_SWITCHOVER_FAULTS=<name>,…: its rounds' faults, 2n rounds of
    // them in turn (names as SwitchoverFault's, any case: refusemaster).
    let faults = match faults_from("CHAOS_SWITCHOVER_FAULTS", &SwitchoverFault::ALL) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("chaos: {e}");
            std::process::exit(2);
        }
    };
    let pause_faults = match faults_from("CHAOS_PAUSE_FAULTS", &PauseFault::ALL) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("chaos: {e}");
            std::process::exit(2);
        }
    };
    scenarios.push((
        "switchover: zkha switchover --to a standby under faults (the master, \
         the target or a third candidate killed or stopped, links cut, the server restarted)",
        Box::new(move |c| {
            let kinds: Vec<SwitchoverFault> =
                (0..2 * n).map(|r| faults[r % faults.len()]).collect();
            c.switchover_with(&kinds)
        }),
    ));
    // `zkha pause` under faults and ZooKeeper maintenance (issue 25), 2n
    // rounds, on a 3-member ensemble of its own.
    // CHAOS_PAUSE_FAULTS=<name>,…: its rounds' faults, in turn.
    scenarios.push((
        "pause: zkha pause --for L under faults (the master cut off, stopped or reset, \
         a member, every member in turn or the whole ensemble restarted, resumes)",
        Box::new(move |c| {
            let kinds: Vec<PauseFault> = (0..2 * n)
                .map(|r| pause_faults[r % pause_faults.len()])
                .collect();
            c.maintenance_pause_with(&kinds)
        }),
    ));
    // The library's Mastership guard and fenced() writes from a tokio
    // worker (issue 26), 2n rounds, on a server of its own.
    // CHAOS_GUARD_FAULTS=<name>,…: its rounds' faults, in turn.
    let guard_faults = match faults_from("CHAOS_GUARD_FAULTS", &GuardFault::ALL) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("chaos: {e}");
            std::process::exit(2);
        }
    };
    scenarios.push((
        "guard: a tokio worker's Mastership and fenced() writes (resigns, shutdowns, \
         partitions, SIGSTOP past T, the master node made again by another session)",
        Box::new(move |c| {
            let kinds: Vec<GuardFault> = (0..2 * n)
                .map(|r| guard_faults[r % guard_faults.len()])
                .collect();
            c.guard_with(&kinds)
        }),
    ));
    // The classic design on zkha's C API (issue 27) against zkha run, 2n
    // rounds, on a server of its own; libzkha.so beside this binary.
    // CHAOS_CAPI_FAULTS=<name>,…: its rounds' faults, in turn.
    let capi_faults = match faults_from("CHAOS_CAPI_FAULTS", &CapiFault::ALL) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("chaos: {e}");
            std::process::exit(2);
        }
    };
    let lib_dir = bins.to_path_buf();
    let mut capi_faults_seen = 0;
    scenarios.push((
        "capi: the C++ example on zkha's C API and zkha run on one master node \
         (SIGKILL, SIGSTOP past T, the link blackholed, SIGTERM; one shared work log)",
        Box::new(move |c| {
            let kinds: Vec<CapiFault> = (0..2 * n)
                .map(|r| capi_faults[r % capi_faults.len()])
                .collect();
            c.capi_with(&lib_dir, &kinds)
        }),
    ));
    // The pause family's overlaps, for its summary.
    let mut pause_overlaps = 0;
    for (name, run) in scenarios {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        eprintln!("chaos: -- {name}");
        let stats = run(&mut c);
        if stats.pause.pauses > 0 {
            pause_overlaps += stats.overlaps();
        }
        if stats.capi.rounds > 0 {
            capi_faults_seen += stats.faults;
        }
        record(name, stats);
    }
    if total.faults == 0 {
        total.errors.push("no fault was injected at all".into());
    }
    for e in &total.errors {
        eprintln!("chaos: FAILED: {e}");
    }
    // CHAOS_KEEP=1: the files stay, even when all went well.
    let keep = std::env::var("CHAOS_KEEP").is_ok_and(|k| !k.is_empty() && k != "0");
    if total.ok() && !keep {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!(
            "chaos: traces, commands' files and logs kept in {}",
            dir.display()
        );
    }
    let switchover = if total.switchover.switchovers > 0 {
        format!("; switchover: {}", switchover_counts(&total.switchover))
    } else {
        String::new()
    };
    let pause = if total.pause.pauses > 0 {
        format!("; pause: {}", pause_counts(&total.pause, pause_overlaps))
    } else {
        String::new()
    };
    let guard = if total.guard.rounds > 0 {
        format!("; guard: {}", guard_counts(&total.guard))
    } else {
        String::new()
    };
    let capi = if total.capi.rounds > 0 {
        format!("; capi: {}", capi_counts(&total.capi, capi_faults_seen))
    } else {
        String::new()
    };
    println!(
        "chaos: {} faults injected, {} failovers, {} overlapping safe masterships{switchover}{pause}{guard}{capi}",
        total.faults,
        total.failovers,
        total.overlaps()
    );
    std::process::exit(if total.ok() { 0 } else { 1 });
}

/// The faults named by environment variable `var` (`CHAOS_SWITCHOVER_FAULTS`,
/// `CHAOS_PAUSE_FAULTS`: names as the variants', any case), or `all`.
fn faults_from<F: std::fmt::Debug + Copy>(var: &str, all: &[F]) -> Result<Vec<F>, String> {
    let Some(list) = std::env::var(var).ok().filter(|l| !l.trim().is_empty()) else {
        return Ok(all.to_vec());
    };
    list.split(',')
        .map(|name| {
            all.iter()
                .copied()
                .find(|f| format!("{f:?}").eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| format!("{var}: no fault {name:?} (one of {all:?})"))
        })
        .collect()
}

/// The pause family's counts: `F faults, P pauses, A acknowledged, E early
/// takeovers, O overlaps`, then what the cut-off masters and the
/// maintenance rounds did.
fn pause_counts(p: &PauseStats, overlaps: usize) -> String {
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:+.0} ms"));
    format!(
        "{} faults, {} pauses, {} acknowledged, {} early takeovers, {} overlaps \
         ({} masters cut off: {} kept past their lease, {} late stops, the latest last line {} \
         from the deadline, the first takeover {} from it; {} maintenance rounds without a \
         failover, {} with; {} standbys released by an acknowledged resume)",
        p.faults,
        p.pauses,
        p.acknowledged,
        p.early,
        overlaps,
        p.cut_off,
        p.kept_past_lease,
        p.late_stops,
        ms(p.latest_stop_ms),
        ms(p.first_takeover_ms),
        p.maintenance_kept,
        p.maintenance_failovers,
        p.released
    )
}

/// The guard family's counts: `R rounds, W fenced writes accepted, N
/// refused as NotMaster, F deposed writes accepted, O overlaps`, then the
/// rest.
fn guard_counts(g: &GuardStats) -> String {
    format!(
        "{} rounds, {} fenced writes accepted, {} refused as NotMaster, {} deposed writes \
         accepted, {} overlaps ({} failed otherwise; {} stale after a freeze; {} takeovers by \
         another worker; {} releases after the guard's drop; a stopped master's writes in \
         flight across its stop: {} accepted before the next term, {} failed; sent after its \
         wake: {} refused or failed, {} accepted)",
        g.rounds,
        g.accepted,
        g.refused,
        g.deposed,
        g.overlaps,
        g.failed,
        g.stale,
        g.takeovers,
        g.releases_after_drop,
        g.in_flight_accepted,
        g.in_flight_failed,
        g.woken_refused,
        g.woken_accepted
    )
}

/// The capi family's counts: `R rounds, F faults, T takeovers (…), L work
/// lines, O overlaps`, then the rest.
fn capi_counts(c: &CapiStats, faults: usize) -> String {
    format!(
        "{} rounds, {} faults, {} takeovers (C++ to Rust {}, Rust to C++ {}, C++ to C++ {}, \
         Rust to Rust {}; the faulted master a C++ program in {}), {} work lines, {} overlaps ({} terms, {} tokens \
         going down, {} tokens checked against the node's czxid)",
        c.rounds,
        faults,
        c.takeovers,
        c.cpp_to_rust,
        c.rust_to_cpp,
        c.cpp_to_cpp,
        c.rust_to_rust,
        c.cpp_masters_faulted,
        c.lines,
        c.overlaps,
        c.terms,
        c.regressions,
        c.czxid_checked
    )
}

/// The switchover family's counts: `F faults, S switchovers, T to target,
/// E after timeout, W wrong winners`.
fn switchover_counts(s: &SwitchoverStats) -> String {
    format!(
        "{} faults, {} switchovers, {} to target, {} after timeout, {} wrong winners \
         (slowest to the target {:.0} ms)",
        s.faults,
        s.switchovers,
        s.to_target,
        s.after_timeout,
        s.wrong_winners,
        s.slowest_to_target_ms
    )
}

/// The SIGKILL scenario on a TLS-only server of its own, every `zkha run`
/// with `--tls-ca/--tls-cert/--tls-key` (needs `--features ssl`, which
/// `make chaos` passes: zkha-chaos's `ssl` feature; without it the scenario reports an error).
fn kill_master_over_tls(c: &mut Chaos, rounds: usize) -> Stats {
    if !cfg!(feature = "ssl") {
        let mut s = Stats::default();
        s.errors
            .push("built without feature ssl: run with --features ssl".into());
        return s;
    }
    let ca = zkha_testing::TlsAuthority::new().expect("test CA");
    let server = TestingServer::with_config(zkha_testing::ServerConfig {
        security: zkha_testing::Security::Tls(ca.clone()),
        ..Default::default()
    })
    .expect("TLS server");
    let files = ca.client("chaos").expect("client certificate");
    let flags: Vec<String> = [
        ("--tls-ca", &files.ca),
        ("--tls-cert", &files.cert),
        ("--tls-key", &files.key),
    ]
    .iter()
    .flat_map(|(flag, file)| [flag.to_string(), file.display().to_string()])
    .collect();
    c.kill_master_over(
        server.connect_string(),
        server.probe_address(),
        &flags,
        rounds,
        "sigkill-tls",
    )
}
