//! Secure sessions against the test kit's own secure servers: mutual TLS
//! (a TLS-only server) and SASL DIGEST-MD5 (a SASL-only server). Refusals
//! are typed errors within the connect wait: a plaintext client, a client
//! without a trusted certificate, a wrong password.

use crate::secure_kit;

use secure_kit::{sasl_server, tls_server, ALICE_PW, BOB_PW};
use std::time::{Duration, Instant};
use zkha::secure::Secret;
use zkha::{Acl, CreateMode, Error, ErrorCode, ZooKeeper};
use zkha_testing::{unique_path, SaslUsers, Security, ServerConfig, TlsAuthority};

const LONG: Duration = Duration::from_secs(30);
/// How long a refused client may take to report it (the bound).
const REFUSAL: Duration = Duration::from_secs(15);

fn tls_client(name: &str) -> zkha::ZooKeeperBuilder {
    let (server, ca) = tls_server();
    let files = ca.client(name).unwrap();
    ZooKeeper::builder(server.connect_string()).tls(&files.ca, &files.cert, &files.key, None)
}

fn sasl_client(user: &str, password: &str) -> zkha::ZooKeeperBuilder {
    ZooKeeper::builder(sasl_server().connect_string()).sasl(
        "DIGEST-MD5",
        user,
        Secret::new(password),
    )
}

#[test]
fn tls_session_writes_and_reads() {
    let zk = tls_client("writer").connect(LONG).unwrap();
    let path = unique_path("tls-rw");
    zk.create(
        &path,
        b"10.0.0.1\0",
        &Acl::open_unsafe(),
        CreateMode::Persistent,
    )
    .unwrap();
    // Another TLS client (its own certificate) reads the same bytes.
    let reader = tls_client("reader").connect(LONG).unwrap();
    assert_eq!(reader.get(&path, false).unwrap().0, b"10.0.0.1\0");
}

#[test]
fn tls_refuses_an_untrusted_certificate_in_time() {
    let (server, ca) = tls_server();
    let files = ca.untrusted_client("intruder").unwrap();
    let started = Instant::now();
    let e = ZooKeeper::builder(server.connect_string())
        .tls(&files.ca, &files.cert, &files.key, None)
        .connect(Duration::from_secs(5))
        .expect_err("a self-signed client certificate was accepted");
    assert!(
        started.elapsed() < REFUSAL,
        "refused after {:?}",
        started.elapsed()
    );
    assert!(matches!(e, Error::Tls(_)), "{e:?}");
    assert!(e.to_string().contains("certificate"), "{e}");
}

#[test]
fn tls_refuses_a_server_our_ca_did_not_sign() {
    let (server, _) = tls_server();
    // A certificate of another CA, which also gives the trust store: the
    // server's certificate does not chain to it.
    let other = TlsAuthority::new().unwrap();
    let files = other.client("elsewhere").unwrap();
    let e = ZooKeeper::builder(server.connect_string())
        .tls(&files.ca, &files.cert, &files.key, None)
        .connect(Duration::from_secs(5))
        .expect_err("a server outside our CA was trusted");
    assert!(matches!(e, Error::Tls(_)), "{e:?}");
}

#[test]
fn tls_port_refuses_a_plaintext_client() {
    let (server, _) = tls_server();
    let e = ZooKeeper::builder(server.connect_string())
        .connect(Duration::from_secs(5))
        .expect_err("a plaintext client got a session on the TLS-only port");
    assert!(matches!(e, Error::Timeout(_)), "{e:?}");
}

#[test]
fn tls_paths_are_checked_before_c() {
    let (server, ca) = tls_server();
    let files = ca.client("paths").unwrap();
    let missing = files.cert.with_extension("missing");
    let e = ZooKeeper::builder(server.connect_string())
        .tls(&files.ca, &missing, &files.key, None)
        .init()
        .expect_err("a missing certificate file was accepted");
    assert!(
        matches!(&e, Error::InvalidArgument { argument: zkha::error::Argument::Auth, reason } if reason.contains("missing")),
        "{e:?}"
    );
    let dir = std::env::temp_dir().join(format!("zkha,tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let comma = dir.join("ca.pem");
    std::fs::copy(&files.ca, &comma).unwrap();
    let e = ZooKeeper::builder(server.connect_string())
        .tls(&comma, &files.cert, &files.key, None)
        .init()
        .expect_err("a path with a comma was accepted");
    assert!(e.to_string().contains("comma"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
    // TLS and SASL on one handle: the C client has no such init.
    let e = ZooKeeper::builder(server.connect_string())
        .tls(&files.ca, &files.cert, &files.key, None)
        .sasl("DIGEST-MD5", "alice", Secret::new(ALICE_PW))
        .init()
        .expect_err("TLS + SASL was accepted");
    assert!(e.to_string().contains("cannot be combined"), "{e}");
}

#[test]
fn sasl_session_authenticates_and_owns_its_acl() {
    let alice = sasl_client("alice", ALICE_PW).connect(LONG).unwrap();
    let parent = unique_path("sasl-acl");
    let path = format!("{parent}/node");
    let only_alice = vec![Acl {
        perms: zkha::Perms::ALL,
        id: zkha::Id {
            scheme: "sasl".into(),
            id: "alice".into(),
        },
    }];
    // The parent too: deleting a node takes DELETE on its parent.
    alice
        .create(&parent, b"", &only_alice, CreateMode::Persistent)
        .unwrap();
    alice
        .create(&path, b"a\0", &only_alice, CreateMode::Persistent)
        .unwrap();
    alice.set(&path, b"b\0", -1).unwrap();
    // Bob is authenticated too, as another identity: he may neither
    // overwrite nor delete alice's node.
    let bob = sasl_client("bob", BOB_PW).connect(LONG).unwrap();
    assert_eq!(
        bob.set(&path, b"bob\0", -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    assert_eq!(
        bob.delete(&path, -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    assert_eq!(alice.get(&path, false).unwrap().0, b"b\0");
    alice.delete(&path, -1).unwrap();
    alice.delete(&parent, -1).unwrap();
}

#[test]
fn sasl_wrong_password_is_an_auth_error_in_time() {
    let started = Instant::now();
    let e = sasl_client("alice", "not-the-password")
        .connect(Duration::from_secs(10))
        .expect_err("a wrong password was accepted");
    assert!(
        started.elapsed() < REFUSAL,
        "refused after {:?}",
        started.elapsed()
    );
    assert!(matches!(e, Error::SaslAuth(_)), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("authentication"), "{text}");
    assert!(
        !text.contains("not-the-password"),
        "the password leaked: {text}"
    );
    assert!(!format!("{e:?}").contains("not-the-password"));
}

#[test]
fn sasl_server_refuses_a_plaintext_client() {
    let zk = ZooKeeper::builder(sasl_server().connect_string())
        .connect(LONG)
        .unwrap();
    // The session is opened, but the server closes it at the first request
    // of a client that did not authenticate.
    let e = zk
        .exists("/", false)
        .expect_err("an unauthenticated request was served");
    assert!(
        matches!(
            e.code(),
            Some(ErrorCode::SessionClosedRequireSaslAuth | ErrorCode::ConnectionLoss)
        ),
        "{e:?}"
    );
}

#[test]
fn sasl_password_file_must_be_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("zkha-pw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("password");
    std::fs::write(&file, format!("{ALICE_PW}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let e = Secret::from_file(&file).expect_err("a group-readable file was accepted");
    assert!(e.to_string().contains(&file.display().to_string()), "{e}");
    assert!(!e.to_string().contains(ALICE_PW));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let secret = Secret::from_file(&file).unwrap();
    assert_eq!(secret.expose(), ALICE_PW);
    assert_eq!(format!("{secret:?} {secret}"), "<hidden> <hidden>");
    // The file's password authenticates.
    ZooKeeper::builder(sasl_server().connect_string())
        .sasl("DIGEST-MD5", "alice", secret)
        .connect(LONG)
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two electors of one election, `a` and `b`, whose sessions use
/// `security`: one becomes master, and when it leaves the other takes over.
fn elect_and_fail_over(
    hosts: &str,
    path: &str,
    acl: zkha::elector::AclChoice,
    security: &zkha::secure::Security,
) {
    use std::sync::Arc;
    use zkha::elector::{Elector, ElectorConfig};
    let config = |name: &str| {
        let mut c = ElectorConfig::new(hosts, path);
        c.name = Some(name.into());
        c.acl = acl.clone();
        c.security = security.clone();
        c
    };
    let a = Elector::start(config("a"), Arc::new(())).unwrap();
    assert!(a.wait_until_master(LONG), "a never became master");
    let b = Elector::start(config("b"), Arc::new(())).unwrap();
    // Once b's session is up it sees a's node.
    let deadline = Instant::now() + LONG;
    let info = loop {
        match b.current_master() {
            Ok(Some(info)) => break info,
            other => assert!(Instant::now() < deadline, "b sees no master: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(info.session, a.session_id());
    assert!(!b.is_master());
    a.shutdown();
    assert!(b.wait_until_master(LONG), "b never took over");
    b.shutdown();
}

#[test]
fn election_over_mutual_tls() {
    let (server, ca) = tls_server();
    let files = ca.client("elector").unwrap();
    let path = format!("{}/master", unique_path("tls-elect"));
    let hosts = server.connect_string();
    let tls = zkha::secure::Security {
        tls: Some(zkha::secure::Tls {
            ca: files.ca.clone(),
            cert: files.cert.clone(),
            key: files.key.clone(),
            key_password: None,
        }),
        sasl: None,
    };
    elect_and_fail_over(hosts, &path, zkha::elector::AclChoice::Open, &tls);
    // Without the settings the elector's sessions are plaintext, which the
    // TLS-only server never lets in: no master within the wait.
    let plain = zkha::elector::Elector::start(
        zkha::elector::ElectorConfig::new(hosts, &path),
        std::sync::Arc::new(()),
    )
    .unwrap();
    assert!(!plain.wait_until_master(Duration::from_secs(3)));
    plain.shutdown();
    // Settings that cannot work are refused by Elector::start (the config's
    // validate), as a typed error naming the file, not a silent retry.
    let mut missing = zkha::elector::ElectorConfig::new(hosts, &path);
    missing.security = tls;
    let gone = files.key.with_extension("gone");
    missing.security.tls.as_mut().unwrap().key = gone.clone();
    match zkha::elector::Elector::start(missing, std::sync::Arc::new(())).err() {
        Some(e @ zkha::Error::InvalidArgument { .. }) => {
            assert!(e.to_string().contains(&gone.display().to_string()), "{e}")
        }
        Some(e) => panic!("a missing TLS key gave {e}"),
        None => panic!("a missing TLS key was accepted"),
    }
}

#[test]
fn election_over_sasl_protects_the_node_for_its_identity() {
    let hosts = sasl_server().connect_string();
    let top = unique_path("sasl-elect");
    let path = format!("{top}/grp/master");
    let alice = zkha::secure::Security {
        tls: None,
        sasl: Some(zkha::secure::Sasl::new(
            "DIGEST-MD5",
            "alice",
            Secret::new(ALICE_PW),
        )),
    };
    elect_and_fail_over(hosts, &path, zkha::elector::sasl_acl("alice"), &alice);
    // A master again, and bob (authenticated) attacks its node.
    let master = zkha::elector::Elector::start(
        {
            let mut c = zkha::elector::ElectorConfig::new(hosts, &path);
            c.acl = zkha::elector::sasl_acl("alice");
            c.security = alice;
            c
        },
        std::sync::Arc::new(()),
    )
    .unwrap();
    assert!(master.wait_until_master(LONG));
    let bob = sasl_client("bob", BOB_PW).connect(LONG).unwrap();
    let expected = vec![Acl {
        perms: zkha::Perms::ALL,
        id: zkha::Id {
            scheme: "sasl".into(),
            id: "alice".into(),
        },
    }];
    // The node and the parents the elector created carry alice's ACL.
    for p in [path.as_str(), &format!("{top}/grp"), &top] {
        let alice_view = sasl_client("alice", ALICE_PW).connect(LONG).unwrap();
        assert_eq!(alice_view.get_acl(p).unwrap().0, expected, "{p}");
    }
    assert_eq!(
        bob.set(&path, b"bob\0", -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    assert_eq!(
        bob.delete(&path, -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    assert_eq!(
        bob.delete(&format!("{top}/grp"), -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    assert!(
        master.is_master(),
        "bob's attempts cost alice her mastership"
    );
    let info = master.current_master().unwrap().unwrap();
    assert_eq!(
        info.data,
        zkha::net::seed_node_data(&zkha::net::primary_ip())
    );
    master.shutdown();
}

#[test]
fn tls_only_and_sasl_only_ensembles() {
    use zkha_testing::TestingCluster;
    // TLS-only: clients get the members' secure ports; the kit still finds
    // the leader (over its own plaintext probe ports).
    let ca = TlsAuthority::new().unwrap();
    let cluster = TestingCluster::with_config(
        2,
        ServerConfig {
            security: Security::Tls(ca.clone()),
            ..ServerConfig::default()
        },
    )
    .unwrap();
    let leader = cluster.wait_for_leader(LONG).unwrap();
    let files = ca.client("ensemble").unwrap();
    let zk = ZooKeeper::builder(&cluster.connect_string())
        .tls(&files.ca, &files.cert, &files.key, None)
        .connect(LONG)
        .unwrap();
    let path = unique_path("tls-ensemble");
    zk.create(&path, b"x\0", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    // Every member serves it over TLS, the leader included.
    for i in [leader, 1 - leader] {
        let member = ZooKeeper::builder(cluster.address(i).unwrap())
            .tls(&files.ca, &files.cert, &files.key, None)
            .connect(LONG)
            .unwrap();
        member.sync(&path).unwrap();
        assert_eq!(member.get(&path, false).unwrap().0, b"x\0", "member {i}");
    }
    assert!(ZooKeeper::builder(cluster.address(leader).unwrap())
        .connect(Duration::from_secs(3))
        .is_err());
    drop(cluster);
    // SASL-only: a session authenticates with any member.
    let cluster = TestingCluster::with_config(
        2,
        ServerConfig {
            security: Security::Sasl(SaslUsers::default().with("carol", "carol-pw")),
            ..ServerConfig::default()
        },
    )
    .unwrap();
    cluster.wait_for_leader(LONG).unwrap();
    let zk = ZooKeeper::builder(&cluster.connect_string())
        .sasl("DIGEST-MD5", "carol", Secret::new("carol-pw"))
        .connect(LONG)
        .unwrap();
    assert!(zk.exists("/", false).unwrap().is_some());
}

#[test]
fn sasl_plain_against_a_digest_only_server_is_an_auth_error() {
    // Cyrus SASL's PLAIN plugin (libsasl2-modules) starts the exchange, but
    // the JDK has no PLAIN server: ZooKeeper's DigestLoginModule server
    // answers DIGEST-MD5 only, and the session ends in AUTH_FAILED.
    let e = sasl_client_mech("PLAIN", "alice", ALICE_PW)
        .connect(Duration::from_secs(10))
        .expect_err("PLAIN was accepted by a DIGEST-MD5 server");
    assert!(matches!(e, Error::SaslAuth(_)), "{e:?}");
    assert!(e.to_string().contains("PLAIN"), "{e}");
    assert!(!e.to_string().contains(ALICE_PW));
}

fn sasl_client_mech(mech: &str, user: &str, password: &str) -> zkha::ZooKeeperBuilder {
    ZooKeeper::builder(sasl_server().connect_string()).sasl(mech, user, Secret::new(password))
}
