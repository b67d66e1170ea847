//! The root build script's job (build.rs): zk-sys's metadata about the
//! linked C client (`DEP_ZOOKEEPER_MT_VERSION`, `_SSL`, `_SASL`) becomes
//! cfgs (`zk_version`, `zk_tls`, `zk_sasl`), seen here through
//! `zkha::C_CLIENT_VERSION`, `HAS_TLS` and `HAS_SASL` and through what a
//! build without TLS or SASL refuses. Valid with and without features `ssl`
//! and `sasl` (`make test` runs it with both). The compile-time half (a
//! `ZooKeeperBuilder::tls` / `sasl` call does not compile without them) is
//! the doctests of those methods: `compile_fail` there, `no_run` where the
//! C client has them.

use std::path::PathBuf;
use zkha::secure::{Sasl, Secret, Security, Tls};
use zkha::{Error, C_CLIENT_VERSION, HAS_SASL, HAS_TLS};

/// The version is the one of the headers zk-sys compiled (or found):
/// `ZOO_VERSION` in the bindings, and the pin in zk-sys's version
/// (`0.1.0+3.8.0`) for the bundled build.
#[test]
fn c_client_version_is_the_linked_headers() {
    let header = std::str::from_utf8(zk_sys::ZOO_VERSION)
        .unwrap()
        .trim_end_matches('\0');
    assert_eq!(C_CLIENT_VERSION, header);
    if !cfg!(feature = "system") {
        assert_eq!(C_CLIENT_VERSION, "3.8.0", "the bundled C client's pin");
    }
    let parts: Vec<u32> = C_CLIENT_VERSION
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(parts.len(), 3, "{C_CLIENT_VERSION}");
}

/// zkha's features turn on zk-sys's, which compiles the C client with
/// OpenSSL / Cyrus SASL: the cfgs follow.
#[test]
fn capabilities_follow_the_features() {
    assert_eq!(HAS_TLS, cfg!(feature = "ssl"));
    assert_eq!(HAS_SASL, cfg!(feature = "sasl"));
}

fn tls() -> Security {
    Security {
        tls: Some(Tls {
            ca: PathBuf::from("/nonexistent/ca.pem"),
            cert: PathBuf::from("/nonexistent/cert.pem"),
            key: PathBuf::from("/nonexistent/key.pem"),
            key_password: None,
        }),
        sasl: None,
    }
}

fn sasl() -> Security {
    Security {
        tls: None,
        sasl: Some(Sasl::new("DIGEST-MD5", "svc", Secret::new("pw"))),
    }
}

/// A `Security` made at run time (a command line's flags) cannot be refused
/// at compile time: without the capability the check names the missing C
/// function and the feature; with it, the request goes on to its own checks
/// (here: a missing file).
#[test]
fn runtime_security_is_refused_only_without_the_capability() {
    let err = tls().check().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    if HAS_TLS {
        assert!(text.contains("/nonexistent/ca.pem"), "{text}");
    } else {
        assert!(text.contains("zookeeper_init_ssl"), "{text}");
        assert!(text.contains("feature `ssl`"), "{text}");
    }
    let sasl = sasl().check();
    if HAS_SASL {
        assert!(sasl.is_ok(), "{sasl:?}");
    } else {
        let text = sasl.unwrap_err().to_string();
        assert!(text.contains("zookeeper_init_sasl"), "{text}");
        assert!(text.contains("feature `sasl`"), "{text}");
    }
}

/// What a program that needs TLS can write to get its answer when it is
/// built rather than when it connects (here only where the build has it).
#[cfg(feature = "ssl")]
const _: () = assert!(HAS_TLS, "build zkha with feature `ssl`");
#[cfg(feature = "sasl")]
const _: () = assert!(HAS_SASL, "build zkha with feature `sasl`");
