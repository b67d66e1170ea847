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

/// The environment variable that may carry `--digest`'s `user:password`
/// (kept out of the command line, which every user sees in `ps`).
pub const DIGEST_ENV: &str = "ZKHA_DIGEST";

/// The secrets zkha may take from its environment: none of its children
/// (the command, a health check, a fence) inherits them. (The watchdog
/// does: its crash handover may need the SASL password.)
pub const SECRET_ENV: [&str; 2] = [PASSWORD_ENV, DIGEST_ENV];

/// Keeps [`SECRET_ENV`] out of `cmd`'s environment.
pub fn remove_secrets(cmd: &mut std::process::Command) -> &mut std::process::Command {
    for name in SECRET_ENV {
        cmd.env_remove(name);
    }
    cmd
}

/// The digest credentials `user:password`: `--digest` (visible in `ps`),
/// else the first line of `--digest-file` (owner-only, like the SASL
/// password file), else [`DIGEST_ENV`] when set and not empty; `None`
/// without any. The errors name the flag or variable, never the secret.
pub fn digest(
    flag: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<Option<String>, zkha::Error> {
    if let Some(d) = flag {
        return Ok(Some(d.to_owned()));
    }
    let invalid = |reason: String| zkha::Error::InvalidArgument {
        argument: Argument::Acl,
        reason,
    };
    let (text, what) = match file {
        Some(path) => (
            read_digest_file(path)?,
            format!("--digest-file {}", path.display()),
        ),
        None => match std::env::var(DIGEST_ENV) {
            Ok(text) if !text.is_empty() => (text, DIGEST_ENV.to_owned()),
            Ok(_) => return Ok(None),
            Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(invalid(format!("{DIGEST_ENV}: not UTF-8")))
            }
        },
    };
    match text.split_once(':') {
        Some((user, _)) if !user.is_empty() => Ok(Some(text)),
        _ => Err(invalid(format!(
            "{what}: expected digest credentials user:password (no user before a ':')"
        ))),
    }
}

/// `--digest-file`: one line, its newline trimmed; refused (naming the
/// file) when missing, unreadable, not a regular file, readable by group or
/// others, empty, or of more than one line.
fn read_digest_file(path: &std::path::Path) -> Result<String, zkha::Error> {
    use std::os::unix::fs::PermissionsExt;
    let invalid = |reason: String| zkha::Error::InvalidArgument {
        argument: Argument::Acl,
        reason: format!("--digest-file {}{reason}", path.display()),
    };
    let meta = std::fs::metadata(path).map_err(|e| invalid(format!(": {e}")))?;
    if !meta.is_file() {
        return Err(invalid(": not a regular file".into()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(invalid(format!(
            " is readable by group or others (mode {mode:03o}); `chmod 600 {}` it",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| invalid(format!(": {e}")))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.is_empty() {
        return Err(invalid(" is empty".into()));
    }
    if text.contains('\n') {
        return Err(invalid(
            ": more than one line (it holds user:password and a newline at most)".into(),
        ));
    }
    Ok(text.to_owned())
}

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
