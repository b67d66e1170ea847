//! The trace checker: masterships by the candidates' own JSON traces.

use crate::*;
use std::path::PathBuf;

/// Masterships by the traces: `became_master` to the last `work` line
/// before the next `lost_master`/`exit`/`became_master` (or the trace's end).
/// `traces`: (candidate, trace file). Returns (overlaps, token regressions).
pub fn trace_check(traces: &[(String, PathBuf)], t0: f64, label: &str) -> (usize, usize) {
    // (start, end, token, candidate)
    let mut spans: Vec<(f64, f64, i64, String)> = Vec::new();
    for (name, trace) in traces {
        let mut open: Option<(f64, f64, i64)> = None;
        for e in events(trace) {
            match e.event.as_str() {
                "became_master" => {
                    if let Some((s, last, tok)) = open.take() {
                        spans.push((s, last, tok, name.clone()));
                    }
                    open = Some((e.t, e.t, e.token.unwrap_or(i64::MIN)));
                }
                "work" => {
                    if let Some(o) = open.as_mut() {
                        o.1 = e.t;
                    }
                }
                "lost_master" | "exit" => {
                    if let Some((s, last, tok)) = open.take() {
                        spans.push((s, last, tok, name.clone()));
                    }
                }
                _ => {}
            }
        }
        if let Some((s, last, tok)) = open {
            spans.push((s, last, tok, name.clone()));
        }
    }
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut overlaps = 0;
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if a.3 != b.3 && b.0 <= a.1 {
                eprintln!(
                    "chaos: [{label}] TRACE OVERLAP: {} master [{:.0}, {:.0}] ms and {} [{:.0}, {:.0}] ms",
                    a.3,
                    a.0 - t0,
                    a.1 - t0,
                    b.3,
                    b.0 - t0,
                    b.1 - t0
                );
                overlaps += 1;
            }
        }
    }
    let mut regressions = 0;
    let mut max = i64::MIN;
    for s in &spans {
        if s.2 < max {
            eprintln!(
                "chaos: [{label}] TRACE TOKEN REGRESSION: {} became master with {} after {max}",
                s.3, s.2
            );
            regressions += 1;
        }
        max = max.max(s.2);
    }
    (overlaps, regressions)
}
