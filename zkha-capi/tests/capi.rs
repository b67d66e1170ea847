//! The C API from C: the test programs in tests/c/ are compiled against the
//! generated zkha.h (and, for one_copy.c, the bundled C client's own
//! zookeeper.h), linked with this build's libzkha.so only, and run against
//! a real ZooKeeper server (the test kit's shared one).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding this build's libzkha.so: the test binary's own
/// (target/<profile>/deps), where cargo puts the cdylib too.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .expect("the test binary's directory")
        .to_path_buf();
    assert!(
        dir.join("libzkha.so").exists(),
        "no libzkha.so beside the test binary in {}",
        dir.display()
    );
    dir
}

/// Compiles tests/c/<name>.c into the test's temporary directory.
fn compile(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c");
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("capi");
    std::fs::create_dir_all(&out_dir).expect("create the output directory");
    let exe = out_dir.join(name);
    let lib = lib_dir();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut cmd = Command::new(cc);
    cmd.args([
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-O1",
        "-DTHREADED",
    ]);
    for define in env!("ZKHA_CAPI_ZK_DEFINES").split_whitespace() {
        cmd.arg(format!("-D{define}"));
    }
    cmd.arg(format!("-I{}", env!("ZKHA_CAPI_INCLUDE")))
        .arg(format!("-I{}", env!("ZKHA_CAPI_ZK_INCLUDE")))
        .arg(format!("-I{}", src.display()))
        .arg(src.join(format!("{name}.c")))
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        // Only libzkha: the C client's symbols come from it too.
        .args(["-lzkha", "-lpthread", "-ldl"]);
    let status = cmd.status().expect("run the C compiler");
    assert!(status.success(), "compiling {name}.c failed: {cmd:?}");
    exe
}

/// Runs a compiled program with the server's connect string and a fresh
/// path; its output goes to the test's.
fn run(exe: &Path, tag: &str) {
    let server = zkha_testing::TestingServer::shared().expect("a ZooKeeper server");
    let path = zkha_testing::unique_path(tag);
    let output = Command::new(exe)
        .arg(server.connect_string())
        .arg(&path)
        .output()
        .expect("run the C program");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        exe.display(),
        output.status
    );
}

#[test]
fn own_session_electors_errors_resign_and_callbacks_from_c() {
    let exe = compile("own_session");
    run(&exe, "capi-own");
}

#[test]
fn one_copy_of_the_c_client_one_handle_shared_with_the_elector() {
    assert_eq!(
        env!("ZKHA_CAPI_ZK_STATIC"),
        "1",
        "the bundled C client is what libzkha exports"
    );
    let exe = compile("one_copy");
    run(&exe, "capi-one-copy");
}

/// The committed header is the one this build generated (the quick form
/// of `scripts/capi --check`, which `make lint` runs).
#[test]
fn committed_header_matches_the_generated_one() {
    let generated = std::fs::read_to_string(Path::new(env!("ZKHA_CAPI_INCLUDE")).join("zkha.h"))
        .expect("the generated header");
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/zkha.h"))
            .expect("include/zkha.h");
    assert!(
        generated == committed,
        "zkha-capi/include/zkha.h is stale: run scripts/capi to regenerate it"
    );
}

/// zkha.h stands alone in strict C99 and, beside the C client's
/// zookeeper.h (whose `zhandle_t *` it takes as is), in C++.
#[test]
fn header_compiles_as_strict_c99_and_as_cpp_with_zookeeper_h() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("capi-header");
    std::fs::create_dir_all(&dir).expect("create the directory");
    let c = dir.join("alone.c");
    std::fs::write(
        &c,
        "#include <zkha.h>\nint main(void) { return zkha_version() ? 0 : 1; }\n",
    )
    .expect("write alone.c");
    let cxx = dir.join("beside.cpp");
    std::fs::write(
        &cxx,
        "#include <zookeeper.h>\n#include <zkha.h>\n\
         int main() {\n  zhandle_t *zh = nullptr;\n  zkha_elector *e = nullptr;\n  \
         return zkha_elector_start_on_handle(zh, nullptr, nullptr, nullptr, nullptr, &e);\n}\n",
    )
    .expect("write beside.cpp");
    let include = format!("-I{}", env!("ZKHA_CAPI_INCLUDE"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args([
            "-std=c99",
            "-pedantic",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fsyntax-only",
        ])
        .arg(&include)
        .arg(&c)
        .status()
        .expect("run the C compiler");
    assert!(status.success(), "zkha.h does not compile as strict C99");
    let cxx_compiler = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let mut cmd = Command::new(cxx_compiler);
    cmd.args([
        "-std=c++11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-fsyntax-only",
        "-DTHREADED",
    ]);
    for define in env!("ZKHA_CAPI_ZK_DEFINES").split_whitespace() {
        cmd.arg(format!("-D{define}"));
    }
    let status = cmd
        .arg(&include)
        .arg(format!("-I{}", env!("ZKHA_CAPI_ZK_INCLUDE")))
        .arg(&cxx)
        .status()
        .expect("run the C++ compiler");
    assert!(
        status.success(),
        "zkha.h with zookeeper.h does not compile as C++"
    );
}
