//! A soak of mixed operations and handle open/close cycles, for leak and
//! memory-error checks under valgrind (`make check-leaks`).
//!
//! `leak_soak [--hosts H] [--ops N] [--cycles M] [--drop-cycles K]` (defaults: an
//! embedded server, 10000 operations, 50 open/close cycles, 10 handles whose
//! last reference is dropped inside their own path watcher). Exits non-zero
//! if any callback context is left over or a handle is not closed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use zkha::{pending, Acl, CreateMode, EventType, Op, ZooKeeper};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let ops: usize = opt("--ops")
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(10_000);
    let cycles: usize = opt("--cycles")
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(50);
    let drop_cycles: usize = opt("--drop-cycles")
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(10);
    let embedded;
    let hosts = match opt("--hosts") {
        Some(h) => h,
        None => {
            embedded = zkha_testing::TestingServer::start()?;
            embedded.connect_string().to_owned()
        }
    };
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let started = Instant::now();
    let open = Acl::open_unsafe();
    let base = format!("/zkha-soak-{}", std::process::id());
    let zk = ZooKeeper::builder(&hosts).connect(Duration::from_secs(60))?;
    zk.create(&base, b"", &open, CreateMode::Persistent)?;
    let fired = Arc::new(AtomicUsize::new(0));
    let mut done = 0;
    while done < ops {
        let i = done;
        // Each group of ten operations works on one node, so watches fire.
        let p = format!("{base}/n{}", (i / 10) % 64);
        match i % 10 {
            0 => drop(zk.create(&p, b"data\0", &open, CreateMode::Ephemeral)),
            1 => drop(zk.get(&p, false)),
            2 => drop(zk.set(&p, &vec![b'x'; i % 4096], -1)),
            3 => {
                let f = fired.clone();
                drop(zk.wexists(&p, move |_| {
                    f.fetch_add(1, Ordering::Relaxed);
                }));
            }
            4 => drop(zk.get_children(&base, false)),
            5 => {
                let (cb, result) = pending();
                zk.aget(&p, cb)?;
                drop(result.wait());
            }
            6 => drop(zk.multi(&[
                Op::Check {
                    path: base.clone(),
                    version: -1,
                },
                Op::Set {
                    path: base.clone(),
                    data: b"m".to_vec(),
                    version: -1,
                },
            ])),
            7 => drop(zk.delete(&p, -1)),
            8 => {
                // A burst of pipelined async reads.
                let waits: Vec<_> = (0..16)
                    .map(|_| {
                        let (cb, r) = pending();
                        zk.aexists(&p, cb).map(|_| r)
                    })
                    .collect::<Result<_, _>>()?;
                waits.into_iter().for_each(|r| drop(r.wait()));
            }
            _ => drop(zk.get_acl(&base)),
        }
        done += 1;
        if done % 2000 == 0 {
            eprintln!(
                "soak: {done}/{ops} operations ({:.1}s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    for c in 0..cycles {
        let h = ZooKeeper::builder(&hosts).connect(Duration::from_secs(60))?;
        let f = fired.clone();
        h.wexists(&format!("{base}/never-{c}"), move |_| {
            f.fetch_add(1, Ordering::Relaxed);
        })?;
        h.aget(&base, |_| {})?; // possibly in flight at close
        h.create(
            &format!("{base}/eph-{c}"),
            b"",
            &open,
            CreateMode::Ephemeral,
        )?;
        h.close()?;
        if h.outstanding_callbacks() != 0 {
            return Err(format!(
                "cycle {c}: {} callback contexts left after close",
                h.outstanding_callbacks()
            )
            .into());
        }
    }
    eprintln!("soak: {cycles} open/close cycles done");
    // The last reference to a handle dropped inside one of its own path
    // watchers, while C still has a second watcher of the same event to
    // call: the close must wait for the completion thread (no freed context
    // called). The global watcher's sender is dropped when the close is done.
    for c in 0..drop_cycles {
        let (closed_tx, closed_rx) = mpsc::channel::<()>();
        let h = ZooKeeper::builder(&hosts)
            .watcher(move |_| {
                let _ = &closed_tx;
            })
            .connect(Duration::from_secs(60))?;
        let path = format!("{base}/lastref-{c}");
        let slot: Arc<Mutex<Option<ZooKeeper>>> = Arc::default();
        for _ in 0..2 {
            let (slot, f) = (slot.clone(), fired.clone());
            let mut mine = None;
            h.wexists(&path, move |e| {
                f.fetch_add(1, Ordering::Relaxed);
                if e.event_type != EventType::Session && mine.is_none() {
                    mine = slot.lock().unwrap().take();
                }
            })?;
        }
        *slot.lock().unwrap() = Some(h);
        zk.create(&path, b"", &open, CreateMode::Persistent)?;
        match closed_rx.recv_timeout(Duration::from_secs(60)) {
            Err(mpsc::RecvTimeoutError::Disconnected) => {}
            other => return Err(format!("drop cycle {c}: not closed: {other:?}").into()),
        }
    }
    eprintln!("soak: {drop_cycles} drop-in-watcher cycles done");
    for child in zk.get_children(&base, false)? {
        let _ = zk.delete(&format!("{base}/{child}"), -1);
    }
    zk.delete(&base, -1)?;
    zk.close()?;
    if zk.outstanding_callbacks() != 0 {
        return Err("callback contexts left after close".into());
    }
    eprintln!(
        "soak: {ops} operations, {cycles} cycles, {} watcher calls in {:.1}s",
        fired.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
