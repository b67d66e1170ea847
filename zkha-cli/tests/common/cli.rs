//! What the tests of the `zkha` binary share: the binary, the shared
//! server, a scratch directory. Included by those tests only (`#[path]`):
//! the binary exists only in builds with feature `cli`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use zkha_testing::TestingServer;

/// The binary under test (`ZKHA_TEST_BIN` overrides it, e.g. to show that
/// an older build fails a test), logging at `ZKHA_TEST_LOG` (default warn).
pub fn zkha() -> Command {
    let bin =
        std::env::var_os("ZKHA_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_zkha").into());
    let mut c = Command::new(bin);
    c.env(
        "RUST_LOG",
        std::env::var("ZKHA_TEST_LOG").unwrap_or("warn".into()),
    );
    c
}

/// The shared server's connect string (the test process dies with it).
pub fn hosts() -> &'static str {
    crate::common::fail_fast();
    TestingServer::shared().unwrap().connect_string()
}

/// A new, empty scratch directory for one test.
pub fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zkha-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The lines of a file written by test commands (none yet: empty).
pub fn lines(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A child command that logs `start <name> <pid> <token> <path>` and, on
/// SIGTERM, `stop <name>`, to `log`.
pub fn worker(name: &str, log: &Path) -> Vec<String> {
    let script = format!(
        "echo start {name} $$ $ZKHA_TOKEN $ZKHA_PATH >> {log}; trap 'echo stop {name} >> {log}; exit 0' TERM; while true; do sleep 0.02; done",
        log = log.display()
    );
    vec!["sh".into(), "-c".into(), script]
}
