//! Resident memory: one idle handle (raw C vs the Rust wrapper, each in a
//! fresh process) and one idle candidate process (Rust vs the C++ peer).

use crate::{wait_until, zkha_bin, Options};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::Duration;

fn vm_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// RSS of a candidate process once it is connected and standing by.
fn candidate_rss(
    cmd: &mut Command,
    trace: &std::path::Path,
) -> Result<u64, Box<dyn std::error::Error>> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let ready = wait_until(Duration::from_secs(20), || {
        std::fs::read_to_string(trace)
            // A safe standby that finds the master node says `standby`
            // and waits without a create.
            .map(|t| t.contains("\"create\"") || t.contains("\"event\":\"standby\""))
            .unwrap_or(false)
    });
    std::thread::sleep(Duration::from_millis(500));
    let rss = vm_rss_kb(child.id());
    let _ = child.kill();
    let _ = child.wait();
    match (ready, rss) {
        (true, Some(r)) => Ok(r),
        _ => Err(format!("{cmd:?} never stood by").into()),
    }
}

pub fn run(o: &Options, hosts: &str) -> Result<Value, Box<dyn std::error::Error>> {
    eprintln!("bench: memory");
    // One idle handle: raw C...
    let out = Command::new(env!("ZKHA_RAW_C_BENCH"))
        .args([hosts, "rss"])
        .output()?;
    let c_handle: Value = serde_json::from_slice(&out.stdout)?;
    // ...and the Rust wrapper, in a fresh process of its own (this binary).
    let out = Command::new(std::env::current_exe()?)
        .env("ZKHA_BENCH_RSS_HOSTS", hosts)
        .output()?;
    let rust_handle: Value = serde_json::from_slice(&out.stdout)?;
    // One standby candidate process.
    let dir = o.out_dir.join("memory");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    // Its parent exists so both stand by, polling or watching.
    let zk = zkha::ZooKeeper::builder(hosts).connect(Duration::from_secs(30))?;
    let path = format!("/bench-mem-{}", std::process::id());
    zk.create(
        &path,
        b"",
        &zkha::Acl::open_unsafe(),
        zkha::CreateMode::Persistent,
    )?;
    zk.create(
        &format!("{path}/m"),
        b"x",
        &zkha::Acl::open_unsafe(),
        zkha::CreateMode::Ephemeral,
    )?;
    let node = format!("{path}/m");
    let t1 = dir.join("rust.trace");
    let rust = candidate_rss(
        Command::new(zkha_bin())
            .args([
                "candidate",
                "--hosts",
                hosts,
                "--path",
                &node,
                "--trace",
                t1.to_str().unwrap(),
            ])
            .env("RUST_LOG", "error"),
        &t1,
    )?;
    let t2 = dir.join("cpp.trace");
    let cpp = candidate_rss(
        Command::new(zkha_testing::programs::seed_peer()).args([
            hosts,
            &node,
            "10.0.0.1",
            "5000",
            "200",
            "--trace",
            t2.to_str().unwrap(),
        ]),
        &t2,
    )?;
    zk.delete(&node, -1)?;
    // The safe candidate's registry (`m.zkha`) stays beside it: the
    // parent is left to the throwaway server.
    let _ = zk.delete(&path, -1);
    Ok(json!({
        "idle_handle_kb": { "raw_c": c_handle["rss_kb"], "zkha": rust_handle["rss_kb"] },
        "idle_candidate_kb": { "rust_safe": rust, "cpp_peer": cpp },
    }))
}

/// Entry point of the `ZKHA_BENCH_RSS_HOSTS` child mode: one connected,
/// idle handle, then print VmRSS.
pub fn child_mode() -> Option<()> {
    let hosts = std::env::var("ZKHA_BENCH_RSS_HOSTS").ok()?;
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let zk = zkha::ZooKeeper::builder(&hosts)
        .session_timeout_ms(10_000)
        .connect(Duration::from_secs(30))
        .ok()?;
    std::thread::sleep(Duration::from_millis(300));
    println!("{}", json!({ "rss_kb": vm_rss_kb(std::process::id()) }));
    drop(zk);
    Some(())
}
