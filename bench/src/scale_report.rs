//! The "Scale with candidates" section of BENCHMARKS.md and its plot,
//! BENCHMARKS-scale.svg, from results.json's `scale` object.

use crate::scale::MODES;
use crate::Options;
use serde_json::Value;
use std::fmt::Write as _;

const MODE_NAMES: [(&str, &str, &str); 3] = [
    ("watch", "safe, watch mode", "#2471a3"),
    ("sequence", "safe, sequence mode", "#1e8449"),
    ("seed", "seed profile (polls every 1 s)", "#c0392b"),
];

fn f(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
        None => "n/a".into(),
    }
}

/// The sizes of one mode, in increasing order, with their cells.
fn cells<'a>(r: &'a Value, mode: &str) -> Vec<(usize, &'a Value)> {
    let mut v: Vec<(usize, &Value)> = r["scale"][mode]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, c)| Some((k.parse().ok()?, c)))
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|(n, _)| *n);
    v
}

/// Appends the section (nothing when the run had no `scale`).
pub fn section(md: &mut String, r: &Value, svg_name: &str) -> std::fmt::Result {
    if let Some(e) = r["scale_error"].as_str() {
        writeln!(md, "\n## Scale with candidates\n")?;
        writeln!(
            md,
            "Not measured in this run: its scale part failed ({e}); `make bench` exits non-zero. \
             Run it alone with `--only scale`."
        )?;
    }
    if MODES.iter().all(|m| cells(r, m).is_empty()) {
        return Ok(());
    }
    let t = r["session_timeout_ms"].as_u64().unwrap_or(0);
    writeln!(md, "\n## Scale with candidates\n")?;
    writeln!(
        md,
        "N candidates, each an in-process `Elector` with a session of its own, on one path of the same server. \
         Graceful: the master calls `resign()` (its node is deleted at once); latency from that call to another \
         candidate's `on_became_master`. Crash: every candidate reaches the server through a TCP proxy of its own, and \
         the master's proxy turns into a black hole (no close: the server expires the session after {t} ms); the \
         crashed candidate is then replaced, so N stays N. Notifications: node watch notifications summed over all \
         candidates, from the resign until every standby waits again. A crash is noticed when the server expires the session, on a tick \
         boundary, the timeout after it last heard from the master: up to a ping interval (a third of the timeout) early. Idle writes/s: the server's write transactions \
         per second while nothing fails over (zxid delta: a create refused with NODEEXISTS is an error transaction of \
         its own, a read or a ping is not); idle packets/s: every request received, pings included (`mntr` \
         `zk_packets_received`). Server CPU: the JVM's utime + stime from the resign until 300 ms after the takeover, per \
         graceful failover, and the same less its idle rate over as long (what the failover itself costs; /proc counts \
         in 10 ms ticks, and the idle rate is noisy where idle work dominates, as with the seed's polls). \
         p99 is the nearest rank: with fewer than 100 samples it is the largest. Unplanned expiries: sessions that \
         expired without a crash (a busy machine that missed the pings); a seed candidate never recovers from one \
         (F2) and is replaced. Failed rounds: a resign that failed (the seed's delete timed out) or no takeover by \
         another candidate; counted, not measured.\n"
    )?;
    writeln!(
        md,
        "| mode | N | graceful p50 ms | graceful p99 ms (n) | crash p50 ms (n) | notifications / failover | idle writes/s | idle packets/s | server CPU ms / failover (above idle) | unplanned expiries / failed rounds |"
    )?;
    writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for (mode, name, _) in MODE_NAMES {
        for (n, c) in cells(r, mode) {
            writeln!(
                md,
                "| {name} | {n} | {} | {} ({}) | {} ({}) | {} | {} | {} | {} ({}) | {} / {} |",
                f(&c["graceful_p50_ms"]),
                f(&c["graceful_p99_ms"]),
                c["graceful_n"],
                f(&c["crash_p50_ms"]),
                c["crash_n"],
                f(&c["notifications_per_failover"]),
                f(&c["idle_server_requests_per_s"]),
                f(&c["idle_packets_received_per_s"]),
                f(&c["server_cpu_ms_per_failover"]),
                f(&c["server_cpu_ms_per_failover_above_idle"]),
                c["expiries_graceful_phase"].as_u64().unwrap_or(0)
                    + c["expiries_crash_phase"].as_u64().unwrap_or(0),
                c["graceful_failed"].as_u64().unwrap_or(0)
                    + c["crash_failed"].as_u64().unwrap_or(0),
            )?;
        }
    }
    writeln!(
        md,
        "\nWatch mode wakes every standby at each failover (the herd: notifications grow with N, and each woken standby \
         sends a create that fails but one); sequence mode wakes the successor only. The seed's standbys set no watch \
         and poll instead: each sends one create a second, refused while a master holds the node, so its idle writes \
         grow with N, and the more standbys poll, the sooner one of them finds the node gone.\n"
    )?;
    writeln!(
        md,
        "In the plot (log-log), a zero is drawn at the bottom of its panel.\n"
    )?;
    writeln!(md, "![scale with candidates]({svg_name})")?;
    Ok(())
}

/// `--only scale`: the section and its plot go to the output directory
/// (target/bench/scale.md, BENCHMARKS-scale.svg there), leaving the
/// repository's BENCHMARKS.md to full runs.
pub fn write_partial(o: &Options, r: &Value) -> Result<(), Box<dyn std::error::Error>> {
    let mut md = String::new();
    section(&mut md, r, "BENCHMARKS-scale.svg")?;
    std::fs::write(o.out_dir.join("scale.md"), md)?;
    std::fs::write(o.out_dir.join("BENCHMARKS-scale.svg"), svg(r))?;
    eprintln!(
        "bench: wrote {} and BENCHMARKS-scale.svg there",
        o.out_dir.join("scale.md").display()
    );
    Ok(())
}

/// One line of a panel: its legend, colour, dashing, and (N, value) points.
struct Series(String, &'static str, bool, Vec<(f64, f64)>);

/// A panel: series of (N, value) on log-x, log-y axes.
struct Panel<'a> {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    title: &'a str,
    y_lo: f64,
    y_hi: f64,
}

impl Panel<'_> {
    fn draw(&self, s: &mut String, n_lo: f64, n_hi: f64, series: &[Series]) {
        let (lx, ly) = (n_lo.log10(), n_hi.log10());
        let (yl, yh) = (self.y_lo.log10(), self.y_hi.log10());
        let px = |n: f64| self.x + (n.log10() - lx) / (ly - lx).max(1e-9) * self.w;
        let py = |v: f64| self.y + self.h - (v.max(self.y_lo).log10() - yl) / (yh - yl) * self.h;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"14\">{}</text>",
            self.x,
            self.y - 12.0,
            self.title
        );
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#999\"/>",
            self.x, self.y, self.w, self.h
        );
        let mut tick = 10f64.powf(yl.ceil());
        while tick <= self.y_hi * 1.0001 {
            let ty = py(tick);
            let _ = writeln!(
                s,
                "<line x1=\"{:.1}\" y1=\"{ty:.1}\" x2=\"{:.1}\" y2=\"{ty:.1}\" stroke=\"#eee\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                self.x,
                self.x + self.w,
                self.x - 6.0,
                ty + 4.0,
                tick
            );
            tick *= 10.0;
        }
        let mut ns: Vec<f64> = series
            .iter()
            .flat_map(|Series(_, _, _, pts)| pts.iter().map(|(n, _)| *n))
            .collect();
        ns.sort_by(f64::total_cmp);
        ns.dedup();
        for n in ns {
            let tx = px(n);
            let _ = writeln!(
                s,
                "<line x1=\"{tx:.1}\" y1=\"{:.1}\" x2=\"{tx:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/><text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{n}</text>",
                self.y,
                self.y + self.h,
                self.y + self.h + 16.0
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">candidates (N, log scale)</text>",
            self.x + self.w / 2.0,
            self.y + self.h + 34.0
        );
        for (i, Series(label, color, dashed, pts)) in series.iter().enumerate() {
            let dash = if *dashed {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            };
            let line: Vec<String> = pts
                .iter()
                .map(|(n, v)| format!("{:.1},{:.1}", px(*n), py(*v)))
                .collect();
            let _ = writeln!(
                s,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>",
                line.join(" ")
            );
            for (n, v) in pts {
                let _ = writeln!(
                    s,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>",
                    px(*n),
                    py(*v)
                );
            }
            let ly = self.y + self.h + 58.0 + 15.0 * i as f64;
            let _ = writeln!(
                s,
                "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/><text x=\"{:.1}\" y=\"{:.1}\">{label}</text>",
                self.x + 8.0,
                ly - 4.0,
                self.x + 30.0,
                ly - 4.0,
                self.x + 36.0,
                ly
            );
        }
    }
}

/// Two panels side by side: failover latency p50 against N (graceful solid,
/// crash dashed), and the cost against N (notifications per failover solid,
/// idle writes per second dashed); both log-log.
pub fn svg(r: &Value) -> String {
    let series = |key: &str, dashed: bool, what: &str| -> Vec<Series> {
        MODE_NAMES
            .iter()
            .filter_map(|(mode, name, color)| {
                let pts: Vec<(f64, f64)> = cells(r, mode)
                    .iter()
                    .filter_map(|(n, c)| Some((*n as f64, c[key].as_f64()?)))
                    .collect();
                (!pts.is_empty()).then(|| Series(format!("{name}: {what}"), color, dashed, pts))
            })
            .collect()
    };
    let mut latency = series("graceful_p50_ms", false, "graceful");
    latency.extend(series("crash_p50_ms", true, "crash"));
    let mut cost = series(
        "notifications_per_failover",
        false,
        "notifications/failover",
    );
    cost.extend(series("idle_server_requests_per_s", true, "idle writes/s"));
    let ns: Vec<f64> = MODES
        .iter()
        .flat_map(|m| cells(r, m).into_iter().map(|(n, _)| n as f64))
        .collect();
    let n_lo = ns.iter().copied().fold(f64::INFINITY, f64::min).min(10.0) * 0.8;
    let n_hi = ns.iter().copied().fold(0.0, f64::max).max(20.0) * 1.25;
    let (w, h) = (1100.0, 560.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    Panel {
        x: 60.0,
        y: 40.0,
        w: 440.0,
        h: 360.0,
        title: "Failover latency p50, ms (log): graceful solid, crash dashed",
        y_lo: 0.1,
        y_hi: 10_000.0,
    }
    .draw(&mut s, n_lo, n_hi, &latency);
    Panel {
        x: 620.0,
        y: 40.0,
        w: 440.0,
        h: 360.0,
        title: "Notifications/failover (solid), idle writes/s (dashed), log",
        y_lo: 0.1,
        y_hi: 10_000.0,
    }
    .draw(&mut s, n_lo, n_hi, &cost);
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn section_has_a_row_per_mode_and_size_in_order_and_the_plot_a_line_per_series() {
        let cell = |g: f64| {
            json!({"graceful_p50_ms": g, "graceful_p99_ms": 2.0 * g, "graceful_n": 5, "crash_p50_ms": 900.0,
                   "crash_n": 3, "notifications_per_failover": 2.0, "idle_server_requests_per_s": 0.0,
                   "idle_packets_received_per_s": 30.0, "server_cpu_ms_per_failover": 10.0,
                   "server_cpu_ms_per_failover_above_idle": 5.0, "expiries_graceful_phase": 0,
                   "expiries_crash_phase": 1})
        };
        let r = json!({"session_timeout_ms": 1000,
                       "scale": {"sequence": {"200": cell(7.0), "10": cell(3.0)}}});
        let mut md = String::new();
        section(&mut md, &r, "x.svg").unwrap();
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| safe")).collect();
        assert_eq!(rows.len(), 2, "{md}");
        assert!(
            rows[0].starts_with("| safe, sequence mode | 10 | 3.0 | 6.0 (5) | 900 (3) |"),
            "{}",
            rows[0]
        );
        assert!(rows[1].contains("| 200 | 7.0 |"), "{}", rows[1]);
        assert!(rows[0].ends_with("| 1 / 0 |"), "{}", rows[0]);
        let plot = svg(&r);
        // graceful, crash, notifications, idle writes: one line each.
        assert_eq!(plot.matches("<polyline").count(), 4, "{plot}");
        let mut empty = String::new();
        section(&mut empty, &json!({}), "x.svg").unwrap();
        assert!(empty.is_empty());
    }
}
