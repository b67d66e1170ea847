//! [`AsyncZooKeeper`]: the session's calls as futures, for async code (a
//! thin view over the `zoo_a*` calls of `async_ops.rs`; the rules are on
//! the type, where rustdoc shows them).

use super::async_ops::{pending, Pending};
use super::async_watch::duplicate;
use super::multi::{Op, OpResult};
use super::oneshot;
use crate::error::Result;
use crate::types::{Acl, CreateMode, Stat, WatchedEvent};
use crate::{ZooKeeper, ZooKeeperBuilder};
use std::sync::Arc;
use std::time::Duration;

/// A session's calls as futures: a cheap `Clone` view over one shared
/// [`ZooKeeper`] (an `Arc`), to move into tasks.
///
/// The methods have the blocking names, without the `watch` flags, and
/// each returns a [`Pending`], a `#[must_use]`, `Send + 'static`
/// [`Future`](std::future::Future) woken by the C completion; `wexists`,
/// `wget` and `wget_children` return a second one for their one-shot watch.
///
/// - Order: each method queues its C call (`zoo_acreate`, `zoo_aget`, …)
///   before it returns, not on first poll as an `async fn` would, so
///   requests reach the server in the order they were made, whether or
///   when they are awaited.
/// - Runtime-agnostic: no timer, no spawned task, no runtime dependency;
///   it works under tokio's multi-thread runtime and under a plain
///   `block_on`.
/// - Threads: the C completion thread only stores the result and wakes the
///   task (no user code, no lock held while waking, no blocking); the task
///   runs wherever its executor polls it.
/// - Errors, one way everywhere: an argument rejected before reaching C,
///   or a closed handle, is a future that is ready at once with that error;
///   server answers map as in the blocking calls (`ZNONODE` is
///   `Error::Zk(ErrorCode::NoNode)`, …).
/// - Close: a future still waiting when the handle closes gets
///   [`ErrorCode::Closing`](crate::ErrorCode::Closing) (the request may or
///   may not have been applied).
/// - Drop does not cancel: the request is already queued, so a dropped
///   `create` may still create its node. Its completion still arrives later
///   (or at close) and frees its context; only the result is lost. Time a
///   call out (e.g. `tokio::time::timeout`) only where "maybe applied" is
///   acceptable: after a timed-out create, compare the node's
///   `ephemeral_owner` with the session, as the elector does (F3).
/// - Lifetime: the session closes when the last view and every other `Arc`
///   holder are dropped, or at [`close`](Self::close). Both wait for the C
///   client's threads: do them where blocking briefly is fine (e.g.
///   `tokio::task::spawn_blocking`).
///
/// ```
/// use std::time::Duration;
/// use zkha::{Acl, CreateMode, ErrorCode, ZooKeeper};
///
/// let server = zkha_testing::TestingServer::shared()?;
/// let zk = ZooKeeper::builder(server.connect_string())
///     .connect(Duration::from_secs(30))?
///     .into_async();
/// let path = zkha_testing::unique_path("doc-async");
/// // No runtime needed: any executor drives these futures.
/// futures::executor::block_on(async {
///     zk.create(&path, b"v1", &Acl::open_unsafe(), CreateMode::Persistent).await?;
///     let (data, stat) = zk.get(&path).await?;
///     assert_eq!((data.as_slice(), stat.version), (&b"v1"[..], 0));
///     let missing = zk.get(&format!("{path}/none")).await;
///     assert_eq!(missing.unwrap_err().code(), Some(ErrorCode::NoNode));
///     zk.delete(&path, 0).await
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct AsyncZooKeeper {
    zk: Arc<ZooKeeper>,
}

impl From<ZooKeeper> for AsyncZooKeeper {
    fn from(zk: ZooKeeper) -> Self {
        AsyncZooKeeper { zk: Arc::new(zk) }
    }
}

impl From<Arc<ZooKeeper>> for AsyncZooKeeper {
    fn from(zk: Arc<ZooKeeper>) -> Self {
        AsyncZooKeeper { zk }
    }
}

impl ZooKeeper {
    /// This session as an [`AsyncZooKeeper`] (futures instead of blocking
    /// calls). [`AsyncZooKeeper::blocking`] gives the handle back.
    pub fn into_async(self) -> AsyncZooKeeper {
        AsyncZooKeeper::from(self)
    }
}

/// Queues `submit` with a fresh completion; its queueing error, if any,
/// becomes a ready future.
fn start<T: Send + 'static>(
    submit: impl FnOnce(Box<dyn FnOnce(Result<T>) + Send>) -> Result<()>,
) -> Pending<T> {
    let (done, result) = pending::<T>();
    match submit(Box::new(done)) {
        Ok(()) => result,
        Err(e) => Pending::ready(Err(e)),
    }
}

/// Queues a watched read; a queueing error makes both futures ready with it.
fn start_watched<T: Send + 'static>(
    submit: impl FnOnce(Box<dyn FnOnce(Result<T>) + Send>) -> Result<oneshot::Receiver<WatchedEvent>>,
) -> (Pending<T>, Pending<WatchedEvent>) {
    let (done, result) = pending::<T>();
    match submit(Box::new(done)) {
        Ok(watch) => (result, Pending::from_receiver(watch)),
        Err(e) => {
            let again = duplicate(&e);
            (Pending::ready(Err(e)), Pending::ready(Err(again)))
        }
    }
}

impl AsyncZooKeeper {
    /// `builder.init()` at once (its errors make a ready future), then a
    /// future ready once the session is connected, as
    /// [`ZooKeeperBuilder::connect`] with `timeout` but without blocking the
    /// caller: the wait runs on a helper thread of its own, which only waits
    /// on the session's state. Dropped before that, the helper closes the
    /// session when its wait ends.
    pub fn connect(builder: ZooKeeperBuilder, timeout: Duration) -> Pending<AsyncZooKeeper> {
        let zk = match builder.init() {
            Ok(zk) => zk,
            Err(e) => return Pending::ready(Err(e)),
        };
        let (tx, result) = Pending::channel();
        let waiter = std::thread::Builder::new()
            .name("zkha-connect".into())
            .spawn(move || {
                let connected = zk.wait_connected(timeout).map(|()| zk.into_async());
                tx.send(connected);
            });
        match waiter {
            Ok(_) => result,
            Err(e) => Pending::ready(Err(crate::Error::Thread(e))),
        }
    }

    /// The blocking handle of the same session (for watches, ACLs, client
    /// ids, …). Its calls block the calling thread: from async code, run
    /// them on a blocking thread (e.g. `tokio::task::spawn_blocking`).
    pub fn blocking(&self) -> &ZooKeeper {
        &self.zk
    }

    /// The shared handle itself.
    pub fn handle(&self) -> Arc<ZooKeeper> {
        self.zk.clone()
    }

    /// `zoo_acreate`: the created path (with its sequence suffix for
    /// sequential modes). TTL modes have no async form in this C client:
    /// a ready [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    pub fn create(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
    ) -> Pending<String> {
        start(|done| self.zk.acreate(path, data, acl, mode, done))
    }

    /// `zoo_adelete`; `version` -1 matches any version.
    pub fn delete(&self, path: &str, version: i32) -> Pending<()> {
        start(|done| self.zk.adelete(path, version, done))
    }

    /// `zoo_aexists` (no watch): the Stat, or `None` for no node.
    pub fn exists(&self, path: &str) -> Pending<Option<Stat>> {
        start(|done| self.zk.aexists(path, done))
    }

    /// `zoo_aget` (no watch): the whole value and its Stat.
    pub fn get(&self, path: &str) -> Pending<(Vec<u8>, Stat)> {
        start(|done| self.zk.aget(path, done))
    }

    /// `zoo_awexists`: like [`exists`](Self::exists), and a one-shot watch
    /// on `path` (set whether or not the node exists), as a second future.
    /// See [`wget`](Self::wget) for what the watch future gives.
    pub fn wexists(&self, path: &str) -> (Pending<Option<Stat>>, Pending<WatchedEvent>) {
        start_watched(|done| self.zk.awexists(path, done))
    }

    /// `zoo_awget`: like [`get`](Self::get), and a one-shot watch on the
    /// node as a second future. The watch future gives the node event
    /// (changed, deleted, …: the watch's last call; the C client's session
    /// events in between are not sent); the read's error when it set no
    /// watch (`ZNONODE` here: watch with `wexists` for a node to appear);
    /// `ErrorCode::SessionExpired` if the session ends first; and
    /// [`Error::Closed`](crate::Error::Closed) if the handle closes first.
    /// Dropping it leaves the watch set in the C client until it fires or
    /// the handle closes, which then frees it.
    pub fn wget(&self, path: &str) -> (Pending<(Vec<u8>, Stat)>, Pending<WatchedEvent>) {
        start_watched(|done| self.zk.awget(path, done))
    }

    /// `zoo_awget_children`: like [`get_children`](Self::get_children), and
    /// a one-shot watch on the children as a second future (see
    /// [`wget`](Self::wget)).
    pub fn wget_children(&self, path: &str) -> (Pending<Vec<String>>, Pending<WatchedEvent>) {
        start_watched(|done| self.zk.awget_children(path, done))
    }

    /// `zoo_aset`; `version` -1 matches any version. Gives the new Stat
    /// (like the blocking `set2`).
    pub fn set(&self, path: &str, data: &[u8], version: i32) -> Pending<Stat> {
        start(|done| self.zk.aset(path, data, version, done))
    }

    /// `zoo_aget_children` (no watch): the children's names.
    pub fn get_children(&self, path: &str) -> Pending<Vec<String>> {
        start(|done| self.zk.aget_children(path, done))
    }

    /// `zoo_async`: done once the server this client is connected to has
    /// caught up with the leader for `path`.
    pub fn sync(&self, path: &str) -> Pending<()> {
        start(|done| {
            self.zk
                .async_sync(path, move |r: Result<String>| done(r.map(|_| ())))
        })
    }

    /// `zoo_amulti`: all operations or none, with what the blocking
    /// [`ZooKeeper::multi`] returns ([`Error::Multi`](crate::Error::Multi) on failure, every
    /// operation `Unknown` when the handle closed before the answer).
    pub fn multi(&self, ops: &[Op]) -> Pending<Vec<OpResult>> {
        start(|done| self.zk.amulti(ops, done))
    }

    /// Closes the session now (`zookeeper_close`, which waits for the C
    /// client's threads); every future still waiting gets
    /// [`ErrorCode::Closing`](crate::ErrorCode::Closing). Later calls on
    /// any view are ready at once with [`Error::Closed`](crate::Error::Closed).
    pub fn close(&self) -> Result<()> {
        self.zk.close()
    }

    /// Whether the session was closed.
    pub fn is_closed(&self) -> bool {
        self.zk.is_closed()
    }

    /// Callback contexts still held for C (completions not yet called,
    /// path watchers not yet fired): 0 once every request has completed,
    /// whether its future was awaited or dropped.
    pub fn outstanding_callbacks(&self) -> usize {
        self.zk.outstanding_callbacks()
    }
}

#[allow(dead_code)]
fn _assert_send_static() {
    fn is<T: Send + Sync + 'static>() {}
    is::<AsyncZooKeeper>();
    is::<Pending<(Vec<u8>, Stat)>>();
    is::<Pending<Vec<OpResult>>>();
}
