// Shared by the build scripts of this workspace (include!d): compiles one
// C or C++ program against the ZooKeeper C client that zk-sys built (its
// `links = "zookeeper_mt"` metadata), so every program links the same copy.

/// Builds each `(name, source, is_cpp)` with the ZooKeeper C client from
/// zk-sys's build metadata (`DEP_ZOOKEEPER_MT_*`).
pub fn build_programs(programs: &[(&str, &str, bool)]) {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let include = std::env::var("DEP_ZOOKEEPER_MT_INCLUDE")
        .expect("zk-sys exports its include directory (a direct dependency on zk-sys is needed)");
    let lib_dir = std::env::var("DEP_ZOOKEEPER_MT_LIB").ok();
    let is_static = std::env::var("DEP_ZOOKEEPER_MT_STATIC").as_deref() == Ok("1");
    // What a static copy built with zk-sys's `ssl` / `sasl` also needs
    // (OpenSSL, Cyrus SASL), and the defines it was compiled with, so the
    // programs see the same declarations (zookeeper_init_ssl, …).
    let link_libs = std::env::var("DEP_ZOOKEEPER_MT_LINK_LIBS").unwrap_or_default();
    let defines = std::env::var("DEP_ZOOKEEPER_MT_DEFINES").unwrap_or_default();
    let extra = Extra {
        libs: link_libs.split_whitespace().collect(),
        defines: defines.split_whitespace().collect(),
    };
    for (name, source, cpp) in programs {
        build_program(&out, name, source, *cpp, &include, lib_dir.as_deref(), is_static, &extra);
    }
}

/// Libraries and defines of a zk-sys built with `ssl` / `sasl`.
pub struct Extra<'a> {
    /// Libraries after libzookeeper_mt (e.g. `ssl crypto sasl2`).
    pub libs: Vec<&'a str>,
    /// Defines (e.g. `HAVE_OPENSSL_H`).
    pub defines: Vec<&'a str>,
}

/// Compiles and links one C (or C++) program to `OUT_DIR/<name>` and exports
/// its path as `ZKHA_<NAME>`.
pub fn build_program(
    out: &std::path::Path,
    name: &str,
    source: &str,
    cpp: bool,
    include: &str,
    lib_dir: Option<&str>,
    is_static: bool,
    extra: &Extra<'_>,
) {
    println!("cargo:rerun-if-changed={source}");
    let compiler = cc::Build::new().cpp(cpp).get_compiler();
    let exe = out.join(name);
    let mut cmd: std::process::Command = compiler.to_command();
    cmd.args(["-O2", "-Wall", "-DTHREADED"]);
    if cpp {
        cmd.arg("-std=c++17");
    }
    for define in &extra.defines {
        cmd.arg(format!("-D{define}"));
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
    for lib in &extra.libs {
        cmd.arg(format!("-l{lib}"));
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
