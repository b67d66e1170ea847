//! The client layer against real servers, in one test binary: the
//! wrapper's operations and sessions, the future-returning API, zk-sys
//! itself, the global watcher against a C watcher (S2), secure sessions,
//! a 3-member ensemble, and the property tests of the parsers that guard
//! the C boundary. Each file of tests/client/ is a module; a test's name
//! is `module::test` (`cargo test --test client wrapper_ops::`).
//!
//! Tests that set process-wide state of their own keep their own binary:
//! tests/host_resolution.rs (counts the process's reads), tests/log_fidelity.rs
//! and tests/log_bridge_blocked.rs (the `log` logger, the C client's log
//! stream).

mod common;
#[cfg(all(feature = "ssl", feature = "sasl"))]
#[path = "common/secure.rs"]
mod secure_kit;

#[path = "client/async_api.rs"]
mod async_api;
#[path = "client/ensemble.rs"]
mod ensemble;
#[path = "client/fuzz_parsers.rs"]
mod fuzz_parsers;
#[cfg(all(feature = "ssl", feature = "sasl"))]
#[path = "client/secure_sessions.rs"]
mod secure_sessions;
#[path = "client/sys_smoke.rs"]
mod sys_smoke;
#[path = "client/watcher_fidelity.rs"]
mod watcher_fidelity;
#[path = "client/wrapper_ops.rs"]
mod wrapper_ops;
#[path = "client/wrapper_session.rs"]
mod wrapper_session;
