//! A logger that blocks (its `write` on a full stderr pipe, say) must not
//! stall the C client: the bridge (`log_to_rust`) hands the C client's lines
//! to a logging thread of its own, so connecting, creating and closing go
//! on while every `zookeeper` record is stuck in the logger.

use std::sync::{Condvar, Mutex};
use std::time::Duration;
use zkha::{Acl, CreateMode, ZooKeeper};
use zkha_testing::TestingServer;

const WAIT: Duration = Duration::from_secs(20);

/// Holds every record of target `zookeeper` until released.
struct Stuck {
    released: Mutex<bool>,
    wake: Condvar,
    seen: Mutex<usize>,
}

impl log::Log for Stuck {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        if r.target() != "zookeeper" {
            return;
        }
        *self.seen.lock().unwrap() += 1;
        let mut released = self.released.lock().unwrap();
        while !*released {
            released = self.wake.wait(released).unwrap();
        }
    }
    fn flush(&self) {}
}

static STUCK: Stuck = Stuck {
    released: Mutex::new(false),
    wake: Condvar::new(),
    seen: Mutex::new(0),
};

#[test]
fn a_blocked_logger_does_not_stall_the_c_client() {
    let hosts = TestingServer::shared().unwrap().connect_string().to_owned();
    log::set_logger(&STUCK).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Info);
    let (tx, rx) = std::sync::mpsc::channel();
    let path = zkha_testing::unique_path("log-bridge-blocked");
    std::thread::spawn(move || {
        let run = || -> zkha::Result<()> {
            let zk = ZooKeeper::builder(&hosts).log_to_rust(true).connect(WAIT)?;
            zk.create(&path, b"x", &Acl::open_unsafe(), CreateMode::Ephemeral)?;
            zk.close()
        };
        let _ = tx.send(run());
    });
    let outcome = rx.recv_timeout(WAIT);
    let seen = *STUCK.seen.lock().unwrap();
    *STUCK.released.lock().unwrap() = true;
    STUCK.wake.notify_all();
    match outcome {
        Ok(r) => r.expect("connect, create and close"),
        Err(_) => panic!(
            "connect/create/close did not finish within {WAIT:?} while the logger was blocked \
             ({seen} zookeeper records reached it)"
        ),
    }
    assert!(seen >= 1, "no C client line reached the logger at all");
}
