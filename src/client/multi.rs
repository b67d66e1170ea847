//! `zoo_multi` / `zoo_amulti`: several operations applied atomically.

use super::callback::{complete, take_completion, Keep};
use super::raw::{string_from_c, CAcl};
use crate::error::{Error, ErrorCode, Result};
use crate::types::{Acl, CreateMode, Stat};
use crate::validate::{c_path, check_data};
use crate::ZooKeeper;
use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_void};

/// One operation of a multi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `zoo_create_op_init`.
    Create {
        /// Node path.
        path: String,
        /// Node data.
        data: Vec<u8>,
        /// Node ACL.
        acl: Vec<Acl>,
        /// Create mode (no TTL modes in a multi).
        mode: CreateMode,
    },
    /// `zoo_delete_op_init`.
    Delete {
        /// Node path.
        path: String,
        /// Expected version, -1 for any.
        version: i32,
    },
    /// `zoo_set_op_init`.
    Set {
        /// Node path.
        path: String,
        /// New data.
        data: Vec<u8>,
        /// Expected version, -1 for any.
        version: i32,
    },
    /// `zoo_check_op_init`: the node must have this version.
    Check {
        /// Node path.
        path: String,
        /// Expected version.
        version: i32,
    },
}

/// The result of one operation of a multi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// Created: the actual path.
    Create {
        /// The created path.
        path: String,
    },
    /// Deleted.
    Delete,
    /// Set: the new Stat.
    Set {
        /// The node's new Stat.
        stat: Stat,
    },
    /// The check passed.
    Check,
    /// Not applied: the multi failed as a whole, known to the client (an
    /// operation failed on the server, or the request was refused before
    /// being sent), and C reports no error of this operation's own.
    RolledBack,
    /// This operation failed on the server (or was rolled back because
    /// another failed: `ZRUNTIMEINCONSISTENCY`); nothing was applied.
    Error(ErrorCode),
    /// No answer came: the multi's outcome is unknown. The connection was
    /// lost (`ZCONNECTIONLOSS`, `ZOPERATIONTIMEOUT`), the handle closed
    /// (`ZCLOSING`) or the session expired (`ZSESSIONEXPIRED`) after the
    /// request may have reached the server. The transaction may or may not
    /// have been applied (all of it or nothing, never part): read the nodes
    /// back to know. Every operation of such a multi is `Unknown`, with
    /// the code in [`crate::Error::Multi`] (see
    /// [`ErrorCode::leaves_outcome_unknown`]).
    Unknown,
}

/// The C buffers of one multi: requests, and what C writes at completion.
/// Boxed entries: C holds pointers to them while the vectors grow.
#[allow(clippy::vec_box)]
struct Prepared {
    _paths: Vec<CString>,
    _data: Vec<Vec<u8>>,
    _acls: Vec<CAcl>,
    _acl_vectors: Vec<Box<zk_sys::ACL_vector>>,
    path_bufs: Vec<Vec<c_char>>,
    stats: Vec<Box<zk_sys::Stat>>,
    ops: Vec<zk_sys::zoo_op_t>,
    results: Vec<zk_sys::zoo_op_result_t>,
}

// SAFETY: the raw pointers inside ops/results point into buffers owned by
// the same value; it moves between threads as a whole.
unsafe impl Send for Prepared {}

fn prepare(ops: &[Op]) -> Result<Prepared> {
    if ops.is_empty() {
        return Err(Error::invalid(
            crate::error::Argument::Other,
            "a multi needs at least one operation",
        ));
    }
    let n = ops.len();
    let mut p = Prepared {
        _paths: Vec::with_capacity(n),
        _data: Vec::with_capacity(n),
        _acls: Vec::new(),
        _acl_vectors: Vec::new(),
        path_bufs: Vec::with_capacity(n),
        stats: Vec::with_capacity(n),
        ops: Vec::with_capacity(n),
        results: vec![zk_sys::zoo_op_result_t::default(); n],
    };
    for op in ops {
        // SAFETY: zoo_op_t is a plain C struct; zeroed is its "empty" state,
        // filled by the *_op_init call below.
        let mut raw: zk_sys::zoo_op_t = unsafe { std::mem::zeroed() };
        let mut stat = Box::new(zk_sys::Stat::default());
        let mut buf: Vec<c_char> = Vec::new();
        match op {
            Op::Create {
                path,
                data,
                acl,
                mode,
            } => {
                if mode.ttl() > 0 {
                    return Err(Error::invalid(
                        crate::error::Argument::Other,
                        "TTL modes are not supported in a multi",
                    ));
                }
                let cpath = c_path(path, mode.is_sequential())?;
                check_data(data)?;
                let mut cacl = CAcl::new(acl)?;
                let vector = Box::new(cacl.vector());
                let data = data.clone();
                buf = vec![0; path.len() + 32];
                // SAFETY: every pointer stays valid while `p` lives (heap
                // buffers and boxes owned by `p`).
                unsafe {
                    zk_sys::zoo_create_op_init(
                        &mut raw,
                        cpath.as_ptr(),
                        data.as_ptr() as *const c_char,
                        data.len() as c_int,
                        &*vector,
                        mode.raw(),
                        buf.as_mut_ptr(),
                        buf.len() as c_int,
                    )
                };
                p._paths.push(cpath);
                p._data.push(data);
                p._acls.push(cacl);
                p._acl_vectors.push(vector);
            }
            Op::Delete { path, version } => {
                let cpath = c_path(path, false)?;
                // SAFETY: as above.
                unsafe { zk_sys::zoo_delete_op_init(&mut raw, cpath.as_ptr(), *version) };
                p._paths.push(cpath);
            }
            Op::Set {
                path,
                data,
                version,
            } => {
                let cpath = c_path(path, false)?;
                check_data(data)?;
                let data = data.clone();
                // SAFETY: as above.
                unsafe {
                    zk_sys::zoo_set_op_init(
                        &mut raw,
                        cpath.as_ptr(),
                        data.as_ptr() as *const c_char,
                        data.len() as c_int,
                        *version,
                        &mut *stat,
                    )
                };
                p._paths.push(cpath);
                p._data.push(data);
            }
            Op::Check { path, version } => {
                let cpath = c_path(path, false)?;
                // SAFETY: as above.
                unsafe { zk_sys::zoo_check_op_init(&mut raw, cpath.as_ptr(), *version) };
                p._paths.push(cpath);
            }
        }
        p.path_bufs.push(buf);
        p.stats.push(stat);
        p.ops.push(raw);
    }
    Ok(p)
}

fn results_of(rc: c_int, ops_kinds: &[Op], p: &Prepared) -> Vec<OpResult> {
    // C gives per-operation codes only for a server's answer; without one,
    // the async form copies the multi's code to every operation and the
    // sync form none: neither says whether the transaction was applied.
    let unknown = ErrorCode::from_raw(rc).is_some_and(ErrorCode::leaves_outcome_unknown);
    ops_kinds
        .iter()
        .enumerate()
        .map(|(i, op)| {
            if unknown {
                return OpResult::Unknown;
            }
            if let Some(code) = ErrorCode::from_raw(p.results[i].err) {
                return OpResult::Error(code);
            }
            if rc != zk_sys::ZOK {
                return OpResult::RolledBack;
            }
            match op {
                Op::Create { .. } => OpResult::Create {
                    path: string_from_c(p.path_bufs[i].as_ptr()),
                },
                Op::Delete { .. } => OpResult::Delete,
                Op::Set { .. } => OpResult::Set {
                    stat: (*p.stats[i]).into(),
                },
                Op::Check { .. } => OpResult::Check,
            }
        })
        .collect()
}

fn outcome(rc: c_int, results: Vec<OpResult>) -> Result<Vec<OpResult>> {
    match ErrorCode::from_raw(rc) {
        None => Ok(results),
        Some(code) => Err(Error::Multi { code, results }),
    }
}

struct MultiKeep {
    prepared: Prepared,
    ops: Vec<Op>,
}

/// An amulti still outstanding when the handle is closed: its answer never
/// came, so every operation is `Unknown`.
fn multi_closing(keep: &(dyn std::any::Any + Send)) -> Error {
    let n = keep.downcast_ref::<MultiKeep>().map_or(0, |k| k.ops.len());
    Error::Multi {
        code: ErrorCode::Closing,
        results: vec![OpResult::Unknown; n],
    }
}

extern "C" fn multi_done(rc: c_int, data: *const c_void) {
    // SAFETY: data is a CompletionContext<Vec<OpResult>> from amulti, called once.
    if let Some(mut ctx) = unsafe { take_completion::<Vec<OpResult>>(data) } {
        let keep = ctx
            .keep
            .take()
            .and_then(|k| k.data.downcast::<MultiKeep>().ok());
        let r = match keep {
            Some(k) => outcome(rc, results_of(rc, &k.ops, &k.prepared)),
            None => Err(Error::Zk(ErrorCode::SystemError)),
        };
        complete(ctx, r);
    }
}

impl ZooKeeper {
    /// `zoo_multi`: all operations or none. On failure,
    /// [`Error::Multi`] carries the first error and every per-op result:
    /// after a server's answer, `Error` for the failed operations and
    /// `RolledBack` (or `Error(ZRUNTIMEINCONSISTENCY)`) for the others;
    /// without one (connection lost, timeout, close, expiry), `Unknown` for
    /// all, since the transaction may or may not have been applied.
    pub fn multi(&self, ops: &[Op]) -> Result<Vec<OpResult>> {
        let mut p = prepare(ops)?;
        let zh = self.handle()?;
        // SAFETY: live handle; ops and results arrays of `len` entries whose
        // buffers live in `p` until the call returns.
        let rc = unsafe {
            zk_sys::zoo_multi(
                zh.0,
                p.ops.len() as c_int,
                p.ops.as_ptr(),
                p.results.as_mut_ptr(),
            )
        };
        outcome(rc, results_of(rc, ops, &p))
    }

    /// `zoo_amulti`: `done` gets what `multi` would return (settled at close
    /// before an answer: `Error::Multi` with `ZCLOSING`, every op `Unknown`).
    pub fn amulti(
        &self,
        ops: &[Op],
        done: impl FnOnce(Result<Vec<OpResult>>) + Send + 'static,
    ) -> Result<()> {
        let p = prepare(ops)?;
        let mut keep = Box::new(MultiKeep {
            prepared: p,
            ops: ops.to_vec(),
        });
        let ops_ptr = keep.prepared.ops.as_ptr();
        let results_ptr = keep.prepared.results.as_mut_ptr();
        let count = keep.prepared.ops.len() as c_int;
        let keep = Keep {
            data: keep,
            closing: multi_closing,
        };
        self.submit::<Vec<OpResult>>(Box::new(done), Some(keep), |zh, ctx| {
            // SAFETY: live handle; the ops and results buffers are owned by
            // the completion context (heap, not moved) until `multi_done`.
            unsafe { zk_sys::zoo_amulti(zh, count, ops_ptr, results_ptr, Some(multi_done), ctx) }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_ops() -> Vec<Op> {
        vec![
            Op::Create {
                path: "/a".into(),
                data: vec![],
                acl: Acl::open_unsafe(),
                mode: CreateMode::Persistent,
            },
            Op::Check {
                path: "/b".into(),
                version: 3,
            },
        ]
    }

    #[test]
    fn no_answer_makes_every_result_unknown() {
        let ops = two_ops();
        for rc in [
            zk_sys::ZCONNECTIONLOSS,
            zk_sys::ZOPERATIONTIMEOUT,
            zk_sys::ZCLOSING,
            zk_sys::ZSESSIONEXPIRED,
        ] {
            // The sync form leaves per-op codes alone, the async form copies
            // the multi's code into each: Unknown either way.
            let mut p = prepare(&ops).unwrap();
            assert_eq!(
                results_of(rc, &ops, &p),
                [OpResult::Unknown, OpResult::Unknown],
                "{rc}"
            );
            p.results.iter_mut().for_each(|r| r.err = rc);
            assert_eq!(
                results_of(rc, &ops, &p),
                [OpResult::Unknown, OpResult::Unknown],
                "{rc}"
            );
        }
    }

    #[test]
    fn a_server_refusal_is_rolled_back_and_errors() {
        let ops = two_ops();
        let mut p = prepare(&ops).unwrap();
        p.results[1].err = zk_sys::ZBADVERSION;
        assert_eq!(
            results_of(zk_sys::ZBADVERSION, &ops, &p),
            [OpResult::RolledBack, OpResult::Error(ErrorCode::BadVersion)]
        );
        // Refused by the client before sending: known not applied.
        let p = prepare(&ops).unwrap();
        assert_eq!(
            results_of(zk_sys::ZMARSHALLINGERROR, &ops, &p),
            [OpResult::RolledBack, OpResult::RolledBack]
        );
    }

    #[test]
    fn an_amulti_settled_at_close_is_unknown() {
        let ops = two_ops();
        let keep = MultiKeep {
            prepared: prepare(&ops).unwrap(),
            ops: ops.clone(),
        };
        match multi_closing(&keep) {
            Error::Multi { code, results } => {
                assert_eq!(code, ErrorCode::Closing);
                assert_eq!(results, [OpResult::Unknown, OpResult::Unknown]);
            }
            other => panic!("{other:?}"),
        }
    }
}
