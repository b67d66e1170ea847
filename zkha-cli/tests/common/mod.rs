//! What zkha-cli's tests share: the workspace's test helpers (tests/common
//! at the top of the repository: raw sessions, `eventually`, fail-fast),
//! and the election harness, which runs candidates of the `zkha` binary and
//! the C++ reference peer side by side.
#![allow(dead_code)]

#[path = "../../../tests/common/mod.rs"]
mod shared;
pub use shared::*;

pub mod election;
