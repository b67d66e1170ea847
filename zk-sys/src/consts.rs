//! The C client's `extern const int` values as Rust `const`s, usable in
//! `match` patterns. Values from zookeeper.c / zk_adaptor.h of the pinned
//! release; `tests` below (and `cargo test -p zk-sys`) check every one against
//! the linked C library at run time.

use std::os::raw::c_int;

macro_rules! c_consts {
    ($( $(#[$doc:meta])* $name:ident = $value:expr; )*) => {
        $( $(#[$doc])* pub const $name: c_int = $value; )*

        /// `(name, Rust const, C value read at run time)` for every constant above.
        pub fn compare_with_c() -> Vec<(&'static str, c_int, c_int)> {
            // SAFETY: each name is an immutable `extern const int` defined by
            // the linked C client; reading it is a plain load.
            vec![$( (stringify!($name), $name, unsafe { crate::$name }) ),*]
        }
    };
}

c_consts! {
    /// Interest flags for `zookeeper_interest`.
    ZOOKEEPER_WRITE = 1 << 0;
    ZOOKEEPER_READ = 1 << 1;

    /// Create modes.
    ZOO_PERSISTENT = 0;
    ZOO_EPHEMERAL = 1;
    ZOO_PERSISTENT_SEQUENTIAL = 2;
    ZOO_EPHEMERAL_SEQUENTIAL = 3;
    ZOO_CONTAINER = 4;
    ZOO_PERSISTENT_WITH_TTL = 5;
    ZOO_PERSISTENT_SEQUENTIAL_WITH_TTL = 6;
    /// Legacy create flag (the design's `ZOO_EPHEMERAL|ZOO_SEQUENCE`, S7).
    ZOO_SEQUENCE = 1 << 1;

    /// Session states.
    ZOO_EXPIRED_SESSION_STATE = -112;
    ZOO_AUTH_FAILED_STATE = -113;
    ZOO_CONNECTING_STATE = 1;
    ZOO_ASSOCIATING_STATE = 2;
    ZOO_CONNECTED_STATE = 3;
    ZOO_READONLY_STATE = 5;
    ZOO_SSL_CONNECTING_STATE = 7;
    ZOO_NOTCONNECTED_STATE = 999;

    /// Watch event types.
    ZOO_CREATED_EVENT = 1;
    ZOO_DELETED_EVENT = 2;
    ZOO_CHANGED_EVENT = 3;
    ZOO_CHILD_EVENT = 4;
    ZOO_SESSION_EVENT = -1;
    ZOO_NOTWATCHING_EVENT = -2;

    /// ACL permissions.
    ZOO_PERM_READ = 1 << 0;
    ZOO_PERM_WRITE = 1 << 1;
    ZOO_PERM_CREATE = 1 << 2;
    ZOO_PERM_DELETE = 1 << 3;
    ZOO_PERM_ADMIN = 1 << 4;
    ZOO_PERM_ALL = 0x1f;
}

/// Every `extern const int` declared by the bound zookeeper.h (from build.rs).
pub mod header {
    include!(concat!(env!("OUT_DIR"), "/header_consts.rs"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_const_equals_the_c_value() {
        let table = compare_with_c();
        let wrong: Vec<_> = table.iter().filter(|(_, r, c)| r != c).collect();
        assert!(wrong.is_empty(), "Rust consts differ from C: {wrong:?}");
        // ZOO_EPHEMERAL|ZOO_SEQUENCE is the design's sequential ephemeral mode.
        assert_eq!(ZOO_EPHEMERAL | ZOO_SEQUENCE, ZOO_EPHEMERAL_SEQUENTIAL);
    }

    #[test]
    fn every_header_const_has_a_rust_const() {
        let ours: Vec<&str> = compare_with_c().iter().map(|(n, _, _)| *n).collect();
        assert!(
            header::HEADER_CONST_INTS.len() >= 25,
            "header parse found too few constants"
        );
        let missing: Vec<_> = header::HEADER_CONST_INTS
            .iter()
            .filter(|n| !ours.contains(n))
            .collect();
        assert!(missing.is_empty(), "no Rust const for {missing:?}");
    }
}
