//! `HostResolution` against a real server and the real C client: by default
//! the C client resolves the host list (and reads `/dev/urandom` to reseed
//! its shuffle) before every pass of its I/O loop; a window set at init, or
//! later on a live handle, stops that while connected, and `EveryPass`
//! brings it back. Seen from outside the client, in the process's read
//! system calls (`/proc/self/io` `syscr`, which counts the `/dev/urandom`
//! and self-pipe reads but not the socket's `recv`s).
//!
//! One test in this binary: nothing else reads while it counts.

mod common;

use std::time::Duration;
use zkha::{Acl, CreateMode, HostResolution, ZooKeeper};
use zkha_testing::{unique_path, TestingServer};

const GETS: usize = 2000;

/// Read system calls of this process so far (exited threads included).
fn read_syscalls() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io");
    io.lines()
        .find_map(|l| l.strip_prefix("syscr:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a syscr line")
}

/// Read system calls per synchronous get on `zk`.
fn reads_per_get(zk: &ZooKeeper, path: &str) -> f64 {
    let before = read_syscalls();
    for _ in 0..GETS {
        zk.get(path, false).unwrap();
    }
    (read_syscalls() - before) as f64 / GETS as f64
}

#[test]
fn a_resolution_window_stops_the_per_pass_resolution_and_every_pass_restores_it() {
    common::fail_fast();
    common::quiet_c_log();
    let hosts = TestingServer::shared().unwrap().connect_string();
    let connect = |r: HostResolution| {
        ZooKeeper::builder(hosts)
            .host_resolution(r)
            .connect(Duration::from_secs(30))
            .unwrap()
    };
    let default = connect(HostResolution::EveryPass);
    let windowed = connect(HostResolution::AtMostEvery(Duration::from_secs(60)));
    let path = unique_path("host-resolution");
    default
        .create(&path, b"x", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    // Warm both up (the first passes after connecting resolve anyway).
    reads_per_get(&default, &path);
    reads_per_get(&windowed, &path);

    let (d, w) = (
        reads_per_get(&default, &path),
        reads_per_get(&windowed, &path),
    );
    // Per get, the default makes two loop passes (the wake-up and the
    // reply), each reading /dev/urandom after resolving; the window leaves
    // the self-pipe read only.
    assert!(
        w + 1.0 < d,
        "reads per get: default {d:.2}, with a 60 s window {w:.2}"
    );

    // Set on a live handle: back to every pass, then never while connected.
    windowed
        .set_host_resolution(HostResolution::EveryPass)
        .unwrap();
    let again = reads_per_get(&windowed, &path);
    assert!(
        w + 1.0 < again,
        "reads per get: window {w:.2}, after EveryPass again {again:.2}"
    );
    windowed
        .set_host_resolution(HostResolution::OnlyWhenReconnecting)
        .unwrap();
    let never = reads_per_get(&windowed, &path);
    assert!(
        never + 1.0 < again,
        "reads per get: every pass {again:.2}, only when reconnecting {never:.2}"
    );
    eprintln!(
        "read syscalls per get: default {d:.2}, 60 s window {w:.2}, every pass again {again:.2}, \
         only when reconnecting {never:.2}"
    );

    // A bad window is a typed error, on a live handle and at init (before
    // any handle exists).
    let e = windowed
        .set_host_resolution(HostResolution::AtMostEvery(Duration::ZERO))
        .unwrap_err();
    assert!(e.to_string().contains("host resolution window"), "{e}");
    let e = ZooKeeper::builder(hosts)
        .host_resolution(HostResolution::AtMostEvery(Duration::from_micros(1500)))
        .init()
        .unwrap_err();
    assert!(
        matches!(
            e,
            zkha::Error::InvalidArgument {
                argument: zkha::error::Argument::Timeout,
                ..
            }
        ),
        "{e:?}"
    );
    default.delete(&path, -1).unwrap();
}
