//! Prometheus metrics for `zkha run --metrics-addr HOST:PORT`: what an
//! operator alerts on (no master, flapping mastership, a lease about to run
//! out, a lost session, a failing health check), served at `/metrics`.
//!
//! The exposition format comes from `prometheus-client`, the Prometheus
//! project's own Rust client, in the classic text format (version 0.0.4),
//! which every scraper and `curl` read. The HTTP side is a few lines on a
//! `TcpListener` in a thread of its own: one connection at a time, each read
//! under a timeout, so a silent client delays a scrape but never hangs the
//! server; a scrape never touches the election (the values are atomics the
//! run loop sets).

mod addr;
mod registry;
mod server;

pub use addr::parse_metrics_addr;
pub use registry::Metrics;
pub use server::MetricsServer;
