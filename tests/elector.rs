//! The elector in-process, in one test binary: the safe profile, the seed
//! profile as a library, the elector from async code, 50 candidates under
//! load, and the candidates' registry with its control node. Each file of
//! tests/elector/ is a module; a test's name is `module::test` (`cargo test
//! --test elector elector_safe::`).

mod common;

#[path = "elector/async_elector.rs"]
mod async_elector;
#[path = "elector/elector_safe.rs"]
mod elector_safe;
#[path = "elector/elector_seed.rs"]
mod elector_seed;
#[path = "elector/load.rs"]
mod load;
#[path = "elector/mastership.rs"]
mod mastership;
#[path = "elector/registry.rs"]
mod registry;
