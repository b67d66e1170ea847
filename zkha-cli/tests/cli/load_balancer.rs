//! `zkha run --metrics-addr`'s `/master`, `/standby` and `/health` behind a
//! real HAProxy (Debian's `haproxy`, which `make test` installs): two
//! candidates, each running a small HTTP backend as its command
//! (tests/fixtures/lb-backend.py, which logs each request it serves, its
//! start, its SIGTERM and its exit), HAProxy in front of both backends
//! with `option httpchk GET /master` on each candidate's metrics port
//! (inter 200 ms, fall 1, rise 1), and a client hammering HAProxy through
//! a `zkha switchover` and a crash (SIGKILL of the master's `zkha run`).
//!
//! Judged from the backends' own logs: every request is served by a
//! backend between its start and its exit; none is served longer than
//! HAProxy's check interval (+ a tolerance) after its backend was told to
//! stop (its SIGTERM; for the crash, the SIGKILL of its `zkha run` if
//! sooner), although each backend keeps serving for 1.5 s after SIGTERM
//! (a draining service): only `/master` turning 503 as the stop begins
//! keeps HAProxy from sending it more. Both the switchover and the
//! failover end with the new master's backend serving.

use crate::cli_kit::{dir, hosts, lines, zkha};
use crate::common::eventually;
use crate::operator::free_port;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zkha_testing::unique_path;

const LONG: Duration = Duration::from_secs(30);
/// HAProxy's check interval (`inter`), ms.
const INTER_MS: f64 = 200.0;
/// What a request may take beyond the interval: the check's own round
/// trip, a request HAProxy had already sent when the check failed, the
/// backend's answer and its log line.
const TOLERANCE_MS: f64 = 150.0;
/// How long a backend keeps serving after SIGTERM, ms.
const DRAIN_MS: u64 = 1500;

/// A child process, killed should the test end without stopping it.
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// `GET path` on 127.0.0.1:`port`: the status and the body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, body.to_owned()))
}

fn code(port: u16, path: &str) -> Option<u16> {
    get(port, path).map(|(c, _)| c)
}

/// A candidate: `zkha run --name NAME --metrics-addr 127.0.0.1:METRICS`
/// running the backend on BACKEND.
fn candidate(d: &Path, path: &str, name: &str, metrics: u16, backend: u16) -> Kid {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lb-backend.py");
    let err = std::fs::File::create(d.join(format!("{name}.stderr"))).unwrap();
    Kid(zkha()
        .env("RUST_LOG", "info")
        .args(["run", "--hosts", hosts(), "--path", path, "--name", name])
        .args(["--session-timeout", "4000"])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
        .arg("--")
        .arg("python3")
        .arg(&fixture)
        .args([name, &backend.to_string()])
        .arg(d.join("backends.log"))
        .arg(DRAIN_MS.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap())
}

/// The HAProxy configuration the test uses (docs/operations.md shows it).
fn haproxy_cfg(front: u16, servers: &[(&str, u16, u16)]) -> String {
    let mut cfg = format!(
        "global
    maxconn 512

defaults
    mode http
    timeout connect 500ms
    timeout client 5s
    timeout server 5s
    timeout check 500ms
    retries 2
    option redispatch

frontend app
    bind 127.0.0.1:{front}
    default_backend app

backend app
    option httpchk GET /master
    http-check expect status 200
    default-server inter 200ms fall 1 rise 1
"
    );
    for (name, backend, metrics) in servers {
        cfg.push_str(&format!(
            "    server {name} 127.0.0.1:{backend} check port {metrics}\n"
        ));
    }
    cfg
}

/// One request of the client through HAProxy.
struct Req {
    sent: f64,
    done: f64,
    /// The backend that answered 200, or what went wrong.
    got: Result<String, String>,
}

/// A client hammering HAProxy (one connection per request) until stopped.
struct Hammer {
    stop: Arc<AtomicBool>,
    reqs: Arc<Mutex<Vec<Req>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hammer {
    fn start(front: u16) -> Hammer {
        let stop = Arc::new(AtomicBool::new(false));
        let reqs = Arc::new(Mutex::new(Vec::new()));
        let thread = std::thread::spawn({
            let (stop, reqs) = (stop.clone(), reqs.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let sent = now_ms();
                    let got = match get(front, "/") {
                        Some((200, body)) => Ok(body.trim().to_owned()),
                        Some((code, _)) => Err(format!("HTTP {code}")),
                        None => Err("no answer".to_owned()),
                    };
                    let failed = got.is_err();
                    reqs.lock().unwrap().push(Req {
                        sent,
                        done: now_ms(),
                        got,
                    });
                    if failed {
                        // No server up: do not spin on HAProxy's 503s.
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        });
        Hammer {
            stop,
            reqs,
            thread: Some(thread),
        }
    }

    /// Whether a request sent after `after` was answered by `name`.
    fn served_by_since(&self, name: &str, after: f64) -> bool {
        self.reqs
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.sent > after && r.got.as_deref() == Ok(name))
    }

    fn finish(mut self) -> Vec<Req> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        std::mem::take(&mut *self.reqs.lock().unwrap())
    }
}

/// A backend's life, from its own log.
#[derive(Debug, Default)]
struct Life {
    name: String,
    start: f64,
    /// Its SIGTERM (`stop`) or, for the crash, the SIGKILL of its `zkha
    /// run`, whichever came first.
    told_to_stop: Option<f64>,
    exit: Option<f64>,
    served: usize,
    served_after_stop: usize,
    worst_lag: f64,
}

/// The backends' lives, in order, with their requests counted; the crash
/// (`name`, SIGKILL time) counts as the crashed backend's stop.
fn lives(log: &Path, crash: (&str, f64)) -> (Vec<Life>, Vec<String>) {
    let mut lives: Vec<Life> = Vec::new();
    let mut errors = Vec::new();
    for line in lines(log) {
        let w: Vec<&str> = line.split(' ').collect();
        let (what, name, at) = (w[0], w[1], w[2].parse::<f64>().unwrap());
        if what == "start" {
            lives.push(Life {
                name: name.to_owned(),
                start: at,
                ..Life::default()
            });
            continue;
        }
        let Some(life) = lives.iter_mut().rev().find(|l| l.name == name) else {
            errors.push(format!("{line}: before any start of {name}"));
            continue;
        };
        match what {
            "stop" => life.told_to_stop = Some(at),
            "exit" => life.exit = Some(at),
            "serve" => {
                if life.exit.is_some_and(|e| at > e) {
                    errors.push(format!("{line}: after {name}'s exit"));
                }
                life.served += 1;
            }
            _ => errors.push(format!("{line}: unknown")),
        }
    }
    // The crashed candidate's backend: told to stop when its zkha run died.
    if let Some(life) = lives
        .iter_mut()
        .rev()
        .find(|l| l.name == crash.0 && l.start < crash.1)
    {
        life.told_to_stop = Some(life.told_to_stop.map_or(crash.1, |t| t.min(crash.1)));
    }
    // Serves after the stop, with their lag.
    for line in lines(log) {
        let w: Vec<&str> = line.split(' ').collect();
        if w[0] != "serve" {
            continue;
        }
        let at = w[2].parse::<f64>().unwrap();
        let Some(life) = lives
            .iter_mut()
            .rev()
            .find(|l| l.name == w[1] && l.start <= at)
        else {
            continue;
        };
        if let Some(stop) = life.told_to_stop.filter(|&s| at > s) {
            life.served_after_stop += 1;
            life.worst_lag = life.worst_lag.max(at - stop);
        }
    }
    (lives, errors)
}

/// The longest time without a successful answer between `from` and `to`
/// (by the requests' completion), and the failed requests then.
fn gap(reqs: &[Req], from: f64, to: f64) -> (f64, usize) {
    let mut last_ok = from;
    let (mut worst, mut failed) = (0.0f64, 0);
    for r in reqs.iter().filter(|r| r.sent >= from && r.sent < to) {
        match r.got {
            Ok(_) => {
                worst = worst.max(r.done - last_ok);
                last_ok = r.done;
            }
            Err(_) => failed += 1,
        }
    }
    (worst, failed)
}

fn haproxy(d: &Path, cfg: &str) -> Kid {
    let file: PathBuf = d.join("haproxy.cfg");
    std::fs::write(&file, cfg).unwrap();
    let check = Command::new("haproxy")
        .args(["-c", "-q", "-f"])
        .arg(&file)
        .output()
        .expect("haproxy (Debian package haproxy; make test installs it)");
    assert!(
        check.status.success(),
        "haproxy -c: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let out = std::fs::File::create(d.join("haproxy.out")).unwrap();
    Kid(Command::new("haproxy")
        .arg("-f")
        .arg(&file)
        .arg("-db")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap())
}

#[test]
fn haproxy_follows_master_through_a_switchover_and_a_crash() {
    let d = dir("load-balancer");
    let log = d.join("backends.log");
    let path = format!("{}/m", unique_path("load-balancer"));
    let (ma, mb, ba, bb, front) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let stderr_of =
        |name: &str| std::fs::read_to_string(d.join(format!("{name}.stderr"))).unwrap_or_default();

    let mut a = candidate(&d, &path, "a", ma, ba);
    assert!(
        eventually(LONG, || code(ma, "/master") == Some(200)),
        "a never said master: {:?}\n{}",
        get(ma, "/master"),
        stderr_of("a")
    );
    let mut b = candidate(&d, &path, "b", mb, bb);
    assert!(
        eventually(LONG, || code(mb, "/standby") == Some(200)),
        "b never said standby: {:?}\n{}",
        get(mb, "/standby"),
        stderr_of("b")
    );
    // Each endpoint, on each candidate.
    for (port, path, want) in [
        (ma, "/master", 200),
        (ma, "/standby", 503),
        (ma, "/health", 200),
        (mb, "/master", 503),
        (mb, "/standby", 200),
        (mb, "/health", 200),
    ] {
        let got = get(port, path).unwrap();
        assert_eq!(got.0, want, "{path} on {port}: {got:?}");
    }
    assert_eq!(get(mb, "/master").unwrap().1, "not master\n");

    let cfg = haproxy_cfg(front, &[("a", ba, ma), ("b", bb, mb)]);
    let mut lb = haproxy(&d, &cfg);
    let haproxy_out = || std::fs::read_to_string(d.join("haproxy.out")).unwrap_or_default();
    assert!(
        eventually(LONG, || get(front, "/")
            .is_some_and(|(c, body)| c == 200 && body == "a\n")),
        "HAProxy never sent to a: {:?}\n{}",
        get(front, "/"),
        haproxy_out()
    );
    let hammer = Hammer::start(front);
    std::thread::sleep(Duration::from_secs(1));

    // A switchover to b.
    let switch_at = now_ms();
    let out = zkha()
        .args([
            "switchover",
            "--hosts",
            hosts(),
            "--path",
            &path,
            "--to",
            "b",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        eventually(LONG, || hammer.served_by_since("b", switch_at)),
        "b never served after the switchover\n{}",
        haproxy_out()
    );
    let b_serving = now_ms();
    std::thread::sleep(Duration::from_millis(1000));
    // a is a standby again (its command is gone, after its drain).
    assert!(
        eventually(LONG, || code(ma, "/standby") == Some(200)),
        "{:?}",
        get(ma, "/standby")
    );
    assert_eq!(code(ma, "/master"), Some(503));
    assert_eq!(code(mb, "/master"), Some(200));

    // A crash: SIGKILL of b's zkha run.
    let crash_at = now_ms();
    b.0.kill().unwrap();
    b.0.wait().unwrap();
    assert!(
        eventually(LONG, || hammer.served_by_since("a", crash_at)),
        "a never served after b's crash\n{}",
        haproxy_out()
    );
    let a_serving = now_ms();
    std::thread::sleep(Duration::from_millis(1000));
    let reqs = hammer.finish();
    let end = now_ms();
    // b's backend was killed by its watchdog after the grace; wait for it
    // to be gone before reading the log.
    std::thread::sleep(Duration::from_millis(500));

    let (lives, errors) = lives(&log, ("b", crash_at));
    let ok = reqs.iter().filter(|r| r.got.is_ok()).count();
    let by = |n: &str| reqs.iter().filter(|r| r.got.as_deref() == Ok(n)).count();
    let (sw_gap, sw_failed) = gap(&reqs, switch_at, b_serving);
    let (fo_gap, fo_failed) = gap(&reqs, crash_at, a_serving);
    let mut report = format!(
        "load balancer: {} requests through HAProxy, {ok} answered 200 (a: {}, b: {}), {} failed; \
         switchover: {sw_failed} failed, longest time without an answer {sw_gap:.0} ms; \
         failover: {fo_failed} failed, longest time without an answer {fo_gap:.0} ms\n",
        reqs.len(),
        by("a"),
        by("b"),
        reqs.len() - ok
    );
    for l in &lives {
        report.push_str(&format!(
            "  backend {} started at +{:.0} ms: served {}, told to stop at {}, served after that {} (worst lag {:.1} ms), exit {}\n",
            l.name,
            l.start - switch_at,
            l.served,
            l.told_to_stop
                .map_or("never".into(), |t| format!("+{:.0} ms", t - switch_at)),
            l.served_after_stop,
            l.worst_lag,
            l.exit
                .map_or("none logged (killed, or still running)".into(), |t| format!("+{:.0} ms", t - switch_at)),
        ));
    }
    eprintln!("{report}");
    let context = format!(
        "{report}\nbackends' log: {}\nHAProxy:\n{}",
        log.display(),
        haproxy_out()
    );
    assert!(errors.is_empty(), "{errors:?}\n{context}");
    // a, b (switchover), a again (failover).
    let names: Vec<&str> = lives.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "a"], "{context}");
    // Each stopped backend had a stop to judge, and served throughout.
    assert!(
        lives[0].told_to_stop.is_some() && lives[1].told_to_stop.is_some(),
        "{context}"
    );
    assert!(
        lives.iter().all(|l| l.served >= 20),
        "a backend served too little for the test to say anything: {context}"
    );
    // The judgement: HAProxy sent a stopping backend nothing after its
    // next check, although the backend kept serving for DRAIN_MS.
    for l in &lives {
        assert!(
            l.worst_lag <= INTER_MS + TOLERANCE_MS,
            "backend {} served {:.1} ms after it was told to stop (HAProxy checks every {INTER_MS} ms, tolerance {TOLERANCE_MS} ms): {context}",
            l.name,
            l.worst_lag
        );
    }
    // Both ended with the new master serving: b after the switchover, a
    // after the crash, up to the end.
    assert!(
        reqs.iter()
            .any(|r| r.sent > b_serving && r.sent < crash_at && r.got.as_deref() == Ok("b")),
        "{context}"
    );
    assert!(
        reqs.iter()
            .filter(|r| r.sent > a_serving + 500.0 && r.sent < end)
            .all(|r| r.got.as_deref() == Ok("a")),
        "after the failover, only a answers: {context}"
    );
    // The survivor's /health still says ok; the crashed one is gone.
    assert_eq!(code(ma, "/health"), Some(200));
    assert_eq!(code(mb, "/health"), None);
    // SAFETY: our child, not reaped yet.
    unsafe { libc::kill(a.0.id() as i32, libc::SIGTERM) };
    let _ = a.0.wait();
    let _ = lb.0.kill();
    let _ = lb.0.wait();
}
