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
    /// Interest flag for `zookeeper_interest`: the socket is to be written.
    ZOOKEEPER_WRITE = 1 << 0;
    /// Interest flag for `zookeeper_interest`: the socket is to be read.
    ZOOKEEPER_READ = 1 << 1;

    /// Create mode: a persistent node.
    ZOO_PERSISTENT = 0;
    /// Create mode: an ephemeral node, deleted when its session ends.
    ZOO_EPHEMERAL = 1;
    /// Create mode: persistent, with a sequence number appended to the name.
    ZOO_PERSISTENT_SEQUENTIAL = 2;
    /// Create mode: ephemeral, with a sequence number appended to the name.
    ZOO_EPHEMERAL_SEQUENTIAL = 3;
    /// Create mode: a container node, deleted by the server once its last
    /// child is gone.
    ZOO_CONTAINER = 4;
    /// Create mode: persistent, deleted once childless for its TTL.
    ZOO_PERSISTENT_WITH_TTL = 5;
    /// Create mode: persistent sequential, with a TTL.
    ZOO_PERSISTENT_SEQUENTIAL_WITH_TTL = 6;
    /// Legacy create flag (the design's `ZOO_EPHEMERAL|ZOO_SEQUENCE`, S7).
    ZOO_SEQUENCE = 1 << 1;

    /// Session state: the session expired (only a new handle helps).
    ZOO_EXPIRED_SESSION_STATE = -112;
    /// Session state: authentication failed (only a new handle helps).
    ZOO_AUTH_FAILED_STATE = -113;
    /// Session state: connecting to a server.
    ZOO_CONNECTING_STATE = 1;
    /// Session state: connected, the session handshake in progress.
    ZOO_ASSOCIATING_STATE = 2;
    /// Session state: connected.
    ZOO_CONNECTED_STATE = 3;
    /// Session state: connected to a read-only server.
    ZOO_READONLY_STATE = 5;
    /// Session state: the SSL handshake in progress (SSL builds only).
    ZOO_SSL_CONNECTING_STATE = 7;
    /// Session state: not connected (no server tried yet, or closed).
    ZOO_NOTCONNECTED_STATE = 999;

    /// Watch event: the node was created.
    ZOO_CREATED_EVENT = 1;
    /// Watch event: the node was deleted.
    ZOO_DELETED_EVENT = 2;
    /// Watch event: the node's data changed.
    ZOO_CHANGED_EVENT = 3;
    /// Watch event: the node's children changed.
    ZOO_CHILD_EVENT = 4;
    /// Watch event: the session's state changed.
    ZOO_SESSION_EVENT = -1;
    /// Watch event: the watch was removed (no further events).
    ZOO_NOTWATCHING_EVENT = -2;

    /// ACL permission: read the data and list the children.
    ZOO_PERM_READ = 1 << 0;
    /// ACL permission: set the data.
    ZOO_PERM_WRITE = 1 << 1;
    /// ACL permission: create children.
    ZOO_PERM_CREATE = 1 << 2;
    /// ACL permission: delete children.
    ZOO_PERM_DELETE = 1 << 3;
    /// ACL permission: set the ACL.
    ZOO_PERM_ADMIN = 1 << 4;
    /// ACL permission: all of the above.
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
