//! Errors: the C client's `ZOO_ERRORS` codes, and what zkha adds around them.

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::raw::c_int;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $c:ident; )*) => {
        /// A return code of the C client (`enum ZOO_ERRORS`), except `ZOK`.
        /// Unknown codes are kept in [`ErrorCode::Unknown`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// A code this version does not know.
            Unknown(i32),
        }

        impl ErrorCode {
            /// The code for a raw C return value (`ZOK` is not an error: `None`).
            pub fn from_raw(rc: c_int) -> Option<ErrorCode> {
                match rc {
                    zk_sys::ZOK => None,
                    $( zk_sys::$c => Some(ErrorCode::$variant), )*
                    other => Some(ErrorCode::Unknown(other)),
                }
            }

            /// The raw C value.
            pub fn raw(self) -> c_int {
                match self {
                    $( ErrorCode::$variant => zk_sys::$c, )*
                    ErrorCode::Unknown(rc) => rc,
                }
            }

            /// The C constant's name, e.g. `"ZNONODE"`.
            pub fn name(self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => stringify!($c), )*
                    ErrorCode::Unknown(_) => "unknown",
                }
            }
        }

        #[cfg(test)]
        pub(crate) const ALL_KNOWN: &[c_int] = &[$( zk_sys::$c ),*];
    };
}

error_codes! {
    /// ZSYSTEMERROR
    SystemError = ZSYSTEMERROR;
    /// A runtime inconsistency was found.
    RuntimeInconsistency = ZRUNTIMEINCONSISTENCY;
    /// A data inconsistency was found.
    DataInconsistency = ZDATAINCONSISTENCY;
    /// The connection to the server was lost: the request may or may not
    /// have been applied.
    ConnectionLoss = ZCONNECTIONLOSS;
    /// Error while marshalling or unmarshalling data.
    MarshallingError = ZMARSHALLINGERROR;
    /// Operation is unimplemented.
    Unimplemented = ZUNIMPLEMENTED;
    /// Operation timeout: the request may or may not have been applied.
    OperationTimeout = ZOPERATIONTIMEOUT;
    /// Invalid arguments.
    BadArguments = ZBADARGUMENTS;
    /// Invalid handle state (e.g. expired or closed).
    InvalidState = ZINVALIDSTATE;
    /// No quorum of the new config is connected.
    NewConfigNoQuorum = ZNEWCONFIGNOQUORUM;
    /// Another reconfiguration is in progress.
    ReconfigInProgress = ZRECONFIGINPROGRESS;
    /// SSL connection error.
    SslConnectionError = ZSSLCONNECTIONERROR;
    /// ZAPIERROR
    ApiError = ZAPIERROR;
    /// The node does not exist.
    NoNode = ZNONODE;
    /// Not authenticated (the ACL denies it).
    NoAuth = ZNOAUTH;
    /// Version conflict.
    BadVersion = ZBADVERSION;
    /// Ephemeral nodes may not have children.
    NoChildrenForEphemerals = ZNOCHILDRENFOREPHEMERALS;
    /// The node already exists.
    NodeExists = ZNODEEXISTS;
    /// The node has children.
    NotEmpty = ZNOTEMPTY;
    /// The session has been expired by the server.
    SessionExpired = ZSESSIONEXPIRED;
    /// Invalid callback.
    InvalidCallback = ZINVALIDCALLBACK;
    /// Invalid ACL.
    InvalidAcl = ZINVALIDACL;
    /// Client authentication failed.
    AuthFailed = ZAUTHFAILED;
    /// The handle is closing.
    Closing = ZCLOSING;
    /// (not an error) no server responses to process.
    Nothing = ZNOTHING;
    /// The session moved to another server.
    SessionMoved = ZSESSIONMOVED;
    /// A write was sent to a read-only server.
    NotReadOnly = ZNOTREADONLY;
    /// Ephemeral node on a local session.
    EphemeralOnLocalSession = ZEPHEMERALONLOCALSESSION;
    /// The watcher could not be found.
    NoWatcher = ZNOWATCHER;
    /// Reconfiguration is disabled.
    ReconfigDisabled = ZRECONFIGDISABLED;
    /// The server requires SASL authentication.
    SessionClosedRequireSaslAuth = ZSESSIONCLOSEDREQUIRESASLAUTH;
    /// The request was throttled; retry.
    ThrottledOp = ZTHROTTLEDOP;
}

impl ErrorCode {
    /// Whether a call that failed with this code may still have been applied
    /// by the server: the request may have reached it, but its answer never
    /// came (`ZCONNECTIONLOSS`, `ZOPERATIONTIMEOUT`, `ZCLOSING`,
    /// `ZSESSIONEXPIRED`). A multi failing so reports every operation as
    /// [`crate::OpResult::Unknown`].
    pub fn leaves_outcome_unknown(self) -> bool {
        matches!(
            self,
            ErrorCode::ConnectionLoss
                | ErrorCode::OperationTimeout
                | ErrorCode::Closing
                | ErrorCode::SessionExpired
        )
    }

    /// The C client's own text for this code (`zerror`).
    pub fn zerror(self) -> String {
        // SAFETY: zerror returns a pointer to a static NUL-terminated string for
        // any int (an "unknown error" text for unknown codes).
        unsafe { CStr::from_ptr(zk_sys::zerror(self.raw())) }
            .to_string_lossy()
            .into_owned()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}){}", self.raw(), self.zerror())
    }
}

/// Which argument was rejected before reaching the C client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Argument {
    /// A znode path.
    Path,
    /// The hosts (connect) string.
    Hosts,
    /// A timeout.
    Timeout,
    /// Node data.
    Data,
    /// A client id (text or bytes).
    ClientId,
    /// An ACL or auth scheme / credential.
    Acl,
    /// TLS files or SASL credentials (never echoed: secrets stay out of
    /// the message).
    Auth,
    /// Anything else (named in the message).
    Other,
}

/// Every error of the zkha API.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The C client returned this code.
    Zk(ErrorCode),
    /// Input rejected before reaching C, where C would crash, truncate or
    /// misbehave.
    InvalidArgument {
        /// What was wrong.
        argument: Argument,
        /// Why, with the offending value.
        reason: String,
    },
    /// `zookeeper_init` returned NULL: the OS error (`errno`) it left.
    Init(io::Error),
    /// The handle was closed (by `close` or drop).
    Closed,
    /// A thread could not be started (the OS refused: a resource limit).
    Thread(io::Error),
    /// The elector was stopped (`stop`, `shutdown`, or a fatal error of its
    /// candidacy): it will not become master any more.
    Stopped,
    /// A fenced write ([`Mastership::fenced`](crate::elector::Mastership::fenced))
    /// of a term that is over: another term began (or the term is not
    /// known). Nothing was applied.
    NotMaster {
        /// The token of the term that wrote.
        token: i64,
    },
    /// A ZooKeeper call of the elector failed, with what it was doing and
    /// on which node.
    Op {
        /// What was asked (`create`, `multi`, `get`, ...).
        op: &'static str,
        /// The node.
        path: String,
        /// The C client's code.
        code: ErrorCode,
    },
    /// A wait ran out of time (e.g. waiting to connect).
    Timeout(&'static str),
    /// A multi failed: the first error, and every operation's result.
    Multi {
        /// The code `zoo_multi` returned.
        code: ErrorCode,
        /// Per-operation results: failed ones as `OpResult::Error`, the
        /// others `RolledBack`; all `OpResult::Unknown` when no answer came
        /// and the transaction may or may not have been applied.
        results: Vec<crate::OpResult>,
    },
    /// A call that waits for the C completion thread was made on that very
    /// thread, from a callback (watcher or completion): it would wait for
    /// itself forever, so it is refused. Names the call. In a callback use
    /// the async form, or [`crate::Pending::try_take`].
    CalledFromCallback(&'static str),
    /// No TLS session could be established within the connect wait: the
    /// handshake failed, or the server refused this client's certificate
    /// (the C client would otherwise retry forever, silently). The text
    /// says what was tried; it never holds a secret.
    Tls(String),
    /// SASL authentication failed: the server rejected the credentials
    /// (the session ends in AUTH_FAILED), or no authenticated session came
    /// within the connect wait. The text names the mechanism and user,
    /// never the password.
    SaslAuth(String),
}

impl Error {
    /// The C error code, if this is one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Zk(code) | Error::Multi { code, .. } | Error::Op { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub(crate) fn invalid(argument: Argument, reason: impl Into<String>) -> Error {
        Error::InvalidArgument {
            argument,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Zk(code) => write!(f, "{code}"),
            Error::InvalidArgument { argument, reason } => {
                write!(f, "invalid {argument:?}: {reason}")
            }
            Error::Init(e) => write!(f, "zookeeper_init failed: {e}"),
            Error::Closed => write!(f, "the ZooKeeper handle is closed"),
            Error::Stopped => write!(f, "the elector is stopped"),
            Error::Thread(e) => write!(f, "cannot start a thread: {e}"),
            Error::NotMaster { token } => write!(
                f,
                "not master: the term of token {token} ({token:#x}) is over, the write was not applied"
            ),
            Error::Op { op, path, code } => write!(f, "{op} {path}: {code}"),
            Error::Timeout(what) => write!(f, "timed out {what}"),
            Error::Multi { code, results } => {
                write!(f, "multi failed: {code} ({} operations)", results.len())
            }
            Error::Tls(what) => write!(f, "TLS connection failed: {what}"),
            Error::SaslAuth(what) => write!(f, "SASL authentication failed: {what}"),
            Error::CalledFromCallback(what) => write!(
                f,
                "{what} waits for the C completion thread and was called on it \
                 (from a callback); use its async form there"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Init(e) | Error::Thread(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Self {
        Error::Zk(code)
    }
}

/// `Ok(())` for `ZOK`, else the code as an error.
pub(crate) fn check(rc: c_int) -> Result<(), Error> {
    match ErrorCode::from_raw(rc) {
        None => Ok(()),
        Some(code) => Err(Error::Zk(code)),
    }
}

/// Result alias for the zkha API.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_keep_unknown_values() {
        for &rc in ALL_KNOWN {
            let code = ErrorCode::from_raw(rc).unwrap();
            assert!(!matches!(code, ErrorCode::Unknown(_)), "{rc} unmapped");
            assert_eq!(code.raw(), rc);
        }
        assert_eq!(ErrorCode::from_raw(0), None);
        assert_eq!(ErrorCode::from_raw(-999), Some(ErrorCode::Unknown(-999)));
        assert_eq!(ErrorCode::Unknown(-999).raw(), -999);
    }

    #[test]
    fn display_uses_zerror_text() {
        let e = Error::Zk(ErrorCode::NoNode);
        assert_eq!(e.to_string(), "(-101)no node");
        assert_eq!(ErrorCode::NodeExists.name(), "ZNODEEXISTS");
    }
}
