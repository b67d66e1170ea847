//! Builds the C/C++ programs of this repository against the very same C
//! client zk-sys links (its `links = "zookeeper_mt"` metadata), so one copy
//! of the library serves Rust and C alike:
//! - `tests/c/zk_trace.c`: a plain C client for the fidelity tests;
//! - `cpp/seed_peer.cpp`: the C++ reference peer of the seed design.
//!
//! Their paths reach the code as `env!("ZKHA_<NAME>")`.

include!("build_support/c_program.rs");

fn main() {
    build_programs(&[
        ("zk_trace", "tests/c/zk_trace.c", false),
        ("seed_peer", "cpp/seed_peer.cpp", true),
    ]);
}
