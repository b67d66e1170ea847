//! The C API of zkha: `libzkha.so` / `libzkha.a` and `zkha.h` (generated
//! by cbindgen from these sources; see `cbindgen.toml` for the header's
//! preamble, which states the ownership, threading and error rules).
//!
//! Every `extern "C"` function runs its body through [`error::guard`]:
//! no panic crosses the boundary (it becomes `ZKHA_ERR_PANIC`), every
//! failure is a code plus a per-thread message (`zkha_last_error_message`).
//! The library also exports the ZooKeeper C client's own symbols
//! (`zookeeper_init*`, `zoo_*`, …: build.rs), so that a C program linking
//! `-lzkha` and compiling against the C client's `zookeeper.h` uses the one
//! copy of the C client that zkha uses (docs/c-cpp.md, "The C API").
//!
//! Rust users never build this crate: it is not a dependency of `zkha`.

#![deny(unsafe_op_in_unsafe_fn)]
// The C names (`zkha_config`, `zkha_elector`, …) are the header's.
#![allow(non_camel_case_types)]

// The library, under its own name inside this crate (see Cargo.toml).
extern crate zkha_core as zkha;

mod callbacks;
mod config;
mod elector;
mod error;

pub use callbacks::*;
pub use config::*;
pub use elector::*;
pub use error::*;

/// The version of zkha this library was built from, e.g. `"0.1.0"`: a
/// static string, never freed.
#[no_mangle]
pub extern "C" fn zkha_version() -> *const std::os::raw::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
