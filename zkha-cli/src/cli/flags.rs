//! The election's flags, shared by `zkha candidate` and `zkha run`
//! ([`ElectionArgs`]): their definitions, the elector configuration they
//! make, and their checks, in the unit the user typed (ms) and naming the
//! flag, before the library checks the configuration they make (whose
//! errors speak of fields, not flags).

use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;
use zkha::elector::{ElectorConfig, Mode, Profile};
use zkha::error::Argument;
use zkha::validate::{timeout_ms, MAX_TIMEOUT_MS};

/// The elector profile.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProfileArg {
    /// The C++ design exactly (S1-S9), flaws included.
    Seed,
    /// The default: the design with its flaws fixed.
    Safe,
}

/// How standbys wait.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Try to create the node every poll interval.
    Poll,
    /// Watch the master node.
    Watch,
    /// Ephemeral-sequential queue; the lowest wins.
    Sequence,
}

/// Election options shared by `candidate` and `run`.
#[derive(Debug, Args)]
pub struct ElectionArgs {
    /// ZooKeeper connect string, e.g. 127.0.0.1:2181,127.0.0.1:2182.
    #[arg(long)]
    pub hosts: String,
    /// The master znode (sequence mode: the election parent).
    #[arg(long)]
    pub path: String,
    /// Node data as text; the node holds it plus a trailing NUL, like the
    /// design. Default: this host's primary IP address.
    #[arg(long)]
    pub data: Option<String>,
    /// seed (the C++ design exactly) or safe (flaws fixed).
    #[arg(long, value_enum, default_value_t = ProfileArg::Safe)]
    pub profile: ProfileArg,
    /// How standbys wait; default: poll for seed, watch for safe.
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Requested session timeout in ms.
    #[arg(long, default_value_t = 5000)]
    pub session_timeout: u64,
    /// Poll / work interval in ms.
    #[arg(long, default_value_t = 1000)]
    pub poll_interval: u64,
    /// Delay after winning before work, in ms (default: seed 2000, safe 0).
    #[arg(long)]
    pub settle: Option<u64>,
    /// Seed: exit (code 3) after this many re-inits that never connect.
    #[arg(long)]
    pub reinit_limit: Option<u32>,
    /// Create missing parents of the path (default: safe yes, seed no).
    #[arg(long)]
    pub create_parents: Option<bool>,
    /// Digest auth `user:password` and a creator-only ACL on the node. On
    /// the command line every user sees it (`ps`): prefer --digest-file, or
    /// set ZKHA_DIGEST=user:password (neither is passed on to the command,
    /// health checks or fences).
    #[arg(long)]
    pub digest: Option<String>,
    /// --digest's `user:password` from this file's one line, which must not
    /// be readable by group or others.
    #[arg(long, value_name = "FILE", conflicts_with = "digest")]
    pub digest_file: Option<PathBuf>,
    /// Write a JSON-lines election trace here ("-": stdout).
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// This candidate's name: in traces, and (safe profile) in the
    /// candidates' registry, where it must be unique on the path (`zkha
    /// switchover --to NAME`). Default: the data, made unique (`-2`, ...)
    /// when another candidate has it. A name another live candidate holds
    /// is refused (after waiting up to the session timeout for a crashed
    /// predecessor's session to go).
    #[arg(long)]
    pub name: Option<String>,
    /// Safe profile: higher is preferred when the master goes (a lower
    /// candidate takes over only when no higher one is ready, after about
    /// two poll intervals); 0: never master (registered, visible, never
    /// takes over). 0 to 1000000.
    #[arg(long, default_value_t = 100)]
    pub priority: u32,
    /// Keep the session id here (owner-only, it is a secret) and reattach
    /// to it on restart: a quick restart keeps mastership (safe profile).
    #[arg(long)]
    pub session_file: Option<PathBuf>,
    #[command(flatten)]
    pub secure: super::secure::SecureArgs,
}

impl ElectionArgs {
    /// The elector configuration these arguments describe, with their TLS /
    /// SASL settings (checked: files, the password file's mode), once a
    /// first session with those was not refused (see `secure::preflight`):
    /// a bad certificate or password ends zkha at once.
    pub fn config(&self) -> Result<ElectorConfig, zkha::Error> {
        let digest = super::secure::digest(self.digest.as_deref(), self.digest_file.as_deref())?;
        let mut c = match self.profile {
            ProfileArg::Seed => ElectorConfig::seed(&self.hosts, &self.path),
            ProfileArg::Safe => ElectorConfig::new(&self.hosts, &self.path),
        };
        c.security = self.secure.security()?;
        super::secure::preflight(&self.hosts, &c.security)?;
        if let Some(d) = &self.data {
            c.data = zkha::net::seed_text_data(d);
        }
        if let Some(m) = self.mode {
            c.mode = match m {
                ModeArg::Poll => Mode::Poll,
                ModeArg::Watch => Mode::Watch,
                ModeArg::Sequence => Mode::Sequence,
            };
        }
        c.session_timeout = Duration::from_millis(self.session_timeout);
        c.poll_interval = Duration::from_millis(self.poll_interval);
        if let Some(s) = self.settle {
            c.settle_delay = Duration::from_millis(s);
        }
        c.reinit_limit = self.reinit_limit;
        if let Some(p) = self.create_parents {
            c.create_parents = p;
        }
        if let Some(d) = digest {
            c.auth = Some(zkha::elector::Auth {
                scheme: "digest".into(),
                credential: d.into_bytes(),
            });
            c.acl = zkha::elector::AclChoice::CreatorAll;
        } else if let (Some(user), Profile::Safe) = (&self.secure.sasl_user, c.profile) {
            // Only the SASL identity may touch the node (and the parents
            // zkha creates); the seed profile keeps the design's open ACL.
            c.acl = zkha::elector::sasl_acl(user);
        }
        c.trace = self.trace.clone();
        c.name = self.name.clone();
        c.priority = self.priority;
        c.session_file = self.session_file.clone();
        Ok(c)
    }
}

/// A timeout flag in ms, by the library's one timeout rule ([`timeout_ms`]:
/// 1 to `i32::MAX`, the C `int` it becomes); the error names the flag.
fn check_ms(flag: &str, ms: u64) -> Result<(), zkha::Error> {
    if timeout_ms(ms).is_none() {
        return Err(zkha::Error::InvalidArgument {
            argument: Argument::Timeout,
            reason: format!("{flag} {ms}: must be 1 to {MAX_TIMEOUT_MS} (ms)"),
        });
    }
    Ok(())
}

/// The flags first, then the configuration.
pub fn validate(args: &ElectionArgs, config: &ElectorConfig) -> Result<(), zkha::Error> {
    check_ms("--session-timeout", args.session_timeout)?;
    check_ms("--poll-interval", args.poll_interval)?;
    config.validate()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_the_flag_in_ms() {
        let e = super::check_ms("--session-timeout", 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--session-timeout 0: must be 1 to 2147483647 (ms)"),
            "{e}"
        );
        assert!(!e.contains("ns"), "{e}");
        assert!(super::check_ms("--poll-interval", 1).is_ok());
        assert!(super::check_ms("--poll-interval", 1 << 31).is_err());
    }
}
