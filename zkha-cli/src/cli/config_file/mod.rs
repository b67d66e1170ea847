//! `zkha run --config FILE`: `run`'s flags from a TOML file.
//!
//! The file is turned into command-line arguments before clap parses them,
//! so a setting from the file gets exactly the parsing, checks and defaults
//! of the flag it stands for. The valid keys are read from clap's own
//! definition of `run` (its long flag names, without `--`, exactly as
//! written: `session-timeout`, not `session_timeout`), so a new flag is a
//! new key with nothing to add here; `command` is the command after `--`.
//!
//! The command line overrides the file: a flag given on the command line
//! drops the file's setting for it altogether (clap refuses most flags
//! given twice, and a list given on the command line replaces the file's
//! list rather than adding to it); `-- CMD` replaces the file's `command`.
//!
//! Every error names the file, and the key (and its line) when one is at
//! fault: an unknown key (with the closest valid one), a value of the wrong
//! TOML type, a value clap rejects, and, once `run` has started, a value
//! `run` itself rejects (a path without '/'): see [`Origin::attribute`].

use clap::builder::ArgAction;
use clap::{Arg, Args, Command};
use std::any::TypeId;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

/// `zkha run` with `--config`: the file's path (already expanded into the
/// other flags when clap sees it) and `run`'s own arguments.
#[derive(Debug, Args)]
pub struct RunCommand {
    /// Read run's flags from this TOML file: keys are the flag names without
    /// `--` (`hosts = "127.0.0.1:2181"`, `session-timeout = 8000`, a switch
    /// `= true`), `command = ["prog", "arg"]` the command after `--`. The
    /// command line overrides the file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub run: super::run::RunArgs,
}

/// The flag that names the file.
const CONFIG: &str = "config";
/// The key for the command after `--`.
const COMMAND: &str = "command";

/// A bad configuration file: one line naming the file, and the line and key
/// at fault when there is one.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    file: PathBuf,
    line: Option<usize>,
    key: Option<String>,
    message: String,
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

/// The arguments to parse, and where their settings came from.
#[derive(Debug)]
pub struct Expanded {
    /// The command line with the file's settings inserted.
    pub args: Vec<OsString>,
    /// The file and the keys taken from it (`None`: no `--config`).
    pub origin: Option<Origin>,
}

/// The file, and the keys whose values were taken from it (not overridden
/// on the command line), to name them in `run`'s own errors.
#[derive(Debug, Clone)]
pub struct Origin {
    file: PathBuf,
    /// Each key, and its line in the file.
    keys: Vec<(String, Option<usize>)>,
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

/// Inserts the settings of `run --config FILE` into `args` (the whole
/// command line, program name first), before the user's own flags and with
/// those the user gave dropped; `top` is zkha's clap command. Any other
/// command line is returned as it is.
pub fn expand(mut top: Command, args: Vec<OsString>) -> Result<Expanded, ConfigError> {
    let unchanged = |args| Ok(Expanded { args, origin: None });
    if args.get(1).map(OsString::as_os_str) != Some(OsStr::new("run")) {
        return unchanged(args);
    }
    // Built: every flag's action and number of values are settled.
    top.build();
    let Some(run) = top.find_subcommand("run") else {
        return unchanged(args);
    };
    let given = Given::scan(run, &args[2..]);
    let Some(file) = given.config.clone() else {
        return unchanged(args);
    };
    let file = PathBuf::from(file);
    let text = std::fs::read_to_string(&file).map_err(|e| ConfigError {
        file: file.clone(),
        line: None,
        key: None,
        message: format!("cannot read it: {e}"),
    })?;
    let settings = read_settings(run, &file, &text)?;
    let mut out: Vec<OsString> = args[..2].to_vec();
    let mut keys = Vec::new();
    for flag in settings.flags {
        if !given.ids.contains(&flag.id) {
            out.extend(flag.args.into_iter().map(OsString::from));
            keys.push((flag.key, flag.line));
        }
    }
    // The user's own arguments, then the file's command if the user gave
    // none (a bare trailing `--` gives none).
    let user = &args[2..];
    let user_has_command = given.dash.is_some_and(|i| i + 1 < user.len());
    match (&settings.command, user_has_command) {
        (Some(command), false) => {
            let end = given.dash.unwrap_or(user.len());
            out.extend(user[..end].iter().cloned());
            out.push("--".into());
            out.extend(command.iter().map(OsString::from));
            keys.push((COMMAND.to_owned(), settings.command_line));
        }
        _ => out.extend(user.iter().cloned()),
    }
    Ok(Expanded {
        args: out,
        origin: Some(Origin { file, keys }),
    })
}

/// What the user's own command line gives: the ids of the flags, the
/// `--config` file, and where `--` is.
#[derive(Debug, Default)]
struct Given {
    ids: Vec<String>,
    config: Option<OsString>,
    dash: Option<usize>,
}

impl Given {
    /// Reads `args` (after `run`) the way clap does for long flags:
    /// `--name=value`, or `--name value` when the flag takes a value and
    /// the next word does not look like a flag (`-` alone is a value).
    fn scan(run: &Command, args: &[OsString]) -> Given {
        let mut given = Given::default();
        let mut i = 0;
        while i < args.len() {
            let word = args[i].to_string_lossy();
            if word == "--" {
                given.dash = Some(i);
                break;
            }
            if let Some(rest) = word.strip_prefix("--") {
                let (name, inline) = match rest.split_once('=') {
                    Some((n, v)) => (n, Some(OsString::from(v))),
                    None => (rest, None),
                };
                if let Some(arg) = run.get_arguments().find(|a| a.get_long() == Some(name)) {
                    given.ids.push(arg.get_id().to_string());
                    let mut value = inline;
                    if value.is_none() && arg.get_action().takes_values() {
                        if let Some(next) = args.get(i + 1) {
                            let n = next.to_string_lossy();
                            if !n.starts_with('-') || n == "-" {
                                value = Some(next.clone());
                                i += 1;
                            }
                        }
                    }
                    if name == CONFIG {
                        given.config = value;
                    }
                }
            }
            i += 1;
        }
        given
    }
}

/// The file's settings: its flags and the command.
#[derive(Debug, Default)]
struct Settings {
    flags: Vec<FlagSetting>,
    command: Option<Vec<String>>,
    /// The line of `command`.
    command_line: Option<usize>,
}

/// One key of the file as a flag.
#[derive(Debug)]
struct FlagSetting {
    key: String,
    line: Option<usize>,
    /// clap's id of the flag (what the command line is matched on).
    id: String,
    /// The arguments it stands for.
    args: Vec<String>,
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
fn read_settings(run: &Command, file: &Path, text: &str) -> Result<Settings, ConfigError> {
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
    use clap::Parser;

    /// zkha's own command line.
    fn zkha() -> Command {
        <crate::Cli as clap::CommandFactory>::command()
    }

    /// A file of this text, unique to the test.
    fn file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zkha-config-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn expand_err(top: Command, args: &[&str]) -> String {
        expand(top, os(args)).unwrap_err().to_string()
    }

    /// `zkha run` as clap parses the expanded command line.
    fn parsed(args: &[OsString]) -> super::super::run::RunArgs {
        match crate::Cli::try_parse_from(args).unwrap().command {
            crate::Command::Run(r) => r.run,
            _ => panic!("not run"),
        }
    }

    const BASE: &str = "hosts = \"127.0.0.1:2181\"\npath = \"/m\"\n";

    #[test]
    fn other_command_lines_are_left_alone() {
        for args in [
            &[
                "zkha", "status", "--hosts", "h", "--path", "/p", "--config", "x",
            ][..],
            &["zkha", "run", "--hosts", "h", "--path", "/p", "--", "true"][..],
            // After `--`, `--config` belongs to the command.
            &["zkha", "run", "--hosts", "h", "--", "prog", "--config", "x"][..],
            &["zkha"][..],
        ] {
            let e = expand(zkha(), os(args)).unwrap();
            assert_eq!(strings(&e.args), args, "{args:?}");
            assert!(e.origin.is_none());
        }
    }

    #[test]
    fn the_file_gives_every_kind_of_run_setting() {
        let f = file(
            "all",
            &format!(
                "{BASE}data = \"-starts-with-a-dash\"\nsession-timeout = 8000\n\
                 create-parents = false\nprofile = \"seed\"\non-exit = \"restart\"\n\
                 command = [\"sh\", \"-c\", \"echo $ZKHA_TOKEN\"]\n"
            ),
        );
        let e = expand(
            zkha(),
            os(&["zkha", "run", "--config", f.to_str().unwrap()]),
        )
        .unwrap();
        let r = parsed(&e.args);
        assert_eq!(r.election.hosts, "127.0.0.1:2181");
        assert_eq!(r.election.path, "/m");
        assert_eq!(r.election.data.as_deref(), Some("-starts-with-a-dash"));
        assert_eq!(r.election.session_timeout, 8000);
        assert_eq!(r.election.create_parents, Some(false));
        assert!(matches!(
            r.election.profile,
            super::super::candidate::ProfileArg::Seed
        ));
        assert_eq!(r.on_exit, super::super::run::OnExit::Restart);
        assert_eq!(r.command, ["sh", "-c", "echo $ZKHA_TOKEN"]);
        let keys: Vec<&str> = e
            .origin
            .as_ref()
            .unwrap()
            .keys
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert!(
            keys.contains(&"session-timeout") && keys.contains(&"command"),
            "{keys:?}"
        );
    }

    #[test]
    fn the_example_file_is_a_valid_configuration() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/zkha-run.toml");
        let e = expand(zkha(), os(&["zkha", "run", "--config", example])).unwrap();
        let r = parsed(&e.args);
        assert_eq!(r.election.hosts, "zk1:2181,zk2:2181,zk3:2181");
        assert_eq!(r.election.session_timeout, 10000);
        assert_eq!(
            r.election.session_file.as_deref(),
            Some(Path::new("/var/lib/zkha-my-service/session"))
        );
        assert_eq!(r.command, ["/usr/local/bin/my-service", "--port", "8080"]);
    }

    #[test]
    fn the_example_files_commented_settings_are_valid_too() {
        // Every `# key = value` line, uncommented: the settings the example
        // offers must be ones `run` takes.
        let example = include_str!("../../../docs/zkha-run.toml");
        let uncommented: String = example
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest)
                    if rest.split_once(" = ").is_some_and(|(k, _)| {
                        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    }) =>
                {
                    rest
                }
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let f = file("example-uncommented", &uncommented);
        let e = expand(
            zkha(),
            os(&["zkha", "run", "--config", f.to_str().unwrap()]),
        )
        .unwrap();
        let r = parsed(&e.args);
        assert!(r.health.health_cmd.is_some());
        assert_eq!(r.health.health_failures, 3);
        assert!(r.fence.fence_cmd.is_some());
        assert_eq!(r.metrics_addr, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(r.on_crash, Some(super::super::watchdog::OnCrash::Hold));
    }

    #[test]
    fn clap_refuses_a_single_value_flag_given_twice() {
        // Why the file's setting is dropped rather than put first: clap 4
        // does not let the last occurrence win.
        let e = crate::Cli::try_parse_from([
            "zkha", "run", "--hosts", "a", "--hosts", "b", "--path", "/p", "--", "true",
        ])
        .err()
        .expect("refused");
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn the_command_line_overrides_the_file() {
        let f = file(
            "override",
            &format!("{BASE}data = \"from-file\"\ngrace = 100\ncommand = [\"from-file\"]\n"),
        );
        let f = f.to_str().unwrap();
        for args in [
            &[
                "zkha", "run", "--data", "from-cli", "--config", f, "--", "cli-cmd", "x",
            ][..],
            &[
                "zkha",
                "run",
                "--config",
                f,
                "--data=from-cli",
                "--",
                "cli-cmd",
                "x",
            ][..],
            &[
                "zkha",
                "run",
                &format!("--config={f}"),
                "--data",
                "from-cli",
                "--",
                "cli-cmd",
                "x",
            ][..],
        ] {
            let e = expand(zkha(), os(args)).unwrap();
            let text = strings(&e.args);
            assert_eq!(
                text.iter().filter(|a| a.starts_with("--data")).count(),
                1,
                "{text:?}"
            );
            let r = parsed(&e.args);
            assert_eq!(r.election.data.as_deref(), Some("from-cli"), "{args:?}");
            assert_eq!(r.command, ["cli-cmd", "x"]);
            assert_eq!(r.grace, 100, "the file's other settings stay");
            let keys: Vec<&str> = e
                .origin
                .as_ref()
                .unwrap()
                .keys
                .iter()
                .map(|(k, _)| k.as_str())
                .collect();
            assert!(
                !keys.contains(&"data") && !keys.contains(&"command"),
                "{keys:?}"
            );
        }
        // A bare `--` gives no command: the file's is used.
        let e = expand(zkha(), os(&["zkha", "run", "--config", f, "--"])).unwrap();
        assert_eq!(parsed(&e.args).command, ["from-file"]);
        // The file's settings come before the user's own flags.
        let e = expand(zkha(), os(&["zkha", "run", "--config", f, "--name", "n"])).unwrap();
        let text = strings(&e.args);
        let grace = text.iter().position(|a| a == "--grace=100").unwrap();
        let name = text.iter().position(|a| a == "--name").unwrap();
        assert!(grace < name, "{text:?}");
    }

    /// A `run` with one flag of each kind clap has (zkha's own `run` has
    /// no switch or list today; new flags must work too).
    fn synthetic() -> Command {
        Command::new("zkha").subcommand(
            Command::new("run")
                .arg(Arg::new("config").long("config"))
                .arg(
                    Arg::new("verbose")
                        .long("verbose")
                        .action(ArgAction::SetTrue),
                )
                .arg(
                    Arg::new("quiet_off")
                        .long("no-quiet")
                        .action(ArgAction::SetFalse),
                )
                .arg(Arg::new("level").long("level").action(ArgAction::Count))
                .arg(
                    Arg::new("tag")
                        .long("tag")
                        .action(ArgAction::Append)
                        .value_parser(clap::value_parser!(u32)),
                )
                .arg(Arg::new("pair").long("pair").num_args(2))
                .arg(Arg::new("command").last(true).num_args(1..)),
        )
    }

    fn synthetic_run(args: &[OsString]) -> clap::ArgMatches {
        let m = synthetic().try_get_matches_from(args).unwrap();
        m.subcommand_matches("run").unwrap().clone()
    }

    #[test]
    fn switches_counts_and_lists() {
        let f = file(
            "kinds",
            "verbose = true\nno-quiet = false\nlevel = 2\ntag = [1, 2]\npair = [\"a\", \"b\"]\n",
        );
        let f = f.to_str().unwrap();
        let e = expand(synthetic(), os(&["zkha", "run", "--config", f])).unwrap();
        let m = synthetic_run(&e.args);
        assert!(m.get_flag("verbose"));
        assert!(!m.get_flag("quiet_off"), "false sets a SetFalse switch");
        assert_eq!(m.get_count("level"), 2);
        let tags: Vec<u32> = m.get_many("tag").unwrap().copied().collect();
        assert_eq!(tags, [1, 2]);
        let pair: Vec<&String> = m.get_many("pair").unwrap().collect();
        assert_eq!(pair, ["a", "b"]);

        // The command line's switch, count and list replace the file's
        // (clap would refuse a switch given twice, and append lists).
        let e = expand(
            synthetic(),
            os(&[
                "zkha",
                "run",
                "--config",
                f,
                "--verbose",
                "--level",
                "--tag",
                "7",
            ]),
        )
        .unwrap();
        let text = strings(&e.args);
        assert_eq!(
            text.iter().filter(|a| *a == "--verbose").count(),
            1,
            "{text:?}"
        );
        let m = synthetic_run(&e.args);
        assert_eq!(m.get_count("level"), 1);
        let tags: Vec<u32> = m.get_many("tag").unwrap().copied().collect();
        assert_eq!(tags, [7]);

        // false leaves a switch out; one value is a list of one.
        let f2 = file(
            "kinds2",
            "verbose = false\nno-quiet = true\ntag = 5\nlevel = 0\n",
        );
        let e = expand(
            synthetic(),
            os(&["zkha", "run", "--config", f2.to_str().unwrap()]),
        )
        .unwrap();
        let m = synthetic_run(&e.args);
        assert!(!m.get_flag("verbose"));
        assert!(m.get_flag("quiet_off"));
        assert_eq!(m.get_count("level"), 0);
        let tags: Vec<u32> = m.get_many("tag").unwrap().copied().collect();
        assert_eq!(tags, [5]);

        // A bad element of a list names the key.
        let f3 = file("kinds3", "tag = [1, \"two\"]\n");
        let e = expand_err(
            synthetic(),
            &["zkha", "run", "--config", f3.to_str().unwrap()],
        );
        assert!(
            e.ends_with(
                "kinds3.toml:1: key `tag`: expected an integer or an array of them, found an array"
            ),
            "{e}"
        );
        let f4 = file("kinds4", "verbose = 1\n");
        let e = expand_err(
            synthetic(),
            &["zkha", "run", "--config", f4.to_str().unwrap()],
        );
        assert!(
            e.ends_with("kinds4.toml:1: key `verbose`: expected true or false, found an integer"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        let cases = [
            ("unknown", "session-timout = 1\n", "unknown.toml:3: key `session-timout`: unknown key: not a flag of `zkha run` (did you mean `session-timeout`?)"),
            ("underscore", "session_timeout = 1\n", "underscore.toml:3: key `session_timeout`: unknown key: not a flag of `zkha run` (did you mean `session-timeout`?)"),
            ("far", "colour = 1\n", "far.toml:3: key `colour`: unknown key: not a flag of `zkha run`"),
            ("type", "session-timeout = \"8000\"\n", "type.toml:3: key `session-timeout`: expected an integer, found a string"),
            ("array", "data = [\"a\"]\n", "array.toml:3: key `data`: expected a string, found an array"),
            ("float", "grace = 1.5\n", "float.toml:3: key `grace`: expected an integer, found a float"),
            ("table", "[tls]\nca = \"x\"\n", "table.toml:3: key `tls`: unknown key: not a flag of `zkha run`"),
            ("negative", "session-timeout = -5\n", "negative.toml:3: key `session-timeout`: invalid value '-5' for '--session-timeout <SESSION_TIMEOUT>': invalid digit found in string"),
            ("enum", "profile = \"fast\"\n", "enum.toml:3: key `profile`: invalid value 'fast' for '--profile <PROFILE>' [possible values: seed, safe]"),
            ("command", "command = \"prog\"\n", "command.toml:3: key `command`: expected an array of strings (the program and its arguments), found a string"),
            ("empty", "command = []\n", "empty.toml:3: key `command`: the command is empty"),
            ("nested", "config = \"other.toml\"\n", "nested.toml:3: key `config`: a configuration file cannot name another"),
            ("help", "help = true\n", "help.toml:3: key `help`: unknown key: not a flag of `zkha run`"),
            ("syntax", "hosts = \"a\"\npath = \"/m\n", "syntax.toml:2: TOML syntax: "),
            ("duplicate", "hosts = \"a\"\npath = \"/m\"\nhosts = \"b\"\n", "duplicate.toml:3: TOML syntax: "),
        ];
        for (name, text, want) in cases {
            let text = if name == "syntax" || name == "duplicate" {
                text.to_owned()
            } else {
                format!("{BASE}{text}")
            };
            let f = file(name, &text);
            let e = expand_err(zkha(), &["zkha", "run", "--config", f.to_str().unwrap()]);
            assert!(e.starts_with(f.to_str().unwrap()), "{e}");
            assert!(e.contains(want), "{name}: {e}\nwanted: {want}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
        let missing = std::env::temp_dir().join("zkha-config-unit-none/missing.toml");
        let e = expand_err(
            zkha(),
            &["zkha", "run", "--config", missing.to_str().unwrap()],
        );
        assert!(
            e.starts_with(&format!("{}: cannot read it: ", missing.display())),
            "{e}"
        );
    }

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

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("grace", "grace"), 0);
        assert_eq!(distance("grcae", "grace"), 2);
        assert_eq!(distance("session-timout", "session-timeout"), 1);
    }
}
