//! The `zkha` binary against real servers, in one test binary: `run` and
//! its operator features (config file, readiness and liveness checks,
//! the README's production example, fencing, metrics, systemd,
//! succession, containment, secrets, descriptors, a stalled stderr, its
//! narration), `status`, `switchover` and `resign`, security and secure
//! servers, and docs/BAD_INPUT.md row by row. Each file of
//! zkha-cli/tests/cli/ is a module; a test's name is `module::test`
//! (`cargo test -p zkha-cli --test cli containment::`).

#[path = "common/cli.rs"]
mod cli_kit;
mod common;
#[cfg(all(feature = "ssl", feature = "sasl"))]
#[path = "../../tests/common/secure.rs"]
mod secure_kit;

#[path = "cli/bad_input.rs"]
mod bad_input;
#[path = "cli/child_fds.rs"]
mod child_fds;
#[path = "cli/cli.rs"]
mod cli;
#[path = "cli/config_file.rs"]
mod config_file;
#[path = "cli/conform.rs"]
mod conform;
#[path = "cli/containment.rs"]
mod containment;
#[path = "cli/docs_status_json.rs"]
mod docs_status_json;
#[path = "cli/ensemble_timing.rs"]
mod ensemble_timing;
#[path = "cli/history.rs"]
mod history;
#[path = "cli/liveness.rs"]
mod liveness;
#[path = "cli/load_balancer.rs"]
mod load_balancer;
#[path = "cli/mixed_fleet.rs"]
mod mixed_fleet;
#[path = "cli/names.rs"]
mod names;
#[path = "cli/narration.rs"]
mod narration;
#[path = "cli/operator.rs"]
mod operator;
#[path = "cli/package.rs"]
mod package;
#[path = "cli/pause.rs"]
mod pause;
#[path = "cli/priorities.rs"]
mod priorities;
#[path = "cli/production_example.rs"]
mod production_example;
#[path = "cli/readiness.rs"]
mod readiness;
#[path = "cli/secrets.rs"]
mod secrets;
#[cfg(all(feature = "ssl", feature = "sasl"))]
#[path = "cli/secure_cli.rs"]
mod secure_cli;
#[path = "cli/security.rs"]
mod security;
#[path = "cli/status_explain.rs"]
mod status_explain;
#[path = "cli/stderr_stall.rs"]
mod stderr_stall;
#[path = "cli/succession.rs"]
mod succession;
#[path = "cli/switchover.rs"]
mod switchover;
#[path = "cli/systemd.rs"]
mod systemd;
