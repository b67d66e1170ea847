//! docs/BAD_INPUT.md, row by row.

use std::process::Command;
use std::time::Duration;
use zkha::elector::{AclChoice, Auth, ElectorConfig, Mode, Profile};
use zkha::error::Argument;
use zkha::types::{Acl, Id, Perms};
use zkha::{ClientId, CreateMode, Error, Op, ZooKeeper};

fn arg_of(r: Result<impl std::fmt::Debug, Error>) -> Argument {
    match r {
        Err(Error::InvalidArgument { argument, .. }) => argument,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn hosts_timeouts_flags() {
    for hosts in [
        "", "host", "host:", "h:0", "h:65536", "h:x", "h:+1", "a:1,,b:2", "a:1,", "a:1, b:2",
        "::1:2181", "h:1/a/", "h:1\0",
    ] {
        assert_eq!(
            arg_of(ZooKeeper::builder(hosts).init()),
            Argument::Hosts,
            "{hosts:?}"
        );
    }
    for ms in [0, -1, i64::from(i32::MAX) + 1] {
        assert_eq!(
            arg_of(
                ZooKeeper::builder("127.0.0.1:2181")
                    .session_timeout_ms(ms)
                    .init()
            ),
            Argument::Timeout,
            "{ms}"
        );
    }
    assert_eq!(
        arg_of(ZooKeeper::builder("127.0.0.1:2181").flags(4).init()),
        Argument::Other
    );
    match ZooKeeper::builder("nonexistent.invalid:2181").init() {
        Err(Error::Init(e)) => assert!(e.raw_os_error().is_some()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn paths_data_acls_multi_with_a_server() {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let server = zkha::testing::TestingServer::shared().unwrap();
    let zk = ZooKeeper::builder(server.connect_string())
        .connect(Duration::from_secs(30))
        .unwrap();
    let open = Acl::open_unsafe();
    for path in [
        "", "x", "/a/", "//", "/a//b", "/a/./b", "/a/..", "/a\0b", "/a\u{1}",
    ] {
        assert_eq!(arg_of(zk.get(path, false)), Argument::Path, "{path:?}");
        assert_eq!(
            arg_of(zk.create(path, b"", &open, CreateMode::Persistent)),
            Argument::Path,
            "{path:?}"
        );
    }
    assert_eq!(
        arg_of(zk.create("/a//", b"", &open, CreateMode::PersistentSequential)),
        Argument::Path
    );
    let big = vec![0u8; zkha::validate::MAX_DATA_LEN + 1];
    assert_eq!(
        arg_of(zk.create("/big", &big, &open, CreateMode::Persistent)),
        Argument::Data
    );
    for ttl in [0, -5] {
        assert_eq!(
            arg_of(zk.create(
                "/ttl",
                b"",
                &open,
                CreateMode::PersistentWithTtl { ttl_ms: ttl }
            )),
            Argument::Timeout
        );
    }
    let bad_acls: Vec<Vec<Acl>> = vec![
        vec![],
        vec![Acl {
            perms: Perms(0),
            id: Id::anyone(),
        }],
        vec![Acl {
            perms: Perms(0x20),
            id: Id::anyone(),
        }],
        vec![Acl {
            perms: Perms::ALL,
            id: Id {
                scheme: String::new(),
                id: "x".into(),
            },
        }],
    ];
    for acl in bad_acls {
        assert_eq!(
            arg_of(zk.create("/acl", b"", &acl, CreateMode::Persistent)),
            Argument::Acl,
            "{acl:?}"
        );
    }
    assert_eq!(arg_of(zk.add_auth("", b"x")), Argument::Acl);
    assert_eq!(arg_of(zk.multi(&[] as &[Op])), Argument::Other);
}

#[test]
fn client_ids_and_levels() {
    for text in [
        "0x12",
        "zz:00",
        "0x1:abc",
        "0x1:0011223344556677889900aabbccddeg",
        "0x11111111111111111:00112233445566778899aabbccddeeff",
    ] {
        assert_eq!(
            arg_of(text.parse::<ClientId>()),
            Argument::ClientId,
            "{text}"
        );
    }
    assert_eq!(arg_of(ClientId::from_bytes(&[0; 23])), Argument::ClientId);
    assert_eq!(
        arg_of("loud".parse::<zkha::logging::LogLevel>()),
        Argument::Other
    );
}

#[test]
fn elector_configurations() {
    let base = || ElectorConfig::new("127.0.0.1:2181", "/m/x");
    type Row = (Box<dyn Fn(&mut ElectorConfig)>, Argument);
    let rows: Vec<Row> = vec![
        (Box::new(|c| c.path = "/".into()), Argument::Path),
        (
            Box::new(|c| c.poll_interval = Duration::ZERO),
            Argument::Timeout,
        ),
        (
            Box::new(|c| c.session_timeout = Duration::ZERO),
            Argument::Timeout,
        ),
        (Box::new(|c| c.failure_log_every = 0), Argument::Other),
        (Box::new(|c| c.acl = AclChoice::CreatorAll), Argument::Acl),
        (
            Box::new(|c| c.acl = AclChoice::Custom(vec![])),
            Argument::Acl,
        ),
        (
            Box::new(|c| {
                c.auth = Some(Auth {
                    scheme: "digest".into(),
                    credential: b"nocolon".to_vec(),
                })
            }),
            Argument::Acl,
        ),
        (
            Box::new(|c| {
                c.profile = Profile::Seed;
                c.mode = Mode::Sequence;
            }),
            Argument::Other,
        ),
        (
            Box::new(|c| {
                c.profile = Profile::Seed;
                c.session_file = Some("/tmp/x".into());
            }),
            Argument::Other,
        ),
        (Box::new(|c| c.hosts = "nohost".into()), Argument::Hosts),
    ];
    for (i, (change, want)) in rows.into_iter().enumerate() {
        let mut c = base();
        change(&mut c);
        assert_eq!(arg_of(c.validate()), want, "row {i}");
    }
}

#[test]
fn command_line_rows() {
    let zkha = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_zkha"))
            .args(args)
            .output()
            .unwrap()
    };
    let rows: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["bogus"], 2, "error:"),
        (vec!["run", "--hosts", "h:1", "--path", "/m"], 2, "error:"),
        (
            vec!["run", "--hosts", "nohost", "--path", "/m", "--", "true"],
            2,
            "zkha: invalid Hosts",
        ),
        (
            vec!["status", "--hosts", "h:99999", "--path", "/m"],
            2,
            "zkha: invalid Hosts",
        ),
        (
            vec!["status", "--hosts", "127.0.0.1:1", "--path", "m/"],
            2,
            "zkha: invalid Path",
        ),
        (
            vec!["status", "--hosts", "127.0.0.1:1", "--path", "//x"],
            2,
            "zkha: invalid Path",
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
        ),
    ];
    for (args, code, start) in rows {
        let out = zkha(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        // One line for the error (the C client's own log lines may precede it).
        assert!(err.lines().any(|l| l.starts_with(start)), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
