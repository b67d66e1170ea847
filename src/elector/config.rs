//! What an elector is told: where, with which data, how fast, which profile.

use crate::error::{Argument, Error, Result};
use crate::secure::Security;
use crate::types::Acl;
use crate::validate::{check_data, check_hosts, check_path, check_session_timeout};
use std::path::PathBuf;
use std::time::Duration;

/// Which behaviour to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Profile {
    /// Reproduces the C++ design (docs/design.md, S1–S9) exactly, flaws included:
    /// for drop-in replacement and fidelity tests.
    Seed,
    /// The default: the same node path and bytes (so it interoperates with
    /// seed processes), with the design's flaws F1–F10 fixed.
    Safe,
}

/// How a standby learns that the master is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Try to create the node every poll interval (S4; the seed's way, F6).
    Poll,
    /// Watch the master node and try again when it goes (S8).
    Watch,
    /// Ephemeral-sequential children under the path; the lowest wins and
    /// each candidate watches only its predecessor (S7, no herd effect).
    Sequence,
}

/// Who may touch the master node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclChoice {
    /// ZOO_OPEN_ACL_UNSAFE (the seed's: anyone can delete it, F10).
    Open,
    /// ZOO_CREATOR_ALL_ACL: only the authenticated creator; needs `auth`.
    CreatorAll,
    /// An explicit list.
    Custom(Vec<Acl>),
}

/// Authentication added to every session before it competes.
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    /// The scheme, e.g. "digest".
    pub scheme: String,
    /// The credential, e.g. "user:password". Never logged or shown.
    pub credential: Vec<u8>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Auth {{ scheme: {:?}, credential: <hidden> }}",
            self.scheme
        )
    }
}

/// Configuration of an [`Elector`](super::Elector). Start from
/// [`ElectorConfig::new`] (safe defaults) or [`ElectorConfig::seed`] (the
/// design's values), adjust the public fields, and `Elector::start` checks
/// them all.
#[derive(Debug, Clone)]
pub struct ElectorConfig {
    /// The ZooKeeper connect string.
    pub hosts: String,
    /// The master node (watch/poll), or the election parent (sequence).
    pub path: String,
    /// The node data. Default: this host's primary IP text plus NUL (S5).
    pub data: Vec<u8>,
    /// Requested session timeout (default 5000 ms, S1).
    pub session_timeout: Duration,
    /// Poll interval: the run loop's sleep and, in poll mode, the create
    /// retry interval (default 1000 ms, S4).
    pub poll_interval: Duration,
    /// Delay after winning before work starts (seed 2000 ms, S5; safe 0:
    /// the fencing token, not a sleep, protects the work, F5).
    pub settle_delay: Duration,
    /// Log a failed create on failures 1, 1+N, 1+2N… (seed: 600, S5).
    pub failure_log_every: u64,
    /// How standbys wait (seed: poll; safe: watch).
    pub mode: Mode,
    /// Node ACL (default open, as the seed).
    pub acl: AclChoice,
    /// Auth added to the session (digest for a creator-only ACL, F10).
    pub auth: Option<Auth>,
    /// TLS files or SASL credentials of every session the elector opens
    /// (default: plaintext). Secrets stay hidden in `Debug`.
    pub security: Security,
    /// Create the master path's missing parents (seed: off, S6).
    pub create_parents: bool,
    /// Seed or safe behaviour.
    pub profile: Profile,
    /// Seed only: exit the process after this many consecutive re-inits that
    /// never connect (the design's "exit and let a supervisor restart"
    /// alternative, S3). `None`: re-init forever, as the design does.
    pub reinit_limit: Option<u32>,
    /// After `resign`, how long to stay out of the race so that
    /// another candidate takes over (default 1 s; 0 competes at once).
    pub resign_backoff: Duration,
    /// Write a JSON-lines trace of the election to this file ("-": stdout).
    pub trace: Option<PathBuf>,
    /// A label for this candidate in traces (default `rust-<profile>`),
    /// and (safe profile) its name in the candidates' registry
    /// ([`registry`](super::registry)), which must be unique on the path:
    /// a name another live candidate holds ends this candidacy with an
    /// error. Default there: the data's text, made unique (`-2`, `-3`, …)
    /// when another candidate has it.
    pub name: Option<String>,
    /// Safe profile: higher is preferred when the master goes (a lower
    /// candidate takes over only when no higher one is ready); 0 never
    /// becomes master (a registered standby). Default 100, at most
    /// 1 000 000.
    pub priority: u32,
    /// Safe profile: whether this candidate may take over from the start;
    /// [`Elector::set_ready`](super::Elector::set_ready) changes it. A
    /// master that turns unready stays master. Default true.
    pub ready: bool,
    /// Safe profile: how long this candidate takes to stop its work on a
    /// planned handover, published in the registry so that a switchover
    /// waits long enough (`zkha run`'s `--stop-timeout`). Default 0.
    pub stop_timeout: Duration,
    /// Safe only: keep the session's client id in this file (mode 0600: it
    /// is a secret) and, on start, reattach to that session if it is still
    /// alive, so a quick restart keeps mastership without a failover.
    pub session_file: Option<PathBuf>,
    /// Route the C client's log lines of this elector's sessions into the
    /// `log` crate (target "zookeeper", repeats summarised), so that the
    /// application's logger filters them (default); false: the C client's
    /// own stream (stderr unless set with `zkha::logging`).
    pub log_to_rust: bool,
    /// How long the ensemble may stay unreachable (no session connected)
    /// before [`Elector::until_master`](super::Elector::until_master) and
    /// [`Elector::wait_for_mastership`](super::Elector::wait_for_mastership)
    /// give up with [`Error::Timeout`] (default 30 s; zero: never). The
    /// election itself keeps trying.
    pub unreachable_after: Duration,
    /// Test hook: a pause between opening a session and publishing its
    /// handle (to reproduce CONNECTED arriving first). Zero in real use;
    /// the workspace's tests set it through `zkha::__private`.
    pub(crate) test_publish_delay: Duration,
    /// Test hook: a pause between the gate's go and the claim (safe
    /// profile), announced by a `test_claim_delay` trace line, so that a
    /// test can cut the claim's answer (F3). Zero in real use.
    pub(crate) test_claim_delay: Duration,
}

impl ElectorConfig {
    /// The safe profile with watch mode, for `hosts` and master `path`.
    pub fn new(hosts: &str, path: &str) -> ElectorConfig {
        ElectorConfig {
            hosts: hosts.to_owned(),
            path: path.to_owned(),
            data: crate::net::seed_node_data(&crate::net::primary_ip()),
            session_timeout: Duration::from_millis(5000),
            poll_interval: Duration::from_millis(1000),
            settle_delay: Duration::ZERO,
            failure_log_every: 600,
            mode: Mode::Watch,
            acl: AclChoice::Open,
            auth: None,
            security: Security::default(),
            create_parents: true,
            profile: Profile::Safe,
            reinit_limit: None,
            resign_backoff: Duration::from_millis(1000),
            trace: None,
            name: None,
            priority: super::registry::DEFAULT_PRIORITY,
            ready: true,
            stop_timeout: Duration::ZERO,
            session_file: None,
            log_to_rust: true,
            unreachable_after: Duration::from_secs(30),
            test_publish_delay: Duration::ZERO,
            test_claim_delay: Duration::ZERO,
        }
    }

    /// The seed design's profile and values (S1–S9).
    pub fn seed(hosts: &str, path: &str) -> ElectorConfig {
        ElectorConfig {
            settle_delay: Duration::from_millis(2000),
            mode: Mode::Poll,
            create_parents: false,
            profile: Profile::Seed,
            ..ElectorConfig::new(hosts, path)
        }
    }

    /// Checks every field; the first problem is a typed error.
    pub fn validate(&self) -> Result<()> {
        check_hosts(&self.hosts)?;
        check_path(&self.path, false)?;
        if self.path == "/" {
            return Err(Error::invalid(
                Argument::Path,
                "the master path cannot be the root",
            ));
        }
        check_data(&self.data)?;
        check_session_timeout(self.session_timeout)?;
        if self.poll_interval.as_millis() == 0 {
            return Err(Error::invalid(
                Argument::Timeout,
                "poll interval must be positive",
            ));
        }
        if self.failure_log_every == 0 {
            return Err(Error::invalid(
                Argument::Other,
                "failure_log_every must be at least 1",
            ));
        }
        if self.acl == AclChoice::CreatorAll && self.auth.is_none() {
            return Err(Error::invalid(
                Argument::Acl,
                "a creator-only ACL needs auth (e.g. digest user:password)",
            ));
        }
        if let AclChoice::Custom(list) = &self.acl {
            if list.is_empty() {
                return Err(Error::invalid(Argument::Acl, "empty ACL list"));
            }
        }
        if let Some(auth) = &self.auth {
            if auth.scheme.is_empty() || auth.scheme.contains('\0') {
                return Err(Error::invalid(Argument::Acl, "bad auth scheme"));
            }
            if auth.scheme == "digest" && !auth.credential.contains(&b':') {
                return Err(Error::invalid(
                    Argument::Acl,
                    "digest credentials are user:password",
                ));
            }
        }
        self.security.check()?;
        if self.priority > super::registry::MAX_PRIORITY {
            return Err(Error::invalid(
                Argument::Other,
                format!(
                    "priority {}: must be 0 to {}",
                    self.priority,
                    super::registry::MAX_PRIORITY
                ),
            ));
        }
        if let (Profile::Safe, Some(name)) = (self.profile, &self.name) {
            super::registry::validate_name(name)?;
        }
        if self.profile == Profile::Seed {
            self.validate_seed()?;
        }
        Ok(())
    }

    /// The seed profile does what the design does; options it would
    /// otherwise ignore are refused, naming the behaviour that rules them
    /// out. (`log_to_rust` and `resign_backoff` it honours.)
    fn validate_seed(&self) -> Result<()> {
        // Each reason names the design ids it rests on (docs/design.md).
        let refuse = |why: &str| {
            Err(Error::invalid(
                Argument::Other,
                format!("{why} (see docs/design.md)"),
            ))
        };
        if self.mode != Mode::Poll {
            return refuse(
                "the seed profile polls (S4): its watch and sequence variants (S8, S7) are the safe profile's Mode::Watch and Mode::Sequence",
            );
        }
        if self.auth.is_some() || self.acl != AclChoice::Open {
            return refuse(
                "the seed profile creates the node with ZOO_OPEN_ACL_UNSAFE and no auth (S5, F10): digest auth and ACLs are the safe profile's",
            );
        }
        if self.create_parents {
            return refuse(
                "the seed profile needs the parent to exist, as the design does (S6): create_parents is the safe profile's",
            );
        }
        if self.session_file.is_some() {
            return refuse("the seed profile re-inits on its own (S3): no session file");
        }
        if self.priority != super::registry::DEFAULT_PRIORITY || !self.ready {
            return refuse(
                "the seed profile polls and takes over as the design does (S4): priorities and readiness are the safe profile's",
            );
        }
        Ok(())
    }

    /// The ACL list for the node.
    pub fn acl_list(&self) -> Vec<Acl> {
        match &self.acl {
            AclChoice::Open => Acl::open_unsafe(),
            AclChoice::CreatorAll => Acl::creator_all(),
            AclChoice::Custom(list) => list.clone(),
        }
    }

    /// The label used in traces.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| match self.profile {
            Profile::Seed => "rust-seed".into(),
            Profile::Safe => "rust-safe".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let seed = ElectorConfig::seed("127.0.0.1:2181", "/master/test");
        assert_eq!(seed.session_timeout, Duration::from_millis(5000));
        assert_eq!(seed.poll_interval, Duration::from_millis(1000));
        assert_eq!(seed.settle_delay, Duration::from_millis(2000));
        assert_eq!(seed.failure_log_every, 600);
        assert_eq!(seed.mode, Mode::Poll);
        assert!(!seed.create_parents);
        assert_eq!(seed.data.last(), Some(&0));
        seed.validate().unwrap();
        let safe = ElectorConfig::new("127.0.0.1:2181", "/master/test");
        assert_eq!((safe.profile, safe.mode), (Profile::Safe, Mode::Watch));
        safe.validate().unwrap();

        let bad = |f: &dyn Fn(&mut ElectorConfig)| {
            let mut c = ElectorConfig::new("127.0.0.1:2181", "/m");
            f(&mut c);
            assert!(c.validate().is_err(), "{c:?} accepted");
        };
        bad(&|c| c.hosts = "nohost".into());
        bad(&|c| c.path = "relative".into());
        bad(&|c| c.path = "/".into());
        bad(&|c| c.session_timeout = Duration::ZERO);
        bad(&|c| c.poll_interval = Duration::ZERO);
        bad(&|c| c.failure_log_every = 0);
        bad(&|c| c.acl = AclChoice::CreatorAll);
        bad(&|c| c.data = vec![0; crate::validate::MAX_DATA_LEN + 1]);
        bad(&|c| {
            c.auth = Some(Auth {
                scheme: "digest".into(),
                credential: b"nocolon".to_vec(),
            });
        });
        // Trace labels: the profile's by default, the given name otherwise.
        assert_eq!(ElectorConfig::new("h:1", "/m").label(), "rust-safe");
        assert_eq!(ElectorConfig::seed("h:1", "/m").label(), "rust-seed");
        let mut named = ElectorConfig::new("h:1", "/m");
        named.name = Some("c7".into());
        assert_eq!(named.label(), "c7");
        named.validate().unwrap();
        // Registry names and priorities.
        bad(&|c| c.name = Some("a/b".into()));
        bad(&|c| c.name = Some(String::new()));
        bad(&|c| c.priority = super::super::registry::MAX_PRIORITY + 1);
        let mut never = ElectorConfig::new("127.0.0.1:2181", "/m");
        never.priority = 0;
        never.validate().unwrap();
        let mut seed = ElectorConfig::seed("127.0.0.1:2181", "/m");
        seed.priority = 50;
        assert!(seed.validate().is_err());
        seed.priority = super::super::registry::DEFAULT_PRIORITY;
        seed.ready = false;
        assert!(seed.validate().is_err());
        // The session timeout's edges: i32::MAX ms is C's limit.
        let mut edge = ElectorConfig::new("127.0.0.1:2181", "/m");
        edge.session_timeout = Duration::from_millis(i32::MAX as u64);
        edge.validate().unwrap();
        bad(&|c| c.session_timeout = Duration::from_millis(i32::MAX as u64 + 1));
        bad(&|c| c.session_timeout = Duration::from_millis(u64::MAX));
        // Each bad auth scheme alone is refused.
        for scheme in ["", "dig\0est"] {
            bad(&|c| {
                c.auth = Some(Auth {
                    scheme: scheme.into(),
                    credential: b"u:p".to_vec(),
                })
            });
        }
        // Seed options the design has no place for are refused, by S-id.
        let seed_refuses = |f: &dyn Fn(&mut ElectorConfig), sid: &str| {
            let mut c = ElectorConfig::seed("127.0.0.1:2181", "/m");
            f(&mut c);
            let e = c.validate().expect_err("accepted");
            assert!(e.to_string().contains(sid), "{e} lacks {sid}");
        };
        seed_refuses(&|c| c.mode = Mode::Watch, "S4");
        seed_refuses(&|c| c.mode = Mode::Sequence, "S7");
        seed_refuses(&|c| c.create_parents = true, "S6");
        seed_refuses(
            &|c| {
                c.auth = Some(Auth {
                    scheme: "digest".into(),
                    credential: b"u:p".to_vec(),
                })
            },
            "S5",
        );
        seed_refuses(&|c| c.acl = AclChoice::Custom(Acl::open_unsafe()), "F10");
        seed_refuses(&|c| c.session_file = Some("/tmp/x".into()), "S3");
        let mut honoured = ElectorConfig::seed("127.0.0.1:2181", "/m");
        honoured.log_to_rust = true;
        honoured.resign_backoff = Duration::from_secs(5);
        honoured.validate().unwrap();
        let auth = Auth {
            scheme: "digest".into(),
            credential: b"u:secret".to_vec(),
        };
        assert!(!format!("{auth:?}").contains("secret"));
    }

    #[test]
    fn security_is_validated_and_its_secrets_never_shown() {
        use crate::secure::{Sasl, Secret, Tls};
        let mut c = ElectorConfig::new("127.0.0.1:2181", "/m");
        assert!(c.security.is_plain(), "plaintext by default");
        c.security.sasl = Some(Sasl::new(
            "DIGEST-MD5",
            "alice",
            Secret::new("sasl-pw-3141"),
        ));
        // `Debug` shows who, never the password (nor a TLS key password).
        let sasl_only = c.clone();
        c.security.tls = Some(Tls {
            ca: "/nonexistent/ca.pem".into(),
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
            key_password: Some(Secret::new("key-pw-2718")),
        });
        let shown = format!("{c:?}");
        assert!(
            shown.contains("alice") && shown.contains("ca.pem"),
            "{shown}"
        );
        assert!(
            !shown.contains("sasl-pw-3141") && !shown.contains("key-pw-2718"),
            "a password in {shown}"
        );
        // validate() checks the security too: TLS and SASL together are
        // refused (the C client has no such session) ...
        let e = c.validate().expect_err("TLS + SASL accepted");
        assert!(e.to_string().contains("TLS and SASL"), "{e}");
        assert!(!e.to_string().contains("sasl-pw-3141"), "{e}");
        // ... and so is a TLS file that is not there.
        let mut tls_only = c.clone();
        tls_only.security.sasl = None;
        assert!(tls_only.validate().is_err(), "missing TLS files accepted");
        // SASL alone passes where the feature is built, a bad mechanism not.
        assert_eq!(sasl_only.validate().is_ok(), cfg!(feature = "sasl"));
        let mut bad_mech = sasl_only.clone();
        bad_mech.security.sasl.as_mut().unwrap().mechanism = "digest md5".into();
        assert!(bad_mech.validate().is_err(), "bad mechanism accepted");
    }
}
