//! docs/BAD_INPUT.md, row by row.

use std::process::Command;
use std::time::Duration;
use zkha::elector::{AclChoice, Auth, ElectorConfig, Mode, Profile};
use zkha::error::Argument;
use zkha::types::{Acl, Id, Perms};
use zkha::{
    ClientId, CreateMode, Error, HostResolution, Op, ZooKeeper, ZOO_NO_LOG_CLIENTENV, ZOO_READONLY,
};

/// The row's typed error and its reason text (a stable fragment of it, as
/// docs/BAD_INPUT.md quotes it).
#[track_caller]
fn assert_refused(
    r: Result<impl std::fmt::Debug, Error>,
    want: Argument,
    reason: &str,
    what: &str,
) {
    match r {
        Err(Error::InvalidArgument {
            argument,
            reason: got,
        }) => {
            assert_eq!(argument, want, "{what}: {got}");
            assert!(
                got.contains(reason),
                "{what}: reason {got:?} does not say {reason:?}"
            );
        }
        other => panic!("{what}: expected InvalidArgument({want:?}), got {other:?}"),
    }
}

#[test]
fn hosts_timeouts_flags() {
    for (hosts, reason) in [
        ("", "empty hosts string"),
        ("host", "has no port"),
        ("host:", "is not in 1-65535"),
        ("h:0", "is not in 1-65535"),
        ("h:65536", "is not in 1-65535"),
        ("h:x", "is not in 1-65535"),
        ("h:+1", "is not in 1-65535"),
        ("a:1,,b:2", "empty entry"),
        ("a:1,", "empty entry"),
        ("a:1, b:2", "contains whitespace"),
        ("::1:2181", "write IPv6 addresses as [addr]:port"),
        ("h:1/a/", "chroot"),
        ("h:1\0", "contains NUL"),
    ] {
        assert_refused(
            ZooKeeper::builder(hosts).init(),
            Argument::Hosts,
            reason,
            &format!("{hosts:?}"),
        );
    }
    for (ms, reason) in [
        (0, "must be positive"),
        (-1, "must be positive"),
        (i64::from(i32::MAX) + 1, "too large"),
    ] {
        assert_refused(
            ZooKeeper::builder("127.0.0.1:2181")
                .session_timeout_ms(ms)
                .init(),
            Argument::Timeout,
            reason,
            &format!("{ms} ms"),
        );
    }
    for (window, reason) in [
        (Duration::ZERO, "whole milliseconds from 1 ms"),
        (Duration::from_micros(1500), "whole milliseconds from 1 ms"),
        (Duration::from_millis(i32::MAX as u64 + 1), "too large"),
    ] {
        assert_refused(
            ZooKeeper::builder("127.0.0.1:2181")
                .host_resolution(HostResolution::AtMostEvery(window))
                .init(),
            Argument::Timeout,
            reason,
            &format!("host resolution window {window:?}"),
        );
    }
    for flags in [4, 8, 1 << 30, -1, ZOO_READONLY | 4] {
        assert_refused(
            ZooKeeper::builder("127.0.0.1:2181").flags(flags).init(),
            Argument::Other,
            "unknown zookeeper_init flags",
            &format!("flags {flags:#x}"),
        );
    }
    match ZooKeeper::builder("nonexistent.invalid:2181").init() {
        Err(Error::Init(e)) => assert!(e.raw_os_error().is_some()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn accepted_init_flags_connect() {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let server = zkha_testing::TestingServer::shared().unwrap();
    for flags in [
        0,
        ZOO_READONLY,
        ZOO_NO_LOG_CLIENTENV,
        ZOO_READONLY | ZOO_NO_LOG_CLIENTENV,
    ] {
        let zk = ZooKeeper::builder(server.connect_string())
            .flags(flags)
            .connect(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("flags {flags:#x} refused: {e}"));
        assert!(zk.exists("/", false).unwrap().is_some(), "flags {flags:#x}");
    }
}

#[test]
fn paths_data_acls_multi_with_a_server() {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let server = zkha_testing::TestingServer::shared().unwrap();
    let zk = ZooKeeper::builder(server.connect_string())
        .connect(Duration::from_secs(30))
        .unwrap();
    let open = Acl::open_unsafe();
    let invalid_char = "contains the invalid character";
    let mut rows: Vec<(String, &str)> = [
        ("", "empty path"),
        ("x", "must start with '/'"),
        ("/a/", "must not end with '/'"),
        ("//", "must not end with '/'"),
        ("/a//b", "empty component"),
        ("/a/./b", "relative component"),
        ("/a/..", "relative component"),
        ("/a\0b", "contains NUL"),
    ]
    .into_iter()
    .map(|(p, r)| (p.to_owned(), r))
    .collect();
    // ZooKeeper's PathUtils: U+0001–U+001F, U+007F–U+009F, U+D800–U+F8FF
    // (in Java's UTF-16: the private use area, and the surrogates of every
    // character above U+FFFF) and U+FFF0–U+FFFF.
    for c in [
        '\u{1}',
        '\u{1f}',
        '\u{7f}',
        '\u{80}',
        '\u{9f}',
        '\u{e000}',
        '\u{f8ff}',
        '\u{fff0}',
        '\u{fffd}',
        '\u{ffff}',
        '\u{10000}',
        '\u{1f600}',
        '\u{10ffff}',
    ] {
        rows.push((format!("/a{c}b"), invalid_char));
    }
    for (path, reason) in &rows {
        assert_refused(zk.get(path, false), Argument::Path, reason, path);
        assert_refused(
            zk.create(path, b"", &open, CreateMode::Persistent),
            Argument::Path,
            reason,
            path,
        );
    }
    // Just outside those ranges: accepted by zkha and by the server.
    let parent = zkha_testing::unique_path("bad-input-chars");
    zk.create(&parent, b"", &open, CreateMode::Persistent)
        .unwrap();
    for c in ['~', '\u{a0}', '\u{d7ff}', '\u{f900}', '\u{ffef}'] {
        let path = format!("{parent}/a{c}b");
        zk.create(&path, b"", &open, CreateMode::Ephemeral)
            .unwrap_or_else(|e| panic!("{path:?}: {e}"));
    }
    assert_refused(
        zk.create("/a//", b"", &open, CreateMode::PersistentSequential),
        Argument::Path,
        "empty component",
        "/a// (sequential)",
    );
    let big = vec![0u8; zkha::validate::MAX_DATA_LEN + 1];
    assert_refused(
        zk.create("/big", &big, &open, CreateMode::Persistent),
        Argument::Data,
        "exceed ZooKeeper's limit",
        "data over 1 MiB",
    );
    for ttl in [0, -5] {
        assert_refused(
            zk.create(
                "/ttl",
                b"",
                &open,
                CreateMode::PersistentWithTtl { ttl_ms: ttl },
            ),
            Argument::Timeout,
            "TTL must be positive",
            &format!("TTL {ttl}"),
        );
    }
    let bad_acls: Vec<(Vec<Acl>, &str)> = vec![
        (vec![], "empty ACL list"),
        (
            vec![Acl {
                perms: Perms(0),
                id: Id::anyone(),
            }],
            "bad permission bits 0x0",
        ),
        (
            vec![Acl {
                perms: Perms(0x20),
                id: Id::anyone(),
            }],
            "bad permission bits 0x20",
        ),
        (
            vec![Acl {
                perms: Perms::ALL,
                id: Id {
                    scheme: String::new(),
                    id: "x".into(),
                },
            }],
            "empty ACL scheme",
        ),
    ];
    for (acl, reason) in bad_acls {
        assert_refused(
            zk.create("/acl", b"", &acl, CreateMode::Persistent),
            Argument::Acl,
            reason,
            &format!("{acl:?}"),
        );
    }
    assert_refused(
        zk.add_auth("", b"x"),
        Argument::Acl,
        "empty auth scheme",
        "auth",
    );
    assert_refused(
        zk.multi(&[] as &[Op]),
        Argument::Other,
        "at least one operation",
        "multi",
    );
}

#[test]
fn client_ids_and_levels() {
    for (text, reason) in [
        ("0x12", "no ':'"),
        ("zz:00", "bad session id"),
        ("0x1:abc", "bad password length"),
        ("0x1:0011223344556677889900aabbccddeg", "bad password hex"),
        (
            "0x11111111111111111:00112233445566778899aabbccddeeff",
            "bad session id",
        ),
    ] {
        assert_refused(text.parse::<ClientId>(), Argument::ClientId, reason, text);
    }
    assert_refused(
        ClientId::from_bytes(&[0; 23]),
        Argument::ClientId,
        "23 bytes, expected 24",
        "23 bytes",
    );
    assert_refused(
        "loud".parse::<zkha::logging::LogLevel>(),
        Argument::Other,
        "expected error, warn, info or debug",
        "loud",
    );
}

#[test]
fn elector_configurations() {
    let base = || ElectorConfig::new("127.0.0.1:2181", "/m/x");
    fn seed() -> ElectorConfig {
        ElectorConfig::seed("127.0.0.1:2181", "/m/x")
    }
    let digest = || {
        Some(Auth {
            scheme: "digest".into(),
            credential: b"u:p".to_vec(),
        })
    };
    type Row = (Box<dyn Fn(&mut ElectorConfig)>, Argument, &'static str);
    let rows: Vec<Row> = vec![
        (
            Box::new(|c| c.path = "/".into()),
            Argument::Path,
            "cannot be the root",
        ),
        (
            Box::new(|c| c.poll_interval = Duration::ZERO),
            Argument::Timeout,
            "poll interval must be positive",
        ),
        (
            Box::new(|c| c.session_timeout = Duration::ZERO),
            Argument::Timeout,
            "session timeout must be 1 ms to",
        ),
        (
            Box::new(|c| c.failure_log_every = 0),
            Argument::Other,
            "failure_log_every must be at least 1",
        ),
        (
            Box::new(|c| c.acl = AclChoice::CreatorAll),
            Argument::Acl,
            "a creator-only ACL needs auth",
        ),
        (
            Box::new(|c| c.acl = AclChoice::Custom(vec![])),
            Argument::Acl,
            "empty ACL list",
        ),
        (
            Box::new(|c| {
                c.auth = Some(Auth {
                    scheme: "digest".into(),
                    credential: b"nocolon".to_vec(),
                })
            }),
            Argument::Acl,
            "digest credentials are user:password",
        ),
        (
            Box::new(|c| {
                *c = seed();
                c.mode = Mode::Sequence;
            }),
            Argument::Other,
            "(S4)",
        ),
        (
            Box::new(|c| {
                *c = seed();
                c.mode = Mode::Watch;
            }),
            Argument::Other,
            "(S4)",
        ),
        (
            Box::new(move |c| {
                *c = seed();
                c.auth = digest();
            }),
            Argument::Other,
            "(S5, F10)",
        ),
        (
            Box::new(move |c| {
                *c = seed();
                c.auth = digest();
                c.acl = AclChoice::CreatorAll;
            }),
            Argument::Other,
            "(S5, F10)",
        ),
        (
            Box::new(|c| {
                *c = seed();
                c.create_parents = true;
            }),
            Argument::Other,
            "(S6)",
        ),
        (
            Box::new(|c| {
                *c = seed();
                c.session_file = Some("/tmp/x".into());
            }),
            Argument::Other,
            "(S3)",
        ),
        (
            Box::new(|c| c.hosts = "nohost".into()),
            Argument::Hosts,
            "has no port",
        ),
        (
            Box::new(|c| c.priority = 1_000_001),
            Argument::Other,
            "must be 0 to 1000000",
        ),
        (
            Box::new(|c| c.name = Some(String::new())),
            Argument::Other,
            "empty",
        ),
        (
            Box::new(|c| c.name = Some("..".into())),
            Argument::Other,
            "not a node name",
        ),
        (
            Box::new(|c| c.name = Some("a/b".into())),
            Argument::Other,
            "is not allowed",
        ),
        (
            Box::new(|c| c.name = Some("x".repeat(201))),
            Argument::Other,
            "longer than 200 bytes",
        ),
        (
            Box::new(|c| c.name = Some("any".into())),
            Argument::Other,
            "reserved",
        ),
        (
            Box::new(|c| {
                *c = seed();
                c.priority = 50;
            }),
            Argument::Other,
            "(S4)",
        ),
        (
            Box::new(|c| {
                *c = seed();
                c.ready = false;
            }),
            Argument::Other,
            "(S4)",
        ),
    ];
    for (i, (change, want, reason)) in rows.into_iter().enumerate() {
        let mut c = base();
        change(&mut c);
        assert_refused(c.validate(), want, reason, &format!("row {i}"));
    }
    // The base, and the seed profile as built, are valid.
    base().validate().unwrap();
    seed().validate().unwrap();
    assert_eq!(seed().profile, Profile::Seed);
}

#[test]
fn command_line_rows() {
    let zkha = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_zkha"))
            .args(args)
            .output()
            .unwrap()
    };
    let rows: Vec<(Vec<&str>, i32, &str, &str)> = vec![
        (vec!["bogus"], 2, "error:", "unrecognized subcommand"),
        (
            vec![
                "run",
                "--hosts",
                "h:1",
                "--path",
                "/m",
                "--priority",
                "1000001",
                "--",
                "true",
            ],
            2,
            "zkha: invalid Other",
            "priority 1000001: must be 0 to 1000000",
        ),
        (
            vec![
                "run", "--hosts", "h:1", "--path", "/m", "--name", "a b", "--", "true",
            ],
            2,
            "zkha: invalid Other",
            "' ' is not allowed",
        ),
        (
            vec!["run", "--hosts", "h:1", "--path", "/m"],
            2,
            "error:",
            "required",
        ),
        (
            vec!["run", "--hosts", "nohost", "--path", "/m", "--", "true"],
            2,
            "zkha: invalid Hosts",
            "has no port",
        ),
        (
            vec!["status", "--hosts", "h:99999", "--path", "/m"],
            2,
            "zkha: invalid Hosts",
            "is not in 1-65535",
        ),
        (
            vec!["status", "--hosts", "127.0.0.1:1", "--path", "m/"],
            2,
            "zkha: invalid Path",
            "must start with '/'",
        ),
        (
            vec!["status", "--hosts", "127.0.0.1:1", "--path", "//x"],
            2,
            "zkha: invalid Path",
            "empty component",
        ),
        (
            vec![
                "run",
                "--hosts",
                "h:1",
                "--path",
                "/m",
                "--session-timeout",
                "0",
                "--",
                "true",
            ],
            2,
            "zkha: invalid Timeout",
            "--session-timeout 0: must be 1 to 2147483647 (ms)",
        ),
        (
            vec![
                "run",
                "--hosts",
                "h:1",
                "--path",
                "/m",
                "--profile",
                "bogus",
                "--",
                "true",
            ],
            2,
            "error: invalid value",
            "'bogus' for '--profile",
        ),
        (
            vec![
                "status",
                "--hosts",
                "h:1",
                "--path",
                "/m",
                "--zk-log-level",
                "loud",
            ],
            2,
            "error: invalid value",
            "expected error, warn, info or debug",
        ),
        (
            vec![
                "run",
                "--hosts",
                "h:1",
                "--path",
                "/m",
                "--ready-cmd=",
                "--",
                "true",
            ],
            2,
            "zkha: invalid Other",
            "--ready-cmd \"\": empty command",
        ),
        (
            vec![
                "run",
                "--hosts",
                "h:1",
                "--path",
                "/m",
                "--health-cmd= ",
                "--",
                "true",
            ],
            2,
            "zkha: invalid Other",
            "--health-cmd \" \": empty command",
        ),
        (
            vec![
                "run",
                "--hosts",
                "h:1",
                "--path",
                "/m",
                "--ready-interval=0",
                "--",
                "true",
            ],
            2,
            "zkha: invalid Timeout",
            "--ready-interval 0: must be 1 to 3600000 (ms)",
        ),
        (
            vec![
                "run",
                "--hosts",
                "h:1",
                "--path",
                "/m",
                "--ready-timeout=3600001",
                "--",
                "true",
            ],
            2,
            "zkha: invalid Timeout",
            "--ready-timeout 3600001: must be 1 to 3600000 (ms)",
        ),
        (
            vec![
                "run",
                "--hosts",
                "h:1",
                "--path",
                "/m",
                "--health-interval=0",
                "--",
                "true",
            ],
            2,
            "zkha: invalid Timeout",
            "--health-interval 0: must be 1 to 3600000 (ms)",
        ),
        (
            vec![
                "run",
                "--hosts",
                "h:1",
                "--path",
                "/m",
                "--health-timeout=3600001",
                "--",
                "true",
            ],
            2,
            "zkha: invalid Timeout",
            "--health-timeout 3600001: must be 1 to 3600000 (ms)",
        ),
        (
            vec![
                "run",
                "--hosts",
                "h:1",
                "--path",
                "/m",
                "--ready-failures=0",
                "--",
                "true",
            ],
            2,
            "zkha: invalid Other",
            "--ready-failures 0: must be 1 to 1000",
        ),
        (
            vec![
                "run",
                "--hosts",
                "h:1",
                "--path",
                "/m",
                "--health-failures=1001",
                "--",
                "true",
            ],
            2,
            "zkha: invalid Other",
            "--health-failures 1001: must be 1 to 1000",
        ),
        (
            vec![
                "run",
                "--hosts",
                "h:1",
                "--path",
                "/m",
                "--health-start-period=3600001",
                "--",
                "true",
            ],
            2,
            "zkha: invalid Timeout",
            "--health-start-period 3600001: must be 0 to 3600000 (ms)",
        ),
        (
            vec![
                "status",
                "--hosts",
                "127.0.0.1:1",
                "--path",
                "/m",
                "--connect-timeout",
                "300",
            ],
            1,
            "zkha: timed out",
            "waiting for the session to connect",
        ),
    ];
    for (args, code, start, reason) in rows {
        let out = zkha(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        // One line for the error (the C client's own log lines may precede
        // it), with the reason (clap's may go on on the next line).
        let at = err
            .find(&format!("\n{start}"))
            .map(|i| i + 1)
            .or_else(|| err.starts_with(start).then_some(0));
        let Some(at) = at else {
            panic!("{args:?}: no line starting {start:?}: {err}")
        };
        assert!(
            err[at..].lines().take(2).any(|l| l.contains(reason)),
            "{args:?}: the error does not say {reason:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
