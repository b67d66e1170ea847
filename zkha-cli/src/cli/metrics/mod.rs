//! Prometheus metrics for `zkha run --metrics-addr HOST:PORT`: what an
//! operator alerts on (no master, flapping mastership, a lease about to run
//! out, a lost session, a failing health check), served at `/metrics`.
//!
//! The exposition format comes from `prometheus-client`, the Prometheus
//! project's own Rust client, in the classic text format (version 0.0.4),
//! which every scraper and `curl` read. The same server answers load
//! balancers' health checks: `/master`, `/standby`, `/health`, 200 or 503
//! (`endpoints.rs`). The HTTP side is hand-written on a `TcpListener`
//! (`server.rs`): each connection on a thread of its own, each read under a
//! timeout, so a silent client holds only its own thread, never another
//! client's answer; a request never touches the election (the values are
//! atomics the run loop sets).

mod addr;
mod endpoints;
mod registry;
mod server;

pub use addr::parse_metrics_addr;
pub use registry::Metrics;
pub use server::MetricsServer;
