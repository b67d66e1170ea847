//! The clean mark of a planned end, off the handover's path: its reads go
//! out when the planned stop begins ([`prefetch`]) and are answered while
//! the command stops; once it has stopped, [`send_clean`] sends the mark's
//! write and returns without waiting. The release of the master node, sent
//! next on the same session, is processed after it (ZooKeeper handles one
//! session's requests in order), so the next master, whose watch fires on
//! that release, finds the breadcrumb clean; and the handover waits for
//! neither the reads nor the write (they took a read and a write of the
//! old master's time before its release: two round trips of the
//! switchover). Anything but the plain case (no history yet, a version
//! changed meanwhile) is left to the blocking [`super::mark_clean`].

use super::{breadcrumb_path, Breadcrumb};
use crate::cli::common;
use crate::cli::history::record as history;
use zkha::{ErrorCode, Op, Stat, ZooKeeper};

/// The reads a clean mark of one mastership needs, in flight.
pub struct Prefetch {
    session: i64,
    token: i64,
    crumb: zkha::Pending<(Vec<u8>, Stat)>,
    history: history::PendingRead,
}

impl Prefetch {
    /// Whether these reads are for the mastership `(session, token)`.
    pub fn is_for(&self, session: i64, token: i64) -> bool {
        (self.session, self.token) == (session, token)
    }
}

/// Sends the reads of `path`'s breadcrumb and history for the mastership
/// `(session, token)`, without waiting.
pub fn prefetch(zk: &ZooKeeper, path: &str, session: i64, token: i64) -> zkha::Result<Prefetch> {
    let (done, crumb) = zkha::pending();
    zk.aget(&breadcrumb_path(path), done)?;
    let history = history::read_later(zk, path)?;
    Ok(Prefetch {
        session,
        token,
        crumb,
        history,
    })
}

/// What [`send_clean`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// Nothing to write: `true` if this mastership's breadcrumb is already
    /// clean, `false` if the breadcrumb is not its own (absent, damaged, or
    /// another master's).
    Settled(bool),
    /// The write is on its way; its answer goes to `done`.
    InFlight,
    /// Not a case for a write sent ahead (no history node yet: its ACL and
    /// its parent are for the blocking mark to look up): use
    /// [`super::mark_clean`].
    Blocking,
}

/// Marks the breadcrumb clean (`left = why`) and records the mastership's
/// end in the history, in one `multi` conditioned on the versions
/// prefetched, sent without waiting for its answer (`done` gets it: on an
/// error, the caller falls back to [`super::mark_clean`]). Waits for the
/// prefetched reads, which were sent while the command stopped.
pub fn send_clean(
    zk: &ZooKeeper,
    path: &str,
    why: &str,
    pre: Prefetch,
    done: impl FnOnce(zkha::Result<()>) + Send + 'static,
) -> zkha::Result<Sent> {
    let (bytes, stat) = match pre.crumb.wait() {
        Ok(found) => found,
        Err(e) if e.code() == Some(ErrorCode::NoNode) => return Ok(Sent::Settled(false)),
        Err(e) => return Err(e),
    };
    let Ok(mut b) = Breadcrumb::from_json(&bytes) else {
        return Ok(Sent::Settled(false));
    };
    if b.session != pre.session || b.token != pre.token {
        return Ok(Sent::Settled(false));
    }
    if b.clean {
        return Ok(Sent::Settled(true));
    }
    let Some(current) = pre.history.wait()? else {
        return Ok(Sent::Blocking);
    };
    b.clean = true;
    b.left = Some(why.to_owned());
    let ended = history::Record::of(&b, None).ended(why, common::now_ms());
    let mut ops = vec![Op::Set {
        path: breadcrumb_path(path),
        data: b.to_json(),
        version: stat.version,
    }];
    ops.extend(history::write_op(path, &[], Some(current), &[ended]));
    zk.amulti(&ops, move |r| done(r.map(drop)))?;
    Ok(Sent::InFlight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::breadcrumb::{claim, read};
    use std::sync::mpsc;
    use std::time::Duration;
    use zkha::{Acl, CreateMode};
    use zkha_testing::{unique_path, TestingServer};

    fn connect() -> ZooKeeper {
        let server = TestingServer::shared().unwrap();
        ZooKeeper::builder(server.connect_string())
            .connect(Duration::from_secs(30))
            .unwrap()
    }

    /// A master on `path` (its node, its breadcrumb claimed) with or
    /// without a history node: its session and token.
    fn master(zk: &ZooKeeper, path: &str, with_history: bool) -> (i64, i64) {
        let open = Acl::open_unsafe();
        zk.create(path, b"10.0.0.1\0", &open, CreateMode::Ephemeral)
            .unwrap();
        let stat = zk.exists(path, false).unwrap().unwrap();
        let (session, token) = (zk.client_id().unwrap().id, stat.czxid);
        let mine = Breadcrumb {
            data: b"10.0.0.1\0".to_vec(),
            session,
            token,
            since_ms: 1_700_000_000_123,
            clean: false,
            left: None,
        };
        claim(zk, path, &open, &mine, None, &[]).unwrap();
        if with_history {
            zk.create(
                &zkha::elector::registry::root(path),
                b"",
                &open,
                CreateMode::Persistent,
            )
            .unwrap();
            let op = history::write_op(path, &open, None, &[history::Record::of(&mine, None)]);
            zk.multi(&[op.unwrap()]).unwrap();
        }
        (session, token)
    }

    fn fresh_path(zk: &ZooKeeper) -> String {
        let parent = unique_path("mark-ahead");
        zk.create(&parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)
            .unwrap();
        format!("{parent}/m")
    }

    /// The mark goes without waiting, and a request sent after it on the
    /// same session (the release) is answered after it: another session
    /// that sees the release reads the breadcrumb clean.
    #[test]
    fn the_mark_sent_ahead_is_written_before_what_follows_it() {
        let (zk, observer) = (connect(), connect());
        let path = fresh_path(&zk);
        let (session, token) = master(&zk, &path, true);
        let pre = prefetch(&zk, &path, session, token).unwrap();
        let (tx, rx) = mpsc::channel();
        let sent = send_clean(&zk, &path, "switchover", pre, move |r| {
            tx.send(r.map_err(|e| e.to_string())).unwrap()
        })
        .unwrap();
        assert_eq!(sent, Sent::InFlight);
        // The release, sent next on the same session.
        zk.delete(&path, -1).unwrap();
        assert!(observer.exists(&path, false).unwrap().is_none());
        let (b, _) = read(&observer, &path).unwrap().unwrap();
        assert!(b.clean, "the mark went before the release");
        assert_eq!(b.left.as_deref(), Some("switchover"));
        let records = history::read(&observer, &path).unwrap().unwrap().0;
        let ended = records.iter().find(|r| r.token == token).unwrap();
        assert_eq!(ended.ended.as_deref(), Some("switchover"));
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), Ok(()));
    }

    /// Another mastership's breadcrumb, an already clean one, no history
    /// node yet, and a breadcrumb written between the reads and the mark:
    /// nothing written by the mark sent ahead in any of them.
    #[test]
    fn the_mark_sent_ahead_leaves_the_rest_to_the_blocking_mark() {
        let zk = connect();
        let never = |_: zkha::Result<()>| panic!("nothing was to be sent");

        // Another token: not ours.
        let path = fresh_path(&zk);
        let (session, token) = master(&zk, &path, true);
        let v = read(&zk, &path).unwrap().unwrap().1;
        let pre = prefetch(&zk, &path, session, token - 1).unwrap();
        assert_eq!(
            send_clean(&zk, &path, "resigned", pre, never).unwrap(),
            Sent::Settled(false)
        );
        assert_eq!(read(&zk, &path).unwrap().unwrap().1, v, "not written");

        // Already clean (the blocking mark did it): settled.
        assert!(
            crate::cli::breadcrumb::mark_clean(&zk, &path, session, token, "resigned").unwrap()
        );
        let pre = prefetch(&zk, &path, session, token).unwrap();
        assert_eq!(
            send_clean(&zk, &path, "resigned", pre, never).unwrap(),
            Sent::Settled(true)
        );

        // No history node: the blocking mark's case.
        let path = fresh_path(&zk);
        let (session, token) = master(&zk, &path, false);
        let pre = prefetch(&zk, &path, session, token).unwrap();
        assert_eq!(
            send_clean(&zk, &path, "resigned", pre, never).unwrap(),
            Sent::Blocking
        );
        assert!(!read(&zk, &path).unwrap().unwrap().0.clean);

        // Written after the reads: the multi fails on its version, whole.
        let path = fresh_path(&zk);
        let (session, token) = master(&zk, &path, true);
        let pre = prefetch(&zk, &path, session, token).unwrap();
        let (b, v) = read(&zk, &path).unwrap().unwrap();
        zk.set(
            &crate::cli::breadcrumb::breadcrumb_path(&path),
            &b.to_json(),
            v,
        )
        .unwrap();
        let history_before = history::read(&zk, &path).unwrap().unwrap();
        let (tx, rx) = mpsc::channel();
        let sent = send_clean(&zk, &path, "resigned", pre, move |r| {
            tx.send(r.map_err(|e| e.code())).unwrap()
        })
        .unwrap();
        assert_eq!(sent, Sent::InFlight);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            Err(Some(ErrorCode::BadVersion))
        );
        assert!(!read(&zk, &path).unwrap().unwrap().0.clean);
        assert_eq!(history::read(&zk, &path).unwrap().unwrap(), history_before);
    }
}
