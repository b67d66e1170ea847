//! The errors of `run --config FILE`, named by the file, and the key (and
//! its line) at fault: a bad file ([`ConfigError`]), and an error of `run`
//! itself caused by a value the file gave ([`FromFile`], made by
//! [`Origin::attribute`]).

use std::fmt;
use std::path::PathBuf;

/// A bad configuration file: one line naming the file, and the line and key
/// at fault when there is one.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub(super) file: PathBuf,
    pub(super) line: Option<usize>,
    pub(super) key: Option<String>,
    pub(super) message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The file, and the keys whose values were taken from it (not overridden
/// on the command line), to name them in `run`'s own errors.
#[derive(Debug, Clone)]
pub struct Origin {
    pub(super) file: PathBuf,
    /// Each key, and its line in the file.
    pub(super) keys: Vec<(String, Option<usize>)>,
}

/// An error of `run` caused by a value from the file: the error, named by
/// file and key. Always bad usage (exit 2), like the error it wraps.
#[derive(Debug)]
pub struct FromFile {
    file: PathBuf,
    keys: Vec<(String, Option<usize>)>,
    error: Box<dyn std::error::Error>,
}

impl fmt::Display for FromFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        match &self.keys[..] {
            [(key, line)] => {
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                }
                write!(f, ": key `{key}`")?;
            }
            keys => {
                let keys: Vec<String> = keys.iter().map(|(k, _)| format!("`{k}`")).collect();
                write!(f, ": keys {}", keys.join(", "))?;
            }
        }
        write!(f, ": {}", self.error)
    }
}

impl std::error::Error for FromFile {}

impl Origin {
    /// Names the file and key behind an invalid-argument error of `run`
    /// (checks made after parsing: a path, the hosts, --grace against
    /// --session-timeout...): the keys from the file the message mentions
    /// as flags (`--grace`), or, if it names no flag, those of the kind of
    /// argument it rejects.
    /// Other errors, and errors about values from the command line, are
    /// returned as they are.
    pub fn attribute(&self, error: Box<dyn std::error::Error>) -> Box<dyn std::error::Error> {
        let Some(zkha::Error::InvalidArgument { argument, reason }) =
            error.downcast_ref::<zkha::Error>()
        else {
            return error;
        };
        let mentioned: Vec<_> = self
            .keys
            .iter()
            .filter(|(k, _)| mentions_flag(reason, k))
            .cloned()
            .collect();
        // A message that names flags is about those flags only.
        let keys: Vec<_> = if !mentioned.is_empty() || reason.contains("--") {
            mentioned
        } else {
            let kind = keys_for(*argument);
            self.keys
                .iter()
                .filter(|(k, _)| kind.contains(&k.as_str()))
                .cloned()
                .collect()
        };
        if keys.is_empty() {
            return error;
        }
        Box::new(FromFile {
            file: self.file.clone(),
            keys,
            error,
        })
    }

    /// A line to print after an error of clap's that may involve the
    /// file's settings (e.g. a flag from the file needs another one).
    pub fn note(&self) -> String {
        let keys: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        format!(
            "{}: the settings read from this file: {}",
            self.file.display(),
            keys.join(", ")
        )
    }
}

/// Whether `text` names the flag `--key` (not a longer flag it begins).
fn mentions_flag(text: &str, key: &str) -> bool {
    let flag = format!("--{key}");
    text.match_indices(&flag).any(|(i, _)| {
        !text[i + flag.len()..]
            .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// The flags whose values an error about this kind of argument can be
/// about (when its message names no flag).
fn keys_for(argument: zkha::error::Argument) -> &'static [&'static str] {
    use zkha::error::Argument;
    match argument {
        Argument::Path => &["path"],
        Argument::Hosts => &["hosts"],
        Argument::Data => &["data"],
        Argument::Timeout => &["session-timeout", "poll-interval"],
        Argument::ClientId => &["session-file"],
        Argument::Acl => &["digest", "digest-file"],
        Argument::Auth => &[
            "tls-ca",
            "tls-cert",
            "tls-key",
            "sasl-mech",
            "sasl-user",
            "sasl-password-file",
        ],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_errors_about_file_values_name_the_key() {
        let origin = Origin {
            file: "/etc/zkha/run.toml".into(),
            keys: vec![
                ("path".into(), Some(2)),
                ("grace".into(), Some(4)),
                ("session-timeout".into(), Some(5)),
            ],
        };
        let invalid = |argument, reason: &str| -> Box<dyn std::error::Error> {
            Box::new(zkha::Error::InvalidArgument {
                argument,
                reason: reason.into(),
            })
        };
        use zkha::error::Argument;
        let e = origin.attribute(invalid(Argument::Path, "\"x\": must start with '/'"));
        assert!(e.is::<FromFile>());
        assert_eq!(
            e.to_string(),
            "/etc/zkha/run.toml:2: key `path`: invalid Path: \"x\": must start with '/'"
        );
        // Flags the message names, from the file.
        let e = origin.attribute(invalid(
            Argument::Timeout,
            "--grace (3000 ms) must be under a quarter of --session-timeout (4000 ms)",
        ));
        assert!(
            e.to_string()
                .starts_with("/etc/zkha/run.toml: keys `grace`, `session-timeout`: "),
            "{e}"
        );
        // A value from the command line is not the file's fault.
        let e = origin.attribute(invalid(Argument::Hosts, "bad hosts"));
        assert!(!e.is::<FromFile>());
        let e = origin.attribute(invalid(
            Argument::Timeout,
            "--poll-interval 0: must be 1 to 2147483647 (ms)",
        ));
        assert!(!e.is::<FromFile>(), "{e}");
        // Not an invalid argument: left alone.
        let e = origin.attribute(Box::new(zkha::Error::Closed));
        assert!(!e.is::<FromFile>());
    }

    #[test]
    fn flag_mentions_are_whole_flags() {
        assert!(mentions_flag("--grace (300 ms)", "grace"));
        assert!(mentions_flag("x --session-timeout", "session-timeout"));
        assert!(!mentions_flag("--session-timeout 0", "session"));
        assert!(!mentions_flag("--tls-cert", "tls"));
    }
}
