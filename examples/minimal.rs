//! The smallest tour of the client: connect, create an ephemeral node, read
//! it, set a watch on it and see it fire, close.
//!
//! ```text
//! cargo run --example minimal [-- --hosts 127.0.0.1:2181]
//! ```
//! Without `--hosts` it starts an embedded ZooKeeper server (zkha-testing).
//! Prints each step; the node is `/zkha-minimal-<pid>`, gone with the session.

use std::sync::mpsc;
use std::time::Duration;
use zkha::{Acl, CreateMode, ZooKeeper};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hosts_flag = args
        .iter()
        .position(|a| a == "--hosts")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let embedded;
    let hosts = match hosts_flag {
        Some(h) => h,
        None => {
            embedded = zkha_testing::TestingServer::start()?;
            embedded.connect_string().to_owned()
        }
    };

    // The C client logs every step at INFO to stderr; warnings are enough.
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Warn);

    // Connect: returns once the session is established (or the timeout passed).
    let zk = ZooKeeper::builder(&hosts).connect(Duration::from_secs(30))?;
    println!("connected to {hosts}");

    // An ephemeral node lives as long as this session.
    let path = format!("/zkha-minimal-{}", std::process::id());
    let created = zk.create(&path, b"hello", &Acl::open_unsafe(), CreateMode::Ephemeral)?;
    println!("created {created}");

    // Read it back, leaving a one-shot watch on it.
    let (tx, rx) = mpsc::channel();
    let (data, stat) = zk.wget(&path, move |event| {
        let _ = tx.send(event);
    })?;
    println!(
        "got {:?} (version {})",
        String::from_utf8_lossy(&data),
        stat.version
    );

    // Change it: the watch fires once, on the client's event thread.
    zk.set(&path, b"world", -1)?;
    let event = rx.recv_timeout(Duration::from_secs(30))?;
    println!("watch fired: {:?} on {}", event.event_type, event.path);

    // Closing ends the session: the server deletes the ephemeral node.
    zk.close()?;
    println!("closed");
    Ok(())
}
