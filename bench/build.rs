//! Builds the C/C++ peers of the benchmark against zk-sys's copy of the C
//! client: `c/raw_c_bench.c` (raw C throughput) and the C++ reference peer.

include!("../build_support/c_program.rs");

fn main() {
    build_programs(&[
        ("raw_c_bench", "c/raw_c_bench.c", false),
        ("seed_peer", "../cpp/seed_peer.cpp", true),
    ]);
}
