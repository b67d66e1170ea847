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

mod errors;
mod keys;

pub use errors::{ConfigError, FromFile, Origin};

use clap::{Args, Command};
use keys::{read_settings, COMMAND, CONFIG};
use std::ffi::OsString;
use std::path::PathBuf;

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

/// The arguments to parse, and where their settings came from.
#[derive(Debug)]
pub struct Expanded {
    /// The command line with the file's settings inserted.
    pub args: Vec<OsString>,
    /// The file and the keys taken from it (`None`: no `--config`).
    pub origin: Option<Origin>,
}

/// Inserts the settings of `run --config FILE` into `args` (the whole
/// command line, program name first), before the user's own flags and with
/// those the user gave dropped; `top` is zkha's clap command. Any other
/// command line is returned as it is.
pub fn expand(mut top: Command, args: Vec<OsString>) -> Result<Expanded, ConfigError> {
    let unchanged = |args| Ok(Expanded { args, origin: None });
    let sub = args.get(1).map(|a| a.to_string_lossy().into_owned());
    match sub.as_deref() {
        Some("run") => {}
        Some(s) if OBSERVERS.contains(&s) => return expand_observer(top, args),
        _ => return unchanged(args),
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

/// The commands that look at an election `zkha run` takes part in: with
/// `--config FILE` they read the same file as `run`, taking only the keys
/// they have as flags (`hosts`, `path`, TLS, SASL, the digest…), and
/// `mode = "sequence"` as `--sequence`; the rest of the file (the command,
/// the checks) is run's and is ignored. The file is checked as run's.
pub const OBSERVERS: [&str; 7] = [
    "status",
    "watch",
    "switchover",
    "resign",
    "history",
    "pause",
    "resume",
];

/// [`expand`] for one of the [`OBSERVERS`].
fn expand_observer(mut top: Command, args: Vec<OsString>) -> Result<Expanded, ConfigError> {
    top.build();
    let sub = args[1].to_string_lossy().into_owned();
    let (Some(run), Some(observer)) = (top.find_subcommand("run"), top.find_subcommand(&sub))
    else {
        return Ok(Expanded { args, origin: None });
    };
    let given = Given::scan(observer, &args[2..]);
    let Some(file) = given.config.clone() else {
        return Ok(Expanded { args, origin: None });
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
    let has = |long: &str| {
        observer
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
    };
    for flag in settings.flags {
        if flag.key == "mode" {
            if flag
                .args
                .iter()
                .any(|a| a == "--mode=sequence" || a == "sequence")
            {
                if let Some(arg) = has("sequence") {
                    if !given.ids.contains(&arg.get_id().to_string()) {
                        out.push("--sequence".into());
                        keys.push((flag.key, flag.line));
                    }
                }
            }
            continue;
        }
        match has(&flag.key) {
            Some(arg) if !given.ids.contains(&arg.get_id().to_string()) => {
                out.extend(flag.args.into_iter().map(OsString::from));
                keys.push((flag.key, flag.line));
            }
            _ => {}
        }
    }
    out.extend(args[2..].iter().cloned());
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::builder::ArgAction;
    use clap::{Arg, Parser};
    use std::path::Path;

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
                "zkha",
                "candidate",
                "--hosts",
                "h",
                "--path",
                "/p",
                "--config",
                "x",
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
    fn observers_take_their_keys_from_runs_file_and_ignore_the_rest() {
        let f = file(
            "observer",
            "hosts = \"127.0.0.1:2181\"\npath = \"/m\"\nmode = \"sequence\"\n\
             digest-file = \"/etc/zkha/digest\"\nready-cmd = \"true\"\n\
             session-timeout = 8000\ncommand = [\"prog\", \"--port\", \"1\"]\n",
        );
        let fs = f.to_str().unwrap();
        let e = expand(zkha(), os(&["zkha", "status", "--config", fs, "--json"])).unwrap();
        let mut got = strings(&e.args);
        assert_eq!(got.split_off(got.len() - 3), ["--config", fs, "--json"]);
        got.sort();
        assert_eq!(
            got,
            [
                "--digest-file=/etc/zkha/digest",
                "--hosts=127.0.0.1:2181",
                "--path=/m",
                "--sequence",
                "status",
                "zkha"
            ],
            "run's own keys (command, ready-cmd, session-timeout) are left out"
        );
        // It parses, as status.
        assert!(crate::Cli::try_parse_from(&e.args).is_ok());
        // watch has no digest: left out; the command line overrides.
        let e = expand(
            zkha(),
            os(&["zkha", "watch", "--config", fs, "--path", "/other"]),
        )
        .unwrap();
        let args = strings(&e.args);
        assert!(!args.iter().any(|a| a.starts_with("--digest")), "{args:?}");
        assert!(!args.iter().any(|a| a == "--path=/m"), "{args:?}");
        assert!(
            args.ends_with(&["--path".to_string(), "/other".to_string()]),
            "{args:?}"
        );
        assert!(crate::Cli::try_parse_from(&e.args).is_ok());
        // The file is checked as run's: an unknown key is an error.
        let bad = file("observer-bad", "hosts = \"h:1\"\nbogus = 1\n");
        let err = expand_err(
            zkha(),
            &["zkha", "status", "--config", bad.to_str().unwrap()],
        );
        assert!(err.contains("bogus"), "{err}");
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
            crate::cli::flags::ProfileArg::Seed
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
        let example = include_str!("../../../../docs/zkha-run.toml");
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
        assert!(r.ready.ready_cmd.is_some());
        assert_eq!(r.ready.ready_failures, 3);
        assert!(r.health.health_cmd.is_some());
        assert_eq!(r.health.health_failures, 3);
        assert_eq!(r.health.health_start_period, 5000);
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
}
