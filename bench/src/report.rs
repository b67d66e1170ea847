//! BENCHMARKS.md and BENCHMARKS.svg from the results.

use crate::failover::PEERS;
use crate::Options;
use serde_json::{json, Value};
use std::fmt::Write as _;

pub fn date_utc() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`).
pub fn load_average() -> Value {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let v: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    json!(v)
}

pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": model,
        "memory_gib": (mem_kb as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "kernel": kernel.trim(),
        "java": "Debian's OpenJDK running Debian's ZooKeeper server on loopback",
    })
}

fn f(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
        None => "n/a".into(),
    }
}

/// `a / b` to two places, "n/a" without both.
fn ratio(a: &Value, b: &Value) -> String {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "n/a".into(),
    }
}

/// A ratio's median over rounds with its min–max spread:
/// `1.05× (0.98–1.10)`.
fn spread(v: &Value) -> String {
    match (v["median"].as_f64(), v["min"].as_f64(), v["max"].as_f64()) {
        (Some(m), Some(lo), Some(hi)) => format!("{m:.2}× ({lo:.2}–{hi:.2})"),
        _ => "n/a".into(),
    }
}

/// Median and min–max of finite values.
fn median_spread(v: &[f64]) -> Value {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return Value::Null;
    }
    s.sort_by(f64::total_cmp);
    json!({ "median": crate::median(&s), "min": s[0], "max": s[s.len() - 1] })
}

/// Each client's throughput as a ratio to raw C, taken round by round
/// (the clients alternate within a round, so drift hits both sides of a
/// ratio alike): client → op → {median, min, max} over rounds.
pub fn throughput_ratios(t: &Value) -> Value {
    let rounds = |c: &str| t[c]["rounds"].as_array().cloned().unwrap_or_default();
    let raw = rounds("raw_c");
    let mut out = serde_json::Map::new();
    for client in ["raw_c", "zkha", "pure_rust", "kazoo"] {
        let mine = rounds(client);
        let mut ops = serde_json::Map::new();
        for op in ["create", "get", "set", "delete", "async_get"] {
            let r: Vec<f64> = mine
                .iter()
                .zip(&raw)
                .filter_map(|(m, r)| Some(m[op].as_f64()? / r[op].as_f64()?))
                .collect();
            ops.insert(op.into(), median_spread(&r));
        }
        out.insert(client.into(), Value::Object(ops));
    }
    Value::Object(out)
}

const PEER_NAMES: [(&str, &str); 6] = [
    ("safe", "zkha safe profile (watch)"),
    (
        "run",
        "`zkha run` (safe) with its watchdog; crash = SIGKILL of zkha run, `--on-crash handover`",
    ),
    ("sequence", "zkha safe profile, sequence mode"),
    ("seed", "zkha seed profile (poll 1 s, settle 2 s)"),
    ("cpp_peer", "C++ reference peer (seed design)"),
    ("kazoo", "kazoo Election (Python)"),
];

pub fn write(o: &Options, r: &Value) -> Result<(), Box<dyn std::error::Error>> {
    let mut md = String::new();
    let m = &r["machine"];
    let t = r["session_timeout_ms"].as_u64().unwrap_or(0);
    writeln!(md, "# Benchmarks\n")?;
    if o.quick {
        writeln!(
            md,
            "**A quick look (`make bench-quick`): few samples per cell, so p99s are near-maxima and spreads wide; \
             `make bench` writes the figures of record (BENCHMARKS.md at the repository root).**\n"
        )?;
    }
    writeln!(
        md,
        "Written by `{}` on {} — {} CPUs ({}), {} GiB, Linux {}; ZooKeeper {} (Debian) on 127.0.0.1, tickTime {} ms. \
         Everything below ran in one run against the same server; compare figures as ratios within this page, not across machines.\n",
        if o.quick { "make bench-quick" } else { "make bench" },
        r["date"].as_str().unwrap_or(""),
        m["cpus"],
        m["cpu_model"].as_str().unwrap_or("?"),
        m["memory_gib"],
        m["kernel"].as_str().unwrap_or("?"),
        r["server_version"].as_str().unwrap_or("?"),
        r["tick_time_ms"]
    )?;
    let load = |k: &str| {
        r[k].as_array()
            .and_then(|a| a.first())
            .and_then(Value::as_f64)
    };
    if let (Some(before), Some(after)) = (load("load_average_before"), load("load_average_after")) {
        writeln!(
            md,
            "Load average (1 min) when the run began: {before:.2}; when it ended: {after:.2}.{}\n",
            if before.max(after) > 0.5 {
                " Other work (builds, tests) shared the machine's CPUs during this run: absolute figures are noisier \
                 than on an idle machine, and the ratios, taken round by round within the run, are the figures to compare."
            } else {
                ""
            }
        )?;
    }
    let json_path = o.out_dir.join("results.json");
    writeln!(
        md,
        "Raw figures: `{}`. Plot: [BENCHMARKS.svg](BENCHMARKS.svg).\n",
        json_path
            .strip_prefix(&o.root)
            .unwrap_or(&json_path)
            .display()
    )?;

    writeln!(md, "## Failover latency\n")?;
    let fl = &r["floors"]["graceful_raw_c"];
    let hot = &r["floors"]["graceful_raw_c_back_to_back"];
    let rounds = fl["rounds"].as_array().map_or(0, Vec::len);
    writeln!(
        md,
        "From the master's SIGTERM (graceful exit: the session is closed) or SIGKILL (crash) to the new master's `became master`, \
         both on CLOCK_MONOTONIC. Negotiated session timeout {t} ms for every peer.\n\n\
         Floors. Graceful: the **raw-C handover**, exactly the three steps of a graceful failover with two raw C client handles \
         and no zkha (`bench/c/raw_c_handover.c`): the holder's `zookeeper_close` (t0; a committed transaction deletes its \
         ephemeral node), the standby's exists-watch fires, the standby creates the node from its watcher (a second committed \
         transaction; t1 = its completion); same server, same session timeout, and the same pacing: the server sits idle \
         {} ms before each close, as before each SIGTERM in the cells. Measured here: p50 **{} ms**, p99 **{} ms** \
         (n = {}; of which the watch notification arrives after p50 {} ms, and `zookeeper_close` returns after {} ms). \
         Back to back (each close right after the last create, the server kept busy) the same steps take p50 {} ms, p99 {} ms: \
         the server answers a request that follows an idle spell more slowly (see below), and every failover of a cell \
         follows one, so that figure is shown for reference, not as the floor. Crash: the session timeout.\n\n\
         The {rounds} rounds alternate the floor and every peer (each round: the floor, then each peer's cells), so drift \
         hits all alike. A ratio is taken per round (that round's p50, or p99, over that round's floor) and shown as the \
         median over rounds with its min–max spread in parentheses.\n",
        fl["idle_before_each_ms"].as_str().unwrap_or("?"),
        f(&fl["p50_ms"]),
        f(&fl["p99_ms"]),
        fl["n"],
        f(&fl["notify_p50_ms"]),
        f(&fl["close_p50_ms"]),
        f(&hot["p50_ms"]),
        f(&hot["p99_ms"]),
    )?;
    writeln!(
        md,
        "| peer | kind | n | p50 ms | p90 ms | p99 ms | max ms | p50/floor | p99/floor |"
    )?;
    writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|")?;
    writeln!(
        md,
        "| **raw-C handover floor** | graceful | {} | {} | {} | {} | {} | 1 | 1 |",
        fl["n"],
        f(&fl["p50_ms"]),
        f(&fl["p90_ms"]),
        f(&fl["p99_ms"]),
        f(&fl["max_ms"])
    )?;
    for (peer, name) in PEER_NAMES {
        for kind in ["graceful", "crash"] {
            let c = &r["failover"][peer][kind];
            if c.is_null() {
                continue;
            }
            writeln!(
                md,
                "| {name} | {kind} | {} | {} | {} | {} | {} | {} | {} |",
                c["n"],
                f(&c["p50_ms"]),
                f(&c["p90_ms"]),
                f(&c["p99_ms"]),
                f(&c["max_ms"]),
                spread(&c["p50_over_floor_spread"]),
                spread(&c["p99_over_floor_spread"])
            )?;
        }
    }
    let sw = &r["failover"]["switchover"]["switchover"];
    if !sw.is_null() {
        writeln!(
            md,
            "| `zkha switchover --to` the standby (two `zkha run`, safe; from the control node's write) | switchover | {} | {} | {} | {} | {} | {} | {} |",
            sw["n"],
            f(&sw["p50_ms"]),
            f(&sw["p90_ms"]),
            f(&sw["p99_ms"]),
            f(&sw["max_ms"]),
            spread(&sw["p50_over_floor_spread"]),
            spread(&sw["p99_over_floor_spread"])
        )?;
        let st = &sw["steps_p50_ms"];
        writeln!(
            md,
            "\nSwitchover: two `zkha run` candidates (safe profile, `--name a` and `--name b`, the same session timeout) supervise a \
             command that exits as soon as it gets SIGTERM; `zkha switchover --to` the standby moves mastership back and forth, \
             paced like the other cells. A sample runs from the control node's write (the bench's own watch on the control node \
             fires: the write is committed, and the old master's watch fires at the same moment) to the target's `became master`. \
             Median ms after the write: the old master's command got SIGTERM at {} and exited at {} (the command's own stop, \
             its SIGTERM to its exit as it saw them: p50 {} ms, p99 {} ms); the old master said `lost master` (its command \
             gone, before it lets the node go) at {}; the target's winning claim was answered at {}. Net of the command's own \
             stop (taken off sample by sample), p50 {} ms and p99 {} ms: {} and {} of the floor. From the command's invocation \
             (a process start, a session of its own, its reads, then the write) p50 {} ms, p99 {} ms. Between two such \
             switchovers the bench asks for one itself ({} samples): it reads the control node while the standby settles, \
             waits the same idle spell, then sends the write `zkha switchover` makes; from that send, net of the stop, \
             p50 {} ms and p99 {} ms ({} and {} of the floor), a sample that starts as the floor's does, with a write after \
             an idle spell.",
            f(&st["command_term"]),
            f(&st["command_exit"]),
            f(&sw["command_stop"]["p50_ms"]),
            f(&sw["command_stop"]["p99_ms"]),
            f(&st["lost_master"]),
            f(&st["create"]),
            f(&sw["net_of_stop"]["p50_ms"]),
            f(&sw["net_of_stop"]["p99_ms"]),
            spread(&sw["net_of_stop"]["p50_over_floor_spread"]),
            spread(&sw["net_of_stop"]["p99_over_floor_spread"]),
            f(&sw["from_invocation"]["p50_ms"]),
            f(&sw["from_invocation"]["p99_ms"]),
            sw["from_a_cold_write"]["n"],
            f(&sw["from_a_cold_write"]["p50_ms"]),
            f(&sw["from_a_cold_write"]["p99_ms"]),
            spread(&sw["from_a_cold_write"]["p50_over_floor_spread"]),
            spread(&sw["from_a_cold_write"]["p99_over_floor_spread"]),
        )?;
    }
    writeln!(
        md,
        "\nWhere a graceful failover's time goes (median ms after the SIGTERM): the old master's trace says `lost master` \
         (it saw the stop) and `exit` (its session close returned); the standby's `create` is its winning create's answer; \
         then `became master`. The raw-C floor's steps for comparison: t0 is its `zookeeper_close`.\n"
    )?;
    writeln!(md, "| peer | lost master | exit | create | became master |")?;
    writeln!(md, "|---|---:|---:|---:|---:|")?;
    writeln!(
        md,
        "| raw-C handover floor | 0 | {} | {} (watch fired at {}) | — |",
        f(&fl["close_p50_ms"]),
        f(&fl["p50_ms"]),
        f(&fl["notify_p50_ms"])
    )?;
    writeln!(
        md,
        "| raw-C handover, back to back (reference) | 0 | {} | {} (watch fired at {}) | — |",
        f(&hot["close_p50_ms"]),
        f(&hot["p50_ms"]),
        f(&hot["notify_p50_ms"])
    )?;
    for (peer, name) in PEER_NAMES {
        let c = &r["failover"][peer]["graceful"];
        if c.is_null() {
            continue;
        }
        let st = &c["steps_p50_ms"];
        let g = |k: &str| {
            if st[k].is_null() {
                "—".to_owned()
            } else {
                f(&st[k])
            }
        };
        writeln!(
            md,
            "| {name} | {} | {} | {} | {} |",
            g("lost_master"),
            g("exit"),
            g("create"),
            f(&c["p50_ms"])
        )?;
    }
    let z = &r["floors"]["zkha_client_handover"];
    if !z.is_null() {
        writeln!(
            md,
            "\nThe same three steps through the zkha client without the elector, back to back like the reference row (not \
             floors; they show what the standby's shape costs): create from the watcher **{} ms** p50 ({} p99); the watcher wakes a thread that creates with a \
             synchronous call **{} ms** ({}); as the safe elector's standby does — the watcher `notify_all`s one condvar \
             on which three threads wait (the election thread, which creates; the idle work loop; the narrator, which reads \
             the node on every wake) — **{} ms** ({}).",
            f(&z["create_in_watcher"]["p50_ms"]),
            f(&z["create_in_watcher"]["p99_ms"]),
            f(&z["create_on_thread"]["p50_ms"]),
            f(&z["create_on_thread"]["p99_ms"]),
            f(&z["create_on_thread_shared_condvar_with_reader"]["p50_ms"]),
            f(&z["create_on_thread_shared_condvar_with_reader"]["p99_ms"]),
        )?;
    }
    writeln!(
        md,
        "\nWhat the traces showed (issue 13). (1) `zkha candidate` and `zkha run` polled their signal flags every 10 ms, so \
         a SIGTERM waited 0–10 ms (5 on average) before the stop began: more than the whole handover. They now sleep on \
         signal-hook's self-pipe (zkha-cli/src/cli/signals.rs), and the old master's `lost master` follows the SIGTERM within a \
         fraction of a millisecond (table above). (2) The first floor ran its handovers back to back, and the cells came \
         out at 3–4× it. Traced step by step (temporary trace points in the safe elector, strace of the old master), zkha's \
         own part was small: the election thread saw the stop 0.3 ms after the SIGTERM and called `zookeeper_close` 0.04 ms \
         later; the C client then joins its two threads, sends the close and waits for the server's answer, the same code \
         as the floor's. What differed was the server: its answers to the close and to the standby's create took about \
         2 ms each instead of 0.7. A request that follows an idle spell is slower, and every stop in a cell follows one \
         (the 150 ms + random phase that spreads the samples). Raw C paced the same way takes as long: on a standalone \
         Debian 3.8 server, 150–250 ms of idle before each close made the handover 4.5 ms slower; with `forceSync=no` \
         3.5–4.2 ms, and 20 ms of idle 0.6 ms, 50 ms 1.4 ms: not the disk, but the server's request threads waking. The floor is \
         now paced like the cells (first table), and the back-to-back figure stays as a reference. (3) The standby's wake \
         path goes I/O thread → completion thread (the watcher) → election thread (a `wake()` that `notify_all`s the one \
         condvar the election thread, the work loop and the narrator wait on) → a synchronous create → I/O thread: four \
         thread handoffs where the floor, which creates from its watcher, has two. Each is a few µs on an idle machine and \
         up to milliseconds on a loaded one; the back-to-back zkha-client rows above measure these shapes apart from the \
         rest of zkha. `zkha run` also stops its command before it lets the node go (by design), which its graceful figure \
         includes.\n"
    )?;
    let gst = &r["failover"]["safe"]["graceful"]["steps_p50_ms"];
    writeln!(
        md,
        "What the traces showed (issue 25). (4) With the candidates' registry (issue 24), a standby's gate read the control \
         node and the master node (one round trip) and, the master node gone, the whole registry (its list, then each entry \
         in turn: 1 + N round trips) before its claim, where the floor's standby sends its create at once. The gate now \
         keeps both in caches that watches keep current (src/elector/safe/steer.rs): the control node is read again from \
         its watch as soon as it changes (a claim made on a stale copy fails on the node's version, and the gate reads it \
         again); an entry whose data changed keeps its priority (fixed for the node's life), so only an entry that could now \
         be preferred is read again; and a standby whose watch on the master node fired, with no registered candidate that \
         could be preferred, claims at once. In a shorter run before the change (3 rounds of 10, the machine shared), safe \
         graceful came out at 1.89× the floor at p50, its claim answered 2.5 ms after the old master's close returned; after \
         it, 1.54× and 0.5 ms. (5) Traced with temporary trace points (a separate build and run, not this page's): the \
         standby's gate runs as its watch on the master node fires, its claim leaves 0.03 ms later, and it is answered \
         about 3 ms after that (median; 2–10) on this shared machine, about what the floor's create took there after its \
         watch fired. What remained \
         was on the old master's side: between its `lost master` and its close it published its new role in the \
         registry (a write), read its node to check it was still its own and deleted it (a second write), then closed, \
         where the floor's holder sends its close alone. A planned end now sends the delete first and at once: one \
         `multi` that checks the term node's version (no safe claim came since ours) and deletes the node, with no read \
         before it when the node's watch has not fired since a leader-proved read showed it ours (src/elector/safe/hold.rs, \
         `release`); nothing is queued before it (a resign publishes its entry, yielding, right after it; a shutdown's \
         entry goes with its session). The last full page before the change: 1.84× the floor at p50. (6) A switchover, traced the same way \
         before this change: the old master read the control node when its watch fired (1.3 ms); `zkha run` acted on the \
         elector's request at its next 10 ms main-loop turn, looked for its watchdog's exit every 2 ms, and before the \
         delete marked its breadcrumb clean (a read of the breadcrumb and the history, then a multi rewriting both: \
         2.1 ms). Now the request nudges the main loop awake (zkha-cli/src/cli/signals.rs, `nudge`), the stop waits on a \
         pidfd of the watchdog, and the mark's reads go out as the stop begins; the mark's multi is sent without waiting, \
         queued before the delete on the same session, which ZooKeeper answers in order, so the next master reads the \
         breadcrumb clean (zkha-cli/src/cli/breadcrumb/mark_ahead.rs). On this page the command got its SIGTERM {} ms \
         after the write, the old master said `lost master` at {} ms and the target's claim was answered at {} ms \
         (medians); on the last full page before the change, 9.1, 11.4 and 17.1 ms. (7) What was left, in this page's \
         steps: the old master's release and its close were two writes, and the close, committed in the batch after the \
         release, sat between the release and the standby's claim, which waited one commit more (in quick runs the claim \
         was answered 2.3–3.0 ms after the old master's close returned, where the floor's create follows its close's \
         return by 1.5). A stopping master now sends its release without waiting, with a read of the node (and a watch) \
         behind it, and holds its close back until the node is there again (the successor's claim committed) or 50 ms \
         have passed (src/elector/safe/hold.rs, `let_the_successor_claim`); a resign holds back its registry entry's \
         `yielding` the same way. So the old master's exit now follows the new master's claim: here the standby's claim is \
         answered {} ms after the SIGTERM and the old master's close returns at {} ms (the floor's close returns at {} \
         ms, its standby's create at {} ms). On the standby, the claim is sent by its watch on the master node, on the C client's \
         completion thread, as the floor's standby creates from its watcher, whenever its gate would say go without a \
         read (src/elector/safe/ahead.rs, checked again as the watch fires); the election thread, woken by the same \
         watch, takes the answer over. A switchover's target readies its claim again when the news of the control node \
         arrives, so its claim goes with its watch too. And the claim's answer is the whole proof: the read that went \
         with it is gone (the token, the node's czxid, is the multi's zxid, which the term node's set reports). \
         (8) A switchover, traced again with temporary trace points (a separate run, 30 samples, on a day when this \
         machine's paced floor was 12–18 ms): from the old master acting on the control node, its `lost master` came at \
         4.1 ms (median). 2.5 ms of it was the watchdog's walk of the command's processes as it sent SIGTERM: it read \
         the parent of every process on the host from /proc (70 here; a busy host has thousands), and only after that \
         could it see the command's exit. Then `zkha run` waited for the watchdog to remove the command's cgroup and \
         exit. The walk now reads the kernel's lists of children of the command's own processes \
         (`/proc/<pid>/task/<tid>/children`, zkha-cli/src/cli/reaper.rs), and the watchdog says `gone` on its status \
         pipe as soon as it has no child left, before its clean-up, which ends the stop (zkha-cli/src/cli/run/stop.rs); \
         `lost master` came at 1.8 ms. On this page the old master's command got SIGTERM {} ms after the control node's \
         write and its `lost master` followed at {} ms.\n",
        f(&r["failover"]["switchover"]["switchover"]["steps_p50_ms"]["command_term"]),
        f(&r["failover"]["switchover"]["switchover"]["steps_p50_ms"]["lost_master"]),
        f(&r["failover"]["switchover"]["switchover"]["steps_p50_ms"]["create"]),
        f(&gst["create"]),
        f(&gst["exit"]),
        f(&fl["close_p50_ms"]),
        f(&fl["p50_ms"]),
        f(&r["failover"]["switchover"]["switchover"]["steps_p50_ms"]["command_term"]),
        f(&r["failover"]["switchover"]["switchover"]["steps_p50_ms"]["lost_master"]),
    )?;
    let safe_g = r["failover"]["safe"]["graceful"]["p99_ms"].as_f64();
    let safe_c = r["failover"]["safe"]["crash"]["p99_ms"].as_f64();
    writeln!(md, "\nTargets:\n")?;
    let sg = &r["failover"]["safe"]["graceful"];
    if let (Some(a), Some(b)) = (sg["p50_over_floor"].as_f64(), sg["p99_over_floor"].as_f64()) {
        writeln!(
            md,
            "- safe graceful at most 1.1× the raw-C handover floor at p50 and p99: **{a:.2}× and {b:.2}× — {}** \
             (against the back-to-back reference, which no cell's paced stops can reach: {}× and {}×)",
            if a <= 1.1 && b <= 1.1 { "met" } else { "not met" },
            ratio(&sg["p50_ms"], &hot["p50_ms"]),
            ratio(&sg["p99_ms"], &hot["p99_ms"]),
        )?;
    }
    let net = &sw["net_of_stop"];
    let cold = &sw["from_a_cold_write"];
    // Pages written before the cold measure existed have none: judged on
    // the committed-write measure alone.
    let cold_within = match (
        cold["p50_over_floor_spread"]["median"].as_f64(),
        cold["p99_over_floor_spread"]["median"].as_f64(),
    ) {
        (Some(c50), Some(c99)) => c50 <= 1.5 && c99 <= 1.5,
        _ => true,
    };
    if let (Some(a), Some(b)) = (
        net["p50_over_floor_spread"]["median"].as_f64(),
        net["p99_over_floor_spread"]["median"].as_f64(),
    ) {
        writeln!(
            md,
            "- `zkha switchover --to` a named standby at most 1.5× the raw-C handover floor plus the command's own stop, at \
             p50 and p99 (from the control node's write; the stop taken off sample by sample): **{a:.2}× and {b:.2}× — {}** \
             (as they come, the stop included: {} and {}). These samples start once a write (the control node's) is \
             committed, so the server is awake, where the paced floor's first write follows an idle spell. Started as the \
             floor's are, from a write the bench sends itself (the one `zkha switchover` makes) after the same idle spell, \
             net of the stop: p50 {} ms and p99 {} ms, **{} and {}** of the floor; against the back-to-back reference, \
             where no write follows an idle spell: {}× and {}×. The verdict takes both measures: met only if each is \
             within 1.5×",
            if a <= 1.5 && b <= 1.5 && cold_within { "met" } else { "not met" },
            spread(&sw["p50_over_floor_spread"]),
            spread(&sw["p99_over_floor_spread"]),
            f(&sw["from_a_cold_write"]["p50_ms"]),
            f(&sw["from_a_cold_write"]["p99_ms"]),
            spread(&sw["from_a_cold_write"]["p50_over_floor_spread"]),
            spread(&sw["from_a_cold_write"]["p99_over_floor_spread"]),
            ratio(&net["p50_ms"], &hot["p50_ms"]),
            ratio(&net["p99_ms"], &hot["p99_ms"]),
        )?;
    }
    if let Some(p) = safe_g {
        writeln!(
            md,
            "- safe graceful p99 under 50 ms: **{p:.1} ms — {}**",
            if p < 50.0 { "met" } else { "not met" }
        )?;
    }
    if let Some(p) = safe_c {
        let bound = t as f64 + 100.0;
        writeln!(
            md,
            "- safe crash takeover within the session timeout + 100 ms ({bound:.0} ms): p99 **{p:.0} ms — {}** \
             (a crash is only noticed when the server expires the session, on a tick boundary, T after it last heard from the \
             master: up to one tick late, or early by the time since the master's last ping)",
            if p <= bound { "met" } else { "not met" }
        )?;
    }
    if let Some(p) = r["failover"]["run"]["crash"]["p99_ms"].as_f64() {
        writeln!(
            md,
            "- `zkha run` SIGKILLed while master: the watchdog stops the command and ends the session; the standby's \
             takeover p99 **{p:.1} ms — {}** (goal: under 100 ms, instead of a session timeout)",
            if p < 100.0 { "met" } else { "not met" }
        )?;
    }
    writeln!(
        md,
        "- seed profile: graceful takeovers wait for the next 1 s poll, crash takeovers for the expiry and the next poll; its work \
         starts 2 s after `became master` (S5), which these figures leave out.\n"
    )?;
    writeln!(md, "![failover latency](BENCHMARKS.svg)\n")?;

    writeln!(md, "## Client throughput\n")?;
    writeln!(
        md,
        "One client, one connection, 100-byte values; synchronous calls one at a time, and pipelined async gets with a window of \
         {} in flight, {} operations of each kind per client and round. {} alternating rounds (every client in turn, round \
         after round); each figure is the median ops/s over rounds, and its ratio to raw C is taken round by round: the \
         median with its min–max spread in parentheses. kazoo runs a quarter of the operations (rates are per second either \
         way); the pure-Rust `zookeeper` crate has no pipelining API.\n",
        o.window, o.ops, o.rounds
    )?;
    writeln!(md, "| client | create | get | set | delete | async get |")?;
    writeln!(md, "|---|---:|---:|---:|---:|---:|")?;
    let raw = &r["throughput"]["raw_c"];
    for (client, name) in [
        ("raw_c", "raw C (same C library)"),
        ("zkha", "zkha wrapper"),
        ("pure_rust", "pure Rust (`zookeeper` crate)"),
        ("kazoo", "kazoo (Python)"),
    ] {
        let c = &r["throughput"][client];
        let q = &r["throughput_ratios"][client];
        let cell = |op: &str| {
            if client == "raw_c" || c[op].is_null() {
                f(&c[op])
            } else {
                format!("{} — {}", f(&c[op]), spread(&q[op]))
            }
        };
        writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} |",
            cell("create"),
            cell("get"),
            cell("set"),
            cell("delete"),
            cell("async_get")
        )?;
    }
    let z = &r["throughput"]["zkha"];
    let worst = ["create", "get", "set", "delete"]
        .iter()
        .filter_map(|op| r["throughput_ratios"]["zkha"][*op]["median"].as_f64())
        .fold(f64::INFINITY, f64::min);
    writeln!(md, "\nTargets:\n")?;
    if worst.is_finite() {
        writeln!(
            md,
            "- zkha synchronous calls at 0.97× raw C or better: worst **{worst:.2}× — {}**",
            if worst >= 0.97 { "met" } else { "not met" }
        )?;
    }
    if let (Some(a), Some(g)) = (z["async_get"].as_f64(), z["get"].as_f64()) {
        writeln!(
            md,
            "- pipelined async at least 10× the synchronous rate: **{:.1}× — {}**",
            a / g,
            if a / g >= 10.0 { "met" } else { "not met" }
        )?;
    }
    writeln!(
        md,
        "\nThe C client runs one I/O thread per handle, and the Java server shares the machine's {} CPUs: pipelining is \
         bounded there, for raw C as much as for zkha (raw C's async/sync ratio here: {:.1}×).",
        m["cpus"],
        raw["async_get"].as_f64().unwrap_or(0.0) / raw["get"].as_f64().unwrap_or(1.0)
    )?;
    // A finding written by hand (issue 13 item 3), kept across runs.
    if let Ok(text) = std::fs::read_to_string(o.root.join("bench/FINDINGS-c-client.md")) {
        writeln!(md, "\n{}", text.trim_end())?;
    }
    writeln!(md, "\n## Memory\n")?;
    let mem = &r["memory"];
    writeln!(
        md,
        "Resident set (VmRSS), idle, connected. The Rust handle is measured in the benchmark binary itself, whose code \
         (serde_json, the pure-Rust client) counts too.\n"
    )?;
    writeln!(md, "| what | Rust | C / C++ |")?;
    writeln!(md, "|---|---:|---:|")?;
    writeln!(
        md,
        "| one handle, in a process of its own | {} kB (zkha) | {} kB (raw C) |",
        mem["idle_handle_kb"]["zkha"], mem["idle_handle_kb"]["raw_c"]
    )?;
    writeln!(
        md,
        "| one standby candidate process | {} kB (`zkha candidate`, safe) | {} kB (C++ peer) |",
        mem["idle_candidate_kb"]["rust_safe"], mem["idle_candidate_kb"]["cpp_peer"]
    )?;
    crate::scale_report::section(&mut md, r, "BENCHMARKS-scale.svg")?;
    writeln!(
        md,
        "\nReproduce: `make bench` (about 30 minutes; writes this page), or `make bench-quick` (under 3 minutes; the same \
         tables from fewer samples, into target/bench-quick/). Options: `cargo run --release -p zkha-bench -- --help`."
    )?;
    std::fs::create_dir_all(&o.md_dir)?;
    std::fs::write(o.md_dir.join("BENCHMARKS.md"), md)?;
    std::fs::write(o.md_dir.join("BENCHMARKS.svg"), svg(r))?;
    // A run whose scale part failed leaves the last plot of it alone.
    if r["scale_error"].is_null() {
        std::fs::write(
            o.md_dir.join("BENCHMARKS-scale.svg"),
            crate::scale_report::svg(r),
        )?;
    }
    eprintln!(
        "bench: wrote {} and its SVGs",
        o.md_dir.join("BENCHMARKS.md").display()
    );
    Ok(())
}

/// Latency distributions: one row per cell, every sample a dot on a log
/// axis, p50 and p99 marked.
fn svg(r: &Value) -> String {
    let fl = &r["floors"]["graceful_raw_c"];
    let floor_row = fl["samples_ms"].as_array().and_then(|a| {
        Some((
            "raw-C handover floor".to_owned(),
            a.iter().filter_map(Value::as_f64).collect::<Vec<f64>>(),
            fl["p50_ms"].as_f64()?,
            fl["p99_ms"].as_f64()?,
        ))
    });
    let rows: Vec<(String, Vec<f64>, f64, f64)> = floor_row
        .into_iter()
        .chain(
            PEERS
                .iter()
                .flat_map(|p| ["graceful", "crash", "switchover"].map(|k| (p, k)))
                .filter_map(|(p, k)| {
                    let c = &r["failover"][*p][k];
                    let s: Vec<f64> = c["samples_ms"]
                        .as_array()?
                        .iter()
                        .filter_map(Value::as_f64)
                        .collect();
                    Some((
                        format!("{p} {k}"),
                        s,
                        c["p50_ms"].as_f64()?,
                        c["p99_ms"].as_f64()?,
                    ))
                }),
        )
        .collect();
    let (w, left, right, row_h, top) = (960.0, 170.0, 20.0, 34.0, 40.0);
    let h = top + row_h * rows.len() as f64 + 50.0;
    let (lo, hi) = (0.1f64.log10(), 100_000f64.log10());
    let x = |ms: f64| left + (ms.max(0.1).log10() - lo) / (hi - lo) * (w - left - right);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"22\" font-size=\"15\">Failover latency (ms, log scale): dots = samples, | = p50, ◆ = p99</text>\n"
    );
    for tick in [0.1, 1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0] {
        let tx = x(tick);
        let _ = writeln!(
            s,
            "<line x1=\"{tx:.1}\" y1=\"{top}\" x2=\"{tx:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{tick}</text>",
            h - 40.0,
            h - 24.0
        );
    }
    for (i, (label, samples, p50, p99)) in rows.iter().enumerate() {
        let y = top + row_h * (i as f64 + 0.5);
        let color = if label.contains("crash") {
            "#c0392b"
        } else if label.starts_with("switchover") {
            "#1e8449"
        } else {
            "#2471a3"
        };
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            left - 8.0,
            y + 4.0
        );
        for (j, v) in samples.iter().enumerate() {
            let jitter = ((j * 37) % 11) as f64 - 5.0;
            let _ = writeln!(s, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.2\" fill=\"{color}\" fill-opacity=\"0.45\"/>", x(*v), y + jitter);
        }
        let _ = writeln!(s, "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"black\" stroke-width=\"2\"/>", x(*p50), y - 10.0, y + 10.0);
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">◆</text>",
            x(*p99),
            y + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
}
