// Shared by the build scripts of this workspace (include!d): compiles one
// C or C++ program against the ZooKeeper C client that zk-sys built (its
// `links = "zookeeper_mt"` metadata), so every program links the same copy.

/// How to compile and link against zk-sys's C client, from its build
/// metadata (`DEP_ZOOKEEPER_MT_*`).
pub struct Linkage {
    /// The public headers (and the generated jute header).
    pub include: String,
    /// Where `libzookeeper_mt` is, if not on the default search path.
    pub lib_dir: Option<String>,
    /// Whether it is the static copy zk-sys compiled.
    pub is_static: bool,
    /// What a static copy built with zk-sys's `ssl` / `sasl` also needs
    /// (e.g. `ssl crypto sasl2`).
    pub libs: Vec<String>,
    /// The defines it was compiled with (e.g. `HAVE_OPENSSL_H`), so the
    /// programs see the same declarations (`zookeeper_init_ssl`, …).
    pub defines: Vec<String>,
}

impl Linkage {
    /// Reads zk-sys's build metadata.
    pub fn from_env() -> Linkage {
        let words = |var: &str| -> Vec<String> {
            std::env::var(var)
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        Linkage {
            include: std::env::var("DEP_ZOOKEEPER_MT_INCLUDE").expect(
                "zk-sys exports its include directory (a direct dependency on zk-sys is needed)",
            ),
            lib_dir: std::env::var("DEP_ZOOKEEPER_MT_LIB").ok(),
            is_static: std::env::var("DEP_ZOOKEEPER_MT_STATIC").as_deref() == Ok("1"),
            libs: words("DEP_ZOOKEEPER_MT_LINK_LIBS"),
            defines: words("DEP_ZOOKEEPER_MT_DEFINES"),
        }
    }
}

/// Builds each `(name, source, is_cpp)` with the ZooKeeper C client from
/// zk-sys's build metadata (`DEP_ZOOKEEPER_MT_*`).
pub fn build_programs(programs: &[(&str, &str, bool)]) {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let linkage = Linkage::from_env();
    for (name, source, cpp) in programs {
        build_program(&out, name, source, *cpp, &linkage);
    }
}

/// Compiles and links one C (or C++) program to `OUT_DIR/<name>` and exports
/// its path as `ZKHA_<NAME>`.
pub fn build_program(
    out: &std::path::Path,
    name: &str,
    source: &str,
    cpp: bool,
    linkage: &Linkage,
) {
    println!("cargo:rerun-if-changed={source}");
    let compiler = cc::Build::new().cpp(cpp).get_compiler();
    let exe = out.join(name);
    let mut cmd: std::process::Command = compiler.to_command();
    cmd.args(["-O2", "-Wall", "-DTHREADED"]);
    if cpp {
        cmd.arg("-std=c++17");
    }
    for define in &linkage.defines {
        cmd.arg(format!("-D{define}"));
    }
    cmd.arg("-o")
        .arg(&exe)
        .arg(source)
        .arg(format!("-I{}", linkage.include));
    match (&linkage.lib_dir, linkage.is_static) {
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
    for lib in &linkage.libs {
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
