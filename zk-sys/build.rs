//! Builds (or finds) the ZooKeeper C client and provides its bindings.
//!
//! Feature `bundled` (default): compile the pinned official C client that
//! ships inside this crate, in `zookeeper/` (in the repository `vendor/fetch`
//! fills that directory; it is git-ignored but packaged), as the multithreaded
//! `zookeeper_mt` static library. Feature `system`, or `ZK_SYS_NO_BUNDLED=1`
//! (features are additive, so a dependent cannot switch `bundled` off): link
//! an installed `libzookeeper_mt` of the same minor version instead.
//!
//! Bindings: `zookeeper/bindings.rs` is pre-generated with bindgen when the
//! bundle is made, so building this crate needs no libclang. Feature
//! `buildtime_bindgen` generates them here instead (e.g. for another target's
//! layout, or the system headers).
//!
//! Features `ssl` and `sasl` compile the bundled client with OpenSSL
//! (`HAVE_OPENSSL_H`: `zookeeper_init_ssl`) and Cyrus SASL
//! (`HAVE_CYRUS_SASL_H`: `zookeeper_init_sasl`, `zk_sasl.c`), found with
//! pkg-config (`openssl`, `libsasl2`; Debian: libssl-dev, libsasl2-dev), and
//! add their pre-generated bindings (`bindings_ssl.rs`, `bindings_sasl.rs`).
//! An installed libzookeeper_mt cannot offer them (Debian's has neither
//! symbol), so they need the bundled build.
//!
//! Either way the include and library directories are exported as build
//! metadata (`links = "zookeeper_mt"`): a dependent build script reads
//! `DEP_ZOOKEEPER_MT_INCLUDE` / `DEP_ZOOKEEPER_MT_LIB` / `DEP_ZOOKEEPER_MT_STATIC`
//! (with `DEP_ZOOKEEPER_MT_LINK_LIBS`, the libraries the static copy needs
//! besides pthread and m, and `DEP_ZOOKEEPER_MT_DEFINES`, the `HAVE_*`
//! defines it was built with) and links C/C++ code against the very same copy, so one process holds one
//! copy of the library (its log level and log stream are process-wide).
//! What that copy offers is exported too: `DEP_ZOOKEEPER_MT_VERSION` (the
//! headers' `ZOO_VERSION`, e.g. `3.8.0`), `DEP_ZOOKEEPER_MT_SSL` and
//! `DEP_ZOOKEEPER_MT_SASL` (`1` when built with `zookeeper_init_ssl` /
//! `zookeeper_init_sasl`, else `0`).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

#[cfg(feature = "buildtime_bindgen")]
#[allow(dead_code)]
mod bindgen_rs {
    include!("bindgen.rs");
}
#[cfg(feature = "buildtime_bindgen")]
use bindgen_rs::{zookeeper_bindings, BindingsPart};

/// Which pre-generated bindings file (the same enum as bindgen.rs's, which
/// is only compiled with feature `buildtime_bindgen`).
#[cfg(not(feature = "buildtime_bindgen"))]
#[derive(Clone, Copy, Debug)]
enum BindingsPart {
    Base,
    Ssl,
    Sasl,
}

#[cfg(not(feature = "buildtime_bindgen"))]
impl BindingsPart {
    fn file_name(self) -> &'static str {
        match self {
            BindingsPart::Base => "bindings.rs",
            BindingsPart::Ssl => "bindings_ssl.rs",
            BindingsPart::Sasl => "bindings_sasl.rs",
        }
    }
}

/// The C client's translation units (paths below the bundle's C root), as
/// upstream's CMakeLists lists them for the multithreaded (`WANT_SYNCAPI`)
/// build without SSL and SASL (feature `sasl` adds `src/zk_sasl.c`).
#[cfg_attr(not(feature = "bundled"), allow(dead_code))]
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
#[cfg_attr(not(feature = "bundled"), allow(dead_code))]
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
    println!("cargo:rerun-if-changed=bindgen.rs");
    println!("cargo:rerun-if-changed=wrapper.h");
    for var in [
        "ZK_SYS_VENDOR_DIR",
        "ZK_SYS_NO_BUNDLED",
        "ZOOKEEPER_INCLUDE_DIR",
        "ZOOKEEPER_LIB_DIR",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let bundle = Bundle::locate(&manifest);
    let system = use_system();
    if system && (cfg!(feature = "ssl") || cfg!(feature = "sasl")) {
        fail(
            "features `ssl` and `sasl` need the bundled C client (feature `bundled`, without \
             `system` or ZK_SYS_NO_BUNDLED): an installed libzookeeper_mt (Debian's included) is \
             built without zookeeper_init_ssl and zookeeper_init_sasl",
        );
    }
    let include_dirs = if system {
        link_system()
    } else {
        build_bundled(&bundle, &out)
    };
    let version = check_version(&include_dirs, system);
    // What the linked C client offers, for dependents' build scripts
    // (`DEP_ZOOKEEPER_MT_VERSION`, `_SSL`, `_SASL`; zkha's build.rs turns
    // them into cfgs): `ssl` / `sasl` are the bundled build's (an installed
    // library is refused above with either feature).
    println!("cargo:version={version}");
    println!("cargo:ssl={}", u8::from(cfg!(feature = "ssl")));
    println!("cargo:sasl={}", u8::from(cfg!(feature = "sasl")));
    provide_bindings(&manifest, &bundle, &out, &include_dirs);
    list_header_consts(&out, &include_dirs);
}

/// Whether to link an installed library: feature `system` wins over
/// `bundled` (with a warning), and `ZK_SYS_NO_BUNDLED=1` forces it.
fn use_system() -> bool {
    let bundled = cfg!(feature = "bundled");
    let system = cfg!(feature = "system");
    let no_bundled = env::var("ZK_SYS_NO_BUNDLED").is_ok_and(|v| !v.is_empty() && v != "0");
    if bundled && system {
        println!(
            "cargo:warning=zk-sys: features `bundled` and `system` are both on; `system` wins \
             (linking the installed libzookeeper_mt)"
        );
    } else if bundled && no_bundled {
        println!(
            "cargo:warning=zk-sys: ZK_SYS_NO_BUNDLED is set; linking the installed \
             libzookeeper_mt instead of the bundled C client"
        );
    }
    system || no_bundled || !bundled
}

/// Where the bundled C client is: `zookeeper/` in this crate, or the
/// directory `ZK_SYS_VENDOR_DIR` names (used by builds of a copy of the
/// repository without its git-ignored files, e.g. mutation testing).
struct Bundle {
    /// The directory: `bindings.rs` and `generated/` (jute output) are here.
    dir: PathBuf,
    /// The C client: `include/`, `src/`, `LICENSE`, `NOTICE.txt`.
    c_root: PathBuf,
}

impl Bundle {
    fn locate(manifest: &Path) -> Bundle {
        let dir = env::var_os("ZK_SYS_VENDOR_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest.join("zookeeper"));
        // vendor/fetch's full extraction (vendor/src) keeps upstream's
        // directory name; the bundle flattens it.
        let upstream = dir.join("zookeeper-client-c");
        let c_root = if upstream.is_dir() {
            upstream
        } else {
            dir.clone()
        };
        Bundle { dir, c_root }
    }

    #[cfg_attr(not(feature = "bundled"), allow(dead_code))]
    fn generated(&self) -> PathBuf {
        self.dir.join("generated")
    }

    fn missing(&self, what: &str) -> ! {
        let problem = if self.dir.is_dir() {
            format!("is incomplete: {} has no {what}", self.dir.display())
        } else {
            format!("is missing (looked in {})", self.dir.display())
        };
        fail(&format!(
            "the bundled ZooKeeper C client {problem}.\n\
             In the zkha repository, fetch it with `make setup` (installs the Debian packages \
             it needs, then runs vendor/fetch) or `vendor/fetch`. Or link an installed \
             libzookeeper_mt: feature `system`, or ZK_SYS_NO_BUNDLED=1."
        ))
    }
}

/// Links an installed `libzookeeper_mt`; returns its include directories.
fn link_system() -> Vec<PathBuf> {
    let include = env::var_os("ZOOKEEPER_INCLUDE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include/zookeeper"));
    if !include.join("zookeeper.h").is_file() {
        fail(&format!(
            "linking the installed C client: {} has no zookeeper.h. Install its headers \
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

/// Writes `data` to `path` unless it already holds exactly that: a build
/// script reruns when a file it watches changes, so a file rewritten with the
/// same bytes (a newer mtime) would rebuild zk-sys and everything above it.
fn write_if_changed(path: &Path, data: &[u8]) {
    if fs::read(path).ok().as_deref() != Some(data) {
        fs::write(path, data).unwrap();
    }
}

/// The upstream version this crate pins: its version's build metadata
/// (`0.1.0+3.8.0` pins 3.8.0).
fn pinned_version() -> String {
    let version = env::var("CARGO_PKG_VERSION").unwrap();
    match version.split_once('+') {
        Some((_, upstream)) => upstream.to_owned(),
        None => fail(&format!(
            "version {version} has no `+<ZooKeeper version>` build metadata"
        )),
    }
}

/// `ZOO_VERSION` of the `zookeeper_version.h` in `include_dirs`.
fn header_version(include_dirs: &[PathBuf]) -> String {
    let header = include_dirs
        .iter()
        .map(|d| d.join("zookeeper_version.h"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| fail("no zookeeper_version.h next to zookeeper.h"));
    let text = fs::read_to_string(&header).unwrap();
    text.lines()
        .find_map(|l| {
            let v = l.trim().strip_prefix("#define ZOO_VERSION ")?;
            Some(v.trim().trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| fail(&format!("{} defines no ZOO_VERSION", header.display())))
}

/// The C client's version must be the pinned one: exactly for the bundle,
/// the same major.minor for an installed library (the bindings, generated
/// from the pinned headers, describe that API). Returns the headers' version.
fn check_version(include_dirs: &[PathBuf], system: bool) -> String {
    let pinned = pinned_version();
    let found = header_version(include_dirs);
    let minor = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
    let ok = if system {
        minor(&found) == minor(&pinned)
    } else {
        found == pinned
    };
    if !ok {
        fail(&format!(
            "the C client's headers are version {found}, but this zk-sys pins {pinned} \
             (an installed library must be {}.x; a bundle must match exactly: rerun vendor/fetch)",
            minor(&pinned)
        ));
    }
    found
}

/// Compiles the bundled C client into `libzookeeper_mt.a`; returns the
/// include directories (public headers, generated jute header, config.h).
#[cfg(feature = "bundled")]
fn build_bundled(bundle: &Bundle, out: &Path) -> Vec<PathBuf> {
    let generated = bundle.generated();
    for file in [
        generated.join("zookeeper.jute.c"),
        generated.join("zookeeper.jute.h"),
    ]
    .into_iter()
    .chain(C_SOURCES.iter().map(|s| bundle.c_root.join(s)))
    .chain([bundle.c_root.join("include/zookeeper.h")])
    {
        if !file.is_file() {
            bundle.missing(
                &file
                    .strip_prefix(&bundle.dir)
                    .unwrap_or(&file)
                    .display()
                    .to_string(),
            );
        }
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let version = header_version(&[bundle.c_root.join("include")]);

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
    for entry in fs::read_dir(bundle.c_root.join("include")).unwrap() {
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
        // Its sockets close-on-exec (socket(SOCK_CLOEXEC)): a process the
        // program starts must not hold its ZooKeeper connection. (Its
        // self-pipe is a plain pipe() that no flag covers: zkha's children
        // close every descriptor above 2 before exec as well.)
        .define("SOCK_CLOEXEC_ENABLED", None)
        .include(&config_dir)
        .include(&include)
        .include(bundle.c_root.join("src"))
        .include(&generated)
        .file(generated.join("zookeeper.jute.c"));
    for src in C_SOURCES {
        build.file(bundle.c_root.join(src));
    }
    let secure = probe_secure_libs(&mut build);
    if cfg!(feature = "sasl") {
        let sasl = bundle.c_root.join("src/zk_sasl.c");
        if !sasl.is_file() {
            bundle.missing("src/zk_sasl.c (feature `sasl`; rerun vendor/fetch)");
        }
        println!("cargo:rerun-if-changed={}", sasl.display());
        build.file(sasl);
    }
    build.compile("zookeeper_mt");
    // After compile: the static library must come before the libraries it needs.
    for lib in &secure.libs {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    println!("cargo:link_libs={}", secure.libs.join(" "));
    println!("cargo:defines={}", secure.defines.join(" "));
    println!("cargo:rustc-link-lib=dylib=pthread");
    println!("cargo:rustc-link-lib=dylib=m");
    println!("cargo:include={}", include.display());
    println!("cargo:lib={}", out.display());
    println!("cargo:static=1");
    vec![include, generated]
}

/// What features `ssl` / `sasl` add to the bundled build.
#[cfg_attr(not(feature = "bundled"), allow(dead_code))]
struct SecureLibs {
    /// Libraries to link, in order (e.g. `ssl crypto sasl2`).
    libs: Vec<String>,
    /// The `HAVE_*` defines the C client was compiled with.
    defines: Vec<&'static str>,
}

/// Finds OpenSSL / Cyrus SASL with pkg-config for features `ssl` / `sasl`,
/// adds their include paths and defines to `build`; returns what to link.
#[cfg(feature = "bundled")]
fn probe_secure_libs(build: &mut cc::Build) -> SecureLibs {
    #[allow(unused_mut)]
    let mut found = SecureLibs {
        libs: Vec::new(),
        defines: Vec::new(),
    };
    #[cfg(any(feature = "ssl", feature = "sasl"))]
    for (feature, package, define, debian) in [
        (
            cfg!(feature = "ssl"),
            "openssl",
            "HAVE_OPENSSL_H",
            "libssl-dev",
        ),
        (
            cfg!(feature = "sasl"),
            "libsasl2",
            "HAVE_CYRUS_SASL_H",
            "libsasl2-dev",
        ),
    ] {
        if !feature {
            continue;
        }
        let lib = pkg_config::Config::new()
            .cargo_metadata(false)
            .probe(package)
            .unwrap_or_else(|e| {
                fail(&format!(
                    "feature `{}` needs {package} (pkg-config; Debian: `apt-get install {debian} \
                     pkg-config`, which `make setup` does): {e}",
                    if package == "openssl" { "ssl" } else { "sasl" }
                ))
            });
        for dir in &lib.include_paths {
            build.include(dir);
        }
        for dir in &lib.link_paths {
            println!("cargo:rustc-link-search=native={}", dir.display());
        }
        found.libs.extend(lib.libs.iter().cloned());
        build.define(define, None);
        found.defines.push(define);
        if package == "openssl" && !lib.version.starts_with(['0', '1']) {
            // The 3.8.0 client calls FIPS_mode(), which OpenSSL 3 removed;
            // its replacement answers the same question.
            build.define(
                "FIPS_mode()",
                "EVP_default_properties_is_fips_enabled(NULL)",
            );
        }
    }
    let _ = build;
    found
}

/// Without feature `bundled` the installed library is always used
/// (`use_system`), so this is never reached.
#[cfg(not(feature = "bundled"))]
fn build_bundled(_: &Bundle, _: &Path) -> Vec<PathBuf> {
    unreachable!("zk-sys links the installed library without feature `bundled`")
}

/// Puts the bindings in `OUT_DIR/bindings.rs` (and `bindings_ssl.rs` /
/// `bindings_sasl.rs` for features `ssl` / `sasl`): generated now with
/// feature `buildtime_bindgen`, else copied from the bundle's pre-generated
/// files.
fn provide_bindings(manifest: &Path, bundle: &Bundle, out: &Path, include_dirs: &[PathBuf]) {
    let parts = [
        (BindingsPart::Base, true),
        (BindingsPart::Ssl, cfg!(feature = "ssl")),
        (BindingsPart::Sasl, cfg!(feature = "sasl")),
    ];
    for (part, wanted) in parts {
        let target = out.join(part.file_name());
        if !wanted {
            // lib.rs includes only the parts of the enabled features.
            let _ = fs::remove_file(&target);
            continue;
        }
        #[cfg(feature = "buildtime_bindgen")]
        {
            let _ = bundle;
            let bindings = zookeeper_bindings(&manifest.join("wrapper.h"), include_dirs, part)
                .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
                .generate()
                .unwrap_or_else(|e| {
                    fail(&format!("bindgen failed on zookeeper.h ({part:?}): {e}"))
                });
            write_if_changed(&target, bindings.to_string().as_bytes());
        }
        #[cfg(not(feature = "buildtime_bindgen"))]
        {
            let _ = (manifest, include_dirs);
            let pregenerated = bundle.dir.join(part.file_name());
            println!("cargo:rerun-if-changed={}", pregenerated.display());
            match fs::read(&pregenerated) {
                Ok(data) => write_if_changed(&target, &data),
                Err(_) => bundle.missing(&format!(
                    "{} (pre-generated bindings; feature `buildtime_bindgen` makes them \
                     at build time instead, with libclang)",
                    part.file_name()
                )),
            }
        }
    }
}

/// The names of every `extern const int` the header declares, so a test can
/// check that `zk_sys::consts` covers them all.
fn list_header_consts(out: &Path, include_dirs: &[PathBuf]) {
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
    write_if_changed(&out.join("header_consts.rs"), list.as_bytes());
}

fn fail(msg: &str) -> ! {
    eprintln!("\nzk-sys: {msg}\n");
    panic!("zk-sys: {msg}");
}
