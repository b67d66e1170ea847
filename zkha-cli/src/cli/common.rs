//! What every subcommand shares: exit codes, the C client's logging, times.

use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use zkha::logging::{set_debug_level, set_log_stream, LogLevel, LogStream};

/// Exit codes (see `zkha --help`).
pub mod exit {
    /// Done.
    pub const OK: u8 = 0;
    /// A runtime error (ZooKeeper unreachable, I/O).
    pub const ERROR: u8 = 1;
    /// Bad usage or input.
    pub const USAGE: u8 = 2;
    /// `status`: nobody is master (`switchover`, `resign`: nobody to ask).
    pub const NO_MASTER: u8 = 4;
    /// `run`: the command could not be started.
    pub const CANNOT_START: u8 = 5;
    /// `switchover`, `resign`: refused, nothing written (an unregistered
    /// master, an unfit target, another operation in force).
    pub const REFUSED: u8 = 6;
    /// `switchover`, `resign`: not done within `--timeout` (the control node
    /// was reset, so that the normal election resumes).
    pub const NOT_DONE: u8 = 7;

    /// The exit code that passes a command's end on: its own code, or
    /// 128+N if it died of signal N (as a shell reports it). `zkha run`
    /// exits with it (`--on-exit exit`), and so does the watchdog, whose
    /// exit status is its command's.
    pub fn code_of(status: std::process::ExitStatus) -> u8 {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(c), _) => c.clamp(0, 255) as u8,
            (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
            _ => ERROR,
        }
    }
}

/// The C client's own log lines.
#[derive(Debug, Args, Clone)]
pub struct LogArgs {
    /// Level of the C client's log lines: error, warn, info, debug.
    #[arg(long, default_value = "warn", value_parser = parse_level)]
    pub zk_log_level: LogLevel,
    /// Write the C client's log lines to this file (zoo_set_log_stream)
    /// instead of routing them through RUST_LOG's logger (target "zookeeper").
    #[arg(long)]
    pub zk_log_file: Option<PathBuf>,
    /// Repeats of a C client line within this many ms are counted and
    /// summarised once, not logged; 0 (or --zk-log-level debug): every line.
    #[arg(long, default_value_t = 10_000)]
    pub zk_log_repeat_window: u64,
}

fn parse_level(s: &str) -> Result<LogLevel, String> {
    s.parse().map_err(|e: zkha::Error| e.to_string())
}

impl LogArgs {
    /// Applies the level and stream; returns whether handles should bridge
    /// their C log lines into the `log` crate.
    pub fn apply(&self) -> Result<bool, zkha::Error> {
        set_debug_level(self.zk_log_level);
        zkha::logging::set_repeat_window(Some(Duration::from_millis(self.zk_log_repeat_window)));
        match &self.zk_log_file {
            Some(f) => {
                set_log_stream(LogStream::File(f))?;
                Ok(false)
            }
            None => Ok(true),
        }
    }
}

/// Where `status` and `watch` look, and how they connect.
#[derive(Debug, Args)]
pub struct ObserveArgs {
    /// Read --hosts, --path (and --sequence from `mode = "sequence"`), TLS,
    /// SASL and the digest from `zkha run`'s TOML file: the same file the
    /// candidates run with; its other keys (the command, the checks) are
    /// run's and ignored. The command line overrides the file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub log: LogArgs,
    /// ZooKeeper connect string.
    #[arg(long)]
    pub hosts: String,
    /// The master znode (with --sequence: the election parent).
    #[arg(long)]
    pub path: String,
    /// The election uses sequence mode.
    #[arg(long)]
    pub sequence: bool,
    /// How long to try to reach ZooKeeper, in ms.
    #[arg(long, default_value_t = 10_000)]
    pub connect_timeout: u64,
    #[command(flatten)]
    pub secure: super::secure::SecureArgs,
}

impl ObserveArgs {
    /// Checks the path and the TLS / SASL flags, applies the C client's
    /// logging, connects (a refused handshake or credential is a typed
    /// error within the connect timeout).
    pub fn connect(&self) -> Result<zkha::ZooKeeper, zkha::Error> {
        zkha::validate::check_path(&self.path, false)?;
        let security = self.secure.security()?;
        let bridge = self.log.apply()?;
        zkha::ZooKeeper::builder(&self.hosts)
            .security(security)
            .log_to_rust(bridge)
            .connect(std::time::Duration::from_millis(self.connect_timeout))
    }
}

/// The election's digest credentials, for `status`, `switchover` and
/// `resign` (whose nodes have the election's ACL).
#[derive(Debug, Args)]
pub struct CredentialArgs {
    /// Digest credentials `user:password`, the election's (`zkha run
    /// --digest`): to read a protected node and the candidates' registry,
    /// and to write the control node. On the command line every user sees
    /// them (`ps`): prefer --digest-file, or set ZKHA_DIGEST=user:password.
    #[arg(long)]
    pub digest: Option<String>,
    /// --digest's `user:password` from this file's one line, which must not
    /// be readable by group or others.
    #[arg(long, value_name = "FILE", conflicts_with = "digest")]
    pub digest_file: Option<PathBuf>,
}

impl CredentialArgs {
    /// Connects as `target` says, then adds the digest credentials, if any.
    pub fn connect(&self, target: &ObserveArgs) -> Result<zkha::ZooKeeper, zkha::Error> {
        let digest = super::secure::digest(self.digest.as_deref(), self.digest_file.as_deref())?;
        let zk = target.connect()?;
        if let Some(d) = &digest {
            zk.add_auth("digest", d.as_bytes())?;
        }
        Ok(zk)
    }
}

/// `ms` since the epoch as `YYYY-MM-DD HH:MM:SS.mmm UTC` (out-of-range
/// values, which no clock gives, are shown as the raw number).
pub fn utc(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S%.3f UTC").to_string(),
        Err(_) => format!("{ms} ms since 1970 (out of range)"),
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(super::utc(1_795_000_000_123), "2026-11-18 11:06:40.123 UTC");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29 00:00:00.000 UTC");
        assert_eq!(super::utc(-1), "1969-12-31 23:59:59.999 UTC");
        assert!(super::utc(i64::MAX).contains("out of range"));
    }

    #[test]
    fn code_of_passes_on_the_code_or_128_plus_the_signal() {
        use super::exit::code_of;
        use std::os::unix::process::ExitStatusExt;
        use std::process::ExitStatus;
        assert_eq!(code_of(ExitStatus::from_raw(0)), 0);
        assert_eq!(code_of(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(code_of(ExitStatus::from_raw(255 << 8)), 255);
        assert_eq!(code_of(ExitStatus::from_raw(libc::SIGTERM)), 143);
        assert_eq!(code_of(ExitStatus::from_raw(libc::SIGKILL)), 137);
    }
}
