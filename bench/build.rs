//! Builds the benchmark's own C programs against zk-sys's copy of the C
//! client: `c/raw_c_bench.c` (raw C throughput) and `c/raw_c_handover.c`
//! (the graceful-handover floor). The C++ reference peer comes
//! built from zkha-testing (`zkha_testing::programs::seed_peer`).

include!("../testing/build_support/c_program.rs");

fn main() {
    build_programs(&[
        ("raw_c_bench", "c/raw_c_bench.c", false),
        ("raw_c_handover", "c/raw_c_handover.c", false),
    ]);
}
