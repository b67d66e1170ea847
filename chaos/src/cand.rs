//! One `zkha run` candidate: its process, its trace and its command's file.

use crate::*;
use std::path::PathBuf;
use std::process::Child;

/// One `zkha run` process and the files it (and its command) write.
pub struct Cand {
    pub child: Child,
    pub name: String,
    pub trace: PathBuf,
    pub work: PathBuf,
    /// Killed or waited for: no signals to it any more.
    pub ended: bool,
    /// Its stderr, when it is a pipe this program reads ([`StderrMode::Stalled`]).
    pub stderr: Option<StderrPipe>,
}

impl Cand {
    pub(crate) fn events(&self) -> Vec<Ev> {
        events(&self.trace)
    }

    pub fn runs(&self) -> Vec<CmdRun> {
        runs(&self.work, &self.name)
    }

    pub fn count(&self, event: &str) -> usize {
        self.events().iter().filter(|e| e.event == event).count()
    }

    /// Master now, by its own trace.
    pub fn is_master_by_trace(&self) -> bool {
        let last =
            self.events().into_iter().rev().find(|e| {
                e.event == "became_master" || e.event == "lost_master" || e.event == "exit"
            });
        !self.ended && last.is_some_and(|e| e.event == "became_master")
    }

    /// Its command, if one is writing now.
    pub fn live_run(&self) -> Option<CmdRun> {
        let now = monotonic_ms();
        self.runs().into_iter().rev().find(|r| r.is_live(now))
    }

    /// Its current session, by its trace's last `connected` line.
    pub fn session(&self) -> Option<i64> {
        self.events()
            .iter()
            .rev()
            .find(|e| e.event == "connected")
            .and_then(|e| e.session)
    }

    /// Became master after `t` (by its trace) and started a command after `t`.
    pub(crate) fn took_over_since(&self, t: f64) -> Option<f64> {
        let became = self
            .events()
            .iter()
            .any(|e| e.event == "became_master" && e.t > t);
        let run = self.runs().into_iter().find(|r| r.first > t)?;
        became.then_some(run.first)
    }

    pub fn signal(&self, sig: i32) -> Result<(), String> {
        if self.ended {
            return Err(format!("{} has already ended", self.name));
        }
        signal_pid(self.child.id(), sig).map_err(|e| format!("{}: {e}", self.name))
    }

    /// SIGKILL; an error if it was not running.
    pub fn kill(&mut self) -> Result<(), String> {
        if self.ended || !matches!(self.child.try_wait(), Ok(None)) {
            return Err(format!("{} is not running", self.name));
        }
        self.ended = true;
        let killed = self.child.kill();
        let _ = self.child.wait();
        killed.map_err(|e| format!("SIGKILL of {}: {e}", self.name))
    }
}

impl Drop for Cand {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
