//! The examples run, against a real server, and do what they say.

mod common;

use common::example;
use std::process::Command;
use zkha_testing::{unique_path, TestingServer};

#[test]
fn seed_c_api_example_becomes_master_with_ip_and_nul() {
    let server = TestingServer::shared().unwrap();
    let path = format!("{}/test", unique_path("seedex"));
    let out = Command::new(example("seed_c_api"))
        .args(["--hosts", server.connect_string(), "--path", &path])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("on_zookeeper_connected({path})")),
        "{text}"
    );
    assert!(
        text.contains(&format!("INFO  become master[{path}]")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "DEBUG become master[{path}] failed: (-110)node exists"
        )),
        "{text}"
    );
    assert!(text.contains("master: true, second try: false"), "{text}");
    assert!(
        text.contains("\\0\", owner is us: true"),
        "data must end with NUL: {text}"
    );
}

#[test]
fn soak_example_leaves_no_callback_context() {
    let server = TestingServer::shared().unwrap();
    let out = Command::new(example("soak"))
        .args([
            "--hosts",
            server.connect_string(),
            "--ops",
            "1000",
            "--cycles",
            "5",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        // 100 from the operations, 2 from each of the 10 default cycles that
        // drop the last reference inside a watcher.
        text.contains("soak: 1000 operations, 5 cycles, 120 watcher calls"),
        "{text}"
    );
}
