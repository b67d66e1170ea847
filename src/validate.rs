//! Input checks done before anything reaches the C client, where C would
//! crash (NULL), truncate silently (an inner NUL), or fail late with an
//! unhelpful errno (a malformed hosts string).

use crate::error::{Argument, Error};
use std::ffi::CString;
use std::time::Duration;

/// The largest node data zkha sends: ZooKeeper's 1 MiB limit. (The server's
/// `jute.maxbuffer`, 1 MiB - 1 by default, bounds the whole request, so data
/// near this size also needs a server configured for it.)
pub const MAX_DATA_LEN: usize = 1 << 20;

/// Checks a znode path the way ZooKeeper does (`PathUtils.validatePath`):
/// absolute, no empty, `.` or `..` component, no trailing `/` (except for
/// the root), no NUL, control or private use characters, and none above
/// U+FFFF (the server sees their surrogates). A sequential create's path is
/// checked as the server does, with its number appended: its last name may
/// be empty (`/queue/`), `.` or `..`.
pub fn check_path(path: &str, sequential: bool) -> Result<(), Error> {
    let bad = |why: &str| Err(Error::invalid(Argument::Path, format!("{path:?}: {why}")));
    if path.is_empty() {
        return bad("empty path");
    }
    if !path.starts_with('/') {
        return bad("must start with '/'");
    }
    if let Some(c) = path.chars().find(|&c| c == '\0') {
        return bad(&format!("contains NUL ({c:?})"));
    }
    // PathUtils refuses the UTF-16 units U+0001-U+001F, U+007F-U+009F,
    // U+D800-U+F8FF and U+FFF0-U+FFFF. Java holds every character above
    // U+FFFF as two surrogates (U+D800-U+DFFF), so those are refused too.
    if let Some(c) = path.chars().find(|&c| {
        ('\u{1}'..='\u{1f}').contains(&c)
            || ('\u{7f}'..='\u{9f}').contains(&c)
            || ('\u{e000}'..='\u{f8ff}').contains(&c)
            // U+FFF0-U+FFFF, and everything above (surrogates in Java).
            || c >= '\u{fff0}'
    }) {
        return bad(&format!("contains the invalid character {c:?}"));
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') && !sequential {
        return bad("must not end with '/'");
    }
    // The server appends a sequential create's number to its last name
    // (ZooKeeper checks the path with "1" appended): that name may be empty
    // (a trailing '/'), "." or "..".
    let parts: Vec<&str> = path[1..].split('/').collect();
    let checked = if sequential {
        &parts[..parts.len() - 1]
    } else {
        &parts[..]
    };
    for part in checked {
        match *part {
            "" => return bad("empty component (\"//\")"),
            "." | ".." => return bad("relative component ('.' or '..')"),
            _ => {}
        }
    }
    Ok(())
}

/// `check_path` then a C string.
pub(crate) fn c_path(path: &str, sequential: bool) -> Result<CString, Error> {
    check_path(path, sequential)?;
    CString::new(path).map_err(|_| Error::invalid(Argument::Path, "contains NUL"))
}

/// Checks a connect string: `host:port[,host:port…][/chroot]`, hosts being
/// names, IPv4 or `[IPv6]` addresses, ports 1–65535.
pub fn check_hosts(hosts: &str) -> Result<(), Error> {
    let bad = |why: String| Err(Error::invalid(Argument::Hosts, format!("{hosts:?}: {why}")));
    if hosts.is_empty() {
        return bad("empty hosts string".into());
    }
    if hosts.contains('\0') {
        return bad("contains NUL".into());
    }
    let (list, chroot) = match hosts.find('/') {
        Some(i) => (&hosts[..i], Some(&hosts[i..])),
        None => (hosts, None),
    };
    // (The chroot is a path, where spaces are allowed.)
    if let Some(c) = list.chars().find(|c| c.is_whitespace()) {
        return bad(format!("contains whitespace ({c:?})"));
    }
    for entry in list.split(',') {
        if entry.is_empty() {
            return bad("empty entry (stray ',')".into());
        }
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            match rest.split_once("]:") {
                Some((h, p)) => (h, p),
                None => return bad(format!("{entry:?} is not [ipv6]:port")),
            }
        } else {
            match entry.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, p),
                Some(_) => return bad(format!("{entry:?}: write IPv6 addresses as [addr]:port")),
                None => return bad(format!("{entry:?} has no port (host:port)")),
            }
        };
        if host.is_empty() {
            return bad(format!("{entry:?} has no host"));
        }
        match port.parse::<u32>() {
            Ok(p) if (1..=65535).contains(&p) && !port.starts_with('+') => {}
            _ => return bad(format!("{entry:?}: port {port:?} is not in 1-65535")),
        }
    }
    if let Some(chroot) = chroot {
        if chroot != "/" {
            check_path(chroot, false)
                .map_err(|e| Error::invalid(Argument::Hosts, format!("{hosts:?}: chroot: {e}")))?;
        }
    }
    Ok(())
}

/// The longest timeout the C client takes, in ms: its `int`.
pub const MAX_TIMEOUT_MS: u64 = i32::MAX as u64;

/// The timeout rule, the one place it is written: a session timeout (or any
/// timeout handed to the C client) is 1 ms to [`MAX_TIMEOUT_MS`], the C
/// `int` it becomes. `ms` as that `int`, or `None` out of range: never
/// truncated, never a default. Callers that speak of flags or fields
/// phrase their own error around it.
pub fn timeout_ms<T: TryInto<i32>>(ms: T) -> Option<i32> {
    ms.try_into().ok().filter(|&ms| ms >= 1)
}

/// A positive timeout in milliseconds that fits a C `int` ([`timeout_ms`]).
pub fn check_timeout_ms(ms: i64, what: &str) -> Result<i32, Error> {
    timeout_ms(ms).ok_or_else(|| {
        let why = if ms <= 0 {
            format!("{what} must be positive, got {ms} ms")
        } else {
            format!("{what} of {ms} ms is too large")
        };
        Error::invalid(Argument::Timeout, why)
    })
}

/// An elector's session timeout ([`timeout_ms`], in whole ms), as the C
/// client's `int`.
pub fn check_session_timeout(timeout: Duration) -> Result<i32, Error> {
    timeout_ms(timeout.as_millis()).ok_or_else(|| {
        Error::invalid(
            Argument::Timeout,
            format!(
                "session timeout must be 1 ms to {MAX_TIMEOUT_MS} ms, got {} ms",
                timeout.as_millis()
            ),
        )
    })
}

/// Node data no larger than [`MAX_DATA_LEN`].
pub fn check_data(data: &[u8]) -> Result<(), Error> {
    if data.len() > MAX_DATA_LEN {
        return Err(Error::invalid(
            Argument::Data,
            format!(
                "{} bytes exceed ZooKeeper's limit of {MAX_DATA_LEN}",
                data.len()
            ),
        ));
    }
    Ok(())
}

/// A C string for a text argument that must not contain NUL.
pub(crate) fn c_text(text: &str, argument: Argument) -> Result<CString, Error> {
    CString::new(text).map_err(|_| Error::invalid(argument, format!("{text:?} contains NUL")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        for ok in ["/", "/a", "/master/test", "/a/b.c/..d", "/ü"] {
            assert!(check_path(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/a\0b",
            "/a/./b",
            "/a/..",
            "/\u{1}",
            "/\u{f000}",
        ] {
            assert!(
                matches!(
                    check_path(bad, false),
                    Err(Error::InvalidArgument {
                        argument: Argument::Path,
                        ..
                    })
                ),
                "{bad:?} accepted"
            );
        }
        // PathUtils' character ranges, at their edges, and just outside.
        for c in [
            '\u{1}',
            '\u{1f}',
            '\u{7f}',
            '\u{9f}',
            '\u{e000}',
            '\u{f8ff}',
            '\u{fff0}',
            '\u{ffff}',
            '\u{10000}',
            '\u{10ffff}',
        ] {
            let p = format!("/a{c}b");
            let err = check_path(&p, false).unwrap_err().to_string();
            assert!(err.contains("invalid character"), "{p:?}: {err}");
        }
        for c in [' ', '~', '\u{a0}', '\u{d7ff}', '\u{f900}', '\u{ffef}'] {
            assert!(check_path(&format!("/a{c}b"), false).is_ok(), "{c:?}");
        }
        // ZooKeeper checks a sequential path with the number appended: its
        // last name may be "." or "..", as "/a/.0000000001" is a name.
        for ok in ["/a/.", "/a/..", "/.", "/q/n-", "/q/"] {
            assert!(check_path(ok, true).is_ok(), "{ok:?} (sequential)");
        }
        for bad in ["/a/./", "/a/../x", "/./x/", "/a//", "//"] {
            assert!(check_path(bad, true).is_err(), "{bad:?} (sequential)");
        }
        assert!(check_path("/queue/", true).is_ok());
        assert!(check_path("/queue/n-", true).is_ok());
        assert!(check_path("/a//", true).is_err());
    }

    #[test]
    fn hosts() {
        for ok in [
            "127.0.0.1:2181",
            "a:1,b:65535",
            "zk1:2181,zk2:2181/chroot/x",
            "[::1]:2181",
            "h:2181/",
            // The chroot is a path: spaces are allowed there.
            "h:2181/my app/x\u{a0}y",
        ] {
            assert!(check_hosts(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "host",
            "host:",
            ":2181",
            "h:0",
            "h:65536",
            "h:x",
            "a:1,",
            ",a:1",
            "a:1, b:2",
            "h:1\0",
            "::1:2181",
            "[::1]2181",
            "h:1/a/",
            "h:+1",
            "h:1 /x",
            "h :1/x",
        ] {
            assert!(
                matches!(
                    check_hosts(bad),
                    Err(Error::InvalidArgument {
                        argument: Argument::Hosts,
                        ..
                    })
                ),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn timeouts_and_data() {
        assert_eq!(check_timeout_ms(5000, "t").unwrap(), 5000);
        assert!(check_timeout_ms(0, "t").is_err());
        assert!(check_timeout_ms(-1, "t").is_err());
        assert!(check_timeout_ms(i64::from(i32::MAX) + 1, "t").is_err());
        // The rule's edges, whatever the integer type.
        assert_eq!(timeout_ms(1u64), Some(1));
        assert_eq!(timeout_ms(MAX_TIMEOUT_MS), Some(i32::MAX));
        assert_eq!(timeout_ms(0i64), None);
        assert_eq!(timeout_ms(-1i64), None);
        assert_eq!(timeout_ms(MAX_TIMEOUT_MS + 1), None);
        assert_eq!(timeout_ms(u128::from(u64::MAX)), None);
        let ms = Duration::from_millis;
        assert_eq!(check_session_timeout(ms(5000)).unwrap(), 5000);
        assert_eq!(check_session_timeout(ms(MAX_TIMEOUT_MS)).unwrap(), i32::MAX);
        // Not truncated to 5000 (2^32 + 5000 as an `int`).
        for bad in [
            Duration::ZERO,
            Duration::from_micros(999),
            ms(MAX_TIMEOUT_MS + 1),
            ms((1 << 32) + 5000),
        ] {
            let e = check_session_timeout(bad).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::InvalidArgument {
                        argument: Argument::Timeout,
                        ..
                    }
                ),
                "{bad:?}: {e}"
            );
            assert!(
                e.to_string()
                    .contains("session timeout must be 1 ms to 2147483647 ms"),
                "{e}"
            );
        }
        assert!(check_data(&vec![0; MAX_DATA_LEN]).is_ok());
        assert!(check_data(&vec![0; MAX_DATA_LEN + 1]).is_err());
    }
}
