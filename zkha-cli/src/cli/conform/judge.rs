//! The judgement, line by line: what each scenario found (a [`Finding`]
//! for an S or F line), the thresholds it is judged by, and each line's
//! verdict. The thresholds are the design's numbers (docs/design.md: poll,
//! 2 s settle, session timeout) plus [`SLACK_MS`]; nothing else.

/// What a takeover may take beyond the design's own numbers: the process's
/// scheduling, the C client's connect and the server's session tick (the
/// embedded server's 200 ms tick rounds expiries up by up to one).
pub const SLACK_MS: f64 = 1000.0;

/// How far a standby's measured poll may be from the expected one: 20 % or
/// 100 ms, whichever is more (the loop's create round trip and sleep
/// granularity add a few ms; a different poll is off by far more).
pub fn poll_tolerance(poll_ms: f64) -> f64 {
    (poll_ms * 0.2).max(100.0)
}

/// The lines, in order, with their titles.
pub const S_LINES: [(&str, &str); 9] = [
    ("S1", "session start"),
    ("S2", "watcher dispatch"),
    ("S3", "expiry: init again with the old clientid"),
    ("S4", "run loop: poll, one master"),
    ("S5", "change_to_master: ephemeral node, data + NUL"),
    ("S6", "the parent must exist"),
    ("S7", "sequence variant"),
    ("S8", "watch variant"),
    ("S9", "C-library logging"),
];

pub const F_LINES: [(&str, &str); 10] = [
    ("F1", "split brain while cut off"),
    ("F2", "dead clientid reuse"),
    ("F3", "ambiguous create"),
    ("F4", "prefix compare"),
    ("F5", "sleep is not fencing"),
    ("F6", "polling"),
    ("F7", "swallowed errors"),
    ("F8", "lifecycle races"),
    ("F9", "data races"),
    ("F10", "open ACL"),
];

/// One piece of evidence for a line. For an S line `ok` is pass/fail; for
/// an F line it is "the binary shows the flaw" (true) or not (false);
/// `None`: evidence only, no verdict.
#[derive(Debug, Clone)]
pub struct Finding {
    pub line: &'static str,
    pub ok: Option<bool>,
    pub scenario: &'static str,
    pub text: String,
    /// For S7/S8: the variant the binary uses.
    pub variant: Option<&'static str>,
}

impl Finding {
    pub fn new(line: &'static str, scenario: &'static str, ok: Option<bool>, text: String) -> Self {
        Finding {
            line,
            ok,
            scenario,
            text,
            variant: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// S: nothing the scenarios run could show. F: likewise.
    NotObservable,
    /// F only: the binary shows the flaw.
    Shown,
    /// F only: the scenario ran and the flaw did not show.
    NotShown,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NotObservable => "not observable",
            Verdict::Shown => "shown",
            Verdict::NotShown => "not shown",
        }
    }
}

/// A line's verdict from its findings: an S line fails if any finding
/// failed, passes if one passed and none failed; an F line is shown if
/// any finding shows it.
pub fn verdict(line: &str, findings: &[Finding]) -> Verdict {
    let mine: Vec<&Finding> = findings.iter().filter(|f| f.line == line).collect();
    let any = |v: bool| mine.iter().any(|f| f.ok == Some(v));
    if line.starts_with('S') {
        if any(false) {
            Verdict::Fail
        } else if any(true) {
            Verdict::Pass
        } else {
            Verdict::NotObservable
        }
    } else if any(true) {
        Verdict::Shown
    } else if any(false) {
        Verdict::NotShown
    } else {
        Verdict::NotObservable
    }
}

/// Why a line without findings is not observable: what it would take.
pub fn why_not_observable(line: &str) -> &'static str {
    match line {
        "S1" => "no instance connected (cold start not run or failed)",
        "S2" => "needs the server restart scenario",
        "S3" => "needs the expiry or partition scenario with a legacy master",
        "S4" => "needs the contenders / graceful / kill scenarios",
        "S5" => "no legacy instance became master by the node",
        "S6" => "needs the cold start, and a create while the parent was missing",
        "S7" | "S8" => "no standby was seen (contenders scenario)",
        "S9" => {
            "only the binary's stderr shows it: no line in the C client's format \
             (`...:ZOO_INFO@...`) was seen, so its log goes elsewhere (zoo_set_log_stream) \
             or its level hides every line of these scenarios"
        }
        "F1" => {
            "with --role-from node a cut-off instance cannot be seen claiming mastership \
             (it cannot reach the node); give --role-from log:REGEX with a line the binary \
             writes as master"
        }
        "F2" => "needs the expiry or partition scenario",
        "F3" => "no scenario loses a create's reply",
        "F4" => "how the binary recognises itself in the node is internal to it",
        "F5" => "what the binary hands its work is internal to it",
        "F6" => "no standby was seen (contenders scenario)",
        "F7" => "needs the cold start's missing parent",
        "F8" | "F9" => "internal to the binary (races need its cooperation: a sanitizer)",
        "F10" => "no create of the master node was seen",
        _ => "",
    }
}

/// S4: a standby's creates, `intervals` between them (ms), against `poll`.
pub fn poll_finding(name: &str, intervals: &[f64], poll_ms: f64) -> Finding {
    let mut sorted = intervals.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let tol = poll_tolerance(poll_ms);
    let ok = (median - poll_ms).abs() <= tol;
    Finding::new(
        "S4",
        "contenders",
        Some(ok),
        format!(
            "{name} (standby) created every {median:.0} ms (median of {} intervals; \
             expected the poll {poll_ms:.0} ms ± {tol:.0})",
            intervals.len()
        ),
    )
}

/// A takeover in `took` ms against `bound` (ms) built from `parts`.
pub fn takeover_finding(
    line: &'static str,
    scenario: &'static str,
    what: String,
    took: f64,
    bound: f64,
    parts: &str,
) -> Finding {
    Finding::new(
        line,
        scenario,
        Some(took <= bound),
        format!("{what}: {took:.0} ms (at most {bound:.0} ms: {parts})"),
    )
}

/// The node's data as the report shows it: hex, and the text.
pub fn bytes(data: &[u8]) -> String {
    let hex: Vec<String> = data.iter().map(|b| format!("{b:02x}")).collect();
    format!("{} ({:?})", hex.join(" "), String::from_utf8_lossy(data))
}

/// S5: the node's bytes against the instance's data + NUL.
pub fn data_finding(name: &str, expected: &str, data: &[u8]) -> Finding {
    let mut want = expected.as_bytes().to_vec();
    want.push(0);
    let ok = data == want.as_slice();
    let why = if ok {
        "= {data} + NUL".to_owned()
    } else if data == expected.as_bytes() {
        "no trailing NUL: the design writes strlen(ip)+1 bytes".to_owned()
    } else {
        format!("expected {}", bytes(&want))
    };
    Finding::new(
        "S5",
        "cold",
        Some(ok),
        format!("{name}'s node data {}: {why}", bytes(data)),
    )
}

/// F10 and S5's flags from the master's create: ACL open, flags EPHEMERAL.
pub fn create_findings(name: &str, flags: i32, acl: &[(i32, String, String)]) -> Vec<Finding> {
    let mut out = Vec::new();
    let open = acl
        .iter()
        .any(|(p, s, i)| *p == 31 && s == "world" && i == "anyone");
    let acl_text: Vec<String> = acl
        .iter()
        .map(|(p, s, i)| format!("{s}:{i} perms {p}"))
        .collect();
    out.push(Finding::new(
        "F10",
        "cold",
        Some(open),
        format!(
            "{name} created the node with ACL [{}]{}",
            acl_text.join(", "),
            if open {
                ": ZOO_OPEN_ACL_UNSAFE, anyone may delete it"
            } else {
                ""
            }
        ),
    ));
    let ephemeral = flags & 1 != 0;
    let sequence = flags & 2 != 0;
    out.push(Finding::new(
        "S5",
        "cold",
        Some(ephemeral && flags & !3 == 0),
        format!(
            "{name}'s create flags {flags} ({})",
            match (ephemeral, sequence) {
                (true, false) => "ZOO_EPHEMERAL",
                (true, true) => "ZOO_EPHEMERAL|ZOO_SEQUENCE",
                (false, false) => "persistent: not the design's ephemeral node",
                (false, true) => "persistent sequential: not the design's ephemeral node",
            }
        ),
    ));
    let mut s7 = Finding::new(
        "S7",
        "cold",
        Some(true),
        if sequence {
            format!("{name} creates with ZOO_SEQUENCE: the sequence variant (S7)")
        } else {
            format!("not used: {name} creates the plain path (S5's ephemeral node)")
        },
    );
    s7.variant = Some(if sequence { "sequence" } else { "plain" });
    out.push(s7);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let f = |line, ok| Finding::new(line, "x", ok, String::new());
        assert_eq!(verdict("S5", &[f("S5", Some(true))]), Verdict::Pass);
        assert_eq!(
            verdict("S5", &[f("S5", Some(true)), f("S5", Some(false))]),
            Verdict::Fail
        );
        assert_eq!(verdict("S5", &[f("S5", None)]), Verdict::NotObservable);
        assert_eq!(verdict("F1", &[f("F1", Some(true))]), Verdict::Shown);
        assert_eq!(verdict("F1", &[f("F1", Some(false))]), Verdict::NotShown);
        assert_eq!(verdict("F1", &[]), Verdict::NotObservable);
    }

    #[test]
    fn thresholds() {
        assert!(poll_finding("a", &[255.0, 251.0, 260.0], 250.0).ok == Some(true));
        assert!(poll_finding("a", &[505.0, 501.0, 510.0], 250.0).ok == Some(false));
        assert!(poll_finding("a", &[1004.0, 1010.0], 1000.0).ok == Some(true));
        assert_eq!(data_finding("a", "10.0.0.1", b"10.0.0.1\0").ok, Some(true));
        let no_nul = data_finding("a", "10.0.0.1", b"10.0.0.1");
        assert_eq!(no_nul.ok, Some(false));
        assert!(no_nul.text.contains("no trailing NUL"), "{}", no_nul.text);
    }
}
