//! The C++ reference peer and the Rust candidates side by side, in one test
//! binary: the seed profile leaves the C++ peer's traces, the seed design's
//! flaws (shown in the seed profile, absent from the safe one), and mixed
//! C++/Rust contenders. Each file of zkha-cli/tests/fidelity/ is a module;
//! a test's name is `module::test`.

mod common;

#[path = "fidelity/fidelity_seed.rs"]
mod fidelity_seed;
#[path = "fidelity/flaws.rs"]
mod flaws;
#[path = "fidelity/mixed.rs"]
mod mixed;
