//! zkha-capi's build script:
//!
//! 1. generates `zkha.h` with cbindgen (cbindgen.toml) into
//!    `OUT_DIR/include/` (never the source tree: the committed copy,
//!    include/zkha.h, is compared with it by `scripts/capi --check`);
//! 2. makes libzkha.so export the bundled ZooKeeper C client's own symbols,
//!    which a Rust cdylib otherwise hides (rustc's version script makes
//!    everything but its `#[no_mangle]` functions local): a second version
//!    script (GNU ld merges them) makes the C client's public names global,
//!    and `-u` pulls in every object file of the archive that defines some
//!    of them, used by zkha or not (docs/c-cpp.md, "The C API");
//! 3. hands the tests the paths their C programs compile with.

use std::env;
use std::fs;
use std::path::PathBuf;

/// The C client's public names (zookeeper.h, zookeeper.jute.h, recordio.h,
/// zookeeper_log.h): globs for the version script.
const EXPORTED: &[&str] = &[
    "zookeeper_*",
    "zoo_*",
    "zerror",
    "is_unrecoverable",
    "ZOO_*",
    "ZOOKEEPER_*",
    "deallocate_*",
    "allocate_*",
    "serialize_*",
    "deserialize_*",
    "create_buffer_iarchive",
    "create_buffer_oarchive",
    "close_buffer_iarchive",
    "close_buffer_oarchive",
    "get_buffer",
    "get_buffer_len",
    "logLevel",
    "log_message",
];

/// One symbol of each of the C client's object files with public names,
/// so that the linker takes every one of them into libzkha.so.
const ANCHORS: &[&str] = &[
    "zookeeper_init",           // zookeeper.c
    "deallocate_String_vector", // zookeeper.jute.c (generated)
    "create_buffer_iarchive",   // recordio.c
    "zoo_set_debug_level",      // zk_log.c
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=src");
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));

    // 1. The header.
    let include = out.join("include");
    fs::create_dir_all(&include).expect("create OUT_DIR/include");
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen: generate zkha.h")
        .write_to_file(include.join("zkha.h"));

    // 2. The C client's symbols, exported (bundled build only: with an
    // installed libzookeeper_mt the program links that library itself).
    let is_static = env::var("DEP_ZOOKEEPER_MT_STATIC").as_deref() == Ok("1");
    if is_static {
        let mut script = String::from("{\n  global:\n");
        for name in EXPORTED {
            script.push_str(&format!("    {name};\n"));
        }
        script.push_str("};\n");
        let map = out.join("zookeeper-exports.map");
        fs::write(&map, script).expect("write the version script");
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
            map.display()
        );
        for anchor in ANCHORS {
            println!("cargo:rustc-cdylib-link-arg=-Wl,-u,{anchor}");
        }
    }

    // 3. For the tests' C programs.
    println!("cargo:rustc-env=ZKHA_CAPI_INCLUDE={}", include.display());
    for key in ["INCLUDE", "DEFINES", "LINK_LIBS", "STATIC"] {
        let value = env::var(format!("DEP_ZOOKEEPER_MT_{key}")).unwrap_or_default();
        println!("cargo:rustc-env=ZKHA_CAPI_ZK_{key}={value}");
    }
}
