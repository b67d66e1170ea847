//! The keys of `zkha status --json` that docs/operations.md documents (its
//! table between `<!-- status-json-keys` and `<!-- /status-json-keys -->`)
//! are exactly those of a real run against a real server: a held node with
//! its breadcrumb, a sequence-mode queue, and a registered candidate with an
//! operation on the control node.

use crate::cli_kit;
use crate::common;

use cli_kit::{hosts, zkha};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;
use zkha::elector::registry::{self, CandidateEntry, ControlOp, Role};
use zkha::{Acl, CreateMode, ZooKeeper};
use zkha_testing::unique_path;

const LONG: Duration = Duration::from_secs(30);

/// The repository's root: the nearest directory up from this crate's that
/// holds docs/operations.md (this test may live in the CLI's crate).
fn repo() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("docs/operations.md").is_file() {
        assert!(dir.pop(), "no docs/operations.md above the crate");
    }
    dir
}

fn connect() -> ZooKeeper {
    ZooKeeper::builder(hosts()).connect(LONG).unwrap()
}

fn status_json(path: &str, extra: &[&str]) -> serde_json::Value {
    let out = zkha()
        .args(["status", "--hosts", hosts(), "--path", path, "--json"])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "someone is master: {out:?}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn keys(v: &serde_json::Value, what: &str) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("{what} is an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// The documented key sets, row by row: the top level, `master` (and each
/// entry of `queue`), `acl`, each entry of `acl.entries`, `breadcrumb`, each
/// entry of `candidates`, `control`.
fn documented() -> Vec<(String, BTreeSet<String>)> {
    let ops = std::fs::read_to_string(repo().join("docs/operations.md")).unwrap();
    let start = ops
        .find("<!-- status-json-keys")
        .expect("docs/operations.md: <!-- status-json-keys");
    let end = ops
        .find("<!-- /status-json-keys -->")
        .expect("docs/operations.md: <!-- /status-json-keys -->");
    ops[start..end]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| object"))
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 2, "two cells: {row}");
            let keys = cells[1]
                .split(',')
                .map(|k| k.trim().trim_matches('`').to_owned())
                .collect();
            (cells[0].to_owned(), keys)
        })
        .collect()
}

#[test]
fn documented_status_json_keys_are_the_real_ones() {
    common::quiet_c_log();
    let zk = connect();
    // A held node, with an ACL to read and a breadcrumb beside it.
    let parent = unique_path("docs-status-json");
    zk.create(&parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let path = format!("{parent}/master");
    zk.create(
        &path,
        b"10.0.0.1\0",
        &Acl::open_unsafe(),
        CreateMode::Ephemeral,
    )
    .unwrap();
    let crumb = serde_json::json!({
        "data": "10.0.0.9\u{0}", "session": "0x5eed", "token": 2,
        "since_ms": 1_700_000_000_123_i64, "clean": false,
    });
    zk.create(
        &format!("{path}.breadcrumb"),
        crumb.to_string().as_bytes(),
        &Acl::open_unsafe(),
        CreateMode::Persistent,
    )
    .unwrap();
    let plain = status_json(&path, &[]);

    // A sequence-mode queue of one.
    let election = format!("{parent}/election");
    zk.create(&election, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let id = zk.client_id().unwrap().id;
    zk.create(
        &format!("{election}/{id:016x}-n_"),
        b"10.0.0.2\0",
        &Acl::open_unsafe(),
        CreateMode::EphemeralSequential,
    )
    .unwrap();
    let sequence = status_json(&election, &["--sequence"]);
    let queue = sequence["queue"].as_array().expect("queue is an array");
    assert_eq!(queue.len(), 1, "{sequence}");

    // A registered candidate holding the node, and an operation on the
    // control node (a resign of another token: not in force), in the
    // registry's documented format.
    let held = format!("{parent}/held");
    let root = registry::root(&held);
    for node in [
        root.clone(),
        registry::candidates_path(&held),
        registry::control_path(&held),
    ] {
        zk.create(&node, b"", &Acl::open_unsafe(), CreateMode::Persistent)
            .unwrap();
    }
    zk.create(
        &held,
        b"10.0.0.3\0",
        &Acl::open_unsafe(),
        CreateMode::Ephemeral,
    )
    .unwrap();
    let entry = CandidateEntry {
        name: "a".into(),
        data: b"10.0.0.3\0".to_vec(),
        priority: 100,
        ready: true,
        role: Role::Master,
        yielding: false,
        profile: "safe".into(),
        version: "0.0.0".into(),
        since_ms: 1_700_000_000_000,
        stop_timeout_ms: 30_000,
        session: 0,
    };
    zk.create(
        &format!("{}/a", registry::candidates_path(&held)),
        &entry.encode(),
        &Acl::open_unsafe(),
        CreateMode::Ephemeral,
    )
    .unwrap();
    let op = ControlOp::Resign {
        token: 1,
        by: "docs test".into(),
    };
    zk.set(&registry::control_path(&held), &op.encode(), -1)
        .unwrap();
    let registered = status_json(&held, &[]);
    let candidates = registered["candidates"]
        .as_array()
        .expect("candidates is an array");
    assert_eq!(candidates.len(), 1, "{registered}");
    assert_eq!(candidates[0]["master"], true, "{registered}");
    assert_eq!(registered["master_candidate"], "a", "{registered}");
    assert_eq!(registered["control"]["op"], "resign", "{registered}");
    assert_eq!(
        keys(&registered, "the output with a registry"),
        keys(&plain, "the output"),
        "the same top-level keys with a registry"
    );

    let entries = plain["acl"]["entries"]
        .as_array()
        .expect("acl.entries is an array");
    assert!(!entries.is_empty(), "{plain}");
    let real = [
        ("the top level", keys(&plain, "the output")),
        ("master", keys(&plain["master"], "master")),
        ("acl", keys(&plain["acl"], "acl")),
        ("acl.entries", keys(&entries[0], "an acl entry")),
        ("breadcrumb", keys(&plain["breadcrumb"], "breadcrumb")),
        ("candidates", keys(&candidates[0], "a candidate")),
        ("control", keys(&registered["control"], "control")),
    ];
    assert_eq!(
        keys(&queue[0], "a queue entry"),
        real[1].1,
        "a queue entry has master's keys"
    );
    assert_eq!(
        keys(&sequence, "the sequence output"),
        real[0].1,
        "sequence mode has the same top-level keys"
    );

    let docs = documented();
    assert_eq!(
        docs.len(),
        real.len(),
        "docs/operations.md's table has a row for each of {:?}",
        real.iter().map(|(w, _)| w).collect::<Vec<_>>()
    );
    for ((label, documented), (what, real)) in docs.iter().zip(&real) {
        assert_eq!(
            documented, real,
            "docs/operations.md's `{label}` row against {what} of a real `zkha status --json`"
        );
    }
}
