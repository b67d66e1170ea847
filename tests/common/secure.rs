//! The TLS-only and SASL-only servers the secure suites share (one of each
//! per test binary, started on first use), and the SASL users' passwords.
//! Included by those suites only (`#[path]`): they need features `ssl` and
//! `sasl`.
#![allow(dead_code)]

use std::sync::OnceLock;
use zkha_testing::{SaslUsers, Security, ServerConfig, TestingServer, TlsAuthority};

/// alice's and bob's SASL passwords (tests check they never show).
pub const ALICE_PW: &str = "alice-Secr3t";
pub const BOB_PW: &str = "bob-0ther-pw";

/// A TLS-only server (client certificates required) and its CA.
pub fn tls_server() -> &'static (TestingServer, TlsAuthority) {
    static SERVER: OnceLock<(TestingServer, TlsAuthority)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let ca = TlsAuthority::new().unwrap();
        let server = TestingServer::with_config(ServerConfig {
            security: Security::Tls(ca.clone()),
            ..ServerConfig::default()
        })
        .unwrap();
        (server, ca)
    })
}

/// A SASL-only server (DIGEST-MD5, `sessionRequireClientSASLAuth`) that
/// knows alice and bob.
pub fn sasl_server() -> &'static TestingServer {
    static SERVER: OnceLock<TestingServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        TestingServer::with_config(ServerConfig {
            security: Security::Sasl(
                SaslUsers::default()
                    .with("alice", ALICE_PW)
                    .with("bob", BOB_PW),
            ),
            ..ServerConfig::default()
        })
        .unwrap()
    })
}
