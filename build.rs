//! zkha's build script: what the linked ZooKeeper C client offers, as cfgs.
//!
//! zk-sys (`links = "zookeeper_mt"`) tells its dependents what the C client
//! it built or found was made with, as the openssl crate learns from
//! openssl-sys: `DEP_ZOOKEEPER_MT_VERSION` (the headers' `ZOO_VERSION`),
//! `DEP_ZOOKEEPER_MT_SSL` and `DEP_ZOOKEEPER_MT_SASL` (`1` when the copy has
//! `zookeeper_init_ssl` / `zookeeper_init_sasl`). This script turns them into
//! cfgs for the library's code:
//!
//! - `zk_tls`: the C client has mutual TLS (`zookeeper_init_ssl`);
//! - `zk_sasl`: it has SASL (`zookeeper_init_sasl`);
//! - `zk_version = "3.8.0"` and `zk_minor = "3.8"`: its version.
//!
//! The code that calls `zookeeper_init_ssl` / `zookeeper_init_sasl` is
//! compiled on `zk_tls` / `zk_sasl` (what is linked, whichever crate of the
//! build turned zk-sys's feature on), `ZooKeeperBuilder::tls` / `sasl` do
//! not compile without them (a clear error at the call, not a runtime
//! refusal), and `zkha::C_CLIENT_VERSION`, `HAS_TLS`, `HAS_SASL` say the
//! same to a program (tests/build_cfg.rs checks them).
//!
//! The C API's header (`zkha.h`) is not made here but by the zkha-capi
//! crate's build script: this one runs for every Rust user of the library,
//! who never needs a C header (nor cbindgen).

use std::env;
use std::fs;
use std::path::PathBuf;

/// zk-sys's metadata, by key (`links = "zookeeper_mt"` names the variables).
fn dep(key: &str) -> Option<String> {
    let var = format!("DEP_ZOOKEEPER_MT_{key}");
    println!("cargo:rerun-if-env-changed={var}");
    env::var(&var).ok()
}

fn fail(msg: &str) -> ! {
    eprintln!("\nzkha: {msg}\n");
    panic!("zkha: {msg}");
}

/// `1` / `0` metadata as a flag; anything else is a zk-sys this zkha does
/// not know.
fn flag(key: &str) -> bool {
    match dep(key).as_deref() {
        Some("1") => true,
        Some("0") => false,
        other => fail(&format!(
            "zk-sys exported DEP_ZOOKEEPER_MT_{key}={other:?} (expected 1 or 0): \
             a zk-sys of the same release as this zkha is needed"
        )),
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-check-cfg=cfg(zk_tls)");
    println!("cargo:rustc-check-cfg=cfg(zk_sasl)");
    println!("cargo:rustc-check-cfg=cfg(zk_version, values(any()))");
    println!("cargo:rustc-check-cfg=cfg(zk_minor, values(any()))");

    let version = dep("VERSION").unwrap_or_else(|| {
        fail(
            "zk-sys exported no DEP_ZOOKEEPER_MT_VERSION: a zk-sys of the same release as \
             this zkha is needed",
        )
    });
    let parts: Vec<&str> = version.split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.parse::<u32>().is_err()) {
        fail(&format!(
            "the C client's version {version:?} (DEP_ZOOKEEPER_MT_VERSION) is not x.y.z"
        ));
    }
    let tls = flag("SSL");
    let sasl = flag("SASL");
    // zkha's `ssl` / `sasl` turn on zk-sys's, which builds the C client with
    // them or stops: a copy without them here means a mismatched zk-sys.
    for (feature, has, what) in [
        ("SSL", tls, "TLS (zookeeper_init_ssl)"),
        ("SASL", sasl, "SASL (zookeeper_init_sasl)"),
    ] {
        if env::var_os(format!("CARGO_FEATURE_{feature}")).is_some() && !has {
            fail(&format!(
                "feature `{}` is on, but the linked ZooKeeper C client (version {version}) \
                 has no {what}: zk-sys must build its bundled C client with feature `{}`",
                feature.to_lowercase(),
                feature.to_lowercase()
            ));
        }
    }
    if tls {
        println!("cargo:rustc-cfg=zk_tls");
    }
    if sasl {
        println!("cargo:rustc-cfg=zk_sasl");
    }
    println!("cargo:rustc-cfg=zk_version=\"{version}\"");
    println!("cargo:rustc-cfg=zk_minor=\"{}.{}\"", parts[0], parts[1]);
    // For `include_str!` in the library (zkha::C_CLIENT_VERSION); written
    // only when it changes, as a rewrite would rebuild the crate.
    let file = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("c_client_version");
    if fs::read(&file).ok().as_deref() != Some(version.as_bytes()) {
        fs::write(&file, &version).unwrap();
    }
}
