//! The preventions of docs/migrating-from-cpp.md, each against a real
//! server with `zkha run`: a master of the classic design (a plain session
//! holding the master node, as a C/C++ process does) whose data is a
//! prefix of this candidate's (F4); the election path as a persistent
//! node (another layout), and sequence mode on a path that is a master
//! node; missing parents created with a closed ACL; and a successor of a
//! master that left no breadcrumb. Each is a warning in `zkha run`'s log;
//! each has a control that must not warn.

use crate::cli_kit;
use crate::common;

use cli_kit::{hosts, zkha};
use common::eventually;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;
use zkha::{Acl, CreateMode, ZooKeeper};
use zkha_testing::unique_path;

const LONG: Duration = Duration::from_secs(30);

/// A `zkha run` logging at INFO to a file; killed when dropped.
struct Run {
    child: Child,
    log: PathBuf,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Run {
    fn start(path: &str, data: &str, extra: &[&str], log: &Path) -> Run {
        let child = zkha()
            .env("RUST_LOG", "info")
            .args(["run", "--hosts", hosts(), "--path", path, "--data", data])
            .args(["--session-timeout", "2000"])
            .args(extra)
            .args(["--", "sleep", "600"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Run {
            child,
            log: log.to_owned(),
        }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn says(&self, what: &str) -> bool {
        eventually(Duration::from_secs(10), || self.text().contains(what))
    }
}

fn connect() -> ZooKeeper {
    ZooKeeper::builder(hosts()).connect(LONG).unwrap()
}

fn dir(name: &str) -> PathBuf {
    cli_kit::dir(name)
}

#[test]
fn a_classic_master_whose_data_is_a_prefix_of_ours_is_warned_about() {
    let d = dir("mixed-prefix");
    let path = unique_path("mixed-prefix");
    // The C++ master of the classic design: a plain session, data + NUL.
    let cpp = connect();
    cpp.create(
        &path,
        b"10.0.0.1\0",
        &Acl::open_unsafe(),
        CreateMode::Ephemeral,
    )
    .unwrap();
    let clash = Run::start(&path, "10.0.0.12", &[], &d.join("clash.log"));
    assert!(
        clash.says("compares prefixes (F4)"),
        "no F4 warning: {}",
        clash.text()
    );
    // Control: not a prefix.
    let fine = Run::start(&path, "10.0.0.2", &[], &d.join("fine.log"));
    assert!(fine.says("registered as candidate"), "{}", fine.text());
    std::thread::sleep(Duration::from_millis(500));
    assert!(!fine.text().contains("(F4)"), "{}", fine.text());

    // When it goes, the successor says it left no breadcrumb.
    cpp.close().unwrap();
    let said = "was not a zkha safe-profile candidate";
    assert!(
        eventually(LONG, || clash.text().contains(said)
            || fine.text().contains(said)),
        "the successor did not say its predecessor left no breadcrumb:\n{}\n{}",
        clash.text(),
        fine.text()
    );
}

#[test]
fn another_layout_on_the_path_is_said() {
    let d = dir("mixed-layout");
    let zk = connect();
    // A sequence-mode election's parent (persistent, with a queue) at the
    // path a watch-mode candidate is given.
    let path = unique_path("mixed-layout");
    zk.create(&path, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    zk.create(
        &format!("{path}/n_"),
        b"10.0.0.5\0",
        &Acl::open_unsafe(),
        CreateMode::EphemeralSequential,
    )
    .unwrap();
    let watch = Run::start(&path, "10.0.0.1", &[], &d.join("watch.log"));
    assert!(
        watch.says("the election path is a persistent node"),
        "{}",
        watch.text()
    );
    // Sequence mode on a path that is the classic layout's master node.
    let classic = unique_path("mixed-layout-classic");
    zk.create(
        &classic,
        b"10.0.0.9\0",
        &Acl::open_unsafe(),
        CreateMode::Ephemeral,
    )
    .unwrap();
    let seq = Run::start(
        &classic,
        "10.0.0.1",
        &["--mode", "sequence"],
        &d.join("seq.log"),
    );
    assert!(
        seq.says("the two layouts cannot share a path"),
        "{}",
        seq.text()
    );
    // Control: an empty path in watch mode says neither.
    let clean = unique_path("mixed-layout-clean");
    let ok = Run::start(&clean, "10.0.0.1", &[], &d.join("ok.log"));
    assert!(ok.says("became master"), "{}", ok.text());
    let text = ok.text();
    assert!(
        !text.contains("persistent node") && !text.contains("layouts"),
        "{text}"
    );
}

#[test]
fn parents_created_with_a_closed_acl_are_warned_about() {
    let d = dir("mixed-acl");
    let base = unique_path("mixed-acl");
    let closed = Run::start(
        &format!("{base}/svc/master"),
        "10.0.0.1",
        &["--digest", "ops:secret"],
        &d.join("closed.log"),
    );
    assert!(
        closed.says("creating the missing parent"),
        "{}",
        closed.text()
    );
    // Control: open ACL, missing parents: no warning.
    let open = Run::start(
        &format!("{base}-open/svc/master"),
        "10.0.0.1",
        &[],
        &d.join("open.log"),
    );
    assert!(open.says("became master"), "{}", open.text());
    assert!(!open.text().contains("missing parent"), "{}", open.text());
}
