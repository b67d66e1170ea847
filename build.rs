//! Builds the C/C++ programs of this repository against the very same C
//! client zk-sys links (its `links = "zookeeper_mt"` metadata), so one copy
//! of the library serves Rust and C alike:
//! - `tests/c/zk_trace.c`: a plain C client for the fidelity tests;
//! - `cpp/seed_peer.cpp`: the C++ reference peer of the seed design.
//!
//! Their paths reach the code as `env!("ZKHA_<NAME>")`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let include =
        env::var("DEP_ZOOKEEPER_MT_INCLUDE").expect("zk-sys exports its include directory");
    let lib_dir = env::var("DEP_ZOOKEEPER_MT_LIB").ok();
    let is_static = env::var("DEP_ZOOKEEPER_MT_STATIC").as_deref() == Ok("1");
    build_program(
        &out,
        "zk_trace",
        "tests/c/zk_trace.c",
        false,
        &include,
        lib_dir.as_deref(),
        is_static,
    );
    build_program(
        &out,
        "seed_peer",
        "cpp/seed_peer.cpp",
        true,
        &include,
        lib_dir.as_deref(),
        is_static,
    );
}

/// Compiles and links one C (or C++) program to `OUT_DIR/<name>` and exports
/// its path as `ZKHA_<NAME>`.
fn build_program(
    out: &std::path::Path,
    name: &str,
    source: &str,
    cpp: bool,
    include: &str,
    lib_dir: Option<&str>,
    is_static: bool,
) {
    println!("cargo:rerun-if-changed={source}");
    let compiler = cc::Build::new().cpp(cpp).get_compiler();
    let exe = out.join(name);
    let mut cmd: Command = compiler.to_command();
    cmd.args(["-O2", "-Wall", "-DTHREADED"]);
    if cpp {
        cmd.arg("-std=c++17");
    }
    cmd.arg("-o")
        .arg(&exe)
        .arg(source)
        .arg(format!("-I{include}"));
    match (lib_dir, is_static) {
        (Some(dir), true) => {
            cmd.arg(format!("{dir}/libzookeeper_mt.a"));
        }
        (Some(dir), false) => {
            cmd.arg(format!("-L{dir}")).arg("-lzookeeper_mt");
        }
        (None, _) => {
            cmd.arg("-lzookeeper_mt");
        }
    }
    cmd.args(["-lpthread", "-lm"]);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler for {source}: {e}"));
    assert!(status.success(), "compiling {source} failed ({status})");
    println!(
        "cargo:rustc-env=ZKHA_{}={}",
        name.to_uppercase(),
        exe.display()
    );
}
