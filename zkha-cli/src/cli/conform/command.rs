//! The command line: the legacy command and its placeholders, where an
//! instance's role is read from, and which scenarios run. Every mistake
//! here is a usage error (exit 2), found before anything starts.

use zkha::error::Argument;

/// The placeholders conform fills in.
pub const PLACEHOLDERS: [&str; 3] = ["{hosts}", "{path}", "{data}"];

fn usage(reason: String) -> zkha::Error {
    zkha::Error::InvalidArgument {
        argument: Argument::Other,
        reason,
    }
}

/// The legacy command, checked: a program and its arguments, placeholders
/// only among `{hosts}`, `{path}`, `{data}`.
#[derive(Debug, Clone)]
pub struct Legacy {
    words: Vec<String>,
}

impl Legacy {
    pub fn parse(words: &[String]) -> Result<Legacy, zkha::Error> {
        if words.is_empty() || words[0].is_empty() {
            return Err(usage(
                "no legacy command after `--` (e.g. `zkha conform -- ./legacy {hosts} {path} {data}`)"
                    .into(),
            ));
        }
        for w in words {
            let mut rest = w.as_str();
            while let Some(open) = rest.find('{') {
                let Some(len) = rest[open..].find('}') else {
                    break;
                };
                let name = &rest[open..open + len + 1];
                if name.len() > 2
                    && name[1..name.len() - 1]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !PLACEHOLDERS.contains(&name)
                {
                    return Err(usage(format!(
                        "unknown placeholder {name} in {w:?}: conform fills in {}",
                        PLACEHOLDERS.join(", ")
                    )));
                }
                rest = &rest[open + len + 1..];
            }
        }
        if !words.iter().any(|w| w.contains("{path}")) {
            return Err(usage(
                "the legacy command names no {path}: conform gives each run a fresh master path"
                    .into(),
            ));
        }
        Ok(Legacy {
            words: words.to_vec(),
        })
    }

    /// The command for one instance.
    pub fn expand(&self, hosts: &str, path: &str, data: &str) -> Vec<String> {
        self.words
            .iter()
            .map(|w| {
                w.replace("{hosts}", hosts)
                    .replace("{path}", path)
                    .replace("{data}", data)
            })
            .collect()
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }
}

/// Where an instance's role (master or not) is read from.
#[derive(Debug, Clone)]
pub enum RoleFrom {
    /// The master node: its owner session (and data) names the instance.
    Node,
    /// A line of the instance's stdout/stderr matching this pattern: the
    /// instance claims mastership from then on (until it exits).
    Log(regex::Regex),
}

impl RoleFrom {
    pub fn parse(s: &str) -> Result<RoleFrom, zkha::Error> {
        if s == "node" {
            return Ok(RoleFrom::Node);
        }
        let Some(pattern) = s.strip_prefix("log:") else {
            return Err(usage(format!(
                "--role-from {s:?}: `node` or `log:REGEX` (e.g. log:'became master')"
            )));
        };
        if pattern.is_empty() {
            return Err(usage(
                "--role-from log: needs a pattern after `log:`".into(),
            ));
        }
        regex::Regex::new(pattern)
            .map(RoleFrom::Log)
            .map_err(|e| usage(format!("--role-from: bad regex {pattern:?}: {e}")))
    }

    pub fn describe(&self) -> String {
        match self {
            RoleFrom::Node => "node".into(),
            RoleFrom::Log(r) => format!("log:{}", r.as_str()),
        }
    }
}

/// `--scenarios a,b,c` (default: all, in their order).
pub fn parse_scenarios(list: Option<&str>) -> Result<Vec<Scenario>, zkha::Error> {
    let Some(list) = list else {
        return Ok(Scenario::ALL.to_vec());
    };
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let s = Scenario::ALL
            .iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                usage(format!(
                    "unknown scenario {name:?}: {}",
                    Scenario::ALL
                        .iter()
                        .map(|s| s.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        if !out.contains(s) {
            out.push(*s);
        }
    }
    if out.is_empty() {
        return Err(usage("--scenarios names no scenario".into()));
    }
    // Always in the script's order: each starts from the fleet the one
    // before left.
    out.sort_by_key(|s| Scenario::ALL.iter().position(|x| x == s));
    Ok(out)
}

/// One scripted scenario of `zkha conform` (`--scenarios`), in the order
/// they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Cold,
    Contenders,
    Graceful,
    Kill,
    Expiry,
    Restart,
    Partition,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Cold,
        Scenario::Contenders,
        Scenario::Graceful,
        Scenario::Kill,
        Scenario::Expiry,
        Scenario::Restart,
        Scenario::Partition,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Cold => "cold",
            Scenario::Contenders => "contenders",
            Scenario::Graceful => "graceful",
            Scenario::Kill => "kill",
            Scenario::Expiry => "expiry",
            Scenario::Restart => "restart",
            Scenario::Partition => "partition",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn placeholders_are_filled_in_and_unknown_ones_refused() {
        let l = Legacy::parse(&words("./legacy --zk={hosts} {path} {data} {")).unwrap();
        assert_eq!(
            l.expand("h:1", "/p/t", "10.0.0.1"),
            words("./legacy --zk=h:1 /p/t 10.0.0.1 {")
        );
        let e = Legacy::parse(&words("./legacy {hosts} {path} {ip}")).unwrap_err();
        assert!(e.to_string().contains("unknown placeholder {ip}"), "{e}");
        assert!(Legacy::parse(&[]).is_err());
        assert!(Legacy::parse(&words("./legacy {hosts}")).is_err());
    }

    #[test]
    fn role_from_and_scenarios() {
        assert!(matches!(RoleFrom::parse("node"), Ok(RoleFrom::Node)));
        assert!(matches!(
            RoleFrom::parse("log:became master"),
            Ok(RoleFrom::Log(_))
        ));
        assert!(RoleFrom::parse("log:(")
            .unwrap_err()
            .to_string()
            .contains("bad regex"));
        assert!(RoleFrom::parse("trace").is_err());
        let s = parse_scenarios(Some("expiry,cold")).unwrap();
        assert_eq!(s, vec![Scenario::Cold, Scenario::Expiry]);
        assert!(parse_scenarios(Some("cold,nope")).is_err());
    }
}
