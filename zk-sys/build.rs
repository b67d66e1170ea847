//! Builds (or finds) the ZooKeeper C client and generates its bindings.
//!
//! Default: compile the pinned, vendored official C client (fetched into
//! `../vendor/src` by `vendor/fetch`) as the multithreaded `zookeeper_mt`
//! static library. Feature `system`: link an installed `libzookeeper_mt`.
//!
//! Either way the include and library directories are exported as build
//! metadata (`links = "zookeeper_mt"`): a dependent build script reads
//! `DEP_ZOOKEEPER_MT_INCLUDE` / `DEP_ZOOKEEPER_MT_LIB` / `DEP_ZOOKEEPER_MT_STATIC`
//! and links C/C++ code against the very same copy, so one process holds one
//! copy of the library (its log level and log stream are process-wide).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// The C client's translation units, as upstream's CMakeLists lists them for
/// the multithreaded (`WANT_SYNCAPI`) build without SSL and SASL.
const C_SOURCES: &[&str] = &[
    "src/zookeeper.c",
    "src/recordio.c",
    "src/zk_log.c",
    "src/zk_hashtable.c",
    "src/addrvec.c",
    "src/mt_adaptor.c",
    "src/hashtable/hashtable.c",
    "src/hashtable/hashtable_itr.c",
];

/// `config.h` for Linux/glibc, as upstream's cmake_config.h.in would produce it.
const CONFIG_H: &str = r#"/* Written by zk-sys/build.rs for a Linux (glibc) build. */
#ifndef CONFIG_H_
#define CONFIG_H_
#define HAVE_ARPA_INET_H 1
#define HAVE_DLFCN_H 1
#define HAVE_FCNTL_H 1
#define HAVE_GENERATED_ZOOKEEPER_JUTE_C 1
#define HAVE_GENERATED_ZOOKEEPER_JUTE_H 1
#define HAVE_GETCWD 1
#define HAVE_GETHOSTBYNAME 1
#define HAVE_GETHOSTNAME 1
#define HAVE_GETLOGIN 1
#define HAVE_GETPWUID_R 1
#define HAVE_GETTIMEOFDAY 1
#define HAVE_GETUID 1
#define HAVE_INTTYPES_H 1
#define HAVE_LIBRT 1
#define HAVE_MEMMOVE 1
#define HAVE_MEMORY_H 1
#define HAVE_MEMSET 1
#define HAVE_NETDB_H 1
#define HAVE_NETINET_IN_H 1
#define HAVE_POLL 1
#define HAVE_SOCKET 1
#define HAVE_STDINT_H 1
#define HAVE_STDLIB_H 1
#define HAVE_STRCHR 1
#define HAVE_STRDUP 1
#define HAVE_STRERROR 1
#define HAVE_STRINGS_H 1
#define HAVE_STRING_H 1
#define HAVE_STRTOL 1
#define HAVE_SYS_SOCKET_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_SYS_UTSNAME_H 1
#define HAVE_UNISTD_H 1
#define ZOO_IPV6_ENABLED 1
#define POLL_NFDS_TYPE nfds_t
#define PACKAGE "zookeeper"
#define PACKAGE_BUGREPORT "user@zookeeper.apache.org"
#define PACKAGE_NAME "ZooKeeper C client"
#define PACKAGE_STRING "ZooKeeper C client @VERSION@"
#define PACKAGE_TARNAME "zookeeper"
#define PACKAGE_VERSION "@VERSION@"
#define VERSION "@VERSION@"
#endif
"#;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-env-changed=ZK_SYS_VENDOR_DIR");
    println!("cargo:rerun-if-env-changed=ZOOKEEPER_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=ZOOKEEPER_LIB_DIR");

    let include_dirs = if env::var_os("CARGO_FEATURE_SYSTEM").is_some() {
        link_system()
    } else {
        build_vendored(&manifest, &out)
    };
    generate_bindings(&manifest, &out, &include_dirs);
}

/// Links an installed `libzookeeper_mt`; returns its include directories.
fn link_system() -> Vec<PathBuf> {
    let include = env::var_os("ZOOKEEPER_INCLUDE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include/zookeeper"));
    if !include.join("zookeeper.h").is_file() {
        fail(&format!(
            "feature `system`: {} has no zookeeper.h. Install the C client's headers \
             (Debian: `apt-get install libzookeeper-mt-dev`) or set ZOOKEEPER_INCLUDE_DIR.",
            include.display()
        ));
    }
    if let Some(lib) = env::var_os("ZOOKEEPER_LIB_DIR") {
        let lib = PathBuf::from(lib);
        println!("cargo:rustc-link-search=native={}", lib.display());
        println!("cargo:lib={}", lib.display());
    }
    println!("cargo:rustc-link-lib=dylib=zookeeper_mt");
    println!("cargo:rustc-link-lib=dylib=pthread");
    println!("cargo:include={}", include.display());
    println!("cargo:static=0");
    vec![include]
}

/// Writes `data` to `path` unless it already holds exactly that: bindgen
/// asks cargo to rerun this script when a header it read changes, so a
/// header rewritten with the same bytes (a newer mtime) would make every
/// build rebuild zk-sys and everything above it.
fn write_if_changed(path: &Path, data: &[u8]) {
    if fs::read(path).ok().as_deref() != Some(data) {
        fs::write(path, data).unwrap();
    }
}

/// Compiles the vendored C client into `libzookeeper_mt.a`; returns the
/// include directories (public headers, generated jute header, config.h).
fn build_vendored(manifest: &Path, out: &Path) -> Vec<PathBuf> {
    let vendor = env::var_os("ZK_SYS_VENDOR_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../vendor/src"));
    let root = vendor.join("zookeeper-client-c");
    let generated = vendor.join("generated");
    let stamp = vendor.join(".complete");
    println!("cargo:rerun-if-changed={}", stamp.display());
    if !stamp.is_file() || !generated.join("zookeeper.jute.c").is_file() {
        fail(&format!(
            "the vendored ZooKeeper C client is missing (looked in {}).\n\
             Fetch it with `vendor/fetch` (or `make setup`, which also installs the Debian \
             packages it needs), or build with `--features system` to link an installed \
             libzookeeper_mt.",
            vendor.display()
        ));
    }
    let version = fs::read_to_string(manifest.join("../vendor/zookeeper.pin"))
        .ok()
        .and_then(|pin| {
            pin.lines()
                .find_map(|l| l.strip_prefix("UPSTREAM_VERSION=").map(str::to_owned))
        })
        .unwrap_or_else(|| "unknown".to_owned());

    let config_dir = out.join("config");
    fs::create_dir_all(&config_dir).unwrap();
    write_if_changed(
        &config_dir.join("config.h"),
        CONFIG_H.replace("@VERSION@", &version).as_bytes(),
    );

    // Public headers for dependents: the C client's include/ plus the generated
    // jute header, gathered in one directory.
    let include = out.join("include");
    fs::create_dir_all(&include).unwrap();
    for entry in fs::read_dir(root.join("include")).unwrap() {
        let path = entry.unwrap().path();
        write_if_changed(
            &include.join(path.file_name().unwrap()),
            &fs::read(&path).unwrap(),
        );
    }
    write_if_changed(
        &include.join("zookeeper.jute.h"),
        &fs::read(generated.join("zookeeper.jute.h")).unwrap(),
    );

    let mut build = cc::Build::new();
    // Upstream builds with -Wall only; cc's default adds -Wextra, which would
    // print warnings upstream never shows.
    build
        .warnings(false)
        .flag("-Wall")
        .define("THREADED", None)
        .define("_GNU_SOURCE", None)
        .define("USE_STATIC_LIB", None)
        .include(&config_dir)
        .include(&include)
        .include(root.join("src"))
        .include(&generated)
        .file(generated.join("zookeeper.jute.c"));
    for src in C_SOURCES {
        let path = root.join(src);
        println!("cargo:rerun-if-changed={}", path.display());
        build.file(path);
    }
    build.compile("zookeeper_mt");
    println!("cargo:rustc-link-lib=dylib=pthread");
    println!("cargo:rustc-link-lib=dylib=m");
    println!("cargo:include={}", include.display());
    println!("cargo:lib={}", out.display());
    println!("cargo:static=1");
    vec![include, generated]
}

fn generate_bindings(manifest: &Path, out: &Path, include_dirs: &[PathBuf]) {
    let mut builder = bindgen::Builder::default()
        .header(manifest.join("wrapper.h").to_string_lossy())
        .clang_arg("-DTHREADED")
        .allowlist_function("zoo_.*|zookeeper_.*|zerror|is_unrecoverable|deallocate_.*|allocate_.*|serialize_.*|deserialize_.*|log_message|format_log_message|get_log_callback")
        .allowlist_var("ZOO.*|ZOOKEEPER_.*")
        .allowlist_type("zhandle_t|clientid_t|Stat|ACL|ACL_vector|Id|String_vector|zoo_op.*|watcher_fn|log_callback_fn|.*_completion_t|ZOO_ERRORS|ZooLogLevel|buffer|iarchive|oarchive")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .derive_default(true)
        .derive_debug(true)
        .layout_tests(true)
        .generate_comments(true)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for dir in include_dirs {
        builder = builder.clang_arg(format!("-I{}", dir.display()));
    }
    let bindings = builder
        .generate()
        .unwrap_or_else(|e| fail(&format!("bindgen failed on zookeeper.h: {e}")));
    bindings.write_to_file(out.join("bindings.rs")).unwrap();

    // The names of every `extern const int` the header declares, so a test can
    // check that `zk_sys::consts` covers them all.
    let header = include_dirs
        .iter()
        .map(|d| d.join("zookeeper.h"))
        .find(|p| p.is_file())
        .unwrap();
    let text = fs::read_to_string(header).unwrap();
    let names: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("extern ZOOAPI const int ")
                .or_else(|| l.strip_prefix("ZOOAPI extern const int "))?;
            Some(rest.trim_end_matches(';').trim().to_owned())
        })
        .collect();
    let list = format!(
        "/// Every `extern const int` declared by zookeeper.h.\npub const HEADER_CONST_INTS: &[&str] = &{names:?};\n"
    );
    fs::write(out.join("header_consts.rs"), list).unwrap();
}

fn fail(msg: &str) -> ! {
    eprintln!("\nzk-sys: {msg}\n");
    panic!("zk-sys: {msg}");
}
