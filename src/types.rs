//! Plain Rust forms of the C client's values: states, event types, create
//! modes, `Stat`, ACLs and client ids. Enums keep unknown raw values.

use crate::error::{Argument, Error};
use std::fmt;
use std::os::raw::c_int;
use std::str::FromStr;
use zk_sys::consts as c;

macro_rules! raw_enum {
    ($(#[$m:meta])* $name:ident { $( $(#[$d:meta])* $variant:ident = $c:path, )* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$d])* $variant, )*
            /// A value this version does not know, kept as is.
            Unknown(i32),
        }

        impl $name {
            /// From the C value; unknown values are kept.
            pub fn from_raw(raw: c_int) -> Self {
                match raw {
                    $( $c => $name::$variant, )*
                    other => $name::Unknown(other),
                }
            }

            /// The C value.
            pub fn raw(self) -> c_int {
                match self {
                    $( $name::$variant => $c, )*
                    $name::Unknown(raw) => raw,
                }
            }
        }
    };
}

raw_enum! {
    /// A session state (`zoo_state`, and the `state` of watcher calls).
    State {
        /// ZOO_EXPIRED_SESSION_STATE (-112): the session is gone for good.
        Expired = c::ZOO_EXPIRED_SESSION_STATE,
        /// ZOO_AUTH_FAILED_STATE (-113).
        AuthFailed = c::ZOO_AUTH_FAILED_STATE,
        /// ZOO_CONNECTING_STATE (1).
        Connecting = c::ZOO_CONNECTING_STATE,
        /// ZOO_ASSOCIATING_STATE (2).
        Associating = c::ZOO_ASSOCIATING_STATE,
        /// ZOO_CONNECTED_STATE (3).
        Connected = c::ZOO_CONNECTED_STATE,
        /// ZOO_READONLY_STATE (5).
        ReadOnly = c::ZOO_READONLY_STATE,
        /// ZOO_SSL_CONNECTING_STATE (7).
        SslConnecting = c::ZOO_SSL_CONNECTING_STATE,
        /// ZOO_NOTCONNECTED_STATE (999).
        NotConnected = c::ZOO_NOTCONNECTED_STATE,
    }
}

raw_enum! {
    /// A watch event type (the `type` of watcher calls).
    EventType {
        /// ZOO_CREATED_EVENT (1).
        Created = c::ZOO_CREATED_EVENT,
        /// ZOO_DELETED_EVENT (2).
        Deleted = c::ZOO_DELETED_EVENT,
        /// ZOO_CHANGED_EVENT (3).
        Changed = c::ZOO_CHANGED_EVENT,
        /// ZOO_CHILD_EVENT (4).
        Child = c::ZOO_CHILD_EVENT,
        /// ZOO_SESSION_EVENT (-1).
        Session = c::ZOO_SESSION_EVENT,
        /// ZOO_NOTWATCHING_EVENT (-2).
        NotWatching = c::ZOO_NOTWATCHING_EVENT,
    }
}

/// One watcher call, with exactly the C values: `(type, state, path)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    /// The event type.
    pub event_type: EventType,
    /// The session state at the time of the event.
    pub state: State,
    /// The node path (empty for session events, as C passes "").
    pub path: String,
}

/// How a node is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateMode {
    /// ZOO_PERSISTENT.
    Persistent,
    /// ZOO_EPHEMERAL: deleted when the session ends.
    Ephemeral,
    /// ZOO_PERSISTENT_SEQUENTIAL.
    PersistentSequential,
    /// ZOO_EPHEMERAL_SEQUENTIAL (the design's `ZOO_EPHEMERAL|ZOO_SEQUENCE`, S7).
    EphemeralSequential,
    /// ZOO_CONTAINER: deleted by the server once its last child is gone.
    Container,
    /// ZOO_PERSISTENT_WITH_TTL: deleted after `ttl_ms` without changes or children.
    PersistentWithTtl {
        /// Time to live in milliseconds (positive; the server must enable TTL nodes).
        ttl_ms: i64,
    },
    /// ZOO_PERSISTENT_SEQUENTIAL_WITH_TTL.
    PersistentSequentialWithTtl {
        /// Time to live in milliseconds.
        ttl_ms: i64,
    },
}

impl CreateMode {
    /// The C mode value.
    pub fn raw(self) -> c_int {
        match self {
            CreateMode::Persistent => c::ZOO_PERSISTENT,
            CreateMode::Ephemeral => c::ZOO_EPHEMERAL,
            CreateMode::PersistentSequential => c::ZOO_PERSISTENT_SEQUENTIAL,
            CreateMode::EphemeralSequential => c::ZOO_EPHEMERAL_SEQUENTIAL,
            CreateMode::Container => c::ZOO_CONTAINER,
            CreateMode::PersistentWithTtl { .. } => c::ZOO_PERSISTENT_WITH_TTL,
            CreateMode::PersistentSequentialWithTtl { .. } => c::ZOO_PERSISTENT_SEQUENTIAL_WITH_TTL,
        }
    }

    /// The TTL passed to `zoo_create*_ttl` (-1 when none).
    pub fn ttl(self) -> i64 {
        match self {
            CreateMode::PersistentWithTtl { ttl_ms }
            | CreateMode::PersistentSequentialWithTtl { ttl_ms } => ttl_ms,
            _ => -1,
        }
    }

    /// Whether the server appends a sequence number to the path.
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl { .. }
        )
    }
}

/// A node's metadata (`struct Stat`), as a plain struct.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    /// The zxid of the change that created the node.
    pub czxid: i64,
    /// The zxid of the last change to the node's data.
    pub mzxid: i64,
    /// Creation time, ms since the epoch.
    pub ctime: i64,
    /// Last modification time, ms since the epoch.
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// Children version.
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
    /// The owning session of an ephemeral node, else 0.
    pub ephemeral_owner: i64,
    /// Data length in bytes.
    pub data_length: i32,
    /// Number of children.
    pub num_children: i32,
    /// The zxid of the last change to the children.
    pub pzxid: i64,
}

impl From<zk_sys::Stat> for Stat {
    fn from(s: zk_sys::Stat) -> Self {
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            ephemeral_owner: s.ephemeralOwner,
            data_length: s.dataLength,
            num_children: s.numChildren,
            pzxid: s.pzxid,
        }
    }
}

/// ACL permission bits (`ZOO_PERM_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Perms(pub i32);

impl Perms {
    /// ZOO_PERM_READ.
    pub const READ: Perms = Perms(c::ZOO_PERM_READ);
    /// ZOO_PERM_WRITE.
    pub const WRITE: Perms = Perms(c::ZOO_PERM_WRITE);
    /// ZOO_PERM_CREATE.
    pub const CREATE: Perms = Perms(c::ZOO_PERM_CREATE);
    /// ZOO_PERM_DELETE.
    pub const DELETE: Perms = Perms(c::ZOO_PERM_DELETE);
    /// ZOO_PERM_ADMIN.
    pub const ADMIN: Perms = Perms(c::ZOO_PERM_ADMIN);
    /// ZOO_PERM_ALL.
    pub const ALL: Perms = Perms(c::ZOO_PERM_ALL);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Perms {
    type Output = Perms;
    fn bitor(self, rhs: Perms) -> Perms {
        Perms(self.0 | rhs.0)
    }
}

/// An ACL identity: scheme and id (`world:anyone`, `auth:`, `digest:user:hash`, `ip:…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Id {
    /// The scheme.
    pub scheme: String,
    /// The id within the scheme.
    pub id: String,
}

impl Id {
    /// `world:anyone` (ZOO_ANYONE_ID_UNSAFE).
    pub fn anyone() -> Id {
        Id {
            scheme: "world".into(),
            id: "anyone".into(),
        }
    }

    /// `auth:` — whoever created the node (ZOO_AUTH_IDS).
    pub fn creator() -> Id {
        Id {
            scheme: "auth".into(),
            id: String::new(),
        }
    }
}

/// One ACL entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Acl {
    /// What is allowed.
    pub perms: Perms,
    /// To whom.
    pub id: Id,
}

impl Acl {
    /// ZOO_OPEN_ACL_UNSAFE: anyone may do anything (the seed design's ACL; F10).
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: Perms::ALL,
            id: Id::anyone(),
        }]
    }

    /// ZOO_READ_ACL_UNSAFE: anyone may read.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: Perms::READ,
            id: Id::anyone(),
        }]
    }

    /// ZOO_CREATOR_ALL_ACL: only the authenticated creator may do anything.
    pub fn creator_all() -> Vec<Acl> {
        vec![Acl {
            perms: Perms::ALL,
            id: Id::creator(),
        }]
    }
}

/// A session's identity (`clientid_t`): 64-bit id and 16-byte password.
/// Saved, it lets a later `init` (even in another process) reattach to the
/// live session.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ClientId {
    /// The session id.
    pub id: i64,
    /// The session password.
    pub passwd: [u8; 16],
}

impl ClientId {
    /// Length of [`ClientId::to_bytes`].
    pub const BYTES: usize = 24;

    /// 8 bytes of id (big-endian) then the 16-byte password.
    pub fn to_bytes(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        out[..8].copy_from_slice(&self.id.to_be_bytes());
        out[8..].copy_from_slice(&self.passwd);
        out
    }

    /// Inverse of [`ClientId::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<ClientId, Error> {
        if bytes.len() != Self::BYTES {
            return Err(Error::invalid(
                Argument::ClientId,
                format!("{} bytes, expected {}", bytes.len(), Self::BYTES),
            ));
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&bytes[..8]);
        let mut passwd = [0u8; 16];
        passwd.copy_from_slice(&bytes[8..]);
        Ok(ClientId {
            id: i64::from_be_bytes(id),
            passwd,
        })
    }

    pub(crate) fn from_raw(raw: &zk_sys::clientid_t) -> ClientId {
        let mut passwd = [0u8; 16];
        for (d, s) in passwd.iter_mut().zip(raw.passwd.iter()) {
            *d = *s as u8;
        }
        ClientId {
            id: raw.client_id,
            passwd,
        }
    }

    pub(crate) fn to_raw(self) -> zk_sys::clientid_t {
        let mut raw = zk_sys::clientid_t {
            client_id: self.id,
            ..Default::default()
        };
        for (d, s) in raw.passwd.iter_mut().zip(self.passwd.iter()) {
            *d = *s as _;
        }
        raw
    }
}

/// Never shows the password (it grants the session).
impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({:#x}, passwd: <hidden>)", self.id)
    }
}

/// Text form `<id hex>:<password hex>`, e.g. `0x100000abc:00ff…` (32 hex
/// digits of password). It contains the session password: treat it as a secret.
impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}:", self.id)?;
        for b in self.passwd {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl FromStr for ClientId {
    type Err = Error;

    fn from_str(s: &str) -> Result<ClientId, Error> {
        let bad = |why: &str| {
            Error::invalid(
                Argument::ClientId,
                format!("{why} in {s:?}: expected <0xID>:<32 hex digits>"),
            )
        };
        let (id, pw) = s.trim().split_once(':').ok_or_else(|| bad("no ':'"))?;
        let id = id
            .strip_prefix("0x")
            .or_else(|| id.strip_prefix("0X"))
            .unwrap_or(id);
        // Hex digits only: from_str_radix would also take a leading '+'.
        if id.is_empty() || id.len() > 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("bad session id"));
        }
        let id = u64::from_str_radix(id, 16).map_err(|_| bad("bad session id"))? as i64;
        if pw.len() != 32 || !pw.is_ascii() {
            return Err(bad("bad password length"));
        }
        if !pw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("bad password hex"));
        }
        let mut passwd = [0u8; 16];
        for (i, b) in passwd.iter_mut().enumerate() {
            *b = u8::from_str_radix(&pw[2 * i..2 * i + 2], 16)
                .map_err(|_| bad("bad password hex"))?;
        }
        Ok(ClientId { id, passwd })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_and_keep_unknown() {
        for raw in [-113, -112, 0, 1, 2, 3, 5, 7, 999, 42] {
            assert_eq!(State::from_raw(raw).raw(), raw);
        }
        assert_eq!(State::from_raw(3), State::Connected);
        assert_eq!(State::from_raw(42), State::Unknown(42));
        for raw in [-2, -1, 1, 2, 3, 4, 17] {
            assert_eq!(EventType::from_raw(raw).raw(), raw);
        }
        assert_eq!(EventType::from_raw(-1), EventType::Session);
    }

    #[test]
    fn client_id_text_and_bytes_round_trip() {
        let id = ClientId {
            id: 0x1000_0065_9310_0000,
            passwd: *b"0123456789abcdef",
        };
        let text = id.to_string();
        assert!(text.starts_with("0x1000006593100000:3031"));
        assert_eq!(text.parse::<ClientId>().unwrap(), id);
        assert_eq!(ClientId::from_bytes(&id.to_bytes()).unwrap(), id);
        assert!(
            !format!("{id:?}").contains("3031"),
            "Debug leaks the password"
        );
        let negative = ClientId {
            id: -5,
            passwd: [7; 16],
        };
        assert_eq!(negative.to_string().parse::<ClientId>().unwrap(), negative);
        assert_eq!(ClientId::from_raw(&id.to_raw()), id);
    }

    #[test]
    fn bad_client_ids_are_typed_errors() {
        for bad in [
            "",
            "0x12",
            "zz:00",
            "0x1:abc",
            "0x1:0011223344556677889900aabbccddeg",
            "0x11111111111111111:00112233445566778899aabbccddeeff",
        ] {
            match bad.parse::<ClientId>() {
                Err(Error::InvalidArgument {
                    argument: Argument::ClientId,
                    ..
                }) => {}
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        assert!(ClientId::from_bytes(&[0; 23]).is_err());
    }
}
