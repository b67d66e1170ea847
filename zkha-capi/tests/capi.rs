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
