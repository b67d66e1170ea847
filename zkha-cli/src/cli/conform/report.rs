//! The report: the scenarios as they went, each S line's verdict with its
//! evidence, each F line the binary shows; as text or JSON (`--json`, the
//! same content for CI).

use super::judge::{self, Finding, Verdict, F_LINES, S_LINES};
use super::scenarios::Outcome;
use serde_json::{json, Value};

pub struct Report {
    pub command: Vec<String>,
    pub hosts: String,
    pub path: String,
    pub role: String,
    pub poll_ms: u64,
    pub settle_ms: u64,
    pub session_ms: u64,
    pub outcomes: Vec<Outcome>,
    pub findings: Vec<Finding>,
    pub seconds: f64,
}

impl Report {
    /// Every S line that could be observed passes.
    pub fn conforms(&self) -> bool {
        self.failed().is_empty()
    }

    pub fn failed(&self) -> Vec<&'static str> {
        S_LINES
            .iter()
            .filter(|(id, _)| judge::verdict(id, &self.findings) == Verdict::Fail)
            .map(|(id, _)| *id)
            .collect()
    }

    fn lines(&self, which: &[(&'static str, &'static str)]) -> Vec<Value> {
        which
            .iter()
            .map(|(id, title)| {
                let v = judge::verdict(id, &self.findings);
                let mine: Vec<&Finding> = self.findings.iter().filter(|f| f.line == *id).collect();
                let evidence: Vec<Value> = mine
                    .iter()
                    .map(|f| {
                        json!({
                            "scenario": f.scenario,
                            "ok": f.ok,
                            "text": f.text,
                        })
                    })
                    .collect();
                let mut line = json!({
                    "id": id,
                    "title": title,
                    "verdict": v.name(),
                    "evidence": evidence,
                });
                if let Some(variant) = mine.iter().find_map(|f| f.variant) {
                    line["variant"] = json!(variant);
                }
                if v == Verdict::NotObservable {
                    line["why"] = json!(judge::why_not_observable(id));
                }
                line
            })
            .collect()
    }

    pub fn json(&self) -> Value {
        json!({
            "command": self.command,
            "hosts": self.hosts,
            "path": self.path,
            "role_from": self.role,
            "poll_ms": self.poll_ms,
            "settle_ms": self.settle_ms,
            "session_timeout_ms": self.session_ms,
            "slack_ms": judge::SLACK_MS,
            "seconds": (self.seconds * 10.0).round() / 10.0,
            "scenarios": self.outcomes.iter().map(|o| json!({
                "name": o.scenario.name(),
                "ok": o.error.is_none(),
                "error": o.error,
                "seconds": (o.seconds * 10.0).round() / 10.0,
                "notes": o.notes,
            })).collect::<Vec<_>>(),
            "behaviours": self.lines(&S_LINES),
            "flaws": self.lines(&F_LINES),
            "conforms": self.conforms(),
            "failed": self.failed(),
        })
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut say = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        say(format!("zkha conform: {}", self.command.join(" ")));
        say(format!(
            "embedded ZooKeeper {}, master path {}, role from {}; expected: poll {} ms, settle {} ms, \
             session timeout {} ms (slack {:.0} ms)",
            self.hosts,
            self.path,
            self.role,
            self.poll_ms,
            self.settle_ms,
            self.session_ms,
            judge::SLACK_MS
        ));
        say(String::new());
        say("Scenarios:".into());
        for o in &self.outcomes {
            say(format!(
                "  {:<11} {:<6} {:>5.1} s{}",
                o.scenario.name(),
                if o.error.is_none() { "done" } else { "FAILED" },
                o.seconds,
                o.error
                    .as_ref()
                    .map(|e| format!("  {e}"))
                    .unwrap_or_default()
            ));
            for n in &o.notes {
                say(format!("      {n}"));
            }
        }
        for (head, which) in [
            (
                "Behaviours of the design (each must pass where observable):",
                &S_LINES[..],
            ),
            (
                "Flaws of the design (reported, never a failure):",
                &F_LINES[..],
            ),
        ] {
            say(String::new());
            say(head.into());
            for line in self.lines(which) {
                let variant = line
                    .get("variant")
                    .and_then(Value::as_str)
                    .map(|v| format!(" [{v}]"))
                    .unwrap_or_default();
                say(format!(
                    "  {:<4} {:<15} {}{variant}",
                    line["id"].as_str().unwrap_or_default(),
                    line["verdict"].as_str().unwrap_or_default().to_uppercase(),
                    line["title"].as_str().unwrap_or_default(),
                ));
                for e in line["evidence"].as_array().into_iter().flatten() {
                    let mark = match e["ok"].as_bool() {
                        Some(true) => "+",
                        Some(false) => "-",
                        None => "·",
                    };
                    say(format!(
                        "         {mark} [{}] {}",
                        e["scenario"].as_str().unwrap_or_default(),
                        e["text"].as_str().unwrap_or_default()
                    ));
                }
                if let Some(why) = line.get("why").and_then(Value::as_str) {
                    say(format!("         · {why}"));
                }
            }
        }
        say(String::new());
        let failed = self.failed();
        say(if failed.is_empty() {
            format!(
                "Result: conforms: every observable behaviour passes ({:.1} s).",
                self.seconds
            )
        } else {
            format!(
                "Result: does not conform: {} failed ({:.1} s).",
                failed.join(", "),
                self.seconds
            )
        });
        out
    }
}
