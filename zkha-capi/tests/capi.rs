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
    build(
        &src.join(format!("{name}.c")),
        name,
        ("CC", "cc", "-std=c11"),
        &src,
    )
}

/// Builds one C or C++ source (`compiler`: the environment variable, its
/// default, the language standard) against zkha.h and the bundled
/// zookeeper.h, linked with this build's libzkha only (the C client's
/// symbols come from it too).
fn build(source: &Path, name: &str, compiler: (&str, &str, &str), include: &Path) -> PathBuf {
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("capi");
    std::fs::create_dir_all(&out_dir).expect("create the output directory");
    let exe = out_dir.join(name);
    let lib = lib_dir();
    let (var, default, std) = compiler;
    let mut cmd = Command::new(std::env::var(var).unwrap_or_else(|_| default.into()));
    cmd.args([std, "-Wall", "-Wextra", "-Werror", "-O1", "-DTHREADED"]);
    for define in env!("ZKHA_CAPI_ZK_DEFINES").split_whitespace() {
        cmd.arg(format!("-D{define}"));
    }
    cmd.arg(format!("-I{}", env!("ZKHA_CAPI_INCLUDE")))
        .arg(format!("-I{}", env!("ZKHA_CAPI_ZK_INCLUDE")))
        .arg(format!("-I{}", include.display()))
        .arg(source)
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-lzkha", "-lpthread", "-ldl"]);
    let status = cmd.status().expect("run the compiler");
    assert!(
        status.success(),
        "compiling {} failed: {cmd:?}",
        source.display()
    );
    exe
}

/// Runs a compiled program with the server's connect string and a fresh
/// path; its output goes to the test's.
fn run(exe: &Path, tag: &str) {
    let server = zkha_testing::TestingServer::shared().expect("a ZooKeeper server");
    let path = zkha_testing::unique_path(tag);
    // ZKHA_CAPI_VALGRIND=1 (scripts/valgrind-tests, make check-leaks): the
    // program runs under valgrind, which fails it on an invalid access or
    // a definite or indirect leak.
    let mut cmd = if std::env::var_os("ZKHA_CAPI_VALGRIND").is_some() {
        let supp = Path::new(env!("CARGO_MANIFEST_DIR")).join("../valgrind.supp");
        let mut c = Command::new("valgrind");
        c.args([
            "-q",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
        ])
        .args(["--show-leak-kinds=definite,indirect", "--error-exitcode=99"])
        .arg(format!("--suppressions={}", supp.display()))
        .arg(exe);
        c
    } else {
        Command::new(exe)
    };
    let output = cmd
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

/// Compiles examples/seed_on_capi.cpp (the design rewritten on the C API).
fn compile_example() -> PathBuf {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    build(
        &examples.join("seed_on_capi.cpp"),
        "seed_on_capi",
        ("CXX", "c++", "-std=c++17"),
        &examples,
    )
}

/// A process of the example, its stdout read line by line on a thread.
struct Example {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Example {
    fn start(exe: &Path, hosts: &str, path: &str, ip: &str, work: &Path) -> Example {
        use std::io::BufRead;
        let mut child = Command::new(exe)
            .args([hosts, path, ip])
            .arg(work)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start seed_on_capi");
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Example { child, lines }
    }

    /// Waits for a line starting with `prefix`.
    fn wait_for(&self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(std::time::Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("no {prefix:?} line: {e}"));
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    fn term(mut self) {
        // SAFETY: signals a child of ours that was not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        assert!(status.success(), "seed_on_capi ended with {status}");
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The node's data and owner at `path`.
fn holder(zk: &zkha_core::ZooKeeper, path: &str) -> Option<(Vec<u8>, i64)> {
    match zk.get(path, false) {
        Ok((data, stat)) => Some((data, stat.ephemeral_owner)),
        Err(_) => None,
    }
}

fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Issue 27, part 4: the design rewritten on the C API (safe profile on the
/// program's own handle) becomes master and hands over to and from a Rust
/// safe candidate and the C++ reference peer of the seed design, with its
/// node the design's (IP + NUL); its work stops before another's starts.
#[test]
fn the_design_on_the_c_api_hands_over_to_and_from_rust_and_cpp_seed_candidates() {
    use std::sync::Arc;
    use zkha_core::elector::{Elector, ElectorConfig};
    let exe = compile_example();
    let server = zkha_testing::TestingServer::shared().expect("a ZooKeeper server");
    let hosts = server.connect_string();
    let zk = zkha_core::ZooKeeper::builder(hosts)
        .connect(std::time::Duration::from_secs(30))
        .unwrap();
    let parent = zkha_testing::unique_path("capi-example");
    zk.create(
        &parent,
        b"",
        &zkha_core::Acl::open_unsafe(),
        zkha_core::CreateMode::Persistent,
    )
    .unwrap();
    let path = format!("{parent}/master");
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("capi-example-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let work = dir.join("work.log");

    // The C++ program wins first: the design's node.
    let a = Example::start(&exe, hosts, &path, "10.0.0.1", &work);
    let mut became = vec![a.wait_for("became master")];
    assert_eq!(holder(&zk, &path).unwrap().0, b"10.0.0.1\0");

    // A Rust safe candidate takes over when the program leaves...
    let mut config = ElectorConfig::new(hosts, &path);
    config.data = b"10.0.0.2\0".to_vec();
    config.poll_interval = std::time::Duration::from_millis(100);
    let rust = Elector::start(config, Arc::new(())).unwrap();
    until("the Rust candidate registered", || {
        zkha_core::elector::registry::read_candidates(&zk, &path).is_ok_and(|c| c.len() == 2)
    });
    a.term();
    let rm = rust
        .wait_for_mastership(std::time::Duration::from_secs(30))
        .unwrap()
        .expect("the Rust candidate never took over");
    assert_eq!(holder(&zk, &path).unwrap().0, b"10.0.0.2\0");
    // ...and hands back to it on a resign.
    let a = Example::start(&exe, hosts, &path, "10.0.0.1", &work);
    until("the program registered", || {
        zkha_core::elector::registry::read_candidates(&zk, &path).is_ok_and(|c| c.len() == 2)
    });
    drop(rm);
    rust.resign().unwrap();
    became.push(a.wait_for("became master"));
    assert_eq!(holder(&zk, &path).unwrap().0, b"10.0.0.1\0");
    rust.shutdown();

    // The C++ reference peer of the seed design takes over from it, and
    // hands back when it is killed (after its session's expiry).
    let mut seed = Command::new(zkha_testing::programs::seed_peer())
        .args([hosts, path.as_str(), "10.0.0.3", "2000", "250"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    a.term();
    until("the seed peer took over", || {
        holder(&zk, &path).is_some_and(|(d, _)| d == b"10.0.0.3\0")
    });
    let a = Example::start(&exe, hosts, &path, "10.0.0.1", &work);
    let _ = seed.kill();
    let _ = seed.wait();
    became.push(a.wait_for("became master"));
    assert_eq!(holder(&zk, &path).unwrap().0, b"10.0.0.1\0");
    a.term();
    assert!(
        holder(&zk, &path).is_none(),
        "the program left its node behind"
    );

    // Three terms, each with a greater token; every work line carries one
    // of them.
    let terms: Vec<i64> = became
        .iter()
        .map(|l| {
            l.trim_start_matches("became master token=")
                .parse()
                .unwrap()
        })
        .collect();
    assert!(
        terms.windows(2).all(|w| w[0] < w[1]),
        "tokens did not grow: {terms:?}"
    );
    let text = std::fs::read_to_string(&work).unwrap();
    let tokens: Vec<i64> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(2)?.parse().ok())
        .collect();
    assert!(!tokens.is_empty(), "the program never worked");
    assert!(
        tokens.iter().all(|t| terms.contains(t)),
        "work under an unknown token: {tokens:?} {terms:?}"
    );
    assert!(
        tokens.windows(2).all(|w| w[0] <= w[1]),
        "tokens went back: {tokens:?}"
    );
}
