//! `zkha run --config FILE` against a real server: a run configured by the
//! file alone becomes master and runs the file's command; the command line
//! overrides the file; a bad file is a one-line error, exit code 2, naming
//! the file and the key (or the line, for a TOML syntax error).

use crate::cli_kit;
use crate::common;

use cli_kit::{dir, hosts, zkha};
use common::eventually;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;
use zkha_testing::unique_path;

const LONG: Duration = Duration::from_secs(30);

/// A TOML file in `d`.
fn write(d: &Path, name: &str, text: &str) -> PathBuf {
    let f = d.join(name);
    std::fs::write(&f, text).unwrap();
    f
}

/// A TOML string (the test's paths have no quote or backslash).
fn quoted(s: &str) -> String {
    assert!(!s.contains(['"', '\\']), "{s}");
    format!("\"{s}\"")
}

/// A command (for the file's `command`) that writes `<tag> $ZKHA_TOKEN`
/// to `out` and then runs until stopped.
fn writer(tag: &str, out: &Path) -> String {
    format!(
        "[\"sh\", \"-c\", \"echo {tag} $ZKHA_TOKEN > {}; exec sleep 600\"]",
        out.display()
    )
}

/// The master's data, by `zkha status --json` (`None`: nobody).
fn master_data(path: &str) -> Option<String> {
    let out = zkha()
        .args(["status", "--hosts", hosts(), "--path", path, "--json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    json["master"]["data"].as_str().map(str::to_owned)
}

/// Kills a `zkha run` left running when a test fails before its end.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Ends a `zkha run` with SIGTERM and waits for it (with a deadline).
fn term_and_wait(child: &mut Child) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let gone = eventually(LONG, || matches!(child.try_wait(), Ok(Some(_))));
    if !gone {
        let _ = child.kill();
    }
    assert!(gone, "zkha run did not leave on SIGTERM");
}

/// The file's own line after a run: `<tag> <token>`.
fn token_line(out: &Path) -> Option<(String, i64)> {
    let text = std::fs::read_to_string(out).ok()?;
    let mut words = text.split_whitespace();
    let tag = words.next()?.to_owned();
    let token = words.next()?.parse().ok()?;
    Some((tag, token))
}

#[test]
fn a_run_configured_only_by_its_file_becomes_master_and_runs_the_files_command() {
    let d = dir("only");
    let out = d.join("token");
    let path = format!("{}/master", unique_path("config-only"));
    let file = write(
        &d,
        "run.toml",
        &format!(
            "hosts = {}\npath = {}\ndata = \"10.9.8.7\"\nsession-timeout = 4000\n\
             grace = 200\ncreate-parents = true\ncommand = {}\n",
            quoted(hosts()),
            quoted(&path),
            writer("file", &out)
        ),
    );
    let mut run = zkha()
        .args(["run", "--config", file.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        eventually(LONG, || token_line(&out).is_some()),
        "the file's command never ran"
    );
    let (tag, token) = token_line(&out).unwrap();
    assert_eq!(tag, "file");
    assert!(token > 0, "ZKHA_TOKEN {token}");
    assert_eq!(
        master_data(&path).as_deref(),
        Some("10.9.8.7"),
        "the file's data"
    );
    term_and_wait(&mut run);
    assert!(
        eventually(LONG, || master_data(&path).is_none()),
        "the node outlived the run"
    );
}

#[test]
fn the_command_line_overrides_the_file() {
    let d = dir("override");
    let file_out = d.join("file-token");
    let cli_out = d.join("cli-token");
    let path = format!("{}/master", unique_path("config-override"));
    let file = write(
        &d,
        "run.toml",
        &format!(
            "hosts = {}\npath = {}\ndata = \"10.0.0.1\"\nsession-timeout = 4000\n\
             grace = 200\ncommand = {}\n",
            quoted(hosts()),
            quoted(&path),
            writer("file", &file_out)
        ),
    );
    let script = format!(
        "echo cli $ZKHA_TOKEN > {}; exec sleep 600",
        cli_out.display()
    );
    let mut run = zkha()
        .args(["run", "--data", "10.0.0.2", "--config"])
        .arg(&file)
        .args(["--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        eventually(LONG, || token_line(&cli_out).is_some()),
        "the command line's command never ran"
    );
    assert_eq!(token_line(&cli_out).unwrap().0, "cli");
    assert_eq!(
        master_data(&path).as_deref(),
        Some("10.0.0.2"),
        "--data on the command line wins"
    );
    assert!(!file_out.exists(), "the file's command ran too");
    term_and_wait(&mut run);
}

/// `zkha run --config FILE` that should fail at once: its output (killed
/// after a deadline if it does not end).
fn run_failing(file: &Path, extra: &[&str]) -> Output {
    let mut child = zkha()
        .args(["run", "--config"])
        .arg(file)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ended = eventually(LONG, || matches!(child.try_wait(), Ok(Some(_))));
    if !ended {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(ended, "zkha run --config {} did not fail", file.display());
    out
}

#[test]
fn a_bad_file_is_one_line_naming_the_file_and_the_key_with_exit_code_2() {
    let d = dir("bad");
    let base = format!(
        "hosts = {}\npath = {}\ncommand = [\"true\"]\n",
        quoted(hosts()),
        quoted(&format!("{}/master", unique_path("config-bad")))
    );
    // (file, extra text, what stderr's line must say after the file name)
    let cases = [
        (
            "unknown.toml",
            "sesion-timeout = 4000\n",
            ":4: key `sesion-timeout`: unknown key: not a flag of `zkha run` (did you mean `session-timeout`?)",
        ),
        (
            "type.toml",
            "session-timeout = \"4000\"\n",
            ":4: key `session-timeout`: expected an integer, found a string",
        ),
        (
            "negative.toml",
            "session-timeout = -5\n",
            ":4: key `session-timeout`: invalid value '-5' for '--session-timeout <SESSION_TIMEOUT>'",
        ),
        (
            "enum.toml",
            "on-exit = \"explode\"\n",
            ":4: key `on-exit`: invalid value 'explode' for '--on-exit <ON_EXIT>'",
        ),
        // Checked by `run` itself once parsed, not by clap.
        (
            "path.toml",
            "path = \"master\"\n",
            "",
        ),
        (
            "zero.toml",
            "session-timeout = 0\n",
            ":4: key `session-timeout`: invalid Timeout: --session-timeout 0: must be 1",
        ),
        (
            "syntax.toml",
            "grace = = 1\n",
            ":4: TOML syntax: ",
        ),
    ];
    for (name, extra, want) in cases {
        // A later `path` replaces the base's: TOML refuses a key twice.
        let text = if name == "path.toml" {
            base.replacen("path = ", "# path = ", 1) + extra
        } else {
            base.clone() + extra
        };
        let file = write(&d, name, &text);
        let out = run_failing(&file, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
        let prefix = format!("zkha: {}", file.display());
        assert!(err.starts_with(&prefix), "{name}: {err}");
        if name == "path.toml" {
            assert!(
                err.contains(":4: key `path`: invalid Path: \"master\": must start with '/'"),
                "{err}"
            );
        } else {
            assert!(err[prefix.len()..].starts_with(want), "{name}: {err}");
        }
    }
    // A bad value overridden on the command line still fails: the file is
    // checked whole.
    let file = write(&d, "overridden.toml", &(base.clone() + "grace = -1\n"));
    let out = run_failing(&file, &["--grace", "100"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("key `grace`"), "{err}");
    // The same bad value on the command line is not the file's fault.
    let file = write(&d, "good.toml", &base);
    let out = run_failing(&file, &["--path", "master"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("good.toml"), "{err}");
    assert!(err.contains("must start with '/'"), "{err}");
    // A file that cannot be read.
    let missing = d.join("missing.toml");
    let out = run_failing(&missing, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(&format!("zkha: {}: cannot read it: ", missing.display())),
        "{err}"
    );
}

#[test]
fn status_and_watch_read_the_same_file_as_run() {
    // One file for the candidate and the operator: `status --config` and
    // `watch --config` take hosts and path from it and ignore run's own
    // keys (the command, the checks).
    let d = dir("config-observers");
    let path = format!("{}/m", unique_path("cli-config-observers"));
    let out = d.join("out");
    let f = write(
        &d,
        "run.toml",
        &format!(
            "hosts = {}\npath = {}\ndata = \"10.7.7.7\"\nready-cmd = \"true\"\ncommand = {}\n",
            quoted(hosts()),
            quoted(&path),
            writer("a", &out)
        ),
    );
    let fs = f.to_str().unwrap();
    let mut run = KillOnDrop(
        zkha()
            .args(["run", "--config", fs])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        eventually(LONG, || master_data(&path).as_deref() == Some("10.7.7.7")),
        "the file's candidate never became master"
    );
    let status = zkha()
        .args(["status", "--config", fs, "--json"])
        .output()
        .unwrap();
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["master"]["data"], "10.7.7.7", "{json}");
    let watch = zkha()
        .args(["watch", "--config", fs, "--count", "1"])
        .output()
        .unwrap();
    assert_eq!(
        watch.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&watch.stderr)
    );
    assert!(
        String::from_utf8_lossy(&watch.stdout).contains("10.7.7.7"),
        "{}",
        String::from_utf8_lossy(&watch.stdout)
    );
    // The command line overrides the file: another path has no master.
    let other = zkha()
        .args(["status", "--config", fs, "--path", "/zkha-config-nobody"])
        .output()
        .unwrap();
    assert_eq!(other.status.code(), Some(4));
    term_and_wait(&mut run.0);
}

#[test]
fn sighup_reloads_the_readiness_check_and_names_what_needs_a_restart() {
    // A candidate whose file says it is not ready never runs its command;
    // the file edited (ready-cmd passing, and a session timeout that cannot
    // change while running) and SIGHUP (`systemctl reload`): it becomes
    // ready and master, and says the session timeout needs a restart.
    let d = dir("config-reload");
    let path = format!("{}/m", unique_path("cli-config-reload"));
    let out = d.join("out");
    let err_log = d.join("stderr");
    let body = |ready: &str, timeout: u64| {
        format!(
            "hosts = {}\npath = {}\nready-cmd = {}\nready-interval = 100\nsession-timeout = {timeout}\ncommand = {}\n",
            quoted(hosts()),
            quoted(&path),
            quoted(ready),
            writer("a", &out)
        )
    };
    let f = write(&d, "run.toml", &body("false", 5000));
    let mut run = KillOnDrop(
        zkha()
            .args(["run", "--config", f.to_str().unwrap()])
            .env("RUST_LOG", "zkha=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let log = || std::fs::read_to_string(&err_log).unwrap_or_default();
    assert!(
        eventually(LONG, || log().contains("not ready after 3 failed checks")),
        "never judged not ready: {}",
        log()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!out.exists(), "ran its command while not ready");
    assert_eq!(master_data(&path), None);
    write(&d, "run.toml", &body("true", 8000));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(run.0.id() as i32, libc::SIGHUP) };
    assert!(
        eventually(LONG, || out.exists()),
        "not master after the reload: {}",
        log()
    );
    let text = log();
    assert!(
        text.contains("SIGHUP: the readiness check reloaded (true)"),
        "{text}"
    );
    assert!(
        text.contains("SIGHUP: the election (hosts, path, data, profile, mode, timeouts")
            && text.contains("takes effect only after a restart"),
        "{text}"
    );
    // Still running (SIGHUP no longer ends it).
    assert!(matches!(run.0.try_wait(), Ok(None)));
    term_and_wait(&mut run.0);
}
