//! The flags of `zkha run`'s two checks, checked and turned into a
//! [`CheckSpec`]: `--ready-*` (readiness of the host) and `--health-*`
//! (liveness of the running command).

use super::{check_cmd, check_failures, check_ms, CheckSpec, Purpose};
use clap::Args;
use std::time::Duration;

/// `zkha run`'s readiness flags: is this host fit to be master?
#[derive(Debug, Args)]
pub struct ReadyArgs {
    /// Readiness of this host (a drain marker, its disks, what the command
    /// needs), run with `sh -c` every --ready-interval on every candidate,
    /// master included; exit status 0 means ready. A candidate is not ready
    /// until a check passes, and again after --ready-failures failures in a
    /// row: it stays registered (visible, `ready` false) but never takes
    /// over (seed profile, which does not register: it leaves the election
    /// and joins again after a passing check). A master that is not ready
    /// keeps mastership and its command (that is --health-cmd's business);
    /// it is reported not ready. Without it: always ready.
    #[arg(long, value_name = "CMD")]
    pub ready_cmd: Option<String>,
    /// Time between the starts of two readiness checks, in ms.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub ready_interval: u64,
    /// A readiness check still running after this many ms is killed (its
    /// whole process group) and counts as a failure.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub ready_timeout: u64,
    /// Consecutive failed readiness checks that make a candidate not ready.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub ready_failures: u32,
}

/// `zkha run`'s liveness flags: is the running command alive?
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Liveness of the running command (e.g. `curl -fsS --max-time 1
    /// http://127.0.0.1:8080/healthz`), run with `sh -c` every
    /// --health-interval only while this candidate is master and its
    /// command runs, the first --health-start-period after the command
    /// started; never on a standby. Exit status 0 means healthy. After
    /// --health-failures failures in a row the command is stopped (SIGTERM,
    /// up to --stop-timeout, still master) and the candidate resigns,
    /// staying a candidate. Without it: only the command's exit counts (see
    /// --on-exit).
    #[arg(long, value_name = "CMD")]
    pub health_cmd: Option<String>,
    /// Time between the starts of two health checks, in ms.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub health_interval: u64,
    /// A health check still running after this many ms is killed (its
    /// whole process group) and counts as a failure.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub health_timeout: u64,
    /// Consecutive failed health checks that make the master stop its
    /// command and resign.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub health_failures: u32,
    /// Time from the command's start to the first health check, in ms; no
    /// check runs meanwhile. Give it the command's start-up time (0: the
    /// first check at once, and --health-interval × --health-failures to
    /// come up).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub health_start_period: u64,
}

impl ReadyArgs {
    /// Checks the flags, naming the flag and in the unit the user typed.
    pub fn validate(&self) -> Result<(), zkha::Error> {
        check_cmd("--ready-cmd", self.ready_cmd.as_deref())?;
        check_ms("--ready-interval", self.ready_interval, 1)?;
        check_ms("--ready-timeout", self.ready_timeout, 1)?;
        check_failures("--ready-failures", self.ready_failures)
    }

    /// The readiness check, `None` without `--ready-cmd`. Call
    /// [`validate`](Self::validate) first.
    pub fn spec(&self) -> Option<CheckSpec> {
        Some(CheckSpec {
            purpose: Purpose::Readiness,
            cmd: self.ready_cmd.clone()?,
            interval: Duration::from_millis(self.ready_interval),
            timeout: Duration::from_millis(self.ready_timeout),
            failures: self.ready_failures,
            start_delay: Duration::ZERO,
        })
    }
}

impl HealthArgs {
    /// Checks the flags, naming the flag and in the unit the user typed.
    pub fn validate(&self) -> Result<(), zkha::Error> {
        check_cmd("--health-cmd", self.health_cmd.as_deref())?;
        check_ms("--health-interval", self.health_interval, 1)?;
        check_ms("--health-timeout", self.health_timeout, 1)?;
        check_failures("--health-failures", self.health_failures)?;
        check_ms("--health-start-period", self.health_start_period, 0)
    }

    /// The liveness check of one run of the command (its start delay is
    /// the start period), `None` without `--health-cmd`. Call
    /// [`validate`](Self::validate) first.
    pub fn spec(&self) -> Option<CheckSpec> {
        Some(CheckSpec {
            purpose: Purpose::Liveness,
            cmd: self.health_cmd.clone()?,
            interval: Duration::from_millis(self.health_interval),
            timeout: Duration::from_millis(self.health_timeout),
            failures: self.health_failures,
            start_delay: Duration::from_millis(self.health_start_period),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::checker::tests::wait_for;
    use super::super::{Health, HealthChecker, MAX_MS};
    use super::*;
    use clap::Parser;

    fn health(cmd: Option<&str>, interval: u64, timeout: u64, failures: u32) -> HealthArgs {
        HealthArgs {
            health_cmd: cmd.map(str::to_owned),
            health_interval: interval,
            health_timeout: timeout,
            health_failures: failures,
            health_start_period: 0,
        }
    }

    fn ready(cmd: Option<&str>, interval: u64, timeout: u64, failures: u32) -> ReadyArgs {
        ReadyArgs {
            ready_cmd: cmd.map(str::to_owned),
            ready_interval: interval,
            ready_timeout: timeout,
            ready_failures: failures,
        }
    }

    fn invalid(r: Result<(), zkha::Error>) -> String {
        match r {
            Err(e @ zkha::Error::InvalidArgument { .. }) => e.to_string(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn health_validate_names_the_flag_and_unit() {
        let v = |a: HealthArgs| invalid(a.validate());
        assert!(health(Some("true"), 1000, 2000, 3).validate().is_ok());
        assert!(health(None, 1, MAX_MS, 1000).validate().is_ok());
        assert!(health(Some("true"), MAX_MS, 1, 1).validate().is_ok());

        let e = v(health(None, 0, 2000, 3));
        assert!(
            e.contains("--health-interval 0: must be 1 to 3600000 (ms)"),
            "{e}"
        );
        let e = v(health(None, MAX_MS + 1, 2000, 3));
        assert!(
            e.contains("--health-interval 3600001: must be 1 to 3600000 (ms)"),
            "{e}"
        );
        let e = v(health(None, 1000, 0, 3));
        assert!(
            e.contains("--health-timeout 0: must be 1 to 3600000 (ms)"),
            "{e}"
        );
        let e = v(health(None, 1000, u64::MAX, 3));
        assert!(
            e.contains(&format!(
                "--health-timeout {}: must be 1 to 3600000 (ms)",
                u64::MAX
            )),
            "{e}"
        );
        let e = v(health(None, 1000, 2000, 0));
        assert!(e.contains("--health-failures 0: must be 1 to 1000"), "{e}");
        let e = v(health(None, 1000, 2000, 1001));
        assert!(
            e.contains("--health-failures 1001: must be 1 to 1000"),
            "{e}"
        );
        let e = v(health(Some("  "), 1000, 2000, 3));
        assert!(e.contains("--health-cmd \"  \": empty command"), "{e}");
    }

    #[test]
    fn health_start_period_is_0_to_an_hour() {
        let with = |ms| HealthArgs {
            health_start_period: ms,
            ..health(Some("true"), 1000, 2000, 3)
        };
        assert!(with(0).validate().is_ok());
        assert!(with(MAX_MS).validate().is_ok());
        let e = invalid(with(MAX_MS + 1).validate());
        assert!(
            e.contains("--health-start-period 3600001: must be 0 to 3600000 (ms)"),
            "{e}"
        );
        let e = invalid(with(u64::MAX).validate());
        assert!(
            e.contains(&format!(
                "--health-start-period {}: must be 0 to 3600000 (ms)",
                u64::MAX
            )),
            "{e}"
        );
        // An out-of-range period is a timeout argument, as the others.
        assert!(matches!(
            with(MAX_MS + 1).validate(),
            Err(zkha::Error::InvalidArgument {
                argument: zkha::error::Argument::Timeout,
                ..
            })
        ));
    }

    #[test]
    fn ready_validate_names_the_flag_and_unit() {
        let v = |a: ReadyArgs| invalid(a.validate());
        assert!(ready(Some("true"), 1000, 2000, 3).validate().is_ok());
        assert!(ready(None, 1, MAX_MS, 1000).validate().is_ok());
        assert!(ready(Some("true"), MAX_MS, 1, 1).validate().is_ok());

        let e = v(ready(None, 0, 2000, 3));
        assert!(
            e.contains("--ready-interval 0: must be 1 to 3600000 (ms)"),
            "{e}"
        );
        let e = v(ready(None, MAX_MS + 1, 2000, 3));
        assert!(
            e.contains("--ready-interval 3600001: must be 1 to 3600000 (ms)"),
            "{e}"
        );
        let e = v(ready(None, 1000, 0, 3));
        assert!(
            e.contains("--ready-timeout 0: must be 1 to 3600000 (ms)"),
            "{e}"
        );
        let e = v(ready(None, 1000, MAX_MS + 1, 3));
        assert!(
            e.contains("--ready-timeout 3600001: must be 1 to 3600000 (ms)"),
            "{e}"
        );
        let e = v(ready(None, 1000, 2000, 0));
        assert!(e.contains("--ready-failures 0: must be 1 to 1000"), "{e}");
        let e = v(ready(None, 1000, 2000, 1001));
        assert!(
            e.contains("--ready-failures 1001: must be 1 to 1000"),
            "{e}"
        );
        let e = v(ready(Some(""), 1000, 2000, 3));
        assert!(e.contains("--ready-cmd \"\": empty command"), "{e}");
        let e = v(ready(Some(" \t"), 1000, 2000, 3));
        assert!(e.contains("--ready-cmd \" \\t\": empty command"), "{e}");
    }

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        ready: ReadyArgs,
        #[command(flatten)]
        health: HealthArgs,
    }

    #[test]
    fn flags_parse_with_their_defaults() {
        let cli = Cli::try_parse_from(["zkha"]).unwrap();
        assert_eq!(cli.health.health_cmd, None);
        assert_eq!(
            (
                cli.health.health_interval,
                cli.health.health_timeout,
                cli.health.health_failures,
                cli.health.health_start_period
            ),
            (1000, 2000, 3, 0)
        );
        assert_eq!(cli.ready.ready_cmd, None);
        assert_eq!(
            (
                cli.ready.ready_interval,
                cli.ready.ready_timeout,
                cli.ready.ready_failures
            ),
            (1000, 2000, 3)
        );
        assert!(cli.health.spec().is_none());
        assert!(cli.ready.spec().is_none());
    }

    #[test]
    fn flags_make_their_specs() {
        let cli = Cli::try_parse_from([
            "zkha",
            "--ready-cmd",
            "test -e /x",
            "--ready-interval",
            "20",
            "--ready-timeout",
            "300",
            "--ready-failures",
            "4",
            "--health-cmd",
            "true",
            "--health-interval",
            "10",
            "--health-timeout",
            "500",
            "--health-failures",
            "2",
            "--health-start-period",
            "5000",
        ])
        .unwrap();
        cli.ready.validate().unwrap();
        cli.health.validate().unwrap();
        let ms = Duration::from_millis;
        assert_eq!(
            cli.ready.spec(),
            Some(CheckSpec {
                purpose: Purpose::Readiness,
                cmd: "test -e /x".into(),
                interval: ms(20),
                timeout: ms(300),
                failures: 4,
                start_delay: Duration::ZERO,
            })
        );
        let spec = cli.health.spec().expect("a liveness check");
        assert_eq!(
            spec,
            CheckSpec {
                purpose: Purpose::Liveness,
                cmd: "true".into(),
                interval: ms(10),
                timeout: ms(500),
                failures: 2,
                start_delay: ms(5000),
            }
        );
        let h = HealthChecker::start(
            CheckSpec {
                start_delay: Duration::ZERO,
                ..spec
            },
            "x".into(),
        )
        .unwrap();
        assert!(wait_for(|| h.state() == Health::Healthy));
    }
}
