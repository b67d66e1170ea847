//! The file's keys as `run`'s flags: each key is looked up among the long
//! flags of clap's own definition of `run`, its TOML value checked against
//! the kind of flag (a switch, a count, one value, a list) and then by the
//! flag's own value parser, and turned into the arguments it stands for.

use super::errors::ConfigError;
use clap::builder::ArgAction;
use clap::{Arg, Command};
use std::any::TypeId;
use std::path::Path;

/// The flag that names the file.
pub(super) const CONFIG: &str = "config";
/// The key for the command after `--`.
pub(super) const COMMAND: &str = "command";

/// The file's settings: its flags and the command.
#[derive(Debug, Default)]
pub(super) struct Settings {
    pub(super) flags: Vec<FlagSetting>,
    pub(super) command: Option<Vec<String>>,
    /// The line of `command`.
    pub(super) command_line: Option<usize>,
}

/// One key of the file as a flag.
#[derive(Debug)]
pub(super) struct FlagSetting {
    pub(super) key: String,
    pub(super) line: Option<usize>,
    /// clap's id of the flag (what the command line is matched on).
    pub(super) id: String,
    /// The arguments it stands for.
    pub(super) args: Vec<String>,
}

/// How a flag takes its value, which says which TOML types it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A switch (`--sequence`): `true` gives it, `false` leaves it out. The
    /// bool is the value the switch sets (`SetFalse` flags: false).
    Switch(bool),
    /// A counted switch (`-v -v`): a count.
    Count,
    /// One value.
    One(Scalar),
    /// A list of values (repeated flag, or several values to one flag).
    Many(Scalar, bool),
}

/// The TOML type a flag's values are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Integer,
    Boolean,
    String,
}

impl Scalar {
    fn name(self) -> &'static str {
        match self {
            Scalar::Integer => "an integer",
            Scalar::Boolean => "true or false",
            Scalar::String => "a string",
        }
    }
}

/// The kind of a flag, from its clap action and value parser (`None`: not
/// a setting, e.g. --help).
fn kind(arg: &Arg) -> Option<Kind> {
    let scalar = || {
        let t = arg.get_value_parser().type_id();
        let integers = [
            TypeId::of::<u8>(),
            TypeId::of::<u16>(),
            TypeId::of::<u32>(),
            TypeId::of::<u64>(),
            TypeId::of::<usize>(),
            TypeId::of::<i8>(),
            TypeId::of::<i16>(),
            TypeId::of::<i32>(),
            TypeId::of::<i64>(),
            TypeId::of::<isize>(),
        ];
        if integers.iter().any(|i| t == *i) {
            Scalar::Integer
        } else if t == TypeId::of::<bool>() {
            Scalar::Boolean
        } else {
            Scalar::String
        }
    };
    let several = arg.get_num_args().is_some_and(|r| r.max_values() > 1);
    match arg.get_action() {
        ArgAction::SetTrue => Some(Kind::Switch(true)),
        ArgAction::SetFalse => Some(Kind::Switch(false)),
        ArgAction::Count => Some(Kind::Count),
        ArgAction::Append => Some(Kind::Many(scalar(), true)),
        ArgAction::Set if several => Some(Kind::Many(scalar(), false)),
        ArgAction::Set => Some(Kind::One(scalar())),
        _ => None,
    }
}

/// Parses the file and turns each key into the arguments of its flag,
/// checking each value with the flag's own value parser.
pub(super) fn read_settings(
    run: &Command,
    file: &Path,
    text: &str,
) -> Result<Settings, ConfigError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
        file: file.to_owned(),
        line: e.span().map(|s| line_of(text, s.start)),
        key: None,
        message: format!("TOML syntax: {}", e.message().trim_end()),
    })?;
    let lines = key_lines(text);
    let mut settings = Settings::default();
    for (key, value) in &table {
        let line = lines.iter().find(|(k, _)| k == key).map(|(_, l)| *l);
        let fail = |message: String| ConfigError {
            file: file.to_owned(),
            line,
            key: Some(key.clone()),
            message,
        };
        if key == COMMAND {
            settings.command = Some(command(value).map_err(fail)?);
            settings.command_line = line;
            continue;
        }
        let arg = run
            .get_arguments()
            .filter(|a| a.get_long().is_some_and(|l| l != CONFIG) && kind(a).is_some())
            .find(|a| a.get_long() == Some(key.as_str()));
        let Some(arg) = arg else {
            return Err(fail(unknown(run, key)));
        };
        let long = arg.get_long().unwrap_or_default();
        let kind = kind(arg).expect("filtered above");
        let flag_args = flag_args(long, kind, value).map_err(fail)?;
        for a in &flag_args {
            if let Some(v) = a.strip_prefix(&format!("--{long}=")) {
                check_value(arg, long, v).map_err(fail)?;
            }
        }
        settings.flags.push(FlagSetting {
            key: key.clone(),
            line,
            id: arg.get_id().to_string(),
            args: flag_args,
        });
    }
    Ok(settings)
}

/// `command`: a non-empty array of strings.
fn command(value: &toml::Value) -> Result<Vec<String>, String> {
    let wrong = || {
        format!(
            "expected an array of strings (the program and its arguments), found {}",
            type_name(value)
        )
    };
    let toml::Value::Array(items) = value else {
        return Err(wrong());
    };
    let words: Option<Vec<String>> = items
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect();
    match words {
        Some(w) if !w.is_empty() => Ok(w),
        Some(_) => Err("the command is empty".into()),
        None => Err(wrong()),
    }
}

/// The arguments `key = value` stands for: `--key=value` for each value
/// (the `=` form, so that a value may begin with '-').
fn flag_args(long: &str, kind: Kind, value: &toml::Value) -> Result<Vec<String>, String> {
    let wrong = |expected: &str| format!("expected {expected}, found {}", type_name(value));
    match kind {
        Kind::Switch(sets) => match value {
            toml::Value::Boolean(b) if *b == sets => Ok(vec![format!("--{long}")]),
            toml::Value::Boolean(_) => Ok(vec![]),
            _ => Err(wrong(Scalar::Boolean.name())),
        },
        Kind::Count => match value {
            toml::Value::Integer(n) if *n >= 0 => Ok(vec![format!("--{long}"); *n as usize]),
            _ => Err(wrong("a count (an integer, 0 or more)")),
        },
        Kind::One(scalar) => {
            let v = scalar_text(scalar, value).ok_or_else(|| wrong(scalar.name()))?;
            Ok(vec![format!("--{long}={v}")])
        }
        Kind::Many(scalar, repeat) => {
            let items: Vec<&toml::Value> = match value {
                toml::Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            let expected = format!("{} or an array of them", scalar.name());
            let texts = items
                .into_iter()
                .map(|v| scalar_text(scalar, v).ok_or_else(|| wrong(&expected)))
                .collect::<Result<Vec<String>, String>>()?;
            if repeat {
                Ok(texts.iter().map(|t| format!("--{long}={t}")).collect())
            } else if texts.is_empty() {
                Ok(vec![])
            } else {
                // Several values to one flag: `--key=a --key=b` would be
                // two occurrences, which clap refuses for this kind.
                let mut out = vec![format!("--{long}")];
                out.extend(texts);
                Ok(out)
            }
        }
    }
}

/// A scalar as the text clap parses, if it has the TOML type the flag
/// takes (no quiet conversions: `session-timeout = "5000"` is refused).
fn scalar_text(scalar: Scalar, value: &toml::Value) -> Option<String> {
    match (scalar, value) {
        (Scalar::Integer, toml::Value::Integer(n)) => Some(n.to_string()),
        (Scalar::Boolean, toml::Value::Boolean(b)) => Some(b.to_string()),
        (Scalar::String, toml::Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

fn type_name(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// Parses `--long=value` with the flag's own value parser (alone, so that
/// no other flag's rules apply): clap's message, on one line.
fn check_value(arg: &Arg, long: &str, value: &str) -> Result<(), String> {
    let mut probe = Arg::new("value")
        .long(long.to_owned())
        .action(ArgAction::Set)
        .value_parser(arg.get_value_parser().clone());
    if let Some(names) = arg.get_value_names() {
        probe = probe.value_names(names.iter().cloned());
    }
    let cmd = Command::new("zkha")
        .no_binary_name(true)
        .color(clap::ColorChoice::Never)
        .disable_help_flag(true)
        .arg(probe);
    match cmd.try_get_matches_from([format!("--{long}={value}")]) {
        Ok(_) => Ok(()),
        Err(e) => Err(one_line(&e.to_string())),
    }
}

/// clap's message without its "error: " and "For more information" lines.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join(" ")
}

/// "not a flag of `zkha run`", with the closest key if one is close.
fn unknown(run: &Command, key: &str) -> String {
    let mut keys: Vec<&str> = run
        .get_arguments()
        .filter(|a| kind(a).is_some())
        .filter_map(Arg::get_long)
        .filter(|l| *l != CONFIG)
        .collect();
    keys.push(COMMAND);
    let wanted = key.replace('_', "-");
    let best = keys
        .iter()
        .map(|k| (distance(&wanted, k), *k))
        .min()
        .filter(|(d, k)| *d <= 2.max(k.len() / 4));
    let mut message = String::from("unknown key: not a flag of `zkha run`");
    if key == CONFIG {
        message = "a configuration file cannot name another".into();
    } else if let Some((_, k)) = best {
        message.push_str(&format!(" (did you mean `{k}`?)"));
    }
    message
}

/// Levenshtein distance (for the suggestion).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line each top-level key is on (for messages).
fn key_lines(text: &str) -> Vec<(String, usize)> {
    match toml::de::DeTable::parse(text) {
        Ok(table) => table
            .get_ref()
            .iter()
            .map(|(k, _)| (k.get_ref().to_string(), line_of(text, k.span().start)))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("grace", "grace"), 0);
        assert_eq!(distance("grcae", "grace"), 2);
        assert_eq!(distance("session-timout", "session-timeout"), 1);
    }
}
