//! The C/C++ programs this crate's build script compiled against zk-sys's
//! copy of the ZooKeeper C client (its `DEP_ZOOKEEPER_MT_*` metadata), so
//! they share the library the Rust side links.
//!
//! The paths point into this build's target directory: they are for tests,
//! examples, benchmarks and the `zkha demo` of a binary built here, not for
//! a binary installed elsewhere.

use std::path::Path;

/// `cpp/seed_peer.cpp`: the C++ reference peer of the seed design (docs/design.md's
/// S1–S9 exactly), writing the same JSON-lines trace as `zkha candidate`.
///
/// Usage: `seed_peer HOSTS PATH DATA SESSION_MS INTERVAL_MS [--trace FILE]
/// [--name NAME] [--reinit-limit N] [--break nul|reinit|poll]` (`--break`:
/// one behaviour of the design broken on purpose, for `zkha conform`'s tests).
pub fn seed_peer() -> &'static Path {
    Path::new(env!("ZKHA_SEED_PEER"))
}

/// `c/zk_trace.c`: a plain C client driven by commands on stdin, printing
/// every global-watcher call; [`CTrace`](crate::CTrace) drives it.
pub fn zk_trace() -> &'static Path {
    Path::new(env!("ZKHA_ZK_TRACE"))
}
