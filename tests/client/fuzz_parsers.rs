//! Property tests for the parsers that guard the C boundary (path, hosts,
//! client id). The strategies build valid inputs, so the acceptance and
//! round-trip properties run thousands of times, and near-valid inputs (one
//! defect each), which must be refused with a typed error, never a panic.
//! Paths are also compared with a transcription of ZooKeeper's own check
//! (`PathUtils.validatePath`). The seed is fixed (`PROPTEST_RNG_SEED`
//! overrides it), so a run reproduces. Coverage-guided fuzzing of the same
//! functions: fuzz/, with cargo-fuzz.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::net::{Ipv4Addr, Ipv6Addr};
use zkha::error::Argument;
use zkha::validate::{check_hosts, check_path};
use zkha::{ClientId, Error};

fn config(cases: u32) -> Config {
    let mut c = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    if c.rng_seed == RngSeed::Random {
        c.rng_seed = RngSeed::Fixed(0x5eed_2a4b);
    }
    c
}

fn refused_as(r: Result<impl std::fmt::Debug, Error>, want: Argument) -> Result<(), String> {
    match r {
        Err(Error::InvalidArgument { argument, .. }) if argument == want => Ok(()),
        other => Err(format!("expected InvalidArgument({want:?}), got {other:?}")),
    }
}

// ---- paths ----

/// ZooKeeper's `PathUtils.validatePath(path, isSequential)`, on UTF-16
/// units as Java sees them: a sequential path is checked with "1" appended.
fn zookeeper_accepts(path: &str, sequential: bool) -> bool {
    let path = if sequential {
        format!("{path}1")
    } else {
        path.to_owned()
    };
    let chars: Vec<u16> = path.encode_utf16().collect();
    let ch = |c: char| c as u16;
    if chars.is_empty() || chars[0] != ch('/') {
        return false;
    }
    if chars.len() == 1 {
        return true;
    }
    if chars[chars.len() - 1] == ch('/') {
        return false;
    }
    let mut lastc = ch('/');
    for i in 1..chars.len() {
        let c = chars[i];
        let ends_here = i + 1 == chars.len() || chars[i + 1] == ch('/');
        // PathUtils' chain of checks, in its order.
        let relative = if c == ch('.') && lastc == ch('.') {
            chars[i - 2] == ch('/') && ends_here
        } else if c == ch('.') {
            chars[i - 1] == ch('/') && ends_here
        } else {
            false
        };
        let invalid_char = (0x01..=0x1f).contains(&c)
            || (0x7f..=0x9f).contains(&c)
            || (0xd800..=0xf8ff).contains(&c)
            || (0xfff0..=0xffff).contains(&c);
        if c == 0 || (c == ch('/') && lastc == ch('/')) || relative || invalid_char {
            return false;
        }
        lastc = c;
    }
    true
}

/// Characters a znode name may hold, some multi-byte, none special.
fn name_char() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => prop::char::range('a', 'z'),
        2 => prop::char::range('0', '9'),
        2 => prop::sample::select(vec!['-', '_', ':', ' ', '~', '.', '@', '=']),
        1 => prop::sample::select(vec!['é', 'ß', '中', '\u{a0}', '\u{d7ff}', '\u{f900}', '\u{ffef}']),
    ]
}

/// A valid name: 1-8 characters, not "." or "..".
fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(name_char(), 1..=8)
        .prop_map(|v| v.into_iter().collect::<String>())
        .prop_filter("relative", |n| n != "." && n != "..")
}

/// A valid absolute path: "/" or 1-6 names.
fn valid_path() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("/".to_owned()),
        20 => prop::collection::vec(name(), 1..=6).prop_map(|v| format!("/{}", v.join("/"))),
    ]
}

/// Characters ZooKeeper refuses in a path (besides NUL).
fn bad_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::char::range('\u{1}', '\u{1f}'),
        prop::char::range('\u{7f}', '\u{9f}'),
        prop::char::range('\u{e000}', '\u{f8ff}'),
        prop::char::range('\u{fff0}', '\u{ffff}'),
        prop::char::range('\u{10000}', '\u{10ffff}'),
    ]
}

/// Inserts `what` at a char boundary of `s` chosen by `at`.
fn insert_at(s: &str, at: prop::sample::Index, what: &str) -> String {
    let bounds: Vec<usize> = s
        .char_indices()
        .map(|(i, _)| i)
        .chain([s.len()])
        .filter(|&i| i > 0)
        .collect();
    let i = bounds[at.index(bounds.len())];
    format!("{}{what}{}", &s[..i], &s[i..])
}

/// A valid path with one defect.
fn near_valid_path() -> impl Strategy<Value = String> {
    let named = prop::collection::vec(name(), 1..=5).prop_map(|v| format!("/{}", v.join("/")));
    (named, any::<prop::sample::Index>(), bad_char(), 0..8u8).prop_map(
        |(p, at, bad, how)| match how {
            0 => insert_at(&p, at, &bad.to_string()),
            1 => insert_at(&p, at, "\0"),
            2 => insert_at(&p, at, "//"),
            3 => format!("{p}/"),
            4 => p[1..].to_owned(),
            5 => format!("{p}/."),
            6 => format!("{p}/../x"),
            _ => p.replacen('/', "/./", 1),
        },
    )
}

#[test]
fn valid_paths_are_accepted() {
    proptest!(config(4000), |(p in valid_path())| {
        prop_assert!(zookeeper_accepts(&p, false), "model refuses {p:?}");
        prop_assert!(check_path(&p, false).is_ok(), "{p:?}: {:?}", check_path(&p, false));
        // A sequential create takes the same path, or it as a prefix ending in '/'.
        prop_assert!(check_path(&p, true).is_ok(), "{p:?}");
        if p != "/" {
            let prefix = format!("{p}/");
            prop_assert!(check_path(&prefix, true).is_ok(), "{prefix:?}");
            prop_assert!(refused_as(check_path(&prefix, false), Argument::Path).is_ok());
        }
    });
}

#[test]
fn near_valid_paths_are_refused_with_a_typed_error() {
    proptest!(config(4000), |(p in near_valid_path())| {
        prop_assert!(!zookeeper_accepts(&p, false), "the model accepts {p:?}");
        let r = check_path(&p, false);
        prop_assert!(refused_as(r, Argument::Path).is_ok(), "{p:?}: {:?}", check_path(&p, false));
    });
}

/// Any text from a path-like alphabet, valid or not, either way: zkha
/// decides as ZooKeeper does, for plain and sequential creates.
#[test]
fn paths_are_judged_as_zookeeper_judges_them() {
    let alphabet = prop_oneof![
        6 => Just('/'),
        3 => Just('.'),
        6 => prop::char::range('a', 'c'),
        1 => Just('\0'),
        1 => bad_char(),
        1 => name_char(),
    ];
    let text =
        prop::collection::vec(alphabet, 0..12).prop_map(|v| v.into_iter().collect::<String>());
    proptest!(config(6000), |(p in text, seq in any::<bool>())| {
        let model = zookeeper_accepts(&p, seq);
        match check_path(&p, seq) {
            Ok(()) => prop_assert!(model, "zkha accepts {p:?} (seq {seq}), ZooKeeper would not"),
            Err(e) => {
                prop_assert!(!model, "zkha refuses {p:?} (seq {seq}), ZooKeeper would not: {e}");
                prop_assert!(refused_as(Err::<(), _>(e), Argument::Path).is_ok());
            }
        }
    });
}

// ---- hosts ----

fn hostname() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", 1..=3).prop_map(|v| v.join("."))
}

/// One `host:port` entry: a name, an IPv4 address, or `[IPv6]`.
fn entry() -> impl Strategy<Value = String> {
    let host = prop_oneof![
        hostname(),
        any::<u32>().prop_map(|a| Ipv4Addr::from(a).to_string()),
        any::<u128>().prop_map(|a| format!("[{}]", Ipv6Addr::from(a))),
        Just("[::1]".to_owned()),
    ];
    (host, 1..=65535u32).prop_map(|(h, p)| format!("{h}:{p}"))
}

/// A valid connect string: 1-4 entries, an optional chroot.
fn valid_hosts() -> impl Strategy<Value = String> {
    let chroot = prop_oneof![
        3 => Just(String::new()),
        1 => Just("/".to_owned()),
        3 => valid_path(),
    ];
    (prop::collection::vec(entry(), 1..=4), chroot)
        .prop_map(|(entries, chroot)| format!("{}{chroot}", entries.join(",")))
}

/// A valid connect string with one defect.
fn near_valid_hosts() -> impl Strategy<Value = String> {
    let entries = prop::collection::vec(entry(), 1..=3);
    (
        entries,
        any::<prop::sample::Index>(),
        0..12u8,
        65536..=200_000u32,
    )
        .prop_map(|(mut e, at, how, big)| {
            let i = at.index(e.len());
            let (host, _) = e[i].rsplit_once(':').unwrap();
            let host = host.to_owned();
            match how {
                0 => e[i] = format!("{host}:0"),
                1 => e[i] = format!("{host}:{big}"),
                2 => e[i] = host,
                3 => e[i] = format!("{host}:"),
                4 => e[i] = format!("{host}:+1"),
                5 => e[i] = format!("{host}:x"),
                6 => e[i] = String::new(),
                7 => e[i] = format!(":{}", &e[i][e[i].rfind(':').unwrap() + 1..]),
                8 => e[i] = format!("{} ", e[i]),
                9 => e[i] = format!("::1:{}", &e[i][e[i].rfind(':').unwrap() + 1..]),
                10 => e[i].push('\0'),
                _ => {
                    let last = e.len() - 1;
                    e[last].push_str("/a/");
                }
            }
            e.join(",")
        })
}

#[test]
fn valid_hosts_are_accepted() {
    proptest!(config(4000), |(h in valid_hosts())| {
        prop_assert!(check_hosts(&h).is_ok(), "{h:?}: {:?}", check_hosts(&h));
    });
}

#[test]
fn near_valid_hosts_are_refused_with_a_typed_error() {
    proptest!(config(4000), |(h in near_valid_hosts())| {
        prop_assert!(refused_as(check_hosts(&h), Argument::Hosts).is_ok(), "{h:?}: {:?}", check_hosts(&h));
    });
}

// ---- client ids ----

/// `(text, id, password)`: `0x<1-16 hex>:<32 hex>`, any case, "0x", "0X"
/// or no prefix, maybe padded with spaces.
fn client_id_text() -> impl Strategy<Value = (String, i64, [u8; 16])> {
    (
        "[0-9a-fA-F]{1,16}",
        prop::sample::select(vec!["0x", "0X", ""]),
        any::<[u8; 16]>(),
        any::<bool>(),
        prop::sample::select(vec!["", " ", "\t"]),
    )
        .prop_map(|(hex, prefix, pw, upper, pad)| {
            let id = u64::from_str_radix(&hex, 16).unwrap() as i64;
            let pw_hex: String = pw
                .iter()
                .map(|b| {
                    if upper {
                        format!("{b:02X}")
                    } else {
                        format!("{b:02x}")
                    }
                })
                .collect();
            (format!("{pad}{prefix}{hex}:{pw_hex}{pad}"), id, pw)
        })
}

/// A valid client id text with one defect.
fn near_valid_client_id() -> impl Strategy<Value = String> {
    (
        client_id_text(),
        0..10u8,
        "[g-zG-Z+]",
        any::<prop::sample::Index>(),
    )
        .prop_map(|((text, id, _), how, junk, at)| {
            let text = text.trim().to_owned();
            let (head, pw) = text.split_once(':').unwrap();
            let pos = at.index(pw.len());
            match how {
                0 => text.replacen(':', "", 1),
                1 => format!("0x{:017x}:{pw}", id as u64),
                2 => format!("0x:{pw}"),
                3 => format!("{head}:{}", &pw[1..]),
                4 => format!("{head}:{pw}0"),
                5 => format!("{head}:{}{junk}{}", &pw[..pos], &pw[pos + 1..]),
                6 => format!("{}{junk}:{pw}", head),
                // A sign where a hex digit belongs (Rust's hex parser takes it).
                9 => format!("0x+{}:{pw}", id % 0xfff_ffff),
                // 32 bytes of password, but not 32 ASCII characters.
                7 => format!("{head}:{}é", &pw[..30]),
                _ => format!("{head}:{}é{}", &pw[..pos.min(30)], &pw[pos.min(30) + 2..]),
            }
        })
}

#[test]
fn valid_client_id_texts_parse_and_round_trip() {
    proptest!(config(4000), |((text, id, pw) in client_id_text())| {
        let parsed: ClientId = text.parse().map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(parsed.id, id);
        prop_assert_eq!(parsed.passwd, pw);
        // The canonical text: 0x, lower-case hex, the 32-digit password.
        let canonical = parsed.to_string();
        let pw_hex: String = pw.iter().map(|b| format!("{b:02x}")).collect();
        prop_assert_eq!(&canonical, &format!("{:#x}:{pw_hex}", id as u64));
        prop_assert_eq!(canonical.parse::<ClientId>().unwrap(), parsed);
        prop_assert_eq!(ClientId::from_bytes(&parsed.to_bytes()).unwrap(), parsed);
    });
}

#[test]
fn near_valid_client_id_texts_are_refused_with_a_typed_error() {
    proptest!(config(4000), |(text in near_valid_client_id())| {
        prop_assert!(refused_as(text.parse::<ClientId>(), Argument::ClientId).is_ok(), "{text:?}: {:?}", text.parse::<ClientId>());
    });
}

#[test]
fn client_id_bytes_of_every_length() {
    proptest!(config(2000), |(bytes in prop::collection::vec(any::<u8>(), 0..=48))| {
        match ClientId::from_bytes(&bytes) {
            Ok(id) => {
                prop_assert_eq!(bytes.len(), ClientId::BYTES);
                prop_assert_eq!(id.to_bytes().to_vec(), bytes);
            }
            Err(e) => {
                prop_assert_ne!(bytes.len(), ClientId::BYTES);
                prop_assert!(refused_as(Err::<(), _>(e), Argument::ClientId).is_ok());
            }
        }
    });
}

/// Arbitrary text never panics any parser; a refusal is always typed.
#[test]
fn arbitrary_text_never_panics() {
    proptest!(config(3000), |(t in ".{0,40}", seq in any::<bool>())| {
        if let Err(e) = check_path(&t, seq) {
            prop_assert!(refused_as(Err::<(), _>(e), Argument::Path).is_ok());
        }
        if let Err(e) = check_hosts(&t) {
            prop_assert!(refused_as(Err::<(), _>(e), Argument::Hosts).is_ok());
        }
        if let Err(e) = t.parse::<ClientId>() {
            prop_assert!(refused_as(Err::<(), _>(e), Argument::ClientId).is_ok());
        }
    });
}
