//! Znode paths for tests that share one server.

use std::sync::atomic::{AtomicU64, Ordering};

/// A znode path unique to this process and call, for tests sharing one
/// server: `/zkha-test-<pid>-<n>-<name>`.
pub fn unique_path(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("/zkha-test-{}-{}-{}", std::process::id(), n, name)
}
