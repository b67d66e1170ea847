//! The fencing hook of `zkha run`: a command a new master runs before its
//! own when its predecessor did not leave cleanly (its breadcrumb, see
//! [`super::breadcrumb`], is not clean), to make sure the old master's
//! command is really stopped (power it off, revoke its address, kill it
//! over ssh...). Only when the hook succeeds does the new master start.

use super::breadcrumb::Breadcrumb;
use clap::Args;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The most a fencing time (--fence-timeout, --fence-backoff) may be: one
/// hour, in ms.
const MAX_MS: u64 = 3_600_000;

/// `zkha run`'s fencing flags (flattened into `run`'s).
#[derive(Debug, Clone, Args)]
pub struct FenceArgs {
    /// Fencing hook: run with `sh -c CMD` by a new master, before its own
    /// command, when the previous master did not leave cleanly (its session
    /// ended without a graceful exit or resign: it may still be running).
    /// The hook gets ZKHA_PREV_DATA (the old master's data), ZKHA_PREV_SESSION
    /// (its session id, 0x hex), ZKHA_PREV_TOKEN (its fencing token) and
    /// ZKHA_PATH. Exit 0: fenced, the command starts. Otherwise (or past
    /// --fence-timeout) the candidate resigns and tries again after
    /// --fence-backoff. Graceful handovers run no hook. The last master is
    /// recorded in the node PATH.breadcrumb.
    #[arg(long, value_name = "CMD")]
    pub fence_cmd: Option<String>,
    /// How long the fencing hook may run, in ms (1 to 3600000); past it,
    /// its process group is killed and fencing has failed.
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = parse_fence_timeout)]
    pub fence_timeout: u64,
    /// After a failed fencing hook, how long to stay out of the election
    /// before trying again, in ms (1 to 3600000).
    #[arg(long, value_name = "MS", default_value_t = 5_000, value_parser = parse_fence_backoff)]
    pub fence_backoff: u64,
}

impl FenceArgs {
    /// --fence-timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.fence_timeout)
    }

    /// --fence-backoff.
    pub fn backoff(&self) -> Duration {
        Duration::from_millis(self.fence_backoff)
    }
}

/// A time in ms from 1 to [`MAX_MS`]; the error names the flag and unit.
fn parse_ms(flag: &str, text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(ms) if (1..=MAX_MS).contains(&ms) => Ok(ms),
        _ => Err(format!("{flag} {text}: must be 1 to {MAX_MS} (ms)")),
    }
}

fn parse_fence_timeout(text: &str) -> Result<u64, String> {
    parse_ms("--fence-timeout", text)
}

fn parse_fence_backoff(text: &str) -> Result<u64, String> {
    parse_ms("--fence-backoff", text)
}

/// How a fencing hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceOutcome {
    /// It exited with status 0: the old master is fenced.
    pub ok: bool,
    /// For the log: "exit status 0", "exit status 3", "killed by signal 9",
    /// "timed out after N ms, killed", "cannot start: …".
    pub description: String,
    /// How long it ran.
    pub elapsed: Duration,
}

/// How often a running hook is checked.
const POLL: Duration = Duration::from_millis(10);

/// Environment variables cannot hold NUL: the data as text (the trailing
/// NUL of zkha's data dropped, invalid UTF-8 and inner NULs replaced).
fn env_text(prev: &Breadcrumb) -> String {
    prev.data_text().replace('\0', "\u{fffd}")
}

/// Runs `sh -c CMD` in a process group of its own, with ZKHA_PREV_DATA,
/// ZKHA_PREV_SESSION (0x hex), ZKHA_PREV_TOKEN (decimal, like ZKHA_TOKEN)
/// and ZKHA_PATH set, zkha's secrets (ZKHA_SASL_PASSWORD, ZKHA_DIGEST) and
/// descriptors above 2 not passed on; stdin is /dev/null, stdout and
/// stderr are zkha's.
/// Waits up to `timeout`; past it, SIGKILL to the whole group (a hook that
/// hangs must not hold up the failover forever, nor leave its children
/// behind) and `ok: false`. Blocking: run it on a thread of its own.
pub fn run_fence(cmd: &str, path: &str, prev: &Breadcrumb, timeout: Duration) -> FenceOutcome {
    let start = Instant::now();
    let outcome = |ok: bool, description: String| FenceOutcome {
        ok,
        description,
        elapsed: start.elapsed(),
    };
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .env("ZKHA_PREV_DATA", env_text(prev))
        .env("ZKHA_PREV_SESSION", format!("{:#x}", prev.session))
        .env("ZKHA_PREV_TOKEN", prev.token.to_string())
        .env("ZKHA_PATH", path)
        .stdin(Stdio::null())
        .process_group(0);
    super::secure::remove_secrets(&mut command);
    // SAFETY: runs in the forked child before exec; close_from is
    // async-signal-safe and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            // None of zkha's descriptors (its ZooKeeper socket, the C
            // client's self-pipe) reaches the hook.
            super::child_fds::close_from(3);
            Ok(())
        });
    }
    // Recorded as a helper until reaped: never mistaken for an orphan of a
    // killed watchdog (`reaper.rs`).
    let spawned = super::reaper::spawn_helper(&mut command);
    let (mut child, _helper) = match spawned {
        Ok(child) => child,
        Err(e) => return outcome(false, format!("cannot start: {e}")),
    };
    let pgid = child.id() as i32;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let description = match (status.code(), status.signal()) {
                    (Some(code), _) => format!("exit status {code}"),
                    (None, Some(sig)) => format!("killed by signal {sig}"),
                    (None, None) => format!("{status}"),
                };
                return outcome(status.success(), description);
            }
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(POLL),
            Ok(None) => {
                // SAFETY: kill(2) with a negative pid signals the process
                // group we created for the hook (its leader is our child,
                // not yet reaped, so the group id cannot have been reused).
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                let _ = child.wait();
                return outcome(
                    false,
                    format!("timed out after {} ms, killed", timeout.as_millis()),
                );
            }
            Err(e) => {
                // SAFETY: as above: our own, unreaped child's group.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                let _ = child.wait();
                return outcome(false, format!("cannot wait for it: {e}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn prev() -> Breadcrumb {
        Breadcrumb {
            data: b"10.0.0.7 \xc3\xa9\0".to_vec(),
            session: 0x1_0000_00ab,
            token: 4_294_967_337,
            since_ms: 1,
            clean: false,
            left: None,
        }
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("zkha-fence-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_hook_sees_the_previous_master() {
        let dir = scratch("env");
        let out = dir.join("env.txt");
        let cmd = format!(
            "printf '%s|%s|%s|%s|' \"$ZKHA_PREV_DATA\" \"$ZKHA_PREV_SESSION\" \
             \"$ZKHA_PREV_TOKEN\" \"$ZKHA_PATH\" > {0}; \
             read line; echo \"stdin=$?\" >> {0}",
            out.display()
        );
        let o = run_fence(&cmd, "/ux/m", &prev(), Duration::from_secs(30));
        assert!(o.ok, "{o:?}");
        assert_eq!(o.description, "exit status 0");
        let seen = std::fs::read_to_string(&out).unwrap();
        // stdin is /dev/null: `read` finds end of file (status 1).
        assert_eq!(
            seen, "10.0.0.7 é|0x1000000ab|4294967337|/ux/m|stdin=1\n",
            "{seen:?}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn inner_nul_and_binary_data_still_start_the_hook() {
        let dir = scratch("nul");
        let out = dir.join("data.txt");
        let odd = Breadcrumb {
            data: vec![b'a', 0, 0xff, b'b', 0],
            ..prev()
        };
        let cmd = format!("printf '%s' \"$ZKHA_PREV_DATA\" > {}", out.display());
        let o = run_fence(&cmd, "/p", &odd, Duration::from_secs(30));
        assert!(o.ok, "{o:?}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "a\u{fffd}\u{fffd}b");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_failing_hook_is_not_ok_and_says_why() {
        let o = run_fence("exit 3", "/p", &prev(), Duration::from_secs(30));
        assert!(!o.ok);
        assert_eq!(o.description, "exit status 3");
        let o = run_fence("kill -TERM $$", "/p", &prev(), Duration::from_secs(30));
        assert!(!o.ok);
        assert_eq!(o.description, format!("killed by signal {}", libc::SIGTERM));
    }

    /// The live (not zombie) processes of a process group, from /proc.
    fn live_members(pgid: i32) -> Vec<i32> {
        let mut live = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // After "(comm)": state, ppid, pgrp.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
                live.push(pid);
            }
        }
        live
    }

    #[test]
    fn a_hanging_hook_is_killed_with_its_group() {
        let dir = scratch("hang");
        let pid_file = dir.join("pid");
        // A child of its own (the `sleep` in the background) and a
        // foreground sleep: both must go.
        let cmd = format!("echo $$ > {}; sleep 60 & sleep 60", pid_file.display());
        let o = run_fence(&cmd, "/p", &prev(), Duration::from_millis(300));
        assert!(!o.ok, "{o:?}");
        assert_eq!(o.description, "timed out after 300 ms, killed");
        let pgid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut live = live_members(pgid);
        while !live.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            live = live_members(pgid);
        }
        assert!(live.is_empty(), "still alive in group {pgid}: {live:?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_hook_that_cannot_start_says_so() {
        // A path with NUL: spawn refuses it before any fork.
        let o = run_fence("true", "/p\0x", &prev(), Duration::from_secs(1));
        assert!(!o.ok);
        assert!(o.description.starts_with("cannot start: "), "{o:?}");
    }

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        fence: FenceArgs,
    }

    #[test]
    fn flags_default_and_check_their_range_in_ms() {
        let c = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(c.fence.fence_cmd, None);
        assert_eq!(c.fence.timeout(), Duration::from_millis(10_000));
        assert_eq!(c.fence.backoff(), Duration::from_millis(5_000));
        let c = Cli::try_parse_from([
            "x",
            "--fence-cmd",
            "ssh old poweroff",
            "--fence-timeout",
            "3600000",
            "--fence-backoff",
            "1",
        ])
        .unwrap();
        assert_eq!(c.fence.fence_cmd.as_deref(), Some("ssh old poweroff"));
        assert_eq!(c.fence.fence_timeout, 3_600_000);
        assert_eq!(c.fence.fence_backoff, 1);
        for (flag, value) in [
            ("--fence-timeout", "0"),
            ("--fence-timeout", "3600001"),
            ("--fence-backoff", "-5"),
            ("--fence-backoff", "soon"),
        ] {
            let e = Cli::try_parse_from(["x".to_owned(), format!("{flag}={value}")])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("{flag} {value}: must be 1 to 3600000 (ms)")),
                "{e}"
            );
        }
    }
}
