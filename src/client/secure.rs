//! Secure sessions: mutual TLS (`zookeeper_init_ssl`, feature `ssl`) and
//! SASL (`zookeeper_init_sasl`, feature `sasl`), checked here before the C
//! client sees anything.
//!
//! The C client takes the TLS files as one comma-separated string
//! (`ca,cert,key[,password]`) and reports a bad file only in its log, then
//! retries forever; so every path is checked to be a readable file without a
//! comma, and the key password is refused if it holds one. SASL callbacks
//! are our own (user, password from memory, realm): the password never goes
//! through a file the C client reads, and is zeroed when the handle closes.
//! The C client offers no handle with both (its common init is static):
//! TLS and SASL on one session is refused.
//!
//! Secrets (the key password, the SASL password) are [`Secret`]s: their
//! `Debug` and `Display` print `<hidden>`, and no error names them.
//!
//! Whether the linked C client has TLS and SASL is known when zkha is built
//! (cfgs `zk_tls`, `zk_sasl` from build.rs, read off zk-sys's metadata):
//! [`ZooKeeperBuilder::tls`](crate::ZooKeeperBuilder::tls) and
//! [`sasl`](crate::ZooKeeperBuilder::sasl) do not compile without them
//! ([`TlsAvailable`], [`SaslAvailable`]); a [`Security`] made at run time
//! (e.g. from a command line) is refused by [`Security::check`].

use crate::error::{Argument, Error, Result};
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a TLS session is refused by a build whose C client has none.
const NO_TLS: &str = "TLS: the linked ZooKeeper C client has no zookeeper_init_ssl; build zkha \
                      with feature `ssl` (the bundled C client compiled with OpenSSL; an \
                      installed libzookeeper_mt has no TLS)";
/// Why a SASL session is refused by a build whose C client has none.
const NO_SASL: &str = "SASL: the linked ZooKeeper C client has no zookeeper_init_sasl; build \
                       zkha with feature `sasl` (the bundled C client compiled with Cyrus \
                       SASL; an installed libzookeeper_mt has no SASL)";

/// Implemented (for every type) only when the linked C client has mutual
/// TLS (`zookeeper_init_ssl`; zkha's feature `ssl`): the bound that makes
/// [`ZooKeeperBuilder::tls`](crate::ZooKeeperBuilder::tls) a compile-time
/// error in a build without it. Sealed: it cannot be implemented elsewhere.
#[diagnostic::on_unimplemented(
    message = "TLS: the linked ZooKeeper C client has no zookeeper_init_ssl",
    label = "`ZooKeeperBuilder::tls` needs a C client with TLS",
    note = "build zkha with feature `ssl` (the bundled C client compiled with OpenSSL); an \
            installed libzookeeper_mt (feature `system`) has no TLS",
    note = "`zkha::HAS_TLS` says whether a build has it"
)]
pub trait TlsAvailable: sealed::Sealed {}

/// Implemented (for every type) only when the linked C client has SASL
/// (`zookeeper_init_sasl`; zkha's feature `sasl`): the bound that makes
/// [`ZooKeeperBuilder::sasl`](crate::ZooKeeperBuilder::sasl) a
/// compile-time error in a build without it. Sealed.
#[diagnostic::on_unimplemented(
    message = "SASL: the linked ZooKeeper C client has no zookeeper_init_sasl",
    label = "`ZooKeeperBuilder::sasl` needs a C client with SASL",
    note = "build zkha with feature `sasl` (the bundled C client compiled with Cyrus SASL); \
            an installed libzookeeper_mt (feature `system`) has no SASL",
    note = "`zkha::HAS_SASL` says whether a build has it"
)]
pub trait SaslAvailable: sealed::Sealed {}

mod sealed {
    /// The supertrait of [`TlsAvailable`](super::TlsAvailable) and
    /// [`SaslAvailable`](super::SaslAvailable), private to zkha.
    pub trait Sealed {}
    #[cfg(any(zk_tls, zk_sasl))]
    impl<T: ?Sized> Sealed for T {}
}

#[cfg(zk_tls)]
impl<T: ?Sized> TlsAvailable for T {}
#[cfg(zk_sasl)]
impl<T: ?Sized> SaslAvailable for T {}

/// A password: never shown by `Debug` / `Display`, zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The password itself (for the C client).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a password from the first line of `path`, refusing a file that
    /// group or others can read (its mode must be 0600 or 0400-like), with
    /// an error naming the file. The password is never part of an error.
    pub fn from_file(path: &Path) -> Result<Secret> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| {
            Error::invalid(
                Argument::Auth,
                format!("password file {}: {e}", path.display()),
            )
        })?;
        if !meta.is_file() {
            return Err(Error::invalid(
                Argument::Auth,
                format!("password file {}: not a regular file", path.display()),
            ));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::invalid(
                Argument::Auth,
                format!(
                    "password file {} is readable by group or others (mode {mode:03o}); \
                     `chmod 600 {}` it",
                    path.display(),
                    path.display()
                ),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid(
                Argument::Auth,
                format!("password file {}: {e}", path.display()),
            )
        })?;
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            return Err(Error::invalid(
                Argument::Auth,
                format!("password file {} is empty", path.display()),
            ));
        }
        Ok(Secret(line.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zero(std::mem::take(&mut self.0).into_bytes());
    }
}

/// Overwrites a buffer that held a secret before freeing it.
pub(crate) fn zero(mut bytes: Vec<u8>) {
    for b in bytes.iter_mut() {
        // SAFETY: a valid, aligned pointer into the vector; volatile so the
        // write is not optimised away before the free.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
}

/// Mutual TLS files (PEM): the CA that signed the servers' certificates,
/// this client's certificate (chain) and private key, and the key's
/// password if it is encrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tls {
    /// CA certificate(s) the servers' certificates must chain to.
    pub ca: PathBuf,
    /// This client's certificate (chain).
    pub cert: PathBuf,
    /// This client's private key.
    pub key: PathBuf,
    /// The private key's password, if encrypted.
    pub key_password: Option<Secret>,
}

/// SASL credentials. `mechanism` is what Cyrus SASL offers the server:
/// `DIGEST-MD5` (ZooKeeper's `DigestLoginModule` users; tested), `PLAIN`
/// (needs a server-side PLAIN provider; the JDK has none), or `GSSAPI`
/// (Kerberos: set `user` to the principal, leave the password empty and
/// have a ticket in the credential cache; needs the libsasl2-modules-gssapi
/// plugin).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sasl {
    /// e.g. `DIGEST-MD5`.
    pub mechanism: String,
    /// The authentication (and authorization) name.
    pub user: String,
    /// The password.
    pub password: Secret,
    /// The SASL service name (default `zookeeper`).
    pub service: String,
    /// The server name given to SASL: ZooKeeper's DIGEST-MD5 server uses
    /// `zk-sasl-md5` (the default); for GSSAPI, the servers' host name.
    pub host: String,
}

impl Sasl {
    /// DIGEST-MD5-ready credentials with ZooKeeper's default service and
    /// server names.
    pub fn new(mechanism: &str, user: &str, password: Secret) -> Sasl {
        Sasl {
            mechanism: mechanism.to_owned(),
            user: user.to_owned(),
            password,
            service: "zookeeper".to_owned(),
            host: "zk-sasl-md5".to_owned(),
        }
    }
}

/// How a session secures itself: plaintext (default), TLS, or SASL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Security {
    /// Mutual TLS (feature `ssl`).
    pub tls: Option<Tls>,
    /// SASL (feature `sasl`).
    pub sasl: Option<Sasl>,
}

impl Security {
    /// Neither TLS nor SASL.
    pub fn is_plain(&self) -> bool {
        self.tls.is_none() && self.sasl.is_none()
    }

    /// Checks everything the C client would otherwise fail on silently.
    pub fn check(&self) -> Result<()> {
        if self.tls.is_some() && self.sasl.is_some() {
            return Err(Error::invalid(
                Argument::Auth,
                "TLS and SASL on one session: the C client's zookeeper_init_ssl and \
                 zookeeper_init_sasl cannot be combined",
            ));
        }
        if let Some(tls) = &self.tls {
            if !cfg!(zk_tls) {
                return Err(Error::invalid(Argument::Auth, NO_TLS));
            }
            for (what, path) in [
                ("CA", &tls.ca),
                ("certificate", &tls.cert),
                ("key", &tls.key),
            ] {
                check_tls_file(what, path)?;
            }
            if let Some(pw) = &tls.key_password {
                if pw.expose().contains([',', '\0']) || pw.expose().is_empty() {
                    return Err(Error::invalid(
                        Argument::Auth,
                        "the TLS key password is empty or holds a comma or NUL, which the C \
                         client cannot take",
                    ));
                }
            }
        }
        if let Some(sasl) = &self.sasl {
            if !cfg!(zk_sasl) {
                return Err(Error::invalid(Argument::Auth, NO_SASL));
            }
            let mech_ok = !sasl.mechanism.is_empty()
                && sasl.mechanism.bytes().all(|b| {
                    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !mech_ok {
                return Err(Error::invalid(
                    Argument::Auth,
                    format!(
                        "SASL mechanism {:?} is not a mechanism name (e.g. DIGEST-MD5, PLAIN, GSSAPI)",
                        sasl.mechanism
                    ),
                ));
            }
            for (what, text) in [
                ("user", &sasl.user),
                ("service", &sasl.service),
                ("host", &sasl.host),
            ] {
                if text.is_empty() || text.contains('\0') {
                    return Err(Error::invalid(
                        Argument::Auth,
                        format!("SASL {what} is empty or holds a NUL"),
                    ));
                }
            }
            if sasl.password.expose().contains('\0') {
                return Err(Error::invalid(
                    Argument::Auth,
                    "the SASL password holds a NUL",
                ));
            }
        }
        Ok(())
    }
}

/// A TLS file must be a readable regular file whose path has no comma (the
/// C client splits its certificate argument on commas) and no NUL.
fn check_tls_file(what: &str, path: &Path) -> Result<()> {
    let text = path.to_str().ok_or_else(|| {
        Error::invalid(
            Argument::Auth,
            format!("TLS {what} path {} is not UTF-8", path.display()),
        )
    })?;
    if text.contains([',', '\0']) || text.is_empty() {
        return Err(Error::invalid(
            Argument::Auth,
            format!("TLS {what} path {text:?} is empty or holds a comma or NUL, which the C client cannot take"),
        ));
    }
    match std::fs::File::open(path).and_then(|f| f.metadata()) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Error::invalid(
            Argument::Auth,
            format!("TLS {what} {text}: not a regular file"),
        )),
        Err(e) => Err(Error::invalid(
            Argument::Auth,
            format!("TLS {what} {text}: {e}"),
        )),
    }
}

/// The `cert` argument of `zookeeper_init_ssl`: `ca,cert,key[,password]`.
#[cfg(zk_tls)]
pub(crate) fn tls_cert_arg(tls: &Tls) -> Result<std::ffi::CString> {
    let mut text = format!(
        "{},{},{}",
        tls.ca.display(),
        tls.cert.display(),
        tls.key.display()
    );
    if let Some(pw) = &tls.key_password {
        text.push(',');
        text.push_str(pw.expose());
    }
    std::ffi::CString::new(text)
        .map_err(|_| Error::invalid(Argument::Auth, "TLS arguments hold a NUL"))
}
