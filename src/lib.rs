//! zkha: ZooKeeper master/standby failover for Rust, built on the official
//! Apache ZooKeeper C client (through [`zk_sys`]), able to contend with C/C++
//! processes of the classic design for the same master znode.
//!
//! - [`testing`]: real ZooKeeper servers (`TestingServer`, `TestingCluster`)
//!   for tests, demos and benchmarks.
//! - [`net`]: this host's address, the seed design's node data.

pub mod net;
pub mod testing;

pub use zk_sys;
