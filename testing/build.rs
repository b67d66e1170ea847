//! Builds the kit's C/C++ programs against the very same C client zk-sys
//! links (its `links = "zookeeper_mt"` metadata), so one copy of the library
//! serves Rust and C alike:
//! - `c/zk_trace.c`: a plain C client, driven by [`CTrace`] in the tests;
//! - `cpp/seed_peer.cpp`: the C++ reference peer of the seed design.
//!
//! Only the kit's users build them (zkha's tests, examples and benchmark, and
//! the `zkha` command's demo); a crate using zkha as a library never does.
//! Their paths reach the code as `env!("ZKHA_<NAME>")` (see `programs`).

include!("build_support/c_program.rs");

fn main() {
    build_programs(&[
        ("zk_trace", "c/zk_trace.c", false),
        ("seed_peer", "cpp/seed_peer.cpp", true),
    ]);
}
