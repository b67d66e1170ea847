//! What the candidates and their commands wrote: the events of a trace,
//! and each command process's lines.

use crate::*;
use std::path::Path;

/// One line of a trace.
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    pub(crate) t: f64,
    pub(crate) event: String,
    pub(crate) token: Option<i64>,
    /// `connected`: the session id.
    pub(crate) session: Option<i64>,
    /// `lost_master`: why.
    pub(crate) reason: Option<String>,
}

pub(crate) fn events(trace: &Path) -> Vec<Ev> {
    let mut evs: Vec<Ev> = std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| Ev {
            t: v["t"].as_f64().unwrap_or(0.0),
            event: v["event"].as_str().unwrap_or_default().to_owned(),
            token: v["token"].as_i64(),
            session: v["session"]
                .as_str()
                .and_then(|x| x.strip_prefix("0x"))
                .and_then(|x| u64::from_str_radix(x, 16).ok())
                .map(|x| x as i64),
            reason: v["reason"].as_str().map(str::to_owned),
        })
        .collect();
    // Two threads write a trace; each line's time is taken before the write.
    evs.sort_by(|a, b| a.t.total_cmp(&b.t));
    evs
}

/// One command process: the lines it wrote.
#[derive(Debug, Clone)]
pub struct CmdRun {
    pub cand: String,
    pub pid: u32,
    /// `None` if its token was not a number.
    pub token: Option<i64>,
    pub first: f64,
    pub last: f64,
    /// Wrote `stop` (SIGTERM from its supervisor).
    pub stopped: bool,
    /// The pid of its tree's root (its own pid for the command itself).
    pub tree: u32,
    /// When it wrote `term` (`--slow-stop`: SIGTERM came, it stops later).
    pub term: Option<f64>,
    /// Line times.
    pub(crate) times: Vec<f64>,
}

impl CmdRun {
    pub(crate) fn is_live(&self, now: f64) -> bool {
        !self.stopped && now - self.last < LIVE_MS
    }
}

/// The runs in a command file, in order of their first line.
pub fn runs(work: &Path, cand: &str) -> Vec<CmdRun> {
    let text = std::fs::read_to_string(work).unwrap_or_default();
    let mut out: Vec<CmdRun> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // A process the command started adds its tree's root pid.
        let (t, token, pid, kind, tree) = match f[..] {
            [t, token, pid, kind] => (t, token, pid, kind, None),
            [t, token, pid, kind, tree] => (t, token, pid, kind, Some(tree)),
            _ => continue,
        };
        let (Ok(t), Ok(pid)) = (t.parse::<f64>(), pid.parse::<u32>()) else {
            continue;
        };
        let tree = match tree.map(str::parse::<u32>) {
            None => pid,
            Some(Ok(tree)) => tree,
            Some(Err(_)) => continue,
        };
        let run = match out.iter_mut().rposition(|r| r.pid == pid) {
            Some(i) => &mut out[i],
            None => {
                out.push(CmdRun {
                    cand: cand.to_owned(),
                    pid,
                    token: token.parse().ok(),
                    first: t,
                    last: t,
                    stopped: false,
                    tree,
                    term: None,
                    times: Vec::new(),
                });
                out.last_mut().unwrap()
            }
        };
        run.first = run.first.min(t);
        run.last = run.last.max(t);
        run.times.push(t);
        match kind {
            "stop" => run.stopped = true,
            "term" => run.term = Some(run.term.map_or(t, |x: f64| x.min(t))),
            _ => {}
        }
    }
    out.sort_by(|a, b| a.first.total_cmp(&b.first));
    out
}
