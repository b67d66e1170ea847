//! Digest auth with a creator-only ACL: others can neither delete nor
//! overwrite the master node; the secret never shows in logs, traces or
//! `status`; the session file is owner-only.

use crate::common;

use common::eventually;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;
use zkha::{ErrorCode, ZooKeeper};
use zkha_testing::{unique_path, TestingServer};

const SECRET: &str = "Tr0ub4dor-s3cret";

#[test]
fn creator_only_node_and_no_secret_anywhere() {
    let hosts = TestingServer::shared().unwrap().connect_string();
    let dir = std::env::temp_dir().join(format!("zkha-sec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (trace, session, err_log) = (dir.join("trace"), dir.join("session"), dir.join("stderr"));
    // Two missing ancestors: zkha creates both with the node's ACL.
    let top = unique_path("sec");
    let path = format!("{top}/grp/test");
    let mut run = Command::new(env!("CARGO_BIN_EXE_zkha"))
        .env("RUST_LOG", "trace")
        .args([
            "run",
            "--hosts",
            hosts,
            "--path",
            &path,
            "--digest",
            &format!("ha:{SECRET}"),
            "--zk-log-level",
            "debug",
        ])
        .arg("--trace")
        .arg(&trace)
        .arg("--session-file")
        .arg(&session)
        .args(["--", "sleep", "30"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_log).unwrap())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(30), || {
        std::fs::read_to_string(&trace)
            .unwrap_or_default()
            .contains("became_master")
    }));

    let attacker = ZooKeeper::builder(hosts)
        .connect(Duration::from_secs(30))
        .unwrap();
    assert_eq!(
        attacker.delete(&path, -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    assert_eq!(
        attacker.set(&path, b"evil", -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    let parent = path.rsplit_once('/').unwrap().0;
    // (Deleting a node needs DELETE on its parent: the NoAuth above already
    // comes from the parent's ACL.) The parent cannot go either: its own
    // parent, also zkha's, refuses (NoAuth, not NotEmpty).
    assert_eq!(
        attacker.delete(parent, -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    // Not even the parent's ACL can be read by others: it is creator-only.
    let stranger = ZooKeeper::builder(hosts)
        .connect(Duration::from_secs(30))
        .unwrap();
    assert_eq!(
        stranger.get_acl(parent).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    attacker.add_auth("digest", b"ha:wrong").unwrap();
    assert_eq!(
        attacker.delete(&path, -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );

    let status = Command::new(env!("CARGO_BIN_EXE_zkha"))
        .args([
            "status",
            "--hosts",
            hosts,
            "--path",
            &path,
            "--json",
            "--zk-log-level",
            "debug",
        ])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(0));
    // SAFETY: signals our own child process.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    run.wait().unwrap();

    // The ancestors were created with the node's ACL: once the parent is
    // empty (zkha has left, its node is gone) a stranger still cannot delete
    // it, while its creator can.
    let owner = ZooKeeper::builder(hosts)
        .connect(Duration::from_secs(30))
        .unwrap();
    owner
        .add_auth("digest", format!("ha:{SECRET}").as_bytes())
        .unwrap();
    // What stays is the breadcrumb (persistent by design: it names the last
    // master), with the node's ACL and no secret in it.
    let name = path.rsplit_once('/').unwrap().1;
    let crumb = format!("{path}.breadcrumb");
    assert!(
        eventually(Duration::from_secs(30), || owner
            .get_children(parent, false)
            .is_ok_and(
                |c| c == [format!("{name}.breadcrumb"), format!("{name}.zkha")]
            )),
        "the master node outlived zkha run: {:?}",
        owner.get_children(parent, false)
    );
    let (acl, _) = owner.get_acl(&crumb).unwrap();
    assert!(
        acl.len() == 1 && acl[0].id.scheme == "digest" && acl[0].id.id.starts_with("ha:"),
        "the breadcrumb's ACL should be ha's digest only: {acl:?}"
    );
    let (data, _) = owner.get(&crumb, false).unwrap();
    assert!(!String::from_utf8_lossy(&data).contains(SECRET));
    assert_eq!(
        stranger.get(&crumb, false).unwrap_err().code(),
        Some(ErrorCode::NoAuth),
        "a stranger read the breadcrumb"
    );
    owner.delete(&crumb, -1).unwrap();
    // The candidates' registry, the control node, the term node and the
    // history: the election's ACL, and nobody else may read or steer.
    let registry = format!("{path}.zkha");
    for node in [
        format!("{registry}/history"),
        format!("{registry}/control"),
        format!("{registry}/term"),
        format!("{registry}/candidates"),
        registry.clone(),
    ] {
        let (acl, _) = owner.get_acl(&node).unwrap();
        assert!(
            acl.len() == 1 && acl[0].id.scheme == "digest" && acl[0].id.id.starts_with("ha:"),
            "{node}'s ACL should be ha's digest only: {acl:?}"
        );
        assert_eq!(
            stranger.get(&node, false).unwrap_err().code(),
            Some(ErrorCode::NoAuth),
            "a stranger read {node}"
        );
        assert_eq!(
            stranger
                .set(&node, b"op=resign\ntoken=1\n", -1)
                .unwrap_err()
                .code(),
            Some(ErrorCode::NoAuth),
            "a stranger wrote {node}"
        );
        owner.delete(&node, -1).unwrap();
    }
    for ancestor in [parent, top.as_str()] {
        let (acl, _) = owner.get_acl(ancestor).unwrap();
        assert!(
            acl.len() == 1
                && acl[0].id.scheme == "digest"
                && acl[0].id.id.starts_with("ha:")
                && acl[0].perms == zkha::types::Perms::ALL,
            "{ancestor}'s ACL should be ha's digest only: {acl:?}"
        );
    }
    assert_eq!(
        stranger.delete(parent, -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth),
        "a stranger deleted the empty parent"
    );
    assert_eq!(
        attacker.delete(parent, -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth),
        "a wrong password deleted the empty parent"
    );
    owner.delete(parent, -1).unwrap();
    owner.delete(&top, -1).unwrap();

    let mode = std::fs::metadata(&session).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the session file holds the session password");
    for (what, text) in [
        ("stderr of run", std::fs::read_to_string(&err_log).unwrap()),
        ("trace", std::fs::read_to_string(&trace).unwrap()),
        (
            "status stdout",
            String::from_utf8_lossy(&status.stdout).into_owned(),
        ),
        (
            "status stderr",
            String::from_utf8_lossy(&status.stderr).into_owned(),
        ),
    ] {
        assert!(!text.contains(SECRET), "the secret appears in {what}");
    }
    assert!(
        std::fs::read_to_string(&err_log).unwrap().len() > 100,
        "expected a verbose log to search"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
