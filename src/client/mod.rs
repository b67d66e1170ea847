//! The ZooKeeper client: the safe handle over the C client's `zhandle_t`,
//! its callbacks, async calls and futures.

pub(crate) mod async_ops;
pub(crate) mod async_watch;
pub(crate) mod callback;
pub(crate) mod future;
pub(crate) mod multi;
pub(crate) mod oneshot;
pub(crate) mod raw;
pub(crate) mod zookeeper;
