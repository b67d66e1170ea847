//! The TLS and SASL flags of `run`, `candidate`, `status` and `watch`: what
//! they say, turned into a [`Security`] for the sessions. The SASL password
//! comes from a file (owner-only: a file group or others can read is
//! refused, naming it) or from `ZKHA_SASL_PASSWORD`, never from the command
//! line; it is held as a [`Secret`], so no log, trace, status output or
//! error shows it.

use clap::Args;
use std::path::PathBuf;
use zkha::error::Argument;
use zkha::secure::{Sasl, Secret, Security, Tls};

/// The environment variable that may carry the SASL password.
pub const PASSWORD_ENV: &str = "ZKHA_SASL_PASSWORD";

/// TLS (mutual) and SASL options.
#[derive(Debug, Args, Clone, Default)]
pub struct SecureArgs {
    /// TLS: the CA certificate (PEM) the servers' certificates chain to
    /// (with --tls-cert and --tls-key; zkha built with feature `ssl`).
    #[arg(long, value_name = "FILE", requires_all = ["tls_cert", "tls_key"])]
    pub tls_ca: Option<PathBuf>,
    /// TLS: this client's certificate (PEM).
    #[arg(long, value_name = "FILE", requires_all = ["tls_ca", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// TLS: this client's private key (PEM, unencrypted).
    #[arg(long, value_name = "FILE", requires_all = ["tls_ca", "tls_cert"])]
    pub tls_key: Option<PathBuf>,
    /// SASL mechanism: DIGEST-MD5, PLAIN or GSSAPI (with --sasl-user; zkha
    /// built with feature `sasl`). The node gets the ACL sasl:USER (safe
    /// profile, without --digest).
    #[arg(long, value_name = "MECH", requires = "sasl_user")]
    pub sasl_mech: Option<String>,
    /// SASL user name.
    #[arg(long, value_name = "USER", requires = "sasl_mech")]
    pub sasl_user: Option<String>,
    /// SASL password: the first line of this file, which must not be
    /// readable by group or others. Or set ZKHA_SASL_PASSWORD.
    #[arg(long, value_name = "FILE", requires = "sasl_user")]
    pub sasl_password_file: Option<PathBuf>,
}

impl SecureArgs {
    /// Whether any TLS or SASL flag was given.
    pub fn any(&self) -> bool {
        self.tls_ca.is_some() || self.sasl_mech.is_some()
    }

    /// The flags again, to hand to child candidates (`zkha candidate` and
    /// the C++ peer take the same ones) and to `zkha run`'s watchdog (for
    /// its crash handover). The password itself is never among them: a
    /// file path, or ZKHA_SASL_PASSWORD inherited.
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = Vec::new();
        let mut flag = |name: &str, value: std::ffi::OsString| {
            args.push(name.into());
            args.push(value);
        };
        for (name, value) in [
            ("--tls-ca", &self.tls_ca),
            ("--tls-cert", &self.tls_cert),
            ("--tls-key", &self.tls_key),
            ("--sasl-password-file", &self.sasl_password_file),
        ] {
            if let Some(v) = value {
                flag(name, v.clone().into_os_string());
            }
        }
        for (name, value) in [
            ("--sasl-mech", &self.sasl_mech),
            ("--sasl-user", &self.sasl_user),
        ] {
            if let Some(v) = value {
                flag(name, v.into());
            }
        }
        args
    }

    /// The session security these flags ask for, checked (files readable,
    /// password file owner-only, zkha built with the feature).
    pub fn security(&self) -> Result<Security, zkha::Error> {
        let mut security = Security::default();
        if let (Some(ca), Some(cert), Some(key)) = (&self.tls_ca, &self.tls_cert, &self.tls_key) {
            security.tls = Some(Tls {
                ca: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
                key_password: None,
            });
        }
        if let (Some(mech), Some(user)) = (&self.sasl_mech, &self.sasl_user) {
            let password = match &self.sasl_password_file {
                Some(file) => Secret::from_file(file)?,
                None => match std::env::var(PASSWORD_ENV) {
                    Ok(pw) if !pw.is_empty() => Secret::new(pw),
                    _ if mech == "GSSAPI" => Secret::new(""),
                    _ => {
                        return Err(zkha::Error::InvalidArgument {
                            argument: Argument::Auth,
                            reason: format!(
                                "SASL {mech} needs a password: --sasl-password-file FILE or \
                                 {PASSWORD_ENV}"
                            ),
                        })
                    }
                },
            };
            security.sasl = Some(Sasl::new(mech, user, password));
        }
        security.check()?;
        Ok(security)
    }
}

/// Before an election starts, a session with `security` is tried: a refused
/// TLS session or a rejected credential ends zkha at once with that error
/// (instead of a candidate retrying forever); an unreachable ensemble does
/// not (the candidate waits for it, as without TLS or SASL).
pub fn preflight(hosts: &str, security: &Security) -> Result<(), zkha::Error> {
    if security.is_plain() {
        return Ok(());
    }
    match zkha::ZooKeeper::builder(hosts)
        .security(security.clone())
        .flags(zkha::ZOO_NO_LOG_CLIENTENV)
        .log_to_rust(true)
        .connect(PREFLIGHT)
    {
        Ok(_) => Ok(()),
        Err(e @ (zkha::Error::Tls(_) | zkha::Error::SaslAuth(_))) => Err(e),
        Err(e) => {
            log::warn!(target: "zkha", "cannot check the secure session yet: {e}");
            Ok(())
        }
    }
}

/// How long the check before an election waits (a refusal is reported well
/// within 15 s).
const PREFLIGHT: std::time::Duration = std::time::Duration::from_secs(8);
