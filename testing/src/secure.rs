//! Secure test servers: what [`ServerConfig::security`](crate::ServerConfig)
//! asks for, TLS-only (mutual TLS on the client port, PEM keystores) or
//! SASL-only (DIGEST-MD5 users in a JAAS file, every session must
//! authenticate), and the files clients need.
//!
//! TLS certificates come from a [`TlsAuthority`] (feature `secure`, rcgen): a
//! throw-away CA whose files live in a private temporary directory, that
//! signs one server certificate per member and the client certificates tests
//! ask for. Every certificate names `127.0.0.1` and `localhost`.

use std::fmt;

/// How a server's clients must connect.
#[derive(Clone, Default)]
pub enum Security {
    /// Plaintext, no authentication required (the default).
    #[default]
    Plain,
    /// TLS-only: the advertised client port is a `secureClientPort` with
    /// `ssl.clientAuth=need` (clients present a certificate the CA signed),
    /// served by Netty (Debian's server needs netty-codec.jar on the
    /// classpath for it, which the kit adds). The kit keeps a plaintext
    /// port of its own, never advertised, for its four-letter-word probes.
    #[cfg(feature = "secure")]
    Tls(TlsAuthority),
    /// SASL-only: `SASLAuthenticationProvider` with these DIGEST-MD5 users
    /// (JAAS `DigestLoginModule`), and `sessionRequireClientSASLAuth=true`:
    /// a session that does not authenticate is closed by the server.
    Sasl(SaslUsers),
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Security::Plain => write!(f, "Plain"),
            #[cfg(feature = "secure")]
            Security::Tls(ca) => write!(f, "Tls({})", ca.ca_file().display()),
            Security::Sasl(users) => write!(f, "Sasl({users:?})"),
        }
    }
}

/// The DIGEST-MD5 users a SASL-only server knows: `(user, password)` pairs.
#[derive(Clone, Default)]
pub struct SaslUsers(pub Vec<(String, String)>);

impl SaslUsers {
    /// One more user.
    pub fn with(mut self, user: &str, password: &str) -> SaslUsers {
        self.0.push((user.to_owned(), password.to_owned()));
        self
    }

    /// The JAAS `Server` section for ZooKeeper's `DigestLoginModule`.
    pub(crate) fn jaas(&self) -> String {
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut text =
            String::from("Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required");
        for (user, password) in &self.0 {
            text.push_str(&format!("\n  user_{}=\"{}\"", user, quote(password)));
        }
        text.push_str(";\n};\n");
        text
    }
}

impl fmt::Debug for SaslUsers {
    /// Users only: passwords are never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(u, _)| u))
            .finish()
    }
}

#[cfg(feature = "secure")]
pub use tls::{TlsAuthority, TlsClientFiles};

#[cfg(feature = "secure")]
mod tls {
    use crate::process::TempDir;
    use crate::Error;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, SanType,
    };
    use std::fs;
    use std::io::Write;
    use std::net::{IpAddr, Ipv4Addr};
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// A throw-away certificate authority for TLS-only test servers and
    /// their clients. Cheap to clone (shared); its files are removed when
    /// the last clone goes.
    #[derive(Clone)]
    pub struct TlsAuthority {
        inner: Arc<Inner>,
    }

    struct Inner {
        dir: TempDir,
        ca_file: PathBuf,
        cert: rcgen::Certificate,
        key: KeyPair,
        next: AtomicU64,
    }

    /// A client's TLS files: the CA to trust, its certificate and its
    /// (unencrypted, PKCS#8) private key, all PEM.
    #[derive(Debug, Clone)]
    pub struct TlsClientFiles {
        /// The CA certificate the client trusts (the server's issuer).
        pub ca: PathBuf,
        /// The client certificate.
        pub cert: PathBuf,
        /// The client's private key (mode 0600).
        pub key: PathBuf,
    }

    fn rc(e: rcgen::Error) -> Error {
        Error::InvalidConfig(format!("generating a test certificate: {e}"))
    }

    /// Leaf parameters: CN `name`, SANs 127.0.0.1 and localhost, usable
    /// for both ends of a TLS connection.
    fn leaf_params(name: &str) -> Result<CertificateParams, Error> {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).map_err(rc)?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        Ok(params)
    }

    /// Writes `data` to `path`, readable by the owner only (keys).
    fn write_private(path: &Path, data: &str) -> Result<(), Error> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(data.as_bytes())?;
        Ok(())
    }

    impl TlsAuthority {
        /// A new CA (ECDSA P-256), its certificate written to `ca.pem`.
        pub fn new() -> Result<TlsAuthority, Error> {
            let dir = TempDir::new("tls")?;
            let key = KeyPair::generate().map_err(rc)?;
            let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(DnType::CommonName, "zkha-testing CA");
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let cert = params.self_signed(&key).map_err(rc)?;
            let ca_file = dir.path().join("ca.pem");
            fs::write(&ca_file, cert.pem())?;
            Ok(TlsAuthority {
                inner: Arc::new(Inner {
                    dir,
                    ca_file,
                    cert,
                    key,
                    next: AtomicU64::new(0),
                }),
            })
        }

        /// The CA certificate (PEM): the trust store of servers and clients.
        pub fn ca_file(&self) -> &Path {
            &self.inner.ca_file
        }

        fn unique(&self, name: &str) -> PathBuf {
            let n = self.inner.next.fetch_add(1, Ordering::Relaxed);
            self.inner.dir.path().join(format!("{n}-{name}"))
        }

        /// Files for a client whose certificate this CA signed: a server
        /// of this CA accepts it.
        pub fn client(&self, name: &str) -> Result<TlsClientFiles, Error> {
            let key = KeyPair::generate().map_err(rc)?;
            let cert = leaf_params(name)?
                .signed_by(&key, &self.inner.cert, &self.inner.key)
                .map_err(rc)?;
            let base = self.unique(name);
            let files = TlsClientFiles {
                ca: self.inner.ca_file.clone(),
                cert: base.with_extension("crt.pem"),
                key: base.with_extension("key.pem"),
            };
            fs::write(&files.cert, cert.pem())?;
            write_private(&files.key, &key.serialize_pem())?;
            Ok(files)
        }

        /// Files for a client with a self-signed certificate (trusting this
        /// CA itself): a server of this CA refuses it.
        pub fn untrusted_client(&self, name: &str) -> Result<TlsClientFiles, Error> {
            let key = KeyPair::generate().map_err(rc)?;
            let cert = leaf_params(name)?.self_signed(&key).map_err(rc)?;
            let base = self.unique(name);
            let files = TlsClientFiles {
                ca: self.inner.ca_file.clone(),
                cert: base.with_extension("crt.pem"),
                key: base.with_extension("key.pem"),
            };
            fs::write(&files.cert, cert.pem())?;
            write_private(&files.key, &key.serialize_pem())?;
            Ok(files)
        }

        /// A server keystore for member `id` in `dir`: its private key and
        /// certificate in one PEM file (ZooKeeper's `ssl.keyStore.type=PEM`).
        pub(crate) fn server_keystore(&self, dir: &Path, id: u32) -> Result<PathBuf, Error> {
            let key = KeyPair::generate().map_err(rc)?;
            let cert = leaf_params(&format!("zookeeper-{id}"))?
                .signed_by(&key, &self.inner.cert, &self.inner.key)
                .map_err(rc)?;
            let path = dir.join("keystore.pem");
            write_private(&path, &format!("{}{}", key.serialize_pem(), cert.pem()))?;
            Ok(path)
        }
    }
}
